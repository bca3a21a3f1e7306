"""The demo's no-code apps: the form engine's loader publishes the three forms and creates the three
apps (with two bookings already made), the process engine's "flow-apps" loader deploys the two
processes and links their apps; 进修申请 and 新技术新项目申报 then run through their steps."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from medoa.core.audit.models import AuditEntry
from medoa.core.registries import demo_loaders
from medoa.core.runtime.demo import demo_loader_sequence, run_demo_loaders
from medoa.engines.flow import services
from medoa.engines.flow.choices import InstanceOutcome, InstanceStatus, TaskStatus
from medoa.engines.flow.demo_apps import DEMO_APP_MODELS
from medoa.engines.flow.models import HumanTask, ProcessDefinition, ProcessInstance
from medoa.engines.flow.spiff import parse_definition
from medoa.engines.forms import app_selectors
from medoa.engines.forms import services as form_services
from medoa.engines.forms.errors import ValidationFailed
from medoa.engines.forms.models import App, FormDefinition, FormRecord

pytestmark = pytest.mark.django_db

PASSWORD = "Demo@Pass-2026"
LOADERS = ("org", "flow", "forms", "flow-apps")


def _load() -> list[str]:
    return run_demo_loaders(password=PASSWORD, loaders=[demo_loaders.get(k) for k in LOADERS])


@pytest.fixture
def loaded(db: Any) -> list[str]:
    return _load()


def _user(username: str) -> Any:
    return get_user_model().objects.get(username=username)


def test_the_app_loaders_run_after_what_they_need() -> None:
    keys = [d.key for d in demo_loader_sequence()]

    assert keys.index("org") < keys.index("forms") < keys.index("flow-apps")
    assert keys.index("flow") < keys.index("flow-apps")


@pytest.mark.parametrize("model", DEMO_APP_MODELS, ids=lambda m: m.key)
def test_the_app_models_bind_their_forms(model: Any) -> None:
    parsed = parse_definition(model.xml())
    assert parsed.start_form_key == f"medoa:form:{model.key}"


def test_loading_creates_the_three_forms_and_apps_and_deploys_the_processes(loaded: list[str]) -> None:
    assert loaded == ["org", "forms", "flow", "flow-apps"]
    forms = {
        d.key: (d.name, d.latest_version.version if d.latest_version else None)
        for d in FormDefinition.objects.all()
    }
    assert forms == {
        "further_study": ("进修申请", 1),
        "meeting_room": ("院内会议室预约", 1),
        "new_technique": ("新技术新项目申报", 1),
    }
    apps = {
        a.slug: (a.name, a.form.key, a.process_key, a.enabled) for a in App.objects.select_related("form")
    }
    assert apps == {
        "further_study": ("进修申请", "further_study", "further_study", True),
        "meeting_room": ("院内会议室预约", "meeting_room", "", True),
        "new_technique": ("新技术新项目申报", "new_technique", "new_technique", True),
    }
    room = App.objects.get(slug="meeting_room")
    assert (room.conflict_resource, room.conflict_start, room.conflict_end, room.roles) == (
        "room",
        "start",
        "end",
        [],
    )
    deployed = dict(
        ProcessDefinition.objects.filter(key__in=["further_study", "new_technique"]).values_list(
            "key", "name"
        )
    )
    assert deployed == {"further_study": "进修申请", "new_technique": "新技术新项目申报"}
    assert FormRecord.objects.filter(definition__key="meeting_room").count() == 2
    assert AuditEntry.objects.filter(action="forms.app.created").count() == 3
    assert app_selectors.app_new_url(App.objects.get(slug="further_study")) == "/flow/start/further_study/"
    assert app_selectors.app_new_url(room) == "/forms/meeting_room/fill/"


def test_a_second_load_changes_nothing(loaded: list[str]) -> None:
    before = (App.objects.count(), FormRecord.objects.count(), AuditEntry.objects.count())
    _load()
    assert (App.objects.count(), FormRecord.objects.count(), AuditEntry.objects.count()) == before


def test_the_menu_shows_each_app_to_its_roles(loaded: list[str]) -> None:
    def menu(username: str) -> list[str]:
        return [link.label for link in app_selectors.app_menu_links(_user(username))]

    assert menu("card_n01") == ["进修申请", "院内会议室预约"]  # a nurse
    assert menu("card_doc1") == ["进修申请", "院内会议室预约", "新技术新项目申报"]  # a doctor
    assert menu("vp_medical") == ["院内会议室预约"]  # a vice dean


def test_a_demo_booking_blocks_its_room(loaded: list[str]) -> None:
    booked = FormRecord.objects.get(definition__key="meeting_room", values__room="admin-3f")
    data = {**booked.values, "start": booked.values["start"].replace("09:00", "10:00"), "subject": "另一个会"}

    with pytest.raises(ValidationFailed) as exc:
        form_services.record_submit(actor=_user("card_n01"), key="meeting_room", data=data)
    assert [(e.field, e.code) for e in exc.value.field_errors] == [("start", "conflict")]


def _decide(username: str, instance: ProcessInstance, step: str, action: str = "approve") -> None:
    task = HumanTask.objects.get(instance=instance, task_def_id=step, status=TaskStatus.OPEN)
    services.task_act(
        actor=_user(username), task=task, action=action, comment="同意" if action == "approve" else "不同意"
    )


def _open_steps(instance: ProcessInstance) -> list[str]:
    return sorted(
        HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN).values_list(
            "task_def_id", flat=True
        )
    )


def _task_user(instance: ProcessInstance, step: str) -> str:
    task = HumanTask.objects.select_related("assignee__user").get(
        instance=instance, task_def_id=step, status=TaskStatus.OPEN
    )
    if task.assignee is not None:
        return str(task.assignee.user.username)
    return str(task.candidates.values_list("staff__user__username", flat=True).first())


def _technique(loaded: list[str]) -> ProcessInstance:
    form = {
        "project_name": "日间手术腹腔镜胆囊切除",
        "category": "project",
        "description": "择期胆囊结石患者日间手术，24 小时内出院。",
        "risk_assessment": "术后出血、胆漏；设随访电话及 24 小时再入院通道。",
    }
    instance = services.instance_start(
        actor=_user("card_doc1"), definition_key="new_technique", variables={}, form_data=form
    )
    _decide(_task_user(instance, "Task_dept_head"), instance, "Task_dept_head")
    return instance


def test_both_offices_agree_and_medical_affairs_approves(loaded: list[str]) -> None:
    instance = _technique(loaded)
    _decide(_task_user(instance, "Task_quality_sign"), instance, "Task_quality_sign")
    assert _open_steps(instance) == ["Task_medical_sign"]
    _decide(_task_user(instance, "Task_medical_sign"), instance, "Task_medical_sign")
    assert _open_steps(instance) == ["Task_medical_final"]
    _decide(_task_user(instance, "Task_medical_final"), instance, "Task_medical_final")

    instance.refresh_from_db()
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, InstanceOutcome.APPROVED)


def test_one_office_refusing_ends_the_countersign(loaded: list[str]) -> None:
    instance = _technique(loaded)
    _decide(_task_user(instance, "Task_medical_sign"), instance, "Task_medical_sign", action="reject")

    instance.refresh_from_db()
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, InstanceOutcome.REJECTED)
    assert _open_steps(instance) == []


def test_further_study_goes_to_the_head_then_the_education_office(loaded: list[str]) -> None:
    applicant = _user("card_doc1")
    form = {
        "applicant": applicant.staff.pk,
        "department": applicant.staff.department.code,
        "hospital": "北京协和医院",
        "specialty": "心脏介入",
        "start_date": "2026-09-01",
        "end_date": "2027-02-28",
        "reason": "学习复杂冠脉介入技术，回院后开展慢性完全闭塞病变介入治疗。",
    }
    instance = services.instance_start(
        actor=applicant, definition_key="further_study", variables={}, form_data=form
    )
    assert FormRecord.objects.filter(definition__key="further_study").count() == 1
    _decide(_task_user(instance, "Task_dept_head"), instance, "Task_dept_head")
    assert _open_steps(instance) == ["Task_education"]
    _decide(_task_user(instance, "Task_education"), instance, "Task_education")

    instance.refresh_from_db()
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, InstanceOutcome.APPROVED)
