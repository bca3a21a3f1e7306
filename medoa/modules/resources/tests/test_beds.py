from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.notify.models import Notification
from medoa.engines.flow import services as flow_services
from medoa.engines.flow.choices import TaskStatus
from medoa.engines.flow.models import HumanTask, ProcessInstance
from medoa.engines.flow.spiff import clock as spiff_clock
from medoa.modules.resources.beds_choices import BedStatus, CleaningStatus
from medoa.modules.resources.models import Bed, BedCleaning, BedHistory
from medoa.modules.resources.services import (
    BedConflict,
    BedError,
    bed_status_set,
    cleaning_finish,
    cleaning_start,
)

from .conftest import admit

pytestmark = pytest.mark.django_db


def status(bed: Bed) -> str:
    bed.refresh_from_db()
    return bed.status


def test_admit_discharge_clean_cycle(beds, people, deployed):
    bed = beds["CARD-W1/01"]
    admit()
    dispatch_until_idle()
    bed.refresh_from_db()
    assert (bed.status, bed.patient_initials, bed.patient_mrn, bed.visit_number, bed.attending) == (
        "occupied",
        "张*",
        "MRN1",
        "V1",
        "doc1",
    )
    admit("discharged")
    dispatch_until_idle()
    assert status(bed) == BedStatus.TO_CLEAN
    cleaning = BedCleaning.objects.get(bed=bed)
    task = HumanTask.objects.get(instance_id=cleaning.process_instance_id, status=TaskStatus.OPEN)
    assert task.assignee.user.username == "cleaner1"
    assert task.due_at is not None
    cleaning_start(actor=people.cleaner.user, cleaning=cleaning)
    assert status(bed) == BedStatus.CLEANING
    cleaning_finish(actor=people.cleaner.user, cleaning=cleaning)
    assert status(bed) == BedStatus.AVAILABLE
    cleaning.refresh_from_db()
    assert cleaning.status == CleaningStatus.DONE and cleaning.turnaround_seconds is not None
    assert ProcessInstance.objects.get(pk=cleaning.process_instance_id).status == "completed"
    told = set(
        Notification.objects.filter(data__cleaning=cleaning.pk).values_list("recipient__username", flat=True)
    )
    assert told == {"hn", "ruyuan"}
    assert [h.to_status for h in BedHistory.objects.filter(bed=bed).order_by("id")] == [
        "occupied",
        "to_clean",
        "cleaning",
        "available",
    ]


def test_discharge_cancelled_restores_the_patient_and_cancels_the_cleaning(beds, people, deployed):
    bed = beds["CARD-W1/01"]
    admit()
    admit("discharged")
    dispatch_until_idle()
    cleaning = BedCleaning.objects.get(bed=bed)
    admit("discharge_cancelled")
    dispatch_until_idle()
    bed.refresh_from_db()
    assert (bed.status, bed.visit_number) == ("occupied", "V1")
    cleaning.refresh_from_db()
    assert cleaning.status == CleaningStatus.CANCELLED
    assert ProcessInstance.objects.get(pk=cleaning.process_instance_id).status == "completed"
    assert not HumanTask.objects.filter(
        instance_id=cleaning.process_instance_id, status=TaskStatus.OPEN
    ).exists()


def test_transfer_moves_and_cancel_admission_frees(beds, people):
    admit()
    admit("transferred", ward="SURG-W1", bed="02")
    dispatch_until_idle()
    assert status(beds["CARD-W1/01"]) == BedStatus.AVAILABLE
    assert status(beds["SURG-W1/02"]) == BedStatus.OCCUPIED
    admit("admission_cancelled", ward="", bed="")
    dispatch_until_idle()
    assert status(beds["SURG-W1/02"]) == BedStatus.AVAILABLE


def test_repeated_delivery_changes_nothing(beds, people):
    from medoa.modules.resources.services import apply_encounter_event

    (event,) = admit()
    dispatch_until_idle()
    assert apply_encounter_event(event_id=event.pk, kind="admitted", payload=event.payload) == []
    assert BedHistory.objects.count() == 1


def test_manual_changes(beds, people):
    bed = beds["CARD-W1/02"]
    with pytest.raises(BedError) as exc:
        bed_status_set(actor=people.head_nurse.user, bed=bed, status="reserved")
    assert exc.value.field == "reason"
    bed_status_set(actor=people.head_nurse.user, bed=bed, status="reserved", reason="急诊待入")
    assert status(bed) == "reserved"
    with pytest.raises(BedConflict):
        bed_status_set(actor=people.head_nurse.user, bed=bed, status="cleaning")
    with pytest.raises(BedError) as exc:
        bed_status_set(actor=people.surg_nurse.user, bed=bed, status="available")
    assert exc.value.status == 404
    with pytest.raises(BedError) as exc:
        bed_status_set(actor=people.cleaner.user, bed=bed, status="available")
    assert exc.value.status == 403
    assert status(bed) == "reserved"


def test_overdue_cleaning_escalates_to_logistics(beds, people, deployed, monkeypatch):
    admit()
    admit("discharged")
    dispatch_until_idle()
    cleaning = BedCleaning.objects.get(bed=beds["CARD-W1/01"])
    later = datetime.now(UTC) + timedelta(minutes=61)
    monkeypatch.setattr(spiff_clock, "now", lambda: later)
    monkeypatch.setattr(flow_services, "_now", lambda: later)
    flow_services.flow_tick(now=later)
    cleaning.refresh_from_db()
    assert cleaning.escalated_at is not None
    told = set(
        Notification.objects.filter(data__cleaning=cleaning.pk).values_list("recipient__username", flat=True)
    )
    assert "logi" in told
    # the task is still open for the cleaner
    assert HumanTask.objects.filter(instance_id=cleaning.process_instance_id, status=TaskStatus.OPEN).exists()
