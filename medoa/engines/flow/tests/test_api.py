"""The process engine's REST API: each endpoint's permission matrix (anonymous 401, wrong role 403,
out of scope 404, allowed 2xx), bad input answered with a precise 4xx and nothing changed, and the
leave process end to end over HTTP (deploy, start as a nurse, the head nurse approves, the vice
dean when days > 3, the inboxes and the history)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import gettext, override

from medoa.core.access.grants import sync_role_grants
from medoa.core.access.tokens import api_token_issue
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import DelegationFactory, person_maker
from medoa.engines.flow import services
from medoa.engines.flow.models import (
    HumanTask,
    Incident,
    ProcessDefinition,
    ProcessEvent,
    ProcessInstance,
    ProcessVersion,
    TaskCopy,
)
from medoa.engines.flow.registry import service_functions

API = "/api/v1/flow"
BPMN = Path(__file__).resolve().parent / "bpmn"
TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def _xml(name: str) -> bytes:
    return (BPMN / name).read_bytes()


def _both(msgid: str) -> tuple[str, str]:
    with override("zh-hans"):
        zh = gettext(msgid)
    with override("en"):
        en = gettext(msgid)
    return zh, en


def _iso(moment: datetime.datetime) -> str:
    """A time as the API writes it (Django's JSON encoder: milliseconds, "Z")."""
    return str(DjangoJSONEncoder().default(moment))


def _post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _post_raw(client: Client, url: str, raw: str) -> Any:
    return client.post(url, data=raw, content_type="application/json")


def _counts() -> dict[str, int]:
    """Rows of every flow table a request could touch — compared before and after refusals."""
    return {
        "definitions": ProcessDefinition.objects.count(),
        "versions": ProcessVersion.objects.count(),
        "instances": ProcessInstance.objects.count(),
        "open_tasks": HumanTask.objects.filter(status="open").count(),
        "tasks": HumanTask.objects.count(),
        "events": ProcessEvent.objects.count(),
        "copies": TaskCopy.objects.count(),
    }


def _task_states() -> list[tuple[int, str, int | None]]:
    return list(HumanTask.objects.order_by("pk").values_list("pk", "status", "assignee_id"))


LOOKUP = {"failures": 0}


def lookup(variables: dict[str, Any]) -> dict[str, Any]:
    """The automatic step of api_service.bpmn: fails while ``LOOKUP["failures"]`` says so."""
    if LOOKUP["failures"] > 0:
        LOOKUP["failures"] -= 1
        raise RuntimeError("the HIS did not answer")
    return {"bed": f"{variables['ward']}-12"}


if "flow_api_tests.lookup" not in service_functions:
    service_functions.register("flow_api_tests.lookup", lookup)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def grants(db: Any) -> None:
    sync_role_grants()


@pytest.fixture
def hospital(department_factory: Any) -> SimpleNamespace:
    """H 示范医院 → CARD 心血管内科 → CARD-W1 心内一病区; → SURG 普外科 → SURG-W1 普外一病区."""
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    cardio = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=root)
    cardio_ward = department_factory(
        code="CARD-W1", name_zh="心内一病区", name_en="Cardiology ward 1", kind="ward", parent=cardio
    )
    surgery = department_factory(code="SURG", name_zh="普外科", name_en="General surgery", parent=root)
    surgery_ward = department_factory(
        code="SURG-W1", name_zh="普外一病区", name_en="Surgery ward 1", kind="ward", parent=surgery
    )
    return SimpleNamespace(
        root=root, cardio=cardio, cardio_ward=cardio_ward, surgery=surgery, surgery_ward=surgery_ward
    )


@pytest.fixture
def person(hospital: SimpleNamespace) -> Callable[..., Staff]:
    """``person("head_nurse", department=..., username="hn")``: department roles at their own
    department, hospital-wide roles at the root; administrators get a confirmed second factor."""
    return person_maker(default=hospital.cardio_ward, root=hospital.root, totp_secret=TOTP_SECRET)


@pytest.fixture
def people(person: Callable[..., Staff], hospital: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(
        nurse=person("nurse", username="nurse_li", name="李护士"),
        nurse2=person("nurse", username="nurse_he", name="何护士"),
        head_nurse=person("head_nurse", username="hn_wang", name="王护士长"),
        other_head_nurse=person(
            "head_nurse", department=hospital.surgery_ward, username="hn_zhao", name="赵护士长"
        ),
        vice_dean=person("vice_dean", department=hospital.root, username="vd_chen", name="陈副院长"),
        admin=person("sys_admin", department=hospital.root, username="admin_sun", name="孙管理员"),
        it=person("it", department=hospital.root, username="it_zhou", name="周工程师"),
        doctor=person("doctor", department=hospital.surgery, username="doc_qian", name="钱医生"),
    )


@pytest.fixture
def leave(people: SimpleNamespace) -> ProcessVersion:
    return services.definition_deploy(actor=people.admin.user, xml=_xml("api_leave.bpmn"))


@pytest.fixture
def start(people: SimpleNamespace, leave: ProcessVersion) -> Callable[..., ProcessInstance]:
    def make(days: int = 5, by: Staff | None = None, **kw: Any) -> ProcessInstance:
        return services.instance_start(
            actor=(by or people.nurse).user, definition_key="api_leave", variables={"days": days}, **kw
        )

    return make


def _open_task(instance: ProcessInstance, step: str) -> HumanTask:
    return HumanTask.objects.get(instance=instance, task_def_id=step, status="open")


# --- POST /definitions ----------------------------------------------------------------------------


def test_deploy_matrix(people: SimpleNamespace, api_as: Any) -> None:
    xml = _xml("api_leave.bpmn")
    before = _counts()

    anonymous = api_as(None).post(f"{API}/definitions", data=xml, content_type="application/xml")
    assert anonymous.status_code == 401
    nurse = api_as(people.nurse).post(f"{API}/definitions", data=xml, content_type="application/xml")
    assert nurse.status_code == 403
    assert nurse.json() == dict(zip(("detail", "detail_en"), _both("You do not have permission to do this.")))
    assert _counts() == before

    response = api_as(people.it).post(f"{API}/definitions", data=xml, content_type="application/xml")
    assert response.status_code == 201
    version = ProcessVersion.objects.get()
    assert response.json() == {
        "key": "api_leave",
        "version": 1,
        "id": version.pk,
        "name": "Leave request (API tests)",
    }

    again = api_as(people.admin).post(f"{API}/definitions", data=xml, content_type="text/xml")
    assert again.status_code == 201
    assert again.json()["version"] == 2
    assert ProcessDefinition.objects.get().latest_version_id == again.json()["id"]


def test_deploy_multipart_with_key_name_and_category(people: SimpleNamespace, api_as: Any) -> None:
    upload = SimpleUploadedFile("leave.bpmn", _xml("api_leave.bpmn"), content_type="application/octet-stream")
    response = api_as(people.admin).post(
        f"{API}/definitions",
        data={"file": upload, "key": "leave-ward", "name": "病区请假", "category": "hr"},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["key"] == "leave-ward"
    assert response.json()["name"] == "病区请假"
    definition = ProcessDefinition.objects.get(key="leave-ward")
    assert (definition.name, definition.category) == ("病区请假", "hr")


def test_deploy_query_parameters(people: SimpleNamespace, api_as: Any) -> None:
    response = api_as(people.admin).post(
        f"{API}/definitions?key=leave2&category=hr",
        data=_xml("api_leave.bpmn"),
        content_type="application/xml",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["key"] == "leave2"
    assert ProcessDefinition.objects.get(key="leave2").category == "hr"


def test_deploy_lists_every_problem(people: SimpleNamespace, api_as: Any) -> None:
    before = _counts()
    response = api_as(people.admin).post(
        f"{API}/definitions", data=_xml("api_bad.bpmn"), content_type="application/xml"
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["detail"], body["detail_en"]) == (
        "流程模型无法部署，未做任何更改。",
        "The process model cannot be deployed; nothing was changed.",
    )
    by_element = {p["element_id"]: p for p in body["problems"]}
    assert {"cg", "nobody"} <= set(by_element)
    assert by_element["cg"]["line"] == 9
    assert by_element["nobody"]["line"] == 13
    assert (by_element["cg"]["message"], by_element["cg"]["message_en"]) == (
        "bpmn:complexGateway：不支持复杂网关：请使用排他、包容或并行网关",
        "bpmn:complexGateway: complex gateways are not supported: use an exclusive, inclusive or "
        "parallel gateway",
    )
    assert (by_element["nobody"]["message"], by_element["nobody"]["message_en"]) == (
        "用户任务未指定处理人：请设置 camunda:assignee、camunda:candidateUsers 或 camunda:candidateGroups",
        "user task without assignment: set camunda:assignee, camunda:candidateUsers or "
        "camunda:candidateGroups",
    )
    assert all(
        set(p) == {"message", "message_en", "element_id", "element_type", "line"} for p in body["problems"]
    )
    assert _counts() == before


def test_deploy_malformed_xml_names_the_line(people: SimpleNamespace, api_as: Any) -> None:
    before = _counts()
    broken = _xml("api_leave.bpmn").replace(b'<bpmn:sequenceFlow id="f1"', b'<bpmn:sequenceFlow id="f1', 1)
    response = api_as(people.admin).post(f"{API}/definitions", data=broken, content_type="application/xml")
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert len(problems) >= 1
    assert problems[0]["line"] == 10
    assert _counts() == before


@pytest.mark.parametrize(
    "body",
    [b"", b'{"definition": "leave"}', b"\x89PNG\r\n\x1a\n....", "请假流程".encode()],
    ids=["empty", "json", "binary", "text"],
)
def test_deploy_refuses_what_is_not_xml(people: SimpleNamespace, api_as: Any, body: bytes) -> None:
    before = _counts()
    response = api_as(people.admin).post(f"{API}/definitions", data=body, content_type="application/xml")
    assert response.status_code == 400
    assert response.json()["detail_en"] == "This is not BPMN XML: the content must be an XML document."
    assert response.json()["problems"][0]["line"] == 1
    assert _counts() == before


@pytest.mark.parametrize("raw", [b"", b"   \r\n\t", b"\xef\xbb\xbf"], ids=["empty", "blank", "bom-only"])
def test_deploy_of_an_empty_body_or_file_is_400(people: SimpleNamespace, api_as: Any, raw: bytes) -> None:
    client = api_as(people.admin)
    before = _counts()

    body = client.post(f"{API}/definitions", data=raw, content_type="application/xml")
    upload = client.post(f"{API}/definitions", {"file": SimpleUploadedFile("empty.bpmn", raw)})

    for response in (body, upload):
        assert response.status_code == 400, response.json()
        assert response.json()["detail_en"] == "This is not BPMN XML: the content must be an XML document."
        assert response.json()["problems"][0]["line"] == 1
    assert _counts() == before


def test_deploy_refuses_a_body_over_5_mb(people: SimpleNamespace, api_as: Any) -> None:
    before = _counts()
    xml = _xml("api_leave.bpmn")
    big = xml.replace(
        b"</bpmn:definitions>", b"<!--" + b"x" * (5 * 1024 * 1024) + b"-->" + b"</bpmn:definitions>"
    )
    client = api_as(people.admin)
    raw = client.post(f"{API}/definitions", data=big, content_type="application/xml")
    assert raw.status_code == 413
    assert raw.json() == {
        "detail": "BPMN 文件过大（最多 5 MB）。",
        "detail_en": "The BPMN file is too large (at most 5 MB).",
    }
    upload = SimpleUploadedFile("big.bpmn", big)
    multipart = client.post(f"{API}/definitions", data={"file": upload})
    assert multipart.status_code == 413
    assert _counts() == before


def test_deploy_bad_options_and_missing_file(people: SimpleNamespace, api_as: Any) -> None:
    client = api_as(people.admin)
    before = _counts()
    bad_key = client.post(
        f"{API}/definitions?key=请假 流程", data=_xml("api_leave.bpmn"), content_type="application/xml"
    )
    assert bad_key.status_code == 422
    assert bad_key.json()["errors"][0]["field"] == "key"
    no_file = client.post(f"{API}/definitions", data={"key": "leave"})
    assert no_file.status_code == 422
    assert no_file.json()["errors"][0]["field"] == "file"
    long_name = client.post(f"{API}/definitions", data={"file": _upload("api_leave.bpmn"), "name": "x" * 201})
    assert long_name.status_code == 422
    assert long_name.json()["errors"][0]["field"] == "name"
    assert _counts() == before


def _upload(name: str) -> Any:
    return SimpleUploadedFile(name, _xml(name))


def test_deploy_does_not_resolve_external_entities(
    people: SimpleNamespace, api_as: Any, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    xml = _xml("api_leave.bpmn").decode()
    xml = xml.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>',
    ).replace('name="Leave request (API tests)"', 'name="&x;"')
    response = api_as(people.admin).post(
        f"{API}/definitions", data=xml.encode(), content_type="application/xml"
    )
    assert response.status_code in {201, 400}
    assert "TOP-SECRET-VALUE" not in response.content.decode()
    assert not ProcessVersion.objects.filter(name__contains="TOP-SECRET").exists()


# --- GET /definitions -----------------------------------------------------------------------------


def test_definitions_list_and_get(people: SimpleNamespace, api_as: Any, leave: ProcessVersion) -> None:
    assert api_as(None).get(f"{API}/definitions").status_code == 401
    listed = api_as(people.nurse).get(f"{API}/definitions")
    assert listed.status_code == 200
    assert listed.json() == [
        {
            "key": "api_leave",
            "name": "Leave request (API tests)",
            "category": "",
            "description": "",
            "is_active": True,
            "latest_version": 1,
            "deployed_at": _iso(leave.deployed_at),
        }
    ]
    v2 = services.definition_deploy(actor=people.it.user, xml=_xml("api_leave.bpmn"))

    detail = api_as(people.nurse).get(f"{API}/definitions/api_leave")
    assert detail.status_code == 200
    body = detail.json()
    assert body["latest_version"] == 2
    assert [v["version"] for v in body["versions"]] == [2, 1]
    assert body["latest"]["id"] == v2.pk
    assert body["latest"]["deployed_by"] == "it_zhou"
    assert {t["id"] for t in body["latest"]["user_tasks"]} >= {"head_approve", "vice_approve"}

    assert api_as(people.nurse).get(f"{API}/definitions/nothing-here").status_code == 404
    assert api_as(people.nurse).get(f"{API}/definitions/api%00leave").status_code == 404
    assert api_as(people.nurse).get(f"{API}/definitions/{'k' * 65}").status_code == 404
    assert api_as(None).get(f"{API}/definitions/api_leave").status_code == 401


def test_inactive_definitions_only_for_designers(
    people: SimpleNamespace, api_as: Any, leave: ProcessVersion
) -> None:
    ProcessDefinition.objects.filter(key="api_leave").update(is_active=False)
    assert api_as(people.nurse).get(f"{API}/definitions").json() == []
    assert api_as(people.nurse).get(f"{API}/definitions/api_leave").status_code == 404
    assert [d["key"] for d in api_as(people.it).get(f"{API}/definitions").json()] == ["api_leave"]
    assert api_as(people.it).get(f"{API}/definitions/api_leave").status_code == 200


# --- POST /instances ------------------------------------------------------------------------------


def test_start_matrix(people: SimpleNamespace, api_as: Any, leave: ProcessVersion) -> None:
    body = {
        "definition_key": "api_leave",
        "variables": {"days": 5},
        "business_key": "LV-1",
        "title": "请假 5 天",
    }
    before = _counts()
    assert _post(api_as(None), f"{API}/instances", body).status_code == 401
    assert _counts() == before

    response = _post(api_as(people.nurse), f"{API}/instances", body)
    assert response.status_code == 201, response.json()
    instance = ProcessInstance.objects.get()
    task = HumanTask.objects.get(instance=instance)
    assert response.json() == {
        "id": instance.pk,
        "status": "running",
        "outcome": "",
        "active_tasks": [
            {
                "id": task.pk,
                "name": "Head nurse approves",
                "task_definition_id": "head_approve",
                "instance_id": instance.pk,
                "definition_key": "api_leave",
                "assignee": "hn_wang",
                "assignee_name": "王护士长",
                "on_behalf_of": None,
                "on_behalf_of_name": None,
                "created_at": _iso(task.created_at),
                "due_at": None,
                "completed_at": None,
                "completed_by": None,
                "status": "open",
                "outcome": "",
                "form_key": "",
                "is_countersign": False,
            }
        ],
    }
    assert (instance.business_key, instance.title, instance.initiator_id) == (
        "LV-1",
        "请假 5 天",
        people.nurse.pk,
    )
    assert instance.variables["days"] == 5


def test_start_unknown_definition_is_404(people: SimpleNamespace, api_as: Any, leave: ProcessVersion) -> None:
    before = _counts()
    response = _post(api_as(people.nurse), f"{API}/instances", {"definition_key": "no-such", "variables": {}})
    assert response.status_code == 404
    assert _counts() == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"definition_key": "api_leave", "variables": [1, 2]}', "variables"),
        ('{"definition_key": "api_leave", "variables": "days=5"}', "variables"),
        ('{"definition_key": "api_leave", "variables": null}', "variables"),
        ('{"definition_key": "api_leave", "variables": {"days": NaN}}', "variables"),
        ('{"definition_key": "api_leave", "variables": {"days": Infinity}}', "variables"),
        ('{"definition_key": "api_leave", "variables": {"note": "a\\u0000b"}}', "variables"),
        ('{"definition_key": "api_leave", "variables": {"a\\u0000": 1}}', "variables"),
        ('{"definition_key": 5, "variables": {}}', "definition_key"),
        ('{"definition_key": "", "variables": {}}', "definition_key"),
        ('{"variables": {}}', "definition_key"),
        ('{"definition_key": "api_leave", "business_key": ["x"]}', "business_key"),
        ('{"definition_key": "api_leave", "title": "a\\u0000b"}', "title"),
        ('{"definition_key": "api_leave", "variables": {}, "initiator": "admin_sun"}', "initiator"),
    ],
)
def test_start_bad_input(
    people: SimpleNamespace, api_as: Any, leave: ProcessVersion, raw: str, field: str
) -> None:
    before = _counts()
    response = _post_raw(api_as(people.nurse), f"{API}/instances", raw)
    assert response.status_code == 422, response.json()
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert _counts() == before


def test_start_bounds_the_variables(people: SimpleNamespace, api_as: Any, leave: ProcessVersion) -> None:
    client = api_as(people.nurse)
    before = _counts()
    big = _post(
        client, f"{API}/instances", {"definition_key": "api_leave", "variables": {"note": "x" * 70_000}}
    )
    assert big.status_code == 422
    assert big.json()["errors"][0]["message_en"] == "Variables are too large (at most 64 KB as JSON)."
    deep: Any = 1
    for _ in range(20):
        deep = {"d": deep}
    nested = _post(client, f"{API}/instances", {"definition_key": "api_leave", "variables": deep})
    assert nested.status_code == 422
    assert nested.json()["errors"][0]["message_en"] == "Variables are nested too deeply (at most 16 levels)."
    not_json = _post_raw(client, f"{API}/instances", "{definition_key: api_leave")
    assert not_json.status_code == 400
    assert _counts() == before


def test_start_with_a_variable_of_the_wrong_type_names_the_step(people: SimpleNamespace, api_as: Any) -> None:
    # given a process whose first gateway compares days with a number
    services.definition_deploy(actor=people.admin.user, xml=_xml("api_route.bpmn"))
    client = api_as(people.nurse)
    before = _counts()

    # when it is started with days as text
    response = _post(
        client, f"{API}/instances", {"definition_key": "api_route", "variables": {"days": "five"}}
    )

    # then 422 names the step and why, in both languages, about the variables; nothing is saved
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["detail_en"] == (
        "Step “How long? (how_long)” could not run: the expression '${days > 3}' failed: "
        "cannot compare str and int"
    )
    assert (
        body["detail"]
        == "步骤“How long? (how_long)”无法执行：表达式“${days > 3}”计算失败：无法比较 str 和 int"
    )
    assert [e["field"] for e in body["errors"]] == ["variables"]
    assert _counts() == before

    # and with a number it starts
    ok = _post(client, f"{API}/instances", {"definition_key": "api_route", "variables": {"days": 5}})
    assert ok.status_code == 201, ok.json()
    assert [t["task_definition_id"] for t in ok.json()["active_tasks"]] == ["long_leave"]


def test_start_assignment_failure_is_422(people: SimpleNamespace, api_as: Any) -> None:
    services.definition_deploy(actor=people.admin.user, xml=_xml("api_assign.bpmn"))
    before = _counts()
    response = _post(
        api_as(people.nurse),
        f"{API}/instances",
        {"definition_key": "api_assign", "variables": {"approver": "no_such_user"}},
    )
    assert response.status_code == 422, response.json()
    assert response.json()["detail_en"]
    assert _counts() == before

    ok = _post(
        api_as(people.nurse),
        f"{API}/instances",
        {"definition_key": "api_assign", "variables": {"approver": "hn_wang"}},
    )
    assert ok.status_code == 201
    assert ok.json()["active_tasks"][0]["assignee"] == "hn_wang"
    assert ok.json()["active_tasks"][0]["assignee_name"] == "王护士长"


def test_accounts_without_a_staff_record_take_no_part(
    people: SimpleNamespace, leave: ProcessVersion, user_factory: Any
) -> None:
    """A sign-in account that is not a staff member (a service account, say) may not start processes
    and has empty inboxes."""
    raw, _token = api_token_issue(user=user_factory(username="svc_account"))
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    before = _counts()
    response = _post(client, f"{API}/instances", {"definition_key": "api_leave", "variables": {"days": 1}})
    assert response.status_code == 403, response.json()
    assert _counts() == before
    assert client.get(f"{API}/definitions").json() == []
    assert client.get(f"{API}/tasks", {"box": "todo"}).json() == {"count": 0, "items": []}
    assert client.get(f"{API}/tasks", {"box": "cc"}).json() == {"count": 0, "items": []}


def test_delegated_task_shows_on_whose_behalf(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    DelegationFactory(delegator=people.head_nurse, delegate=people.nurse2)
    instance = start(days=2)
    item = api_as(people.nurse2).get(f"{API}/tasks").json()["items"][0]
    assert (item["instance_id"], item["assignee"], item["on_behalf_of"]) == (
        instance.pk,
        "nurse_he",
        "hn_wang",
    )
    response = _act(api_as(people.nurse2), item["id"], action="approve", comment="代王护士长审批")
    assert response.status_code == 200, response.json()
    history = api_as(people.nurse).get(f"{API}/instances/{instance.pk}").json()["history"]
    entry = next(h for h in history if h["kind"] == "approved")
    assert (entry["actor"], entry["on_behalf_of"], entry["on_behalf_of_name"]) == (
        "nurse_he",
        "hn_wang",
        "王护士长",
    )


# --- GET /instances/{id} --------------------------------------------------------------------------


def test_instance_get_matrix(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=5, business_key="LV-9", title="请假")
    url = f"{API}/instances/{instance.pk}"
    assert api_as(None).get(url).status_code == 401
    assert api_as(people.other_head_nurse).get(url).status_code == 404
    assert api_as(people.doctor).get(url).status_code == 404
    assert api_as(people.nurse2).get(url).status_code == 404
    assert api_as(people.nurse).get(f"{API}/instances/999999").status_code == 404

    mine = api_as(people.nurse).get(url)
    assert mine.status_code == 200
    body = mine.json()
    assert body["id"] == instance.pk
    assert (body["status"], body["outcome"]) == ("running", "")
    assert (body["definition_key"], body["version"]) == ("api_leave", 1)
    assert (body["business_key"], body["title"]) == ("LV-9", "请假")
    assert (body["initiator"], body["initiator_name"]) == ("nurse_li", "李护士")
    assert body["variables"]["days"] == 5
    assert [t["task_definition_id"] for t in body["active_tasks"]] == ["head_approve"]
    assert body["active_tasks"][0]["allowed_actions"] == ["withdraw", "urge", "cc"]
    assert body["history"][0]["kind"] == "started"
    assert body["history"][0]["actor"] == "nurse_li"
    assert body["incidents"] == []

    assignee = api_as(people.head_nurse).get(url)
    assert assignee.status_code == 200
    assert assignee.json()["active_tasks"][0]["allowed_actions"] == [
        "approve",
        "reject",
        "complete",
        "return",
        "transfer",
        "add_signer",
        "cc",
    ]
    assert api_as(people.vice_dean).get(url).status_code == 200  # flow.instance.view, whole hospital
    assert api_as(people.admin).get(url).status_code == 200


# --- GET /tasks -----------------------------------------------------------------------------------


def test_todo_box_matrix(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    assert api_as(None).get(f"{API}/tasks").status_code == 401

    todo = api_as(people.head_nurse).get(f"{API}/tasks", {"box": "todo"})
    assert todo.status_code == 200
    assert todo.json()["count"] == 1
    item = todo.json()["items"][0]
    assert item["id"] == task.pk
    assert item["name"] == "Head nurse approves"
    assert item["task_definition_id"] == "head_approve"
    assert item["instance_id"] == instance.pk
    assert item["definition_key"] == "api_leave"
    assert item["assignee"] == "hn_wang"
    assert item["status"] == "open"
    assert item["initiator"] == "nurse_li"
    assert item["current_tasks"] == []

    assert api_as(people.other_head_nurse).get(f"{API}/tasks").json() == {"count": 0, "items": []}
    assert api_as(people.vice_dean).get(f"{API}/tasks").json() == {"count": 0, "items": []}
    assert api_as(people.nurse).get(f"{API}/tasks", {"box": "todo"}).json()["count"] == 0


def test_initiated_box_describes_the_current_task(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2, title="请假两天")
    task = _open_task(instance, "head_approve")
    body = api_as(people.nurse).get(f"{API}/tasks", {"box": "initiated"}).json()
    assert body["count"] == 1
    item = body["items"][0]
    assert item["instance_id"] == instance.pk
    assert item["instance_title"] == "请假两天"
    assert item["instance_status"] == "running"
    assert item["id"] == task.pk
    assert item["task_definition_id"] == "head_approve"
    assert [t["id"] for t in item["current_tasks"]] == [task.pk]
    assert api_as(people.head_nurse).get(f"{API}/tasks", {"box": "initiated"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"box": "inbox"}, "box"),
        ({"box": "todo", "limit": 101}, "limit"),
        ({"box": "todo", "limit": 0}, "limit"),
        ({"box": "todo", "offset": -1}, "offset"),
        ({"box": "todo", "limit": "ten"}, "limit"),
        ({"box": "todo", "search": "x" * 101}, "search"),
    ],
)
def test_tasks_bad_query(people: SimpleNamespace, api_as: Any, params: dict[str, Any], field: str) -> None:
    response = api_as(people.nurse).get(f"{API}/tasks", params)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_todo_box_paging_and_search(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    for n in range(5):
        start(days=1, title=f"请假{n}")
    client = api_as(people.head_nurse)
    page = client.get(f"{API}/tasks", {"box": "todo", "limit": 2, "offset": 1}).json()
    assert page["count"] == 5
    assert len(page["items"]) == 2
    assert client.get(f"{API}/tasks", {"definition_key": "other"}).json()["count"] == 0


def _flow_queries(client: Client, params: dict[str, Any]) -> list[str]:
    """The SQL a GET /tasks runs on the flow tables (the token and the permission principal are
    the access app's, pinned by its own tests)."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{API}/tasks", params)
    assert response.status_code == 200
    return [q["sql"] for q in ctx.captured_queries if '"flow_' in q["sql"]]


@pytest.mark.parametrize(("box", "queries"), [("todo", 2), ("done", 2), ("initiated", 3), ("cc", 3)])
def test_inbox_query_count_is_pinned(
    people: SimpleNamespace, api_as: Any, start: Any, box: str, queries: int
) -> None:
    """A count and a page (plus the open tasks of the page's instances): no query per item."""
    head = api_as(people.head_nurse)
    viewer = {
        "todo": people.head_nurse,
        "done": people.head_nurse,
        "initiated": people.nurse,
        "cc": people.nurse2,
    }[box]
    client = api_as(viewer)

    def add_one() -> None:
        instance = start(days=5)
        task = _open_task(instance, "head_approve")
        if box in ("done", "cc"):
            _act(head, task, action="cc", to_users=["nurse_he"])
            _act(head, task, action="approve")

    add_one()
    assert len(_flow_queries(client, {"box": box})) == queries
    for _ in range(6):
        add_one()
    assert len(_flow_queries(client, {"box": box})) == queries
    assert client.get(f"{API}/tasks", {"box": box}).json()["count"] == 7


# --- POST /tasks/{id}/actions ---------------------------------------------------------------------


def _act(client: Client, task: HumanTask | int, **body: Any) -> Any:
    task_id = task if isinstance(task, int) else task.pk
    return _post(client, f"{API}/tasks/{task_id}/actions", body)


def test_action_matrix(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    before, states = _counts(), _task_states()

    assert _act(api_as(None), task, action="approve").status_code == 401
    assert _act(api_as(people.other_head_nurse), task, action="approve").status_code == 404
    assert _act(api_as(people.doctor), task, action="approve").status_code == 404
    assert _act(api_as(people.head_nurse), 999999, action="approve").status_code == 404
    initiator = _act(api_as(people.nurse), task, action="approve")
    assert initiator.status_code == 403, initiator.json()
    assert (_counts(), _task_states()) == (before, states)

    response = _act(api_as(people.head_nurse), task, action="approve", comment="同意")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["task"]["id"] == task.pk
    assert body["task"]["status"] == "completed"
    assert body["task"]["outcome"] == "approved"
    assert body["task"]["completed_by"] == "hn_wang"
    assert body["instance"] == {
        "id": instance.pk,
        "status": "completed",
        "outcome": "approved",
        "version": 1,
        "active_tasks": [],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "approve", "variables": [1]}, "variables"),
        ({"action": "approve", "variables": {"x": float("nan")}}, "variables"),
        ({"action": "approve", "comment": 5}, "comment"),
        ({"action": "approve", "comment": "x" * 2001}, "comment"),
        ({"action": "sign"}, "action"),
        ({}, "action"),
        ({"action": "approve", "extra": 1}, "extra"),
        ({"action": "transfer"}, "to_user"),
        ({"action": "add_signer", "position": "after"}, "to_user"),
        ({"action": "add_signer", "to_user": "nurse_he", "position": "beside"}, "position"),
        ({"action": "cc"}, "to_users"),
        ({"action": "cc", "to_users": []}, "to_users"),
        ({"action": "cc", "to_users": [""]}, "to_users"),
    ],
)
def test_action_bad_input(
    people: SimpleNamespace, api_as: Any, start: Any, body: dict[str, Any], field: str
) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    before, states = _counts(), _task_states()
    raw = json.dumps(body).replace("NaN", "NaN")
    response = _post_raw(api_as(people.head_nurse), f"{API}/tasks/{task.pk}/actions", raw)
    assert response.status_code == 422, response.json()
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert (_counts(), _task_states()) == (before, states)


def test_transfer_to_unknown_user_is_422(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    client = api_as(people.head_nurse)
    _act(client, task, action="claim")
    before, states = _counts(), _task_states()
    response = _act(client, task, action="transfer", to_user="no_such_user")
    assert response.status_code == 422, response.json()
    assert response.json() == {
        "detail": "没有在职职工“no_such_user”。",
        "detail_en": "There is no active staff member “no_such_user”.",
        "errors": [
            {
                "field": "to_user",
                "message": "没有在职职工“no_such_user”。",
                "message_en": "There is no active staff member “no_such_user”.",
                "type": "invalid",
            }
        ],
    }
    assert (_counts(), _task_states()) == (before, states)

    moved = _act(client, task, action="transfer", to_user="hn_zhao", comment="请赵护士长处理")
    assert moved.status_code == 200, moved.json()
    assert [t["assignee"] for t in moved.json()["instance"]["active_tasks"]] == ["hn_zhao"]


def test_return_to_a_step_that_is_not_done_is_422(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=5)
    head_task = _open_task(instance, "head_approve")
    assert _act(api_as(people.head_nurse), head_task, action="approve").status_code == 200
    vice_task = _open_task(instance, "vice_approve")
    client = api_as(people.vice_dean)
    before, states = _counts(), _task_states()
    response = _act(client, vice_task, action="return", to_step="vice_approve")
    assert response.status_code == 422, response.json()
    assert response.json()["errors"][0]["field"] == "to_step"
    assert response.json()["detail_en"] == (
        "This task cannot be returned to “vice_approve”; choose a completed step before it."
    )
    unknown = _act(client, vice_task, action="return", to_step="no_such_step")
    assert unknown.status_code == 422
    assert (_counts(), _task_states()) == (before, states)

    back = _act(client, vice_task, action="return", to_step="head_approve", comment="请补充说明")
    assert back.status_code == 200, back.json()
    assert [t["task_definition_id"] for t in back.json()["instance"]["active_tasks"]] == ["head_approve"]


def test_acting_twice_is_a_conflict(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    client = api_as(people.head_nurse)
    assert _act(client, task, action="approve").status_code == 200
    before = _counts()
    again = _act(client, task, action="reject")
    assert again.status_code == 409, again.json()
    assert again.json()["detail_en"]
    assert _counts() == before


def test_action_not_allowed_at_this_step(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    """The head nurse cannot withdraw (only the initiator can), and nobody can unclaim a task that
    nobody claimed."""
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    before, states = _counts(), _task_states()
    withdraw = _act(api_as(people.head_nurse), task, action="withdraw")
    assert withdraw.status_code == 403, withdraw.json()
    assert withdraw.json()["detail_en"] == "Only the initiator can withdraw a process."
    unclaim = _act(api_as(people.head_nurse), task, action="unclaim")
    assert unclaim.status_code == 422, unclaim.json()
    assert unclaim.json()["errors"] == [
        {
            "field": "action",
            "message": unclaim.json()["detail"],
            "message_en": "This task was assigned to you, not claimed; transfer it instead.",
            "type": "invalid",
        }
    ]
    assert (_counts(), _task_states()) == (before, states)


def test_initiator_withdraws_while_the_next_step_is_untouched(
    people: SimpleNamespace, api_as: Any, start: Any
) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    response = _act(api_as(people.nurse), task, action="withdraw", comment="不请了")
    assert response.status_code == 200, response.json()
    assert response.json()["instance"]["status"] == "withdrawn"
    assert response.json()["instance"]["active_tasks"] == []


def test_a_candidate_approves_without_claiming_first(
    people: SimpleNamespace, api_as: Any, start: Any, person: Callable[..., Staff]
) -> None:
    # given a task waiting for either of two head nurses
    person("head_nurse", username="hn_liu", name="刘护士长")
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    head = api_as(people.head_nurse)
    listed = head.get(f"{API}/tasks/{task.pk}").json()
    assert {"approve", "reject", "complete", "claim"} <= set(listed["allowed_actions"])

    # when one of them approves it at once
    response = _act(head, task, action="approve", comment="同意")

    # then it is theirs and approved, and the history shows the claim before the approval
    assert response.status_code == 200, response.json()
    assert (response.json()["task"]["assignee"], response.json()["task"]["outcome"]) == (
        "hn_wang",
        "approved",
    )
    history = head.get(f"{API}/instances/{instance.pk}").json()["history"]
    mine = [(h["kind"], h["actor"]) for h in history if h["task_id"] == task.pk and h["actor"]]
    assert mine == [("claimed", "hn_wang"), ("approved", "hn_wang")]


def test_claim_unclaim_urge_and_cc(
    people: SimpleNamespace, api_as: Any, start: Any, person: Callable[..., Staff]
) -> None:
    """With two head nurses on the ward the task waits to be claimed by one of them."""
    second = person("head_nurse", username="hn_liu", name="刘护士长")
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    assert task.assignee_id is None
    head = api_as(people.head_nurse)
    not_yet = _act(head, task, action="return")
    assert not_yet.status_code == 403, not_yet.json()
    assert not_yet.json()["detail_en"] == "Claim this task before acting on it."

    claimed = _act(head, task, action="claim")
    assert claimed.status_code == 200, claimed.json()
    assert claimed.json()["task"]["assignee"] == "hn_wang"
    urged = _act(api_as(people.nurse), task, action="urge", comment="请尽快")
    assert urged.status_code == 200, urged.json()

    copied = _act(head, task, action="cc", to_users=["nurse_he", "doc_qian"])
    assert copied.status_code == 200, copied.json()
    assert set(
        TaskCopy.objects.filter(instance=instance).values_list("recipient__user__username", flat=True)
    ) == {
        "nurse_he",
        "doc_qian",
    }
    cc_box = api_as(people.nurse2).get(f"{API}/tasks", {"box": "cc"}).json()
    assert cc_box["count"] == 1
    assert cc_box["items"][0]["instance_id"] == instance.pk
    assert cc_box["items"][0]["copied_by"] == "hn_wang"
    assert api_as(people.nurse2).get(f"{API}/instances/{instance.pk}").status_code == 200

    before = _counts()
    unknown = _act(head, task, action="cc", to_users=["nurse_he", "no_such_user"])
    assert unknown.status_code == 422, unknown.json()
    assert _counts() == before

    taken = _act(api_as(second), task, action="claim")
    assert taken.status_code == 409, taken.json()
    assert taken.json()["detail_en"] == "Someone else has already claimed this task."
    released = _act(head, task, action="unclaim")
    assert released.status_code == 200, released.json()
    assert released.json()["task"]["assignee"] is None
    assert [i["id"] for i in api_as(second).get(f"{API}/tasks").json()["items"]] == [task.pk]


def test_add_signer_before_and_after(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    head, helper, other = api_as(people.head_nurse), api_as(people.nurse2), api_as(people.other_head_nurse)
    before = _counts()
    no_position = _act(head, task, action="add_signer", to_user="nurse_he")
    assert no_position.status_code == 422, no_position.json()
    assert no_position.json()["errors"][0]["field"] == "position"
    myself = _act(head, task, action="add_signer", to_user="hn_wang", position="before")
    assert myself.status_code == 422
    assert myself.json()["errors"][0]["field"] == "to_user"
    assert _counts() == before

    added = _act(head, task, action="add_signer", to_user="nurse_he", position="before", comment="请先看看")
    assert added.status_code == 200, added.json()
    assert [t["assignee"] for t in added.json()["instance"]["active_tasks"]] == ["hn_wang", "nurse_he"]
    blocked = _act(head, task, action="approve")
    assert blocked.status_code == 409
    assert blocked.json()["detail_en"] == "Wait until the signers added before you have acted."
    helper_task = helper.get(f"{API}/tasks").json()["items"][0]
    assert helper_task["task_definition_id"] == "head_approve"
    assert _act(helper, helper_task["id"], action="approve", comment="没问题").status_code == 200

    after = _act(head, task, action="add_signer", to_user="hn_zhao", position="after")
    assert after.status_code == 200, after.json()
    approved = _act(head, task, action="approve")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["instance"]["status"] == "running"
    assert [t["assignee"] for t in approved.json()["instance"]["active_tasks"]] == ["hn_zhao"]
    last = _act(other, approved.json()["instance"]["active_tasks"][0]["id"], action="approve")
    assert last.status_code == 200, last.json()
    assert last.json()["instance"]["status"] == "completed"


def test_action_with_attachments(
    people: SimpleNamespace, api_as: Any, start: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    head = api_as(people.head_nurse)
    wrong_field = head.post(
        f"{API}/tasks/{task.pk}/actions", {"action": "approve", "file": SimpleUploadedFile("a.txt", b"x")}
    )
    assert wrong_field.status_code == 422
    assert wrong_field.json()["errors"][0]["field"] == "file"
    bad_variables = head.post(f"{API}/tasks/{task.pk}/actions", {"action": "approve", "variables": "{days"})
    assert bad_variables.status_code == 422
    assert bad_variables.json()["errors"][0]["field"] == "variables"
    unknown_field = head.post(f"{API}/tasks/{task.pk}/actions", {"action": "approve", "force": "1"})
    assert [e["field"] for e in unknown_field.json()["errors"]] == ["force"]
    assert HumanTask.objects.get(pk=task.pk).status == "open"

    response = head.post(
        f"{API}/tasks/{task.pk}/actions",
        {
            "action": "approve",
            "comment": "见附件",
            "variables": json.dumps({"handover": "张护士"}),
            "attachments": [
                SimpleUploadedFile("排班表.pdf", b"%PDF-1.4 roster", content_type="application/pdf"),
                SimpleUploadedFile("note.txt", b"handover notes", content_type="text/plain"),
            ],
        },
    )
    assert response.status_code == 200, response.json()
    detail = api_as(people.nurse).get(f"{API}/instances/{instance.pk}").json()
    assert detail["variables"]["handover"] == "张护士"
    entry = next(h for h in detail["history"] if h["kind"] == "approved")
    assert entry["comment"] == "见附件"
    assert [(a["name"], a["size"], a["content_type"]) for a in entry["attachments"]] == [
        ("排班表.pdf", 15, "application/pdf"),
        ("note.txt", 14, "text/plain; charset=utf-8"),
    ]
    url = entry["attachments"][0]["url"]
    assert url == f"{API}/attachments/{entry['attachments'][0]['id']}"
    download = api_as(people.nurse).get(url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 roster"
    assert download["Content-Disposition"].startswith("attachment;")
    assert (download["Content-Type"], download["X-Content-Type-Options"]) == ("application/pdf", "nosniff")
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert api_as(people.doctor).get(url).status_code == 404
    assert api_as(None).get(url).status_code == 401
    assert api_as(people.nurse).get(f"{API}/attachments/999999").status_code == 404


def test_each_refused_attachment_is_named_and_nothing_changes(
    people: SimpleNamespace, api_as: Any, start: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    before, states = _counts(), _task_states()

    response = api_as(people.head_nurse).post(
        f"{API}/tasks/{task.pk}/actions",
        {
            "action": "approve",
            "attachments": [
                SimpleUploadedFile("ok.pdf", b"%PDF-1.4 fine"),
                SimpleUploadedFile("invoice.pdf", b"MZ\x90\x00 an executable"),
                SimpleUploadedFile("macro.xlsm", b"PK\x03\x04"),
            ],
        },
    )

    assert response.status_code == 422
    body = response.json()
    assert (body["detail"], body["detail_en"]) == (
        "有 2 个附件无法接受。",
        "2 of the attachments cannot be accepted.",
    )
    assert [(e["field"], e["message_en"]) for e in body["errors"]] == [
        ("attachments", "“invoice.pdf” is not a real PDF file: its content does not match its extension."),
        (
            "attachments",
            "“macro.xlsm” cannot be attached: only PDF, PNG, JPG, DOCX, XLSX, DOC, XLS and TXT files can.",
        ),
    ]
    assert (_counts(), _task_states()) == (before, states)
    assert list(tmp_path.rglob("*.*")) == []


def test_openapi_documents_the_flow_paths(db: Any) -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    paths = {p for p in schema["paths"] if p.startswith(API)}
    assert paths >= {
        f"{API}/definitions",
        f"{API}/definitions/{{key}}",
        f"{API}/instances",
        f"{API}/instances/{{instance_id}}",
        f"{API}/instances/{{instance_id}}/cancel",
        f"{API}/instances/{{instance_id}}/suspend",
        f"{API}/instances/{{instance_id}}/resume",
        f"{API}/instances/{{instance_id}}/migrate",
        f"{API}/incidents/{{incident_id}}/retry",
        f"{API}/tasks",
        f"{API}/tasks/{{task_id}}",
        f"{API}/tasks/{{task_id}}/actions",
        f"{API}/tasks/batch-approve",
        f"{API}/messages",
    }
    deploy = schema["paths"][f"{API}/definitions"]["post"]
    assert set(deploy["requestBody"]["content"]) == {"application/xml", "text/xml", "multipart/form-data"}
    action = schema["paths"][f"{API}/tasks/{{task_id}}/actions"]["post"]
    assert set(action["requestBody"]["content"]) == {"application/json", "multipart/form-data"}


# --- the leave process end to end -----------------------------------------------------------------


def test_leave_end_to_end_over_http(people: SimpleNamespace, api_as: Any) -> None:
    admin, nurse, head, vice = (
        api_as(people.admin),
        api_as(people.nurse),
        api_as(people.head_nurse),
        api_as(people.vice_dean),
    )
    # given a deployed leave model
    deployed = admin.post(f"{API}/definitions", data=_xml("api_leave.bpmn"), content_type="application/xml")
    assert deployed.status_code == 201
    # when a nurse asks for 5 days
    started = _post(
        nurse, f"{API}/instances", {"definition_key": "api_leave", "variables": {"days": 5}, "title": "年假"}
    )
    assert started.status_code == 201
    instance_id = started.json()["id"]
    # then the head nurse has it in her to-do box and approves it
    todo = head.get(f"{API}/tasks", {"box": "todo"}).json()
    assert [i["instance_id"] for i in todo["items"]] == [instance_id]
    head_task = todo["items"][0]["id"]
    assert vice.get(f"{API}/tasks").json()["count"] == 0
    approved = _act(head, head_task, action="approve", comment="同意，注意交接班")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["instance"]["status"] == "running"
    # and because days > 3 the vice dean sees it next
    vice_todo = vice.get(f"{API}/tasks", {"box": "todo"}).json()
    assert [i["task_definition_id"] for i in vice_todo["items"]] == ["vice_approve"]
    assert head.get(f"{API}/tasks", {"box": "todo"}).json()["count"] == 0
    done = head.get(f"{API}/tasks", {"box": "done"}).json()
    assert [(i["id"], i["status"], i["outcome"]) for i in done["items"]] == [
        (head_task, "completed", "approved")
    ]
    mine = nurse.get(f"{API}/tasks", {"box": "initiated"}).json()["items"]
    assert [(i["instance_id"], i["task_definition_id"], i["instance_status"]) for i in mine] == [
        (instance_id, "vice_approve", "running")
    ]
    final = _act(vice, vice_todo["items"][0]["id"], action="approve", comment="准")
    assert final.status_code == 200, final.json()
    assert (final.json()["instance"]["status"], final.json()["instance"]["outcome"]) == (
        "completed",
        "approved",
    )
    # the instance shows the whole story
    detail = nurse.get(f"{API}/instances/{instance_id}").json()
    assert detail["status"] == "completed"
    assert detail["ended_at"] is not None
    assert detail["active_tasks"] == []
    decisions = [(h["kind"], h["step_id"], h["actor"], h["comment"]) for h in detail["history"] if h["actor"]]
    assert ("started", "", "nurse_li", "") in [
        (k, s if k != "started" else "", a, c) for k, s, a, c in decisions
    ]
    assert ("approved", "head_approve", "hn_wang", "同意，注意交接班") in decisions
    assert ("approved", "vice_approve", "vd_chen", "准") in decisions
    head_entry = next(
        h for h in detail["history"] if h["kind"] == "approved" and h["step_id"] == "head_approve"
    )
    assert head_entry["step_name"] == "Head nurse approves"
    assert head_entry["duration_seconds"] is not None
    finished = nurse.get(f"{API}/tasks", {"box": "initiated"}).json()["items"]
    assert [(i["instance_status"], i["id"], i["current_tasks"]) for i in finished] == [
        ("completed", None, [])
    ]


def test_short_leave_ends_after_the_head_nurse(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    response = _act(api_as(people.head_nurse), task, action="approve")
    assert response.json()["instance"]["status"] == "completed"
    assert api_as(people.vice_dean).get(f"{API}/tasks").json()["count"] == 0


def test_rejection_ends_the_leave(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=5)
    task = _open_task(instance, "head_approve")
    response = _act(api_as(people.head_nurse), task, action="reject", comment="人手不足")
    assert response.status_code == 200, response.json()
    assert (response.json()["instance"]["status"], response.json()["instance"]["outcome"]) == (
        "completed",
        "rejected",
    )
    assert response.json()["task"]["outcome"] == "rejected"


# --- GET /tasks/{id} ------------------------------------------------------------------------------


def test_task_get_matrix(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=5)
    _act(api_as(people.head_nurse), _open_task(instance, "head_approve"), action="approve")
    task = _open_task(instance, "vice_approve")
    url = f"{API}/tasks/{task.pk}"
    assert api_as(None).get(url).status_code == 401
    assert api_as(people.doctor).get(url).status_code == 404
    response = api_as(people.vice_dean).get(url)
    assert response.status_code == 200
    body = response.json()
    assert body["task_definition_id"] == "vice_approve"
    assert body["allowed_actions"][:2] == ["approve", "reject"]
    assert {"step_id": "head_approve", "name": "Head nurse approves"} in body["return_targets"]


# --- POST /tasks/batch-approve --------------------------------------------------------------------


def test_batch_approve(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    first, second, third = start(days=1), start(days=2), start(days=5)
    t1, t2 = _open_task(first, "head_approve"), _open_task(second, "head_approve")
    t3 = _open_task(third, "head_approve")
    assert _post(api_as(None), f"{API}/tasks/batch-approve", {"task_ids": [t1.pk]}).status_code == 401
    assert _post(api_as(people.head_nurse), f"{API}/tasks/batch-approve", {"task_ids": []}).status_code == 422
    too_many = _post(
        api_as(people.head_nurse), f"{API}/tasks/batch-approve", {"task_ids": list(range(1, 102))}
    )
    assert too_many.status_code == 422

    # the other ward's head nurse approves nothing
    before = _counts()
    other = _post(api_as(people.other_head_nurse), f"{API}/tasks/batch-approve", {"task_ids": [t1.pk, t2.pk]})
    assert other.status_code == 200
    assert other.json()["approved"] == 0
    assert [r["ok"] for r in other.json()["results"]] == [False, False]
    assert _counts() == before

    response = _post(
        api_as(people.head_nurse),
        f"{API}/tasks/batch-approve",
        {"task_ids": [t1.pk, t2.pk, 999999], "comment": "批量同意"},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["approved"], body["failed"]) == (2, 1)
    assert [(r["task_id"], r["ok"]) for r in body["results"]] == [
        (t1.pk, True),
        (t2.pk, True),
        (999999, False),
    ]
    assert body["results"][2]["message_en"]
    assert _open_task(third, "head_approve").pk == t3.pk
    assert ProcessInstance.objects.get(pk=first.pk).status == "completed"


# --- administration -------------------------------------------------------------------------------


def test_suspend_and_resume_matrix(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    task = _open_task(instance, "head_approve")
    url = f"{API}/instances/{instance.pk}"
    before = _counts()
    assert api_as(None).post(f"{url}/suspend").status_code == 401
    assert api_as(people.nurse).post(f"{url}/suspend").status_code == 403
    assert api_as(people.doctor).post(f"{url}/suspend").status_code == 404
    assert ProcessInstance.objects.get(pk=instance.pk).status == "running"
    assert _counts() == before

    suspended = _post(api_as(people.admin), f"{url}/suspend", {"reason": "核查"})
    assert suspended.status_code == 200, suspended.json()
    assert suspended.json()["status"] == "suspended"
    before, states = _counts(), _task_states()
    for action in ("approve", "reject", "return", "transfer", "claim"):
        blocked = _act(api_as(people.head_nurse), task, action=action, to_user="hn_zhao")
        assert blocked.status_code == 409, (action, blocked.json())
        assert blocked.json()["detail_en"] == (
            "This process is suspended; nothing can be done on it until it is resumed."
        )
    assert (_counts(), _task_states()) == (before, states)
    assert _open_task(instance, "head_approve").pk == task.pk

    assert api_as(people.nurse).post(f"{url}/resume").status_code == 403
    resumed = api_as(people.admin).post(f"{url}/resume")
    assert resumed.status_code == 200, resumed.json()
    assert resumed.json()["status"] == "running"
    assert _act(api_as(people.head_nurse), task, action="approve").status_code == 200


def test_cancel_matrix(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    url = f"{API}/instances/{instance.pk}/cancel"
    before = _counts()
    assert api_as(None).post(url).status_code == 401
    assert api_as(people.doctor).post(url).status_code == 404
    assert api_as(people.head_nurse).post(url).status_code == 403
    assert ProcessInstance.objects.get(pk=instance.pk).status == "running"
    assert _counts() == before

    cancelled = _post(api_as(people.admin), url, {"reason": "重复提交"})
    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["active_tasks"] == []
    again = api_as(people.admin).post(url)
    assert again.status_code == 409


def test_initiator_may_cancel(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    response = _post(api_as(people.nurse), f"{API}/instances/{instance.pk}/cancel", {"reason": "写错了"})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    event = ProcessEvent.objects.get(instance=instance, kind="cancelled")
    assert (event.actor_id, event.comment) == (people.nurse.pk, "写错了")


def test_initiator_may_not_cancel_after_others_acted(
    people: SimpleNamespace, api_as: Any, start: Any
) -> None:
    instance = start(days=5)
    _act(api_as(people.head_nurse), _open_task(instance, "head_approve"), action="approve")
    before = _counts()
    response = api_as(people.nurse).post(f"{API}/instances/{instance.pk}/cancel")
    assert response.status_code == 409, response.json()
    assert (
        response.json()["detail_en"]
        == "Others have already handled this process; ask an administrator to cancel it."
    )
    assert ProcessInstance.objects.get(pk=instance.pk).status == "running"
    assert _counts() == before


def test_admin_bodies_are_checked(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    client = api_as(people.admin)
    url = f"{API}/instances/{instance.pk}/suspend"
    too_long = _post(client, url, {"reason": "x" * 501})
    assert too_long.status_code == 422
    assert [e["field"] for e in too_long.json()["errors"]] == ["reason"]
    extra = _post(client, url, {"reason": "", "force": True})
    assert [e["field"] for e in extra.json()["errors"]] == ["force"]
    broken = _post_raw(client, url, "{reason")
    assert broken.status_code == 400
    assert ProcessInstance.objects.get(pk=instance.pk).status == "running"
    form = client.post(url, {"reason": "表单"})
    assert form.status_code == 200, form.json()
    assert ProcessEvent.objects.get(instance=instance, kind="suspended").comment == "表单"


def test_migrate(people: SimpleNamespace, api_as: Any, start: Any) -> None:
    instance = start(days=2)
    services.definition_deploy(actor=people.admin.user, xml=_xml("api_leave.bpmn"))
    url = f"{API}/instances/{instance.pk}/migrate"
    before = _counts()
    assert _post(api_as(None), url, {"version": 2}).status_code == 401
    assert _post(api_as(people.nurse), url, {"version": 2}).status_code == 403
    assert _post(api_as(people.doctor), url, {"version": 2}).status_code == 404
    missing = _post(api_as(people.admin), url, {"version": 7})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "version"
    assert _post(api_as(people.admin), url, {"version": "two"}).status_code == 422
    assert ProcessInstance.objects.get(pk=instance.pk).version.version == 1
    assert _counts() == before

    moved = _post(api_as(people.admin), url, {"version": 2})
    assert moved.status_code == 200, moved.json()
    assert moved.json()["version"] == 2
    assert [t["task_definition_id"] for t in moved.json()["active_tasks"]] == ["head_approve"]


def _failing_instance(people: SimpleNamespace) -> tuple[ProcessInstance, Incident]:
    """An instance whose automatic step failed three times: the worker opened an incident."""
    LOOKUP["failures"] = 3
    services.definition_deploy(actor=people.admin.user, xml=_xml("api_service.bpmn"))
    instance = services.instance_start(
        actor=people.nurse.user, definition_key="api_service", variables={"ward": "CARD-W1"}
    )
    now = timezone.now()
    for seconds in (1, 20, 100):
        services.flow_tick(now=now + datetime.timedelta(seconds=seconds))
    return ProcessInstance.objects.get(pk=instance.pk), Incident.objects.get(instance=instance)


def test_incident_retry(people: SimpleNamespace, api_as: Any) -> None:
    instance, incident = _failing_instance(people)
    assert instance.has_incident is True
    url = f"{API}/incidents/{incident.pk}/retry"
    before = _counts()
    assert api_as(None).post(url).status_code == 401
    assert api_as(people.nurse).post(url).status_code == 403
    assert api_as(people.head_nurse).post(url).status_code == 403
    assert api_as(people.admin).post(f"{API}/incidents/999999/retry").status_code == 404
    assert Incident.objects.get(pk=incident.pk).status == "open"
    assert _counts() == before

    # the instance page shows the incident to administrators only
    assert api_as(people.nurse).get(f"{API}/instances/{instance.pk}").json()["incidents"] == []
    shown = api_as(people.admin).get(f"{API}/instances/{instance.pk}").json()
    assert [(i["id"], i["step_id"], i["status"]) for i in shown["incidents"]] == [
        (incident.pk, "lookup", "open")
    ]
    assert shown["has_incident"] is True

    LOOKUP["failures"] = 0
    response = api_as(people.admin).post(url)
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == incident.pk
    assert response.json()["status"] == "resolved"
    assert response.json()["instance"]["id"] == instance.pk
    again = api_as(people.admin).post(url)
    assert again.status_code == 409
    assert again.json()["detail_en"] == "This incident has already been resolved."

    services.flow_tick(now=timezone.now() + datetime.timedelta(seconds=1))
    done = api_as(people.nurse).get(f"{API}/instances/{instance.pk}").json()
    assert done["variables"]["bed"] == "CARD-W1-12"
    assert [t["task_definition_id"] for t in done["active_tasks"]] == ["check"]


# --- POST /messages -------------------------------------------------------------------------------


def test_message_reaches_the_waiting_instance_and_starts_others(people: SimpleNamespace, api_as: Any) -> None:
    services.definition_deploy(actor=people.admin.user, xml=_xml("api_message.bpmn"))
    services.definition_deploy(actor=people.admin.user, xml=_xml("api_message_start.bpmn"))
    waiting = services.instance_start(
        actor=people.nurse.user, definition_key="api_message", variables={}, business_key="PO-1"
    )
    other = services.instance_start(
        actor=people.nurse.user, definition_key="api_message", variables={}, business_key="PO-2"
    )
    client = api_as(people.it)

    paid = _post(
        client, f"{API}/messages", {"name": "api_paid", "business_key": "PO-1", "variables": {"amount": 120}}
    )
    assert paid.status_code == 200, paid.json()
    assert paid.json() == {"correlated": [waiting.pk], "started": []}
    assert [t.task_def_id for t in HumanTask.objects.filter(instance=waiting, status="open")] == ["confirm"]
    assert not HumanTask.objects.filter(instance=other).exists()
    assert ProcessInstance.objects.get(pk=waiting.pk).variables["amount"] == 120

    referral = _post(
        client, f"{API}/messages", {"name": "api_referral", "business_key": "REF-7", "variables": {}}
    )
    assert referral.status_code == 200, referral.json()
    started = ProcessInstance.objects.get(definition__key="api_message_start")
    assert referral.json() == {"correlated": [], "started": [started.pk]}
    assert started.business_key == "REF-7"
    assert [i["instance_id"] for i in api_as(people.vice_dean).get(f"{API}/tasks").json()["items"]] == [
        started.pk
    ]


def test_messages_matrix(people: SimpleNamespace, api_as: Any) -> None:
    body = {"name": "api_paid", "business_key": "PO-1", "variables": {}}
    assert _post(api_as(None), f"{API}/messages", body).status_code == 401
    assert _post(api_as(people.nurse), f"{API}/messages", body).status_code == 403
    bad = _post(api_as(people.admin), f"{API}/messages", {"name": "", "variables": []})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"name", "variables"}
    bad_name = _post(api_as(people.admin), f"{API}/messages", {"name": "paid", "variables": {"1st": 1}})
    assert bad_name.status_code == 422
    assert bad_name.json()["errors"][0]["field"] == "variables.1st"
    nothing = _post(api_as(people.admin), f"{API}/messages", body)
    assert nothing.status_code == 200, nothing.json()
    assert nothing.json() == {"correlated": [], "started": []}
