"""A small hospital for the approval centre's tests, shaped like the demo's:

H 示范医院 (dean) → CLIN 临床科室 (head: vice dean ``vp``) → CARD 心血管内科 (``head``) → CARD-W1
心内一病区 (``head_nurse``, ``nurse``, ``nurse2``); CARD also has ``doctor``; H → OFF 职能部门 (head:
vice dean ``vp2``) → NURS 护理部 (``nursing``), HR 人事处 (``hr``, ``clerk``). The leave model and
its form are installed by ``admin``; the 2026 calendar is seeded.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.access.grants import sync_role_grants
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import person_maker
from medoa.engines.flow import services as flow_services
from medoa.engines.flow.choices import TaskStatus
from medoa.engines.flow.models import HumanTask
from medoa.modules.approvals import services
from medoa.modules.approvals.models import ApprovalRequest
from medoa.modules.approvals.workdays import CHINA_2026


@pytest.fixture
def hospital(department_factory: Any) -> SimpleNamespace:
    sync_role_grants()
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    clinical = department_factory(
        code="CLIN", name_zh="临床科室", name_en="Clinical", kind="category", parent=root
    )
    cardio = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=clinical)
    ward = department_factory(
        code="CARD-W1", name_zh="心内一病区", name_en="Ward 1", kind="ward", parent=cardio
    )
    offices = department_factory(
        code="OFF", name_zh="职能部门", name_en="Offices", kind="category", parent=root
    )
    nursing = department_factory(code="NURS", name_zh="护理部", name_en="Nursing", parent=offices)
    hr = department_factory(code="HR", name_zh="人事处", name_en="HR", parent=offices)
    return SimpleNamespace(
        root=root, clinical=clinical, cardio=cardio, ward=ward, offices=offices, nursing=nursing, hr=hr
    )


@pytest.fixture
def people(hospital: SimpleNamespace) -> SimpleNamespace:
    person = person_maker(default=hospital.ward, root=hospital.root)
    seniority = {"hire_date": datetime.date(2015, 3, 1)}
    p = SimpleNamespace(
        nurse=person("nurse", username="nurse", name="护士小王", **seniority),
        nurse2=person("nurse", username="nurse2", name="护士小李", hire_date=datetime.date(2024, 9, 1)),
        head_nurse=person("head_nurse", username="head_nurse", name="护士长", **seniority),
        doctor=person("doctor", department=hospital.cardio, username="doctor", name="医生", **seniority),
        head=person("dept_head", department=hospital.cardio, username="head", name="主任", **seniority),
        vp=person("vice_dean", department=hospital.root, username="vp", name="分管医疗副院长", **seniority),
        vp2=person("vice_dean", department=hospital.root, username="vp2", name="分管行政副院长", **seniority),
        dean=person("dean", department=hospital.root, username="dean", name="院长", **seniority),
        nursing=person(
            "nursing_dept",
            "dept_head",
            department=hospital.nursing,
            username="nursing",
            name="护理部主任",
            **seniority,
        ),
        hr=person("hr", "dept_head", department=hospital.hr, username="hr", name="人事处长", **seniority),
        clerk=person(
            "doctor",
            department=hospital.hr,
            username="clerk",
            name="人事干事",
            hire_date=datetime.date(2000, 1, 1),
        ),
        admin=person("sys_admin", department=hospital.hr, username="admin", name="管理员"),
    )
    hospital.clinical.head = p.vp
    hospital.clinical.save(update_fields=["head"])
    hospital.offices.head = p.vp2
    hospital.offices.save(update_fields=["head"])
    return p


@pytest.fixture
def installed(people: SimpleNamespace) -> SimpleNamespace:
    services.models_install(actor=people.admin.user, keys=["leave"])
    services.holidays_seed(CHINA_2026)
    return people


def open_tasks(request: ApprovalRequest) -> list[HumanTask]:
    return list(
        HumanTask.objects.filter(instance_id=request.process_instance_id, status=TaskStatus.OPEN).order_by(
            "pk"
        )
    )


def approver_of(task: HumanTask) -> Staff:
    if task.assignee is not None:
        return task.assignee
    return task.candidates.select_related("staff__user").first().staff  # type: ignore[union-attr]


def approve_all(request: ApprovalRequest, *, comment: str = "同意") -> list[str]:
    """Approve every open task until none is left; the usernames of the approvers, in order."""
    chain: list[str] = []
    for _round in range(10):
        tasks = open_tasks(request)
        if not tasks:
            break
        for task in tasks:
            who = approver_of(task)
            flow_services.task_act(actor=who.user, task=task.pk, action="approve", comment=comment)
            chain.append(who.user.username)
    return chain


@pytest.fixture
def submit() -> Callable[..., ApprovalRequest]:
    def run(who: Staff, start: str, end: str, leave_type: str = "annual", **extra: Any) -> ApprovalRequest:
        data = {"leave_type": leave_type, "start_date": start, "end_date": end, "reason": "家中有事", **extra}
        return services.request_submit(actor=who.user, type_key="leave", data=data)

    return run
