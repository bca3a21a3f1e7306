"""Fixtures of the process engine's service tests: a small hospital, people holding roles, the test
BPMN models in ``bpmn/`` deployed through the service layer, and helpers to find tasks.

Module-level fixtures of the same names in other test files (test_api.py …) take precedence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import translation

from medoa.core.access.grants import sync_role_grants
from medoa.core.notify.models import Notification
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import person_maker
from medoa.engines.flow import services
from medoa.engines.flow.choices import TaskStatus
from medoa.engines.flow.models import HumanTask, ProcessEvent, ProcessInstance, ProcessVersion
from medoa.engines.flow.spiff import clock as spiff_clock

BPMN = Path(__file__).parent / "bpmn"


def bpmn(name: str) -> str:
    return (BPMN / f"{name}.bpmn").read_text(encoding="utf-8")


@pytest.fixture
def flow_grants(db: Any) -> None:
    sync_role_grants()


@pytest.fixture
def hospital(department_factory: Any, flow_grants: None) -> SimpleNamespace:
    """H → CLIN → CARD 心血管内科 → CARD-W1 心内一病区; H → CLIN → SURG 普外科; H → OFF → MA 医务处"""
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    clinical = department_factory(
        code="CLIN", name_zh="临床科室", name_en="Clinical", kind="category", parent=root
    )
    cardio = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=clinical)
    ward = department_factory(
        code="CARD-W1", name_zh="心内一病区", name_en="Cardiology ward 1", kind="ward", parent=cardio
    )
    surgery = department_factory(code="SURG", name_zh="普外科", name_en="Surgery", parent=clinical)
    offices = department_factory(
        code="OFF", name_zh="职能部门", name_en="Offices", kind="category", parent=root
    )
    medical_affairs = department_factory(
        code="MA", name_zh="医务处", name_en="Medical affairs", parent=offices
    )
    return SimpleNamespace(
        root=root,
        clinical=clinical,
        cardio=cardio,
        ward=ward,
        surgery=surgery,
        offices=offices,
        ma=medical_affairs,
    )


@pytest.fixture
def person(hospital: SimpleNamespace) -> Callable[..., Staff]:
    """``person("dept_head", department=hospital.cardio, username="head")``: department roles are
    held at the person's department, hospital-wide roles at the root."""
    return person_maker(default=hospital.ward, root=hospital.root)


@pytest.fixture
def people(person: Callable[..., Staff], hospital: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(
        nurse=person("nurse", username="nurse", name="护士小王"),
        nurse2=person("nurse", username="nurse2", name="护士小李"),
        head_nurse=person("head_nurse", username="head_nurse", name="护士长"),
        head=person("dept_head", department=hospital.cardio, username="head", name="主任"),
        vice=person("vice_dean", department=hospital.root, username="vice", name="副院长"),
        dean=person("dean", department=hospital.root, username="dean", name="院长"),
        admin=person("sys_admin", department=hospital.ma, username="admin", name="管理员"),
        ma=person("medical_affairs", department=hospital.ma, username="ma", name="医务处干事"),
        outsider=person("doctor", department=hospital.surgery, username="outsider", name="外科医生"),
        relief=person("nurse", username="relief", name="替班护士"),
    )


@pytest.fixture
def deploy(people: SimpleNamespace) -> Callable[..., ProcessVersion]:
    def run(name: str, *, key: str | None = None) -> ProcessVersion:
        return services.definition_deploy(actor=people.admin.user, xml=bpmn(name), key=key)

    return run


@pytest.fixture
def start(people: SimpleNamespace) -> Callable[..., ProcessInstance]:
    def run(key: str, by: Staff | None = None, **variables: Any) -> ProcessInstance:
        return services.instance_start(
            actor=(by or people.nurse).user, definition_key=key, variables=variables
        )

    return run


def open_task(instance: ProcessInstance, step: str | None = None) -> HumanTask:
    qs = HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN)
    if step is not None:
        qs = qs.filter(task_def_id=step)
    tasks = list(qs)
    assert len(tasks) == 1, [(t.task_def_id, t.assignee_id) for t in tasks]
    return tasks[0]


def open_steps(instance: ProcessInstance) -> list[tuple[str, str | None]]:
    """(step, assignee username) of the open tasks, sorted."""
    return sorted(
        (t.task_def_id, t.assignee.user.username if t.assignee else None)
        for t in HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN).select_related(
            "assignee__user"
        )
    )


def kinds(instance: ProcessInstance) -> list[str]:
    return list(
        ProcessEvent.objects.filter(instance=instance).order_by("at", "id").values_list("kind", flat=True)
    )


def snapshot() -> tuple[int, int, int, list[tuple[int, str, int | None, int]]]:
    """Counts that a refused action must leave unchanged."""
    return (
        ProcessEvent.objects.count(),
        HumanTask.objects.count(),
        Notification.objects.count(),
        sorted(
            (t.pk, t.status, t.assignee_id, t.instance.revision)
            for t in HumanTask.objects.select_related("instance")
        ),
    )


class FakeClock:
    """The engine's timer clock, moved by hand (``medoa.engines.flow.spiff.clock.now``)."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(spiff_clock, "now", fake.now)
    monkeypatch.setattr(services, "_now", fake.now)
    return fake


@pytest.fixture
def english() -> Iterator[None]:
    """Messages in English (the msgids) for tests that compare them; Chinese is the default."""
    with translation.override("en"):
        yield
