from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from medoa.core.clinical.models import CodeMapping, Encounter
from medoa.core.events.models import Event
from medoa.core.registries import demo_loaders
from medoa.core.runtime.demo import run_demo_loaders
from medoa.engines.flow.models import ProcessDefinition
from medoa.modules.resources.beds_choices import BedStatus
from medoa.modules.resources.demo import HISTORY_DAYS
from medoa.modules.resources.models import Bed, BedCleaning
from medoa.modules.resources.simulate import adt_a03, oru_critical, targets

pytestmark = pytest.mark.django_db


def test_demo_beds_patients_mappings_and_process():
    started = time.monotonic()
    run_demo_loaders(
        password="Demo@Pass-2026", loaders=[demo_loaders.get("org"), demo_loaders.get("resources")]
    )
    print(f"demo loaded in {time.monotonic() - started:.1f}s")
    total = Bed.objects.count()
    occupied = Bed.objects.filter(status=BedStatus.OCCUPIED).count()
    assert 380 <= total <= 420
    assert occupied / total > 0.7
    assert ProcessDefinition.objects.filter(key="bed_cleaning", latest_version__isnull=False).exists()
    assert CodeMapping.objects.filter(kind="ward", facility="DEMO_HOSPITAL").count() == 14
    assert CodeMapping.objects.filter(kind="doctor", facility="DEMO_HOSPITAL").exists()
    bed = Bed.objects.filter(status=BedStatus.OCCUPIED).select_related("encounter", "ward").first()
    assert bed.encounter.status == "admitted" and bed.encounter.ward_code == bed.ward.code
    assert bed.attending and len(bed.patient_initials) == 2 and bed.patient_initials.endswith("*")
    # the simulator finds occupied beds with their HIS codes and doctors' employee numbers
    (target,) = targets(count=1, with_doctor=True)
    _control, text = adt_a03(target)
    assert f"PV1|1|I|{target.his_ward}^{target.room}^{target.bed}|" in text
    assert target.doctor_no and target.visit in text
    _control, text = oru_critical(target)
    assert "|HH|" in text or "|LL|" in text
    # loading again changes nothing
    run_demo_loaders(
        password="Demo@Pass-2026", loaders=[demo_loaders.get("org"), demo_loaders.get("resources")]
    )
    assert Bed.objects.count() == total
    assert Encounter.objects.filter(status="admitted").count() == occupied
    # a month of finished stays before today's patients: the cockpit has history to show; none
    # of it published an event (the worker is free for today's), started a cleaning or changed
    # the board
    history = Encounter.objects.filter(status="discharged")
    assert history.count() > 2 * total
    assert not history.filter(admitted_at__lt=timezone.now() - dt.timedelta(days=HISTORY_DAYS + 12)).exists()
    assert not BedCleaning.objects.exists()
    assert not Event.objects.filter(payload__visit_number__startswith="ZY2025").exists()
    assert Bed.objects.filter(status=BedStatus.OCCUPIED).count() == occupied
