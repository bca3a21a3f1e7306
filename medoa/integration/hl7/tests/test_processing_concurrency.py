"""Several processors on PostgreSQL at once: every message processed exactly once, and each
patient's messages applied in arrival order (SKIP LOCKED batches, per-patient hold-back)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connections

from medoa.core.clinical.models import EncounterMovement
from medoa.core.events.models import Event
from medoa.core.org.choices import DepartmentKind
from medoa.integration.hl7.models import Message
from medoa.integration.hl7.processing import process_batch

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _pv1(ward: str, bed: str, visit: str) -> str:
    fields = [""] * 20
    fields[:4] = ["PV1", "1", "I", f"{ward}^1^{bed}"]
    fields[19] = visit
    return "|".join(fields)


STEPS = [
    ("A01", "W5", "1"),
    ("A02", "W6", "2"),
    ("A03", "W6", "2"),
    ("A13", "W6", "2"),
    ("A02", "W5", "3"),
]
EXPECTED = ["admitted", "transferred", "discharged", "discharge_cancelled", "transferred"]


def _store(department_factory: Any, patients: int) -> None:
    """Five ADT messages for each of ``patients`` patients, in arrival order, stored as received."""
    card = department_factory(code="CARD", kind=DepartmentKind.DEPARTMENT)
    for code in ("W5", "W6"):
        department_factory(code=code, kind=DepartmentKind.WARD, parent=card)
    rows = []
    steps = STEPS
    n = 0
    for step, (trigger, ward, bed) in enumerate(steps):
        for p in range(patients):
            n += 1
            mrn, visit = f"M{p:03d}", f"V{p:03d}"
            raw = "\r".join(
                [
                    f"MSH|^~\\&|HIS|DEMO|MEDOA|MEDOA|20261126101500||ADT^{trigger}|c{n}|P|2.5",
                    f"EVN|{trigger}|2026112610{step:02d}00",
                    f"PID|1||{mrn}^^^HIS^MR||张^三",
                    _pv1(ward, bed, visit),
                ]
            )
            rows.append(
                Message(
                    transport="mllp",
                    sending_application="HIS",
                    sending_facility="DEMO",
                    control_id=f"c{n}",
                    message_type="ADT",
                    trigger_event=trigger,
                    patient_id=mrn,
                    raw=raw,
                )
            )
    Message.objects.bulk_create(rows)


def _check_order(patients: int) -> None:
    assert set(Message.objects.values_list("status", flat=True)) == {"processed"}
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}
    assert Event.objects.filter(type__startswith="clinical.patient.").count() == patients * len(STEPS)
    for p in range(patients):
        kinds = list(
            EncounterMovement.objects.filter(encounter__visit_number=f"V{p:03d}")
            .order_by("id")
            .values_list("kind", flat=True)
        )
        assert kinds == EXPECTED, p


def test_three_processors_keep_each_patients_order(department_factory: Any) -> None:
    patients = 40
    _store(department_factory, patients)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(1000):
                if process_batch(limit=17) == 0 and not Message.objects.filter(status="received").exists():
                    break
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert errors == []
    _check_order(patients)


def _children_use_the_test_database(monkeypatch: Any) -> None:
    """``medoa hl7-process`` children started from here open the test database."""
    db = connections["default"].settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MEDOA_ENV", "test")


def test_the_worker_runs_processor_processes_that_end_with_it(
    department_factory: Any, settings: Any, monkeypatch: Any
) -> None:
    """On PostgreSQL the worker's job starts ``medoa hl7-process`` children (their own cores);
    they share the messages safely and stop when told, as at the worker's exit."""

    from medoa.integration.hl7 import processing

    patients = 30
    _store(department_factory, patients)
    _children_use_the_test_database(monkeypatch)
    settings.MEDOA_HL7_PROCESSOR = "process"
    settings.MEDOA_HL7_PROCESSORS = 2
    monkeypatch.setattr(processing, "_last_sweep", time.monotonic())  # no unmapped sweep here
    processing.processing_job()
    children = list(processing._children)
    try:
        assert len(children) == 2 and all(c.poll() is None for c in children)
        processing.processing_job()  # running ones are kept, not doubled
        assert processing._children == children
        deadline = time.monotonic() + 90
        while Message.objects.filter(status="received").exists():
            assert time.monotonic() < deadline, "the processor processes did not drain the store"
            assert all(c.poll() is None for c in children), "a processor process died"
            time.sleep(0.2)
        _check_order(patients)
    finally:
        for child in children:
            processing._stop_child(child)
        processing._children.clear()
    assert [c.returncode for c in children] == [0, 0]


def test_a_processor_process_told_to_stop_while_starting_ends_cleanly(monkeypatch: Any) -> None:
    """The worker may exit a moment after starting its children, while they still load Django:
    the stop is remembered and the child ends with 0 once loaded, without processing a round."""

    from medoa.integration.hl7 import processing

    _children_use_the_test_database(monkeypatch)
    child = processing._start_child()
    time.sleep(0.5)  # the interpreter is up, Django (about two seconds) is not yet
    assert child.poll() is None
    processing._stop_child(child)
    assert child.returncode == 0
