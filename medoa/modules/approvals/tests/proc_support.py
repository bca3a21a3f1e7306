"""Fixtures and helpers of PROC's tests (routing tables, PDF sheet, statistics): a small hospital
with a holder for every role the shipped models route to, the models installed through the
approval centre's own installer, submissions through ``request_submit``, and a driver that decides
each open step as the person it is assigned to and records the chain.

Import the fixtures into a test module with ``from .proc_support import *``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from medoa.core.access.grants import sync_role_grants
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import person_maker
from medoa.engines.flow import services as flow_services
from medoa.engines.flow.choices import TaskStatus
from medoa.engines.flow.models import HumanTask
from medoa.engines.forms import services as forms_services
from medoa.modules.approvals import services
from medoa.modules.approvals.models import ApprovalRequest

__all__ = [
    "PDF",
    "Step",
    "decide_all",
    "hospital",
    "install",
    "media",
    "open_steps",
    "people",
    "run_worker",
    "submit",
    "upload",
]

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
Step = tuple[str, str]  # (task name, the username who decided it)


@pytest.fixture
def media(tmp_path: Any, settings: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def hospital(department_factory: Any, db: Any) -> SimpleNamespace:
    """H 示范医院 → CLIN → CARD 心血管内科 → CARD-W1 心内一病区; H → OFF → FIN 财务处, EQP 设备科,
    HR 人事处, EDU 科教处, MA 医务处, OFFICE 院办."""
    sync_role_grants()
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
    made = {
        code: department_factory(code=code, name_zh=zh, name_en=en, parent=offices)
        for code, zh, en in (
            ("FIN", "财务处", "Finance"),
            ("EQP", "设备科", "Equipment"),
            ("HR", "人事处", "Human resources"),
            ("EDU", "科教处", "Education"),
            ("MA", "医务处", "Medical affairs"),
            ("OFFICE", "院办", "Hospital office"),
        )
    }
    return SimpleNamespace(
        root=root, clinical=clinical, cardio=cardio, ward=ward, surgery=surgery, offices=offices, **made
    )


@pytest.fixture
def people(hospital: SimpleNamespace) -> SimpleNamespace:
    person = person_maker(default=hospital.cardio, root=hospital.root)
    h = hospital
    return SimpleNamespace(
        doctor=person("doctor", username="doctor", name="李医生"),
        doctor2=person("doctor", username="doctor2", name="赵医生"),
        nurse=person("nurse", department=h.ward, username="nurse", name="王护士"),
        head=person("dept_head", username="head", name="张主任"),
        surgeon=person("doctor", department=h.surgery, username="surgeon", name="孙医生"),
        surgery_head=person("dept_head", department=h.surgery, username="surgery_head", name="钱主任"),
        vice=person("vice_dean", department=h.root, username="vice", name="周副院长"),
        dean=person("dean", department=h.root, username="dean", name="吴院长"),
        finance=person("finance", department=h.FIN, username="finance", name="郑会计"),
        equipment=person("equipment", department=h.EQP, username="equipment", name="冯科长"),
        hr=person("hr", department=h.HR, username="hr", name="陈干事"),
        education=person("education_office", department=h.EDU, username="education", name="褚干事"),
        ma=person("medical_affairs", department=h.MA, username="ma", name="卫法务"),
        admin=person("sys_admin", department=h.OFFICE, username="admin", name="蒋管理员"),
    )


def install(people: SimpleNamespace, *keys: str) -> list[str]:
    """Publish the forms and deploy the models of ``keys`` (all types when none)."""
    return services.models_install(actor=people.admin.user, keys=list(keys) or None)


def upload(staff: Staff, name: str = "invoice.pdf", content: bytes = PDF) -> str:
    """An attachment uploaded by ``staff`` (not yet in a record); its id."""
    file = SimpleUploadedFile(name, content, content_type="application/pdf")
    return forms_services.attachment_upload(actor=staff.user, file=file).pk


def submit(staff: Staff, type_key: str, data: dict[str, Any]) -> ApprovalRequest:
    return services.request_submit(actor=staff.user, type_key=type_key, data=data)


def _open(request: ApprovalRequest) -> list[HumanTask]:
    return list(
        HumanTask.objects.filter(instance_id=request.process_instance_id, status=TaskStatus.OPEN)
        .select_related("assignee__user")
        .prefetch_related("candidates__staff__user")
        .order_by("pk")
    )


def _people_of(task: HumanTask) -> list[str]:
    if task.assignee is not None:
        return [task.assignee.user.username]
    return sorted(c.staff.user.username for c in task.candidates.all())


def open_steps(request: ApprovalRequest) -> list[tuple[str, list[str]]]:
    """(task name, the usernames it is for) of the request's open tasks."""
    return sorted((t.name, _people_of(t)) for t in _open(request))


def run_worker() -> int:
    """The worker's pass a moment from now: runs the pending ``approvals.finish`` steps."""
    return flow_services.flow_tick(now=timezone.now() + datetime.timedelta(seconds=1))


def decide_all(
    request: ApprovalRequest,
    decisions: dict[str, str | list[str]] | None = None,
    *,
    comments: dict[str, str] | None = None,
    form_data: Callable[[HumanTask], dict[str, Any] | None] | None = None,
    max_steps: int = 30,
) -> list[Step]:
    """Decide every open step until none is left, each as the person it is assigned to (the first
    candidate of a candidate task): ``decisions`` maps a username to ``"reject"`` (everyone else
    approves), or to a list of actions taken in turn (the last one repeats). Returns the chain as
    (task name, username) in the order decided; the worker then runs the final
    ``approvals.finish`` step."""
    decisions = decisions or {}
    comments = comments or {}
    chain: list[Step] = []
    for _ in range(max_steps):
        tasks = _open(request)
        if not tasks:
            break
        task = tasks[0]
        username = _people_of(task)[0]
        staff = Staff.objects.select_related("user").get(user__username=username)
        planned = decisions.get(username, "approve")
        if isinstance(planned, list):
            action = planned.pop(0) if len(planned) > 1 else planned[0]
        else:
            action = planned
        flow_services.task_act(
            actor=staff.user,
            task=task,
            action=action,
            comment=comments.get(username, "同意" if action == "approve" else "不同意"),
            form_data=form_data(task) if form_data is not None else None,
        )
        chain.append((task.name, username))
    else:  # pragma: no cover - a model that never ends
        raise AssertionError(f"still open after {max_steps} steps: {open_steps(request)}")
    run_worker()
    request.refresh_from_db()
    return chain


def names(chain: Sequence[Step]) -> list[str]:
    return [name for name, _user in chain]
