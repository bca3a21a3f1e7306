"""The process pages: definitions and the designer, the start page, the inboxes, the task and
instance pages with the diagram data, instance administration and the workbench card.

Every page: anonymous → sign-in, the wrong role → 403, another department's instance → 404,
bad input → the message beside its field and nothing changed."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.translation import gettext, override

from medoa.core.access.grants import sync_role_grants
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import person_maker
from medoa.engines.flow import services
from medoa.engines.flow.models import (
    HumanTask,
    Incident,
    ProcessAttachment,
    ProcessDefinition,
    ProcessDraft,
    ProcessEvent,
    ProcessInstance,
    ProcessVersion,
    TaskCopy,
)

from . import files

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

BPMN = Path(__file__).resolve().parent / "bpmn"
DEMO_MODELS = Path(__file__).resolve().parents[1] / "demo_models"
# Two steps: the approver named in ${approver}, then ${second}; with a diagram (DI).
TWO_STEP = (BPMN / "view_two_step.bpmn").read_text(encoding="utf-8")
# A user task nobody is assigned to and a condition that does not parse: two problems.
BROKEN = (BPMN / "view_broken.bpmn").read_text(encoding="utf-8")


# session, user, live session; the principal (staff, roles, grants); the definitions for the filter;
# the counts (one query); the page's count and rows; the shell's unread notifications and apps menu
QUERIES_INBOX = 12

# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def grants(db: Any) -> None:
    sync_role_grants()


@pytest.fixture
def hospital(department_factory: Any) -> SimpleNamespace:
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    cardio = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=root)
    surgery = department_factory(code="SURG", name_zh="普外科", name_en="General surgery", parent=root)
    return SimpleNamespace(root=root, cardio=cardio, surgery=surgery)


@pytest.fixture
def person(hospital: SimpleNamespace) -> Callable[..., Staff]:
    return person_maker(default=hospital.cardio, root=hospital.root, totp_secret=TOTP_SECRET)


@pytest.fixture
def people(person: Callable[..., Staff], hospital: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(
        nurse=person("nurse", username="nurse_li", name="李护士"),
        approver=person("doctor", username="doc_wang", name="王医生"),
        second=person("doctor", username="doc_zhao", name="赵医生"),
        outsider=person("doctor", department=hospital.surgery, username="doc_qian", name="钱医生"),
        designer=person("it", department=hospital.root, username="it_zhou", name="周工程师"),
        admin=person("sys_admin", department=hospital.root, username="admin_sun", name="孙管理员"),
    )


@pytest.fixture
def as_user(db: Any) -> Callable[[Staff | None], Client]:
    def make(staff: Staff | None) -> Client:
        client = Client()
        if staff is not None:
            client.force_login(staff.user)
        return client

    return make


@pytest.fixture
def two_step(people: SimpleNamespace) -> ProcessVersion:
    return services.definition_deploy(actor=people.designer.user, xml=TWO_STEP, category="测试")


@pytest.fixture
def started(people: SimpleNamespace, two_step: ProcessVersion) -> ProcessInstance:
    return services.instance_start(
        actor=people.nurse.user,
        definition_key="view_two_step",
        variables={"approver": "doc_wang", "second": "doc_zhao", "days": 2},
        title="李护士的申请",
    )


def _open_task(instance: ProcessInstance, step: str) -> HumanTask:
    return HumanTask.objects.get(instance=instance, task_def_id=step, status="open")


def _counts() -> dict[str, int]:
    return {
        "definitions": ProcessDefinition.objects.count(),
        "versions": ProcessVersion.objects.count(),
        "drafts": ProcessDraft.objects.count(),
        "instances": ProcessInstance.objects.count(),
        "open_tasks": HumanTask.objects.filter(status="open").count(),
        "tasks": HumanTask.objects.count(),
        "events": ProcessEvent.objects.count(),
        "copies": TaskCopy.objects.count(),
        "attachments": ProcessAttachment.objects.count(),
    }


def _zh(msgid: str) -> str:
    """A message of the services (their catalog) as a Chinese page shows it."""
    with override("zh-hans"):
        return gettext(msgid)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _pdf(name: str = "意见.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "application/pdf")


def _docx(name: str = "说明.docx") -> SimpleUploadedFile:
    return files.upload(name, files.DOCX)


# --- registration ----------------------------------------------------------------------------------


def test_the_todo_card_renders_counts_and_the_newest_tasks(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    # given the approver's workbench
    response = as_user(people.approver).get(reverse("web:workbench"))

    # then the to-do card shows one open task with a link to it
    assert response.status_code == 200
    content = response.content.decode()
    task = _open_task(started, "first")
    assert reverse("flow:task_detail", args=[task.pk]) in content
    assert "我的待办" in content or "My to-do" in content


# --- definitions ------------------------------------------------------------------------------------


def test_definition_list_for_staff_and_designers(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    url = reverse("flow:definition_list")
    assert as_user(None).get(url).status_code == 302

    # a nurse may start, not design
    nurse_page = as_user(people.nurse).get(url)
    assert nurse_page.status_code == 200
    content = nurse_page.content.decode()
    assert reverse("flow:instance_start", args=["view_two_step"]) in content
    assert reverse("flow:designer", args=["view_two_step"]) not in content
    assert reverse("flow:designer_new") not in content

    # a designer sees design, XML and versions
    designer_page = as_user(people.designer).get(url).content.decode()
    for name in ("flow:designer", "flow:definition_xml", "flow:definition_versions"):
        assert reverse(name, args=["view_two_step"]) in designer_page
    assert "两级审批" in designer_page and "测试" in designer_page and "v1" in designer_page
    assert 'data-running="1"' in designer_page and "周工程师" in designer_page


def test_definition_xml_and_versions_need_the_design_permission(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    xml_url = reverse("flow:definition_xml", args=["view_two_step"])
    versions_url = reverse("flow:definition_versions", args=["view_two_step"])
    nurse = as_user(people.nurse)
    assert nurse.get(xml_url).status_code == 403
    assert nurse.get(versions_url).status_code == 403

    designer = as_user(people.designer)
    download = designer.get(xml_url)
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="view_two_step-v1.bpmn"'
    assert download.content.decode() == TWO_STEP
    assert designer.get(xml_url + "?version=2").status_code == 404
    assert designer.get(xml_url + "?version=x").status_code == 404
    assert designer.get(reverse("flow:definition_xml", args=["nope"])).status_code == 404
    versions = designer.get(versions_url)
    assert versions.status_code == 200
    assert f"{xml_url}?version=1" in versions.content.decode()


# --- designer ---------------------------------------------------------------------------------------


def test_designer_pages_refuse_non_designers(people: SimpleNamespace, as_user: Any) -> None:
    ProcessDraft.objects.create(key="draft_a", name="草稿", bpmn_xml=TWO_STEP)
    before = _counts()
    nurse = as_user(people.nurse)
    assert nurse.get(reverse("flow:designer_new")).status_code == 403
    assert nurse.post(reverse("flow:designer_new"), {"key": "x1", "name": "X"}).status_code == 403
    assert nurse.get(reverse("flow:designer", args=["draft_a"])).status_code == 403
    assert nurse.get(reverse("flow:designer_xml", args=["draft_a"])).status_code == 403
    body = {"key": "draft_a", "name": "改", "xml": TWO_STEP}
    assert nurse.post(reverse("flow:designer_save"), body).status_code == 403
    assert nurse.post(reverse("flow:designer_deploy"), body).status_code == 403
    assert _counts() == before
    assert ProcessDraft.objects.get().name == "草稿"


def test_new_process_starts_a_draft_from_the_template(people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.designer)
    url = reverse("flow:designer_new")
    assert client.get(url).status_code == 200

    # bad keys are refused beside the field, nothing is saved
    bad = client.post(url, {"key": "9 lives", "name": "", "category": ""})
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) == {"key", "name"}
    starts_with_digit = client.post(url, {"key": "9lives", "name": "请假"})
    assert starts_with_digit.context["form"].errors == {"key": ["键必须以字母或 _ 开头。"]}
    assert ProcessDraft.objects.count() == 0

    # a good one saves a draft (start → user task → end, process id from the key) and opens it
    ok = client.post(url, {"key": "leave-2026", "name": "请假申请", "category": "人事"})
    assert ok.status_code == 302
    assert ok["Location"] == reverse("flow:designer", args=["leave-2026"]) + "?category=%E4%BA%BA%E4%BA%8B"
    draft = ProcessDraft.objects.get()
    assert (draft.key, draft.name) == ("leave-2026", "请假申请")
    assert '<bpmn:process id="leave-2026" name="请假申请" isExecutable="true">' in draft.bpmn_xml
    assert draft.bpmn_xml.startswith("<?xml")
    for element in ("bpmn:startEvent", "bpmn:userTask", "bpmn:endEvent", "bpmndi:BPMNShape"):
        assert element in draft.bpmn_xml

    # the same key again is refused
    again = client.post(url, {"key": "leave-2026", "name": "请假申请"})
    assert again.context["form"].errors == {"key": ["已有使用此键的流程：请从列表中打开它。"]}

    # the designer page and its XML
    page = client.get(ok["Location"])
    assert page.status_code == 200
    content = page.content.decode()
    assert 'data-xml-url="/flow/designer/leave-2026/xml/"' in content
    assert 'value="人事"' in content
    assert "<script>" not in content and "style=" not in content
    assert client.get(reverse("flow:designer_xml", args=["leave-2026"])).content.decode() == draft.bpmn_xml


def test_the_template_deploys_as_it_is(people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.designer)
    client.post(reverse("flow:designer_new"), {"key": "tmpl", "name": "模板"})
    xml = client.get(reverse("flow:designer_xml", args=["tmpl"])).content.decode()
    response = client.post(reverse("flow:designer_deploy"), {"key": "tmpl", "name": "模板", "xml": xml})
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 1


def test_designer_of_an_unknown_key_is_404(people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.designer)
    assert client.get(reverse("flow:designer", args=["nothing"])).status_code == 404
    assert client.get(reverse("flow:designer_xml", args=["nothing"])).status_code == 404


def test_designer_opens_the_latest_version_without_a_draft(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    client = as_user(people.designer)
    page = client.get(reverse("flow:designer", args=["view_two_step"]))
    assert page.status_code == 200
    assert 'value="两级审批"' in page.content.decode()
    assert client.get(reverse("flow:designer_xml", args=["view_two_step"])).content.decode() == TWO_STEP


def test_save_draft(people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.designer)
    url = reverse("flow:designer_save")

    missing = client.post(url, {"key": "d1", "name": "草稿"})
    assert missing.status_code == 400
    assert missing.json() == {"ok": False, "problems": [{"message": "BPMN XML: 此字段为必填项。"}]}
    bad_key = client.post(url, {"key": "a b", "xml": TWO_STEP})
    assert bad_key.status_code == 400
    assert ProcessDraft.objects.count() == 0

    ok = client.post(url, {"key": "d1", "name": "草稿", "xml": TWO_STEP})
    assert ok.status_code == 200
    body = ok.json()
    assert body["ok"] is True and body["message"] == "草稿已保存。"
    assert body["designer_url"] == "/flow/designer/d1/"
    assert ProcessDraft.objects.get(key="d1").bpmn_xml == TWO_STEP

    too_big = client.post(url, {"key": "d1", "xml": "<x/>" + " " * (5 * 1024 * 1024)})
    assert too_big.status_code == 400
    assert too_big.json()["problems"] == [{"message": "BPMN XML: BPMN 文件超过 5 MB。"}]
    assert ProcessDraft.objects.get(key="d1").bpmn_xml == TWO_STEP


def test_a_draft_never_deployed_is_listed_for_designers_only(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    # given a draft of a new process and a draft of the deployed view_two_step
    ProcessDraft.objects.create(key="leave_draft", name="请假草稿", bpmn_xml=TWO_STEP)
    ProcessDraft.objects.create(key="view_two_step", name="改过的", bpmn_xml=TWO_STEP)
    url = reverse("flow:definition_list")

    # when a designer and a nurse open the list
    designer_page = as_user(people.designer).get(url).content.decode()
    nurse_page = as_user(people.nurse).get(url).content.decode()

    # then the designer sees the new one marked 草稿 with a link to the designer, once
    assert designer_page.count('data-key="leave_draft" data-draft="1"') == 1
    assert '请假草稿 <span class="badge">草稿</span>' in designer_page
    assert reverse("flow:designer", args=["leave_draft"]) in designer_page
    assert 'data-key="view_two_step" data-draft="1"' not in designer_page
    # and the nurse does not
    assert "leave_draft" not in nurse_page and "请假草稿" not in nurse_page


def test_deploying_a_key_deletes_its_draft(people: SimpleNamespace, as_user: Any) -> None:
    # given a draft
    client = as_user(people.designer)
    client.post(reverse("flow:designer_save"), {"key": "d2", "name": "草稿", "xml": TWO_STEP})

    # when it is deployed from the designer
    response = client.post(reverse("flow:designer_deploy"), {"key": "d2", "name": "两级", "xml": TWO_STEP})

    # then the draft is gone and the designer opens the deployed version
    assert response.status_code == 200, response.content
    assert ProcessDraft.objects.filter(key="d2").count() == 0
    page = client.get(reverse("flow:designer", args=["d2"])).content.decode()
    assert "当前显示已发布的第 1 版。" in page
    assert client.get(reverse("flow:designer_xml", args=["d2"])).content.decode() == TWO_STEP


def test_a_failed_deploy_keeps_the_draft(people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.designer)
    client.post(reverse("flow:designer_save"), {"key": "d3", "name": "草稿", "xml": BROKEN})

    response = client.post(reverse("flow:designer_deploy"), {"key": "d3", "name": "坏", "xml": BROKEN})

    assert response.status_code == 400
    assert ProcessDraft.objects.get(key="d3").bpmn_xml == BROKEN


def test_the_designer_opens_a_deployed_version_newer_than_the_draft(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    # given a draft saved before the latest version was deployed (e.g. through the API)
    draft = ProcessDraft.objects.create(key="view_two_step", name="旧草稿", bpmn_xml=BROKEN)
    ProcessDraft.objects.filter(pk=draft.pk).update(
        updated_at=two_step.deployed_at - datetime.timedelta(hours=1)
    )
    client = as_user(people.designer)

    # when the designer opens the key
    page = client.get(reverse("flow:designer", args=["view_two_step"])).content.decode()

    # then it shows the deployed version and says the draft is older
    assert "当前显示已发布的第 1 版。" in page
    assert "比此版本旧" in page
    assert 'value="两级审批"' in page
    assert client.get(reverse("flow:designer_xml", args=["view_two_step"])).content.decode() == TWO_STEP


def test_the_designer_opens_a_draft_newer_than_the_deployed_version(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    client = as_user(people.designer)
    client.post(reverse("flow:designer_save"), {"key": "view_two_step", "name": "新草稿", "xml": BROKEN})

    page = client.get(reverse("flow:designer", args=["view_two_step"])).content.decode()

    assert "比此版本旧" not in page and 'value="新草稿"' in page
    assert client.get(reverse("flow:designer_xml", args=["view_two_step"])).content.decode() == BROKEN


def test_deploy_lists_every_problem_and_writes_nothing(people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.designer)
    before = _counts()

    response = client.post(
        reverse("flow:designer_deploy"), {"key": "view_broken", "name": "坏的", "xml": BROKEN}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    by_element = {p["element_id"]: p["message"] for p in body["problems"]}
    assert by_element["nobody"] == (
        "用户任务未指定处理人：请设置 camunda:assignee、camunda:candidateUsers 或 camunda:candidateGroups"
    )
    assert by_element["f3"].startswith("条件“")
    assert _counts() == before

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.post(reverse("flow:designer_deploy"), {"key": "view_broken", "xml": BROKEN})
    messages_en = {p["element_id"]: p["message"] for p in english.json()["problems"]}
    assert messages_en["nobody"] == (
        "user task without assignment: set camunda:assignee, camunda:candidateUsers or "
        "camunda:candidateGroups"
    )

    not_xml = client.post(reverse("flow:designer_deploy"), {"key": "x", "xml": "not xml at all"})
    assert not_xml.status_code == 400
    assert not_xml.json()["problems"]
    assert _counts() == before


def test_deploy_makes_a_new_version(two_step: ProcessVersion, people: SimpleNamespace, as_user: Any) -> None:
    response = as_user(people.designer).post(
        reverse("flow:designer_deploy"),
        {"key": "view_two_step", "name": "两级审批", "category": "", "xml": TWO_STEP},
    )
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "key": "view_two_step",
        "version": 2,
        "message": "两级审批 第 2 版已发布。",
        "definitions_url": "/flow/definitions/",
    }
    assert ProcessDefinition.objects.get().latest_version.version == 2  # type: ignore[union-attr]


# --- start page ---------------------------------------------------------------------------------------


def test_start_page_with_bad_variables_changes_nothing(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    client = as_user(people.nurse)
    url = reverse("flow:instance_start", args=["view_two_step"])
    page = client.get(url)
    assert page.status_code == 200
    assert page.content.decode().count('name="var_name"') == 3
    before = _counts()

    response = client.post(
        url,
        {
            "title": "x" * 301,
            "var_name": ["days", "1bad", "days", "when", "ok", ""],
            "var_type": ["number", "string", "number", "date", "boolean", "string"],
            "var_value": ["三", "v", "2", "2026-13-01", "maybe", ""],
        },
    )

    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == ["title", "__all__"]
    assert [row.errors for row in form.rows] == [
        ["三 不是数字。"],
        ["1bad 不是合法的名称：请使用字母、数字和 _，并以字母开头。"],
        ["days 出现了两次。"],
        ["日期请写成 YYYY-MM-DD。"],
        ["请填写 true 或 false。"],
        [],
    ]
    assert "三 不是数字。" in response.content.decode()
    assert _counts() == before


def test_start_page_starts_and_goes_to_the_instance(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    client = as_user(people.nurse)
    response = client.post(
        reverse("flow:instance_start", args=["view_two_step"]),
        {
            "title": "请假三天",
            "business_key": "LV-1",
            "var_name": ["approver", "second", "days", "urgent", "from_day", ""],
            "var_type": ["string", "string", "number", "boolean", "date", "string"],
            "var_value": ["doc_wang", "doc_zhao", "3", "是", "2026-12-01", ""],
        },
    )
    instance = ProcessInstance.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("flow:instance_detail", args=[instance.pk])
    assert (instance.title, instance.business_key, instance.initiator_id) == (
        "请假三天",
        "LV-1",
        people.nurse.pk,
    )
    assert {k: instance.variables[k] for k in ("approver", "days", "urgent", "from_day")} == {
        "approver": "doc_wang",
        "days": 3,
        "urgent": True,
        "from_day": "2026-12-01",
    }
    assert _open_task(instance, "first").assignee_id == people.approver.pk


@pytest.fixture
def purchase(people: SimpleNamespace) -> ProcessVersion:
    """The demo 采购会签: the initiator chooses the countersigners in ``signers``."""
    xml = (DEMO_MODELS / "purchase_countersign.bpmn").read_text(encoding="utf-8")
    return services.definition_deploy(actor=people.designer.user, xml=xml)


def test_start_page_offers_a_list_type(
    purchase: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    page = as_user(people.nurse).get(reverse("flow:instance_start", args=["purchase_countersign"]))

    assert '<option value="list">列表（逗号分隔）</option>' in page.content.decode()


def test_start_page_starts_a_countersign_with_a_list_of_signers(
    purchase: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    # given the signers typed comma-separated, with spaces, an empty item and a full-width comma
    response = as_user(people.nurse).post(
        reverse("flow:instance_start", args=["purchase_countersign"]),
        {
            "title": "采购监护仪",
            "var_name": ["item", "total", "signers"],
            "var_type": ["string", "number", "list"],
            "var_value": ["监护仪", "30000", " doc_wang , ,doc_zhao，admin_sun, "],
        },
    )

    # then the instance starts with a JSON list of trimmed strings and one share per signer
    assert response.status_code == 302, response.content
    instance = ProcessInstance.objects.get()
    assert instance.variables["signers"] == ["doc_wang", "doc_zhao", "admin_sun"]
    shares = HumanTask.objects.filter(instance=instance, task_def_id="Task_countersign", status="open")
    assert sorted(shares.values_list("assignee__user__username", flat=True)) == [
        "admin_sun",
        "doc_wang",
        "doc_zhao",
    ]


def test_an_empty_list_is_refused_on_its_row(
    purchase: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    before = _counts()

    response = as_user(people.nurse).post(
        reverse("flow:instance_start", args=["purchase_countersign"]),
        {
            "title": "采购",
            "var_name": ["item", "signers", "others"],
            "var_type": ["string", "list", "list"],
            "var_value": ["监护仪", " , ，", ""],
        },
    )

    assert response.status_code == 400
    assert [row.errors for row in response.context["form"].rows] == [
        [],
        ["请至少填写一个值，用逗号分隔。"],
        ["请至少填写一个值，用逗号分隔。"],
    ]
    assert "请至少填写一个值，用逗号分隔。" in response.content.decode()
    assert _counts() == before


def test_start_refusal_from_the_engine_is_shown(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any
) -> None:
    # the model needs ${approver}: without it the engine cannot assign the first step
    response = as_user(people.nurse).post(
        reverse("flow:instance_start", args=["view_two_step"]),
        {"title": "缺审批人", "var_name": ["days"], "var_type": ["number"], "var_value": ["1"]},
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()
    assert ProcessInstance.objects.count() == 0


def test_start_unknown_process_is_404(people: SimpleNamespace, as_user: Any) -> None:
    assert as_user(people.nurse).get(reverse("flow:instance_start", args=["nope"])).status_code == 404


def test_variable_row_fragment(people: SimpleNamespace, as_user: Any) -> None:
    response = as_user(people.nurse).get(reverse("flow:start_variable_row"))
    content = response.content.decode()
    assert content.count('name="var_name"') == 1 and 'value="date"' in content


# --- inboxes -------------------------------------------------------------------------------------------


def test_inboxes_show_each_box(started: ProcessInstance, people: SimpleNamespace, as_user: Any) -> None:
    url = reverse("flow:task_list")
    task = _open_task(started, "first")

    todo = as_user(people.approver).get(url)
    assert todo.status_code == 200
    assert todo.context["counts"]["todo"] == 1
    assert [t.pk for t in todo.context["page"]] == [task.pk]
    assert reverse("flow:task_detail", args=[task.pk]) in todo.content.decode()

    initiated = as_user(people.nurse).get(url + "?box=initiated")
    assert [i.pk for i in initiated.context["page"]] == [started.pk]
    assert "李护士的申请" in initiated.content.decode()

    assert list(as_user(people.approver).get(url + "?box=done").context["page"]) == []
    assert list(as_user(people.approver).get(url + "?box=cc").context["page"]) == []

    # search and filter
    assert list(as_user(people.approver).get(url + "?q=不存在").context["page"]) == []
    assert (
        len(as_user(people.approver).get(url + "?q=初审&process=view_two_step&sort=due").context["page"]) == 1
    )


def test_inbox_query_count_does_not_grow_with_the_page(
    two_step: ProcessVersion, people: SimpleNamespace, as_user: Any, django_assert_num_queries: Any
) -> None:
    def start(n: int) -> None:
        for i in range(n):
            services.instance_start(
                actor=people.nurse.user,
                definition_key="view_two_step",
                variables={"approver": "doc_wang", "second": "doc_zhao"},
                title=f"申请{i}",
            )

    client = as_user(people.approver)
    start(2)
    client.get(reverse("flow:task_list"))  # warm the session and the principal cache
    with django_assert_num_queries(QUERIES_INBOX):
        assert len(client.get(reverse("flow:task_list")).context["page"]) == 2
    start(10)
    with django_assert_num_queries(QUERIES_INBOX):
        assert len(client.get(reverse("flow:task_list")).context["page"]) == 12


def test_inbox_bad_filters_are_400(people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.nurse)
    for query in ("?box=spam", "?sort=random", "?process=nope"):
        response = client.get(reverse("flow:task_list") + query)
        assert response.status_code == 400, query
        assert response.context["page"] is None


def test_inbox_pages_by_twenty(two_step: ProcessVersion, people: SimpleNamespace, as_user: Any) -> None:
    for n in range(21):
        services.instance_start(
            actor=people.nurse.user,
            definition_key="view_two_step",
            variables={"approver": "doc_wang", "second": "doc_zhao"},
            title=f"申请{n}",
        )
    client = as_user(people.approver)
    first = client.get(reverse("flow:task_list"))
    assert len(first.context["page"]) == 20
    assert first.context["page"].paginator.num_pages == 2
    second = client.get(reverse("flow:task_list") + "?page=2")
    assert len(second.context["page"]) == 1


def test_batch_approve_reports_each_task(
    two_step: ProcessVersion, started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    other = services.instance_start(
        actor=people.nurse.user,
        definition_key="view_two_step",
        variables={"approver": "doc_wang", "second": "doc_zhao"},
    )
    mine = [_open_task(started, "first").pk, _open_task(other, "first").pk]
    not_mine = services.instance_start(
        actor=people.nurse.user,
        definition_key="view_two_step",
        variables={"approver": "doc_zhao", "second": "doc_zhao"},
    )
    foreign = _open_task(not_mine, "first").pk

    response = as_user(people.approver).post(
        reverse("flow:task_batch_approve"), {"task_ids": [*mine, foreign], "comment": "同意"}, follow=True
    )

    assert response.redirect_chain == [("/flow/tasks/?box=todo", 302)]
    texts = _messages(response)
    assert texts[0] == "已通过 2 个任务。"
    assert texts[1].startswith(f"任务 {foreign}：")
    assert HumanTask.objects.filter(pk__in=mine, status="completed", outcome="approved").count() == 2
    assert HumanTask.objects.get(pk=foreign).status == "open"


def test_batch_approve_without_selection(people: SimpleNamespace, as_user: Any) -> None:
    response = as_user(people.approver).post(
        reverse("flow:task_batch_approve"), {"task_ids": ["x"]}, follow=True
    )
    assert (
        _messages(response) == ["选择一个有效的选项。 x 不在可用的选项中。"] or len(_messages(response)) == 1
    )
    response = as_user(people.approver).post(reverse("flow:task_batch_approve"), {}, follow=True)
    assert _messages(response) == ["请至少选择一个任务。"]


# --- task page -------------------------------------------------------------------------------------------


def test_task_page_visibility(started: ProcessInstance, people: SimpleNamespace, as_user: Any) -> None:
    task = _open_task(started, "first")
    url = reverse("flow:task_detail", args=[task.pk])
    assert as_user(None).get(url).status_code == 302
    assert as_user(people.outsider).get(url).status_code == 404
    assert as_user(people.approver).get(reverse("flow:task_detail", args=[999999])).status_code == 404

    page = as_user(people.approver).get(url)
    assert page.status_code == 200
    assert page.context["actions"] == [
        "approve",
        "reject",
        "complete",
        "return",
        "transfer",
        "add_signer",
        "cc",
    ]
    content = page.content.decode()
    assert 'id="action-approve"' in content and 'id="action-reject"' in content
    assert "doc_wang" in content  # the variables are listed
    assert f'data-diagram-url="/flow/instances/{started.pk}/diagram/"' in content

    # the initiator sees the task too, with what an initiator may do
    initiator_page = as_user(people.nurse).get(url)
    assert initiator_page.context["actions"] == ["withdraw", "urge", "cc"]


def test_approve_on_the_task_page_with_an_attachment(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    task = _open_task(started, "first")
    client = as_user(people.approver)

    response = client.post(
        reverse("flow:task_act", args=[task.pk]),
        {"action": "approve", "comment": "同意，见附件", "attachments": [_pdf(), _docx()]},
    )

    assert response.status_code == 302
    assert response["Location"] == "/flow/tasks/?box=todo"
    task.refresh_from_db()
    assert (task.status, task.outcome, task.comment) == ("completed", "approved", "同意，见附件")
    files = list(ProcessAttachment.objects.order_by("name").values_list("name", "content_type"))
    assert [name for name, _type in files] == ["意见.pdf", "说明.docx"]
    assert _open_task(started, "second").assignee_id == people.second.pk

    # the history shows the opinion and the files, which download only for people who see the instance
    page = as_user(people.nurse).get(reverse("flow:instance_detail", args=[started.pk])).content.decode()
    assert "同意，见附件" in page and "意见.pdf" in page
    attachment = ProcessAttachment.objects.get(name="意见.pdf")
    download = as_user(people.nurse).get(reverse("flow:attachment_download", args=[attachment.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF-")
    assert (
        as_user(people.outsider).get(reverse("flow:attachment_download", args=[attachment.pk])).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("run.exe", b"MZ...", "application/octet-stream"),
            "“run.exe”不能作为附件：只能附加 PDF、PNG、JPG、DOCX、XLSX、DOC、XLS 和 TXT 文件。",
        ),
        (
            SimpleUploadedFile("fake.pdf", b"<html>not a pdf", "application/pdf"),
            "“fake.pdf”不是真正的 PDF 文件：内容与扩展名不符。",
        ),
        (
            SimpleUploadedFile("fake.docx", b"PK\x03\x04junk", "application/octet-stream"),
            "“fake.docx”不是真正的 DOCX 文件：内容与扩展名不符。",
        ),
        (SimpleUploadedFile("empty.png", b"", "image/png"), "“empty.png”是空文件。"),
    ],
)
def test_bad_attachments_are_refused_and_nothing_changes(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any, upload: Any, message: str
) -> None:
    task = _open_task(started, "first")
    before = _counts()

    response = as_user(people.approver).post(
        reverse("flow:task_act", args=[task.pk]),
        {"action": "approve", "comment": "x", "attachments": [upload]},
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {"attachments": [message]}
    assert message in response.content.decode()
    assert _counts() == before
    task.refresh_from_db()
    assert task.status == "open"


def test_too_large_attachment_is_refused(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    task = _open_task(started, "first")
    big = SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "application/pdf")
    response = as_user(people.approver).post(
        reverse("flow:task_act", args=[task.pk]), {"action": "approve", "attachments": [big]}
    )
    assert response.context["form"].errors == {"attachments": ["“big.pdf”超过 10 MB。"]}


def test_action_forms_need_their_fields(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    task = _open_task(started, "first")
    client = as_user(people.approver)
    url = reverse("flow:task_act", args=[task.pk])
    before = _counts()

    cases = {
        "reject": ({"action": "reject", "comment": " "}, {"comment": ["请填写驳回理由。"]}),
        "transfer": ({"action": "transfer"}, {"to_user": ["请选择一个人。"]}),
        "add_signer": (
            {"action": "add_signer", "to_user": "doc_zhao"},
            {"position": ["请选择新签批人的位置。"]},
        ),
        "spam": ({"action": "spam"}, {"action": ["选择一个有效的选项。 spam 不在可用的选项中。"]}),
    }
    for name, (data, errors) in cases.items():
        response = client.post(url, data)
        assert response.status_code == 400, name
        assert response.context["form"].errors == errors, name
    assert _counts() == before


def test_transfer_to_an_unknown_person_shows_the_error_beside_the_field(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    task = _open_task(started, "first")
    before = _counts()
    response = as_user(people.approver).post(
        reverse("flow:task_act", args=[task.pk]), {"action": "transfer", "to_user": "ghost"}
    )
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["to_user"]
    assert 'data-field="to_user"' in response.content.decode()
    assert _counts() == before


def test_transfer_and_cc_from_the_task_page(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    task = _open_task(started, "first")
    client = as_user(people.approver)

    cc = client.post(
        reverse("flow:task_act", args=[task.pk]), {"action": "cc", "to_user": "doc_qian", "comment": "知悉"}
    )
    assert cc.status_code == 302 and cc["Location"] == reverse("flow:task_detail", args=[task.pk])
    assert TaskCopy.objects.get().recipient_id == people.outsider.pk
    # the copied person now sees the instance
    assert as_user(people.outsider).get(reverse("flow:instance_detail", args=[started.pk])).status_code == 200

    moved = client.post(
        reverse("flow:task_act", args=[task.pk]), {"action": "transfer", "to_user": "doc_zhao"}
    )
    assert moved.status_code == 302
    assert _open_task(started, "first").assignee_id == people.second.pk


def test_a_conflict_shows_a_message_and_reloads_the_task(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    task = _open_task(started, "first")
    client = as_user(people.approver)
    first = client.post(reverse("flow:task_act", args=[task.pk]), {"action": "approve"}, follow=True)
    assert _messages(first) == ["已通过：初审。"]
    before = _counts()

    # the same person approves again from a stale page
    again = client.post(reverse("flow:task_act", args=[task.pk]), {"action": "approve"}, follow=True)

    assert again.redirect_chain == [(reverse("flow:task_detail", args=[task.pk]), 302)]
    assert _messages(again) == [_zh("This task was already handled by someone else.")]
    assert again.context["actions"] == ["cc"]  # a handled task can still be copied to others
    assert _counts() == before


def test_someone_else_may_not_act(started: ProcessInstance, people: SimpleNamespace, as_user: Any) -> None:
    task = _open_task(started, "first")
    before = _counts()
    # a participant who is not the assignee: 403; someone who cannot see the task: 404
    assert (
        as_user(people.nurse)
        .post(reverse("flow:task_act", args=[task.pk]), {"action": "approve"})
        .status_code
        == 403
    )
    assert (
        as_user(people.outsider)
        .post(reverse("flow:task_act", args=[task.pk]), {"action": "approve"})
        .status_code
        == 404
    )
    assert _counts() == before


def test_staff_search_for_the_person_picker(people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.approver)
    url = reverse("flow:staff_search")
    by_name = client.get(url, {"field": "to_user", "to_user": "赵"}).content.decode()
    assert '<option value="doc_zhao">赵医生 · 心血管内科' in by_name
    assert "doc_wang" not in by_name
    by_username = client.get(url, {"q": "doc_q"}).content.decode()
    assert 'value="doc_qian"' in by_username
    assert client.get(url, {"q": ""}).content.decode().strip() == ""
    assert as_user(None).get(url, {"q": "赵"}).status_code == 302


# --- instance page and diagram --------------------------------------------------------------------------


def test_instance_page_and_diagram_visibility(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    detail = reverse("flow:instance_detail", args=[started.pk])
    diagram = reverse("flow:instance_diagram", args=[started.pk])
    assert as_user(people.outsider).get(detail).status_code == 404
    assert as_user(people.outsider).get(diagram).status_code == 404

    page = as_user(people.nurse).get(detail)
    assert page.status_code == 200
    assert page.context["may_cancel"] is True
    assert [t.task_def_id for t in page.context["open_tasks"]] == ["first"]

    data = as_user(people.approver).get(diagram).json()
    assert data["xml"] == TWO_STEP
    assert (data["done"], data["active"], data["waiting"]) == (["start"], ["first"], [])
    assert data["flows"] == ["f1"]
    assert as_user(people.approver).get(detail).context["may_cancel"] is False


def test_the_initiator_cancels(started: ProcessInstance, people: SimpleNamespace, as_user: Any) -> None:
    url = reverse("flow:instance_cancel", args=[started.pk])
    before = _counts()
    assert as_user(people.approver).post(url, {"reason": "不行"}).status_code == 403
    assert as_user(people.outsider).post(url).status_code == 404
    too_long = as_user(people.nurse).post(url, {"reason": "x" * 2001}, follow=True)
    assert _messages(too_long) == ["原因太长。"]
    assert _counts() == before

    done = as_user(people.nurse).post(url, {"reason": "不需要了"}, follow=True)
    assert _messages(done) == ["流程已取消。"]
    started.refresh_from_db()
    assert started.status == "cancelled"
    assert done.context["may_cancel"] is False


def test_instance_completes_after_both_steps(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    as_user(people.approver).post(
        reverse("flow:task_act", args=[_open_task(started, "first").pk]), {"action": "approve"}
    )
    as_user(people.second).post(
        reverse("flow:task_act", args=[_open_task(started, "second").pk]), {"action": "approve"}
    )
    started.refresh_from_db()
    assert started.status == "completed"
    data = as_user(people.nurse).get(reverse("flow:instance_diagram", args=[started.pk])).json()
    assert data["done"] == ["end", "first", "second", "start"] and data["active"] == []
    assert data["flows"] == ["f1", "f2", "f3"]
    page = as_user(people.nurse).get(reverse("flow:instance_detail", args=[started.pk])).content.decode()
    assert 'data-status="completed"' in page


# --- administration ----------------------------------------------------------------------------------------


def test_admin_list_needs_the_admin_permission(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    url = reverse("flow:admin_instance_list")
    assert as_user(people.designer).get(url).status_code == 403
    before = _counts()
    assert (
        as_user(people.designer)
        .post(reverse("flow:admin_instance_action", args=[started.pk]), {"action": "suspend"})
        .status_code
        == 403
    )
    assert _counts() == before
    started.refresh_from_db()
    assert started.status == "running"

    page = as_user(people.admin).get(url)
    assert page.status_code == 200
    assert [i.pk for i in page.context["page"]] == [started.pk]
    assert as_user(people.admin).get(url + "?status=completed").context["page"].paginator.count == 0
    assert as_user(people.admin).get(url + "?incident=yes").context["page"].paginator.count == 0
    assert as_user(people.admin).get(url + "?status=bogus").status_code == 400


def test_admin_suspends_resumes_migrates_and_cancels(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    client = as_user(people.admin)
    url = reverse("flow:admin_instance_action", args=[started.pk])

    suspended = client.post(url, {"action": "suspend", "next": "?status=running"}, follow=True)
    assert suspended.redirect_chain == [("/flow/admin/instances/?status=running", 302)]
    assert _messages(suspended) == [f"实例 {started.pk} 已挂起。"]
    started.refresh_from_db()
    assert started.status == "suspended"
    assert _messages(client.post(url, {"action": "suspend"}, follow=True)) == [
        f"实例 {started.pk}：{_zh('Only a running process can be suspended.')}"
    ]
    client.post(url, {"action": "resume"})
    started.refresh_from_db()
    assert started.status == "running"

    # migrate to version 2
    services.definition_deploy(actor=people.designer.user, xml=TWO_STEP)
    listing = client.get(reverse("flow:admin_instance_list"))
    row = listing.context["page"][0]
    assert [v.version for v in row.definition.version_list] == [1, 2]
    assert '<option value="2">v2</option>' in listing.content.decode()
    assert '<option value="1">' not in listing.content.decode()
    assert _messages(client.post(url, {"action": "migrate"}, follow=True)) == ["请选择要迁移到的版本。"]
    assert _messages(client.post(url, {"action": "migrate", "version": 9}, follow=True)) == [
        f"实例 {started.pk}：没有这个版本。"
    ]
    migrated = client.post(url, {"action": "migrate", "version": 2}, follow=True)
    assert _messages(migrated) == [f"实例 {started.pk} 已迁移。"]
    started.refresh_from_db()
    assert started.version.version == 2

    client.post(url, {"action": "cancel", "reason": "测试"})
    started.refresh_from_db()
    assert started.status == "cancelled"


def test_admin_retries_an_incident(started: ProcessInstance, people: SimpleNamespace, as_user: Any) -> None:
    incident = Incident.objects.create(instance=started, step_id="first", message="boom")
    ProcessInstance.objects.filter(pk=started.pk).update(has_incident=True)
    listing = as_user(people.admin).get(reverse("flow:admin_instance_list") + "?incident=yes")
    assert f'data-retry="{incident.pk}"' in listing.content.decode()
    assert (
        as_user(people.nurse).post(reverse("flow:admin_incident_retry", args=[incident.pk])).status_code
        == 403
    )

    response = as_user(people.admin).post(
        reverse("flow:admin_incident_retry", args=[incident.pk]), follow=True
    )
    assert _messages(response) == ["正在重试该步骤。"]
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert as_user(people.admin).post(reverse("flow:admin_incident_retry", args=[999999])).status_code == 404


def test_pages_carry_no_inline_script_or_style(
    started: ProcessInstance, people: SimpleNamespace, as_user: Any
) -> None:
    task = _open_task(started, "first")
    urls = [
        (people.approver, reverse("flow:task_detail", args=[task.pk])),
        (people.nurse, reverse("flow:instance_detail", args=[started.pk])),
        (people.nurse, reverse("flow:task_list")),
        (people.nurse, reverse("flow:definition_list")),
        (people.nurse, reverse("flow:instance_start", args=["view_two_step"])),
        (people.designer, reverse("flow:designer", args=["view_two_step"])),
        (people.admin, reverse("flow:admin_instance_list")),
    ]
    for staff, url in urls:
        content = as_user(staff).get(url).content.decode()
        assert "<script>" not in content, url
        assert " style=" not in content, url
        assert " onclick=" not in content, url


def test_diagram_json_is_not_cached(started: ProcessInstance, people: SimpleNamespace, as_user: Any) -> None:
    response = as_user(people.nurse).get(reverse("flow:instance_diagram", args=[started.pk]))
    assert "no-store" in response["Cache-Control"]
    assert json.loads(response.content)["active"] == ["first"]


def test_pages_in_english(started: ProcessInstance, people: SimpleNamespace, as_user: Any) -> None:
    client = as_user(people.approver)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    task = _open_task(started, "first")
    page = client.get(reverse("flow:task_detail", args=[task.pk])).content.decode()
    assert ">Approve</button>" in page and "History" in page and "Diagram" in page
    inbox = client.get(reverse("flow:task_list")).content.decode()
    assert "To do" in inbox and "Copied to me" in inbox
