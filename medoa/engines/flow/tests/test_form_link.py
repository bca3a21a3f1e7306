"""Forms in processes: ``camunda:formKey="medoa:form:<key>"`` checked at deploy, field permissions
per step from ``camunda:properties`` (``medoa:readonly``, ``medoa:hidden``), the start form's data
becoming variables and a record in one transaction, a task's form shown with its permissions (a
hidden value never reaches the page or the API) and submitted with the decision (a crafted change
to a read-only field refused, nothing changed), gateways seeing the changed values, and the record
following the process to its end. Services, pages and the API; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import BytesIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from medoa.core.access.tokens import api_token_issue
from medoa.core.audit.models import AuditEntry
from medoa.engines.flow import services
from medoa.engines.flow.choices import InstanceOutcome, InstanceStatus, TaskStatus
from medoa.engines.flow.errors import FlowConflict, FlowInputError
from medoa.engines.flow.models import HumanTask, ProcessDefinition, ProcessInstance, ProcessVersion
from medoa.engines.flow.services import FormInvalid
from medoa.engines.flow.spiff import DefinitionInvalid
from medoa.engines.forms import selectors as forms_selectors
from medoa.engines.forms import services as forms
from medoa.engines.forms.models import FormRecord, FormRecordValue
from medoa.engines.forms.xlsx import record_export_xlsx

from .conftest import open_steps, open_task, snapshot

pytestmark = pytest.mark.django_db

SCHEMA: dict[str, Any] = {
    "type": "default",
    "id": "overtime",
    "components": [
        {
            "type": "textfield",
            "key": "reason",
            "label": "事由",
            "validate": {"required": True, "minLength": 2},
        },
        {
            "type": "number",
            "key": "hours",
            "label": "时长",
            "validate": {"required": True, "min": 1, "max": 24},
            "properties": {"medoa:report": "true"},
        },
        {"type": "number", "key": "salary", "label": "薪资"},
        {"type": "textarea", "key": "opinion", "label": "护士长意见"},
    ],
}

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="defs" targetNamespace="http://medoa/bpmn/forms">
  <bpmn:process id="overtime_claim" name="Overtime claim" isExecutable="true">
    <bpmn:startEvent id="start" camunda:formKey="medoa:form:overtime" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="head_nurse" />
    <bpmn:userTask id="head_nurse" name="Head nurse reviews" camunda:candidateGroups="head_nurse"
        camunda:formKey="medoa:form:overtime">
      <bpmn:extensionElements>
        <camunda:properties>
          <camunda:property name="medoa:readonly" value="reason" />
          <camunda:property name="medoa:hidden" value="salary" />
        </camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="head_nurse" targetRef="gw" />
    <bpmn:exclusiveGateway id="gw" default="f_end" />
    <bpmn:sequenceFlow id="f_vice" sourceRef="gw" targetRef="vice">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >${approved and hours &gt; 8}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_end" sourceRef="gw" targetRef="end" />
    <bpmn:userTask id="vice" name="Vice dean approves" camunda:candidateGroups="vice_dean" />
    <bpmn:sequenceFlow id="f3" sourceRef="vice" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""

GOOD = {"reason": "夜班抢救", "hours": 10, "salary": 8000, "opinion": ""}


@pytest.fixture
def form(people: SimpleNamespace) -> Any:
    return forms.form_schema_publish(actor=people.admin.user, schema=SCHEMA, key="overtime", name="加班申请")


@pytest.fixture
def claim(people: SimpleNamespace, form: Any) -> ProcessVersion:
    return services.definition_deploy(actor=people.admin.user, xml=PROCESS)


@pytest.fixture
def begin(people: SimpleNamespace, claim: ProcessVersion) -> Callable[..., ProcessInstance]:
    def run(data: dict[str, Any] | None = None, **kw: Any) -> ProcessInstance:
        return services.instance_start(
            actor=people.nurse.user,
            definition_key="overtime_claim",
            variables={},
            form_data=dict(GOOD) if data is None else data,
            **kw,
        )

    return run


def record_of(instance: ProcessInstance) -> FormRecord:
    return FormRecord.objects.get(subject=f"flow:instance:{instance.pk}")


def problems_of(exc: pytest.ExceptionInfo[DefinitionInvalid]) -> list[tuple[str, str]]:
    with translation.override("en"):
        return [(p.element_id, p.message) for p in exc.value.problems]


def process(
    start_attrs: str = "", task_attrs: str = "", task_properties: str = "", start_props: str = ""
) -> str:
    def extension(props: str) -> str:
        if not props:
            return ""
        inner = f"<camunda:properties>{props}</camunda:properties>"
        return f"<bpmn:extensionElements>{inner}</bpmn:extensionElements>"

    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://medoa/x">
  <bpmn:process id="p_forms" isExecutable="true">
    <bpmn:startEvent id="start" {start_attrs}>{extension(start_props)}</bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t" />
    <bpmn:userTask id="t" camunda:assignee="head_nurse" {task_attrs}
      >{extension(task_properties)}</bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>"""


# --- deploy ----------------------------------------------------------------------------------------


def test_deploy_names_every_form_problem_in_one_pass(people: SimpleNamespace, form: Any) -> None:
    forms.form_create(actor=people.admin.user, key="draft_only", name="草稿", schema=SCHEMA)
    xml = process(
        start_attrs='camunda:formKey="medoa:form:nowhere"',
        task_attrs='camunda:formKey="medoa:form:draft_only"',
    )
    with pytest.raises(DefinitionInvalid) as exc:
        services.definition_deploy(actor=people.admin.user, xml=xml)
    assert problems_of(exc) == [
        ("start", "form 'nowhere' does not exist"),
        ("t", "form 'draft_only' has no published version: publish it first"),
    ]
    assert not ProcessDefinition.objects.filter(key="p_forms").exists()


def test_deploy_checks_the_fields_each_permission_names(people: SimpleNamespace, form: Any) -> None:
    xml = process(
        task_attrs='camunda:formKey="medoa:form:overtime"',
        task_properties='<camunda:property name="medoa:readonly" value="reason, hourz" />'
        '<camunda:property name="medoa:hidden" value="salary,bonus" />',
    )
    with pytest.raises(DefinitionInvalid) as exc:
        services.definition_deploy(actor=people.admin.user, xml=xml)
    assert problems_of(exc) == [
        ("t", "medoa:readonly: form 'overtime' (version 1) has no field 'hourz'"),
        ("t", "medoa:hidden: form 'overtime' (version 1) has no field 'bonus'"),
    ]


def test_permissions_need_a_medoa_form_and_a_user_task(people: SimpleNamespace, form: Any) -> None:
    xml = process(
        start_attrs='camunda:formKey="medoa:form:overtime"',
        start_props='<camunda:property name="medoa:hidden" value="salary" />',
        task_attrs='camunda:formKey="embedded:app:forms/review.html"',
        task_properties='<camunda:property name="medoa:readonly" value="reason" />',
    )
    with pytest.raises(DefinitionInvalid) as exc:
        services.definition_deploy(actor=people.admin.user, xml=xml)
    assert problems_of(exc) == [
        (
            "start",
            "field permissions (medoa:readonly, medoa:hidden) apply to user tasks; the initiator fills "
            "in the whole start form",
        ),
        (
            "t",
            "medoa:readonly names form fields, but the step binds no MedOA form: set "
            'camunda:formKey="medoa:form:<key>"',
        ),
    ]


def test_other_form_keys_stay_opaque(people: SimpleNamespace, form: Any) -> None:
    xml = process(
        start_attrs='camunda:formKey="camunda-forms:deployment:start.form"',
        task_attrs='camunda:formKey="embedded:app:forms/review.html"',
    )
    version = services.definition_deploy(actor=people.admin.user, xml=xml)
    instance = services.instance_start(actor=people.nurse.user, definition_key="p_forms", variables={"x": 1})
    assert version.metadata["start_form_key"] == "camunda-forms:deployment:start.form"
    assert open_task(instance).form_key == "embedded:app:forms/review.html"
    assert FormRecord.objects.count() == 0


# --- start -----------------------------------------------------------------------------------------


def test_start_with_the_form_makes_variables_and_a_linked_record(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    instance = begin(form_version=1)

    record = record_of(instance)
    assert (record.definition.key, record.version.version, record.source, record.status) == (
        "overtime",
        1,
        "process",
        "submitted",
    )
    assert record.submitter == people.nurse
    assert record.values == {"reason": "夜班抢救", "hours": 10, "salary": 8000, "opinion": ""}
    assert list(FormRecordValue.objects.filter(record=record).values_list("field", "number")) == [
        ("hours", 10)
    ]
    assert {k: instance.variables[k] for k in ("reason", "hours", "salary", "opinion")} == record.values
    assert open_steps(instance) == [("head_nurse", "head_nurse")]
    entry = AuditEntry.objects.filter(action="flow.instance.started").latest("seq")
    assert entry.details["form"] == "overtime" and entry.details["record"] == record.pk


def test_invalid_start_data_starts_nothing_and_stores_nothing(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    before = (ProcessInstance.objects.count(), FormRecord.objects.count(), AuditEntry.objects.count())
    with pytest.raises(FormInvalid) as exc:
        begin({"reason": "x", "hours": 30, "bonus": 1})
    assert sorted((f, code) for f, code, _m in exc.value.field_errors) == [
        ("bonus", "unknown_field"),
        ("hours", "max"),
        ("reason", "min_length"),
    ]
    assert dict(exc.value.errors)["form.hours"]
    assert (ProcessInstance.objects.count(), FormRecord.objects.count(), AuditEntry.objects.count()) == before


def test_start_needs_the_form_data_and_the_current_version(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    with pytest.raises(FlowInputError) as exc:
        services.instance_start(actor=people.nurse.user, definition_key="overtime_claim", variables={})
    assert exc.value.field == "form"
    with pytest.raises(FlowConflict):
        begin(form_version=2)
    assert ProcessInstance.objects.count() == 0 and FormRecord.objects.count() == 0


# --- the task --------------------------------------------------------------------------------------


def test_the_task_form_applies_the_step_permissions(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    from medoa.engines.flow import form_link
    from medoa.engines.flow.selectors import parsed_version

    instance = begin()
    view = form_link.task_view(
        parsed=parsed_version(instance.version),
        step_id="head_nurse",
        instance_id=instance.pk,
        variables=instance.variables,
    )
    assert view is not None
    assert [(c["key"], c.get("readonly", False)) for c in view.schema["components"]] == [
        ("reason", True),
        ("hours", False),
        ("opinion", False),
    ]
    assert view.data == {"reason": "夜班抢救", "hours": 10, "opinion": ""}


def test_a_crafted_change_to_a_readonly_field_is_refused(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    instance = begin()
    task = open_task(instance)
    before = snapshot(), record_of(instance).values, AuditEntry.objects.count()
    for data, code, field in (
        ({"reason": "改过的事由", "hours": 10, "opinion": "同意"}, "readonly", "reason"),
        ({"reason": "夜班抢救", "hours": 10, "salary": 1, "opinion": "同意"}, "hidden", "salary"),
    ):
        with pytest.raises(FormInvalid) as exc:
            services.task_act(actor=people.head_nurse.user, task=task.pk, action="approve", form_data=data)
        assert [(f, c) for f, c, _m in exc.value.field_errors] == [(field, code)]
    assert (snapshot(), record_of(instance).values, AuditEntry.objects.count()) == before


def test_approval_updates_the_record_and_the_gateway_sees_the_change(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    instance = begin()
    task = open_task(instance)
    services.task_act(
        actor=people.head_nurse.user,
        task=task.pk,
        action="approve",
        form_data={"reason": "夜班抢救", "hours": 6, "opinion": "核实为 6 小时"},
    )
    instance.refresh_from_db()
    record = record_of(instance)
    # 6 hours: the gateway's "hours > 8" is false → the process ends without the vice dean
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, InstanceOutcome.APPROVED)
    assert (instance.variables["hours"], instance.variables["opinion"]) == (6, "核实为 6 小时")
    assert instance.variables["salary"] == 8000  # hidden at the step: kept
    assert record.values == {"reason": "夜班抢救", "hours": 6, "salary": 8000, "opinion": "核实为 6 小时"}
    assert record.status == "approved"
    task.refresh_from_db()
    assert task.data["variables"]["hours"] == 6 and "reason" not in task.data["variables"]


def test_unchanged_form_goes_on_to_the_vice_dean_and_a_rejection_rejects_the_record(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    instance = begin()
    services.task_act(actor=people.head_nurse.user, task=open_task(instance).pk, action="approve")
    assert open_steps(instance) == [("vice", "vice")]
    assert record_of(instance).status == "submitted"
    services.task_act(actor=people.vice.user, task=open_task(instance).pk, action="reject", comment="不符合")
    instance.refresh_from_db()
    assert instance.outcome == InstanceOutcome.REJECTED
    assert record_of(instance).status == "rejected"


def test_a_cancelled_instance_withdraws_its_record(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    instance = begin()
    services.instance_cancel(actor=people.admin.user, instance=instance, reason="重复提交")
    assert record_of(instance).status == "withdrawn"


def test_form_data_only_goes_with_a_decision_on_a_form_step(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    instance = begin()
    task = open_task(instance)
    with pytest.raises(FlowInputError) as exc:
        services.task_act(actor=people.nurse.user, task=task.pk, action="urge", form_data={})
    assert exc.value.field == "form"
    services.task_act(actor=people.head_nurse.user, task=task.pk, action="approve")
    with pytest.raises(FlowInputError) as exc:
        services.task_act(
            actor=people.vice.user, task=open_task(instance).pk, action="approve", form_data={"hours": 1}
        )
    assert exc.value.field == "form"
    assert open_task(instance).status == TaskStatus.OPEN


# --- pages and the API: hidden values never reach the browser ---------------------------------------


def test_the_task_page_shows_the_form_without_the_hidden_value(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    instance = begin({**GOOD, "salary": 987654})
    task = open_task(instance)
    client = Client()
    client.force_login(people.head_nurse.user)
    page = client.get(reverse("flow:task_detail", args=[task.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="flow-form"' in html and 'data-mode="task"' in html
    assert "987654" not in html and "salary" not in html
    assert '"readonly": true' in html
    detail = client.get(reverse("flow:instance_detail", args=[instance.pk])).content.decode()
    assert "987654" not in detail
    # the initiator filled it in and sees it
    client.force_login(people.nurse.user)
    assert "987654" in client.get(reverse("flow:instance_detail", args=[instance.pk])).content.decode()


def test_the_task_page_refuses_a_readonly_change_beside_the_field(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    instance = begin()
    task = open_task(instance)
    client = Client()
    client.force_login(people.head_nurse.user)
    crafted = {"reason": "改过", "hours": 10, "opinion": ""}
    page = client.post(
        reverse("flow:task_act", args=[task.pk]), {"action": "approve", "form_data": json.dumps(crafted)}
    )
    assert page.status_code == 400
    errors = page.context["step_form_errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("reason", "readonly")]
    assert record_of(instance).values["reason"] == "夜班抢救"
    assert HumanTask.objects.get(pk=task.pk).status == TaskStatus.OPEN

    ok = client.post(
        reverse("flow:task_act", args=[task.pk]),
        {"action": "approve", "form_data": json.dumps({"reason": "夜班抢救", "hours": 4, "opinion": "同意"})},
    )
    assert ok.status_code == 302
    assert record_of(instance).values["opinion"] == "同意"


def test_the_start_page_posts_the_form_as_json(people: SimpleNamespace, claim: ProcessVersion) -> None:
    client = Client()
    client.force_login(people.nurse.user)
    url = reverse("flow:instance_start", args=["overtime_claim"])
    page = client.get(url)
    assert page.status_code == 200 and 'data-mode="start"' in page.content.decode()
    assert 'name="var_name"' not in page.content.decode()

    bad = client.post(url, json.dumps({"data": {"reason": "", "hours": 2}, "version": 1}), "application/json")
    assert bad.status_code == 400
    assert [(e["field"], e["code"]) for e in bad.json()["errors"]] == [("reason", "required")]
    assert ProcessInstance.objects.count() == 0

    long_title = client.post(url, json.dumps({"title": "x" * 301, "data": GOOD}), "application/json")
    assert long_title.status_code == 400 and long_title.json()["errors"][0]["field"] == "@title"

    ok = client.post(url, json.dumps({"title": "三月加班", "data": GOOD, "version": 1}), "application/json")
    assert ok.status_code == 201
    instance = ProcessInstance.objects.get()
    assert ok.json()["url"] == reverse("flow:instance_detail", args=[instance.pk])
    assert instance.title == "三月加班" and record_of(instance).values["hours"] == 10


def _api(staff: Any) -> Client:
    raw, _token = api_token_issue(user=staff.user)
    return Client(headers={"Authorization": f"Bearer {raw}"})


def test_the_api_starts_with_the_form_and_decides_with_its_data(
    people: SimpleNamespace, claim: ProcessVersion
) -> None:
    nurse = _api(people.nurse)
    bad = nurse.post(
        "/api/v1/flow/instances",
        {"definition_key": "overtime_claim", "form": {"reason": "夜班", "hours": 0}},
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert [(e["field"], e["type"]) for e in bad.json()["errors"]] == [("form.hours", "min")]
    started = nurse.post(
        "/api/v1/flow/instances",
        {"definition_key": "overtime_claim", "form": {**GOOD, "salary": 987654}, "form_version": 1},
        content_type="application/json",
    )
    assert started.status_code == 201, started.json()
    instance = ProcessInstance.objects.get(pk=started.json()["id"])
    task_id = started.json()["active_tasks"][0]["id"]

    head = _api(people.head_nurse)
    task = head.get(f"/api/v1/flow/tasks/{task_id}")
    assert task.status_code == 200
    body = task.json()
    assert body["form"]["key"] == "overtime" and body["form"]["version"] == 1
    assert body["form"]["data"] == {"reason": "夜班抢救", "hours": 10, "opinion": ""}
    assert body["form"]["permissions"] == {"reason": "readonly", "salary": "hidden"}
    assert "987654" not in task.content.decode()
    assert "987654" not in head.get(f"/api/v1/flow/instances/{instance.pk}").content.decode()
    assert nurse.get(f"/api/v1/flow/instances/{instance.pk}").json()["variables"]["salary"] == 987654

    crafted = head.post(
        f"/api/v1/flow/tasks/{task_id}/actions",
        {"action": "approve", "form": {"reason": "改过", "hours": 10}},
        content_type="application/json",
    )
    assert crafted.status_code == 422
    assert [(e["field"], e["type"]) for e in crafted.json()["errors"]] == [("form.reason", "readonly")]
    assert record_of(instance).values["reason"] == "夜班抢救"

    done = head.post(
        f"/api/v1/flow/tasks/{task_id}/actions",
        {"action": "approve", "form": {"reason": "夜班抢救", "hours": 12, "opinion": "属实"}},
        content_type="application/json",
    )
    assert done.status_code == 200, done.json()
    assert [t["task_definition_id"] for t in done.json()["instance"]["active_tasks"]] == ["vice"]
    assert record_of(instance).values["hours"] == 12


# --- the form engine's own pages keep a process's hidden fields from other viewers ---------------


def test_fields_hidden_by_the_process_stay_out_of_the_form_engines_reads(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    """The head nurse's data scope covers the nurse's records, but the process hides 薪资 from her
    step: the record page, the list, the API and the export leave it out for her; the nurse who
    filled it in still sees it."""
    record = record_of(begin())

    as_head_nurse = forms_selectors.record_get(viewer=people.head_nurse.user, record_id=record.pk)
    listed = forms_selectors.record_list(viewer=people.head_nurse.user, key="overtime").items
    as_nurse = forms_selectors.record_get(viewer=people.nurse.user, record_id=record.pk)
    sheet = load_workbook(BytesIO(record_export_xlsx(viewer=people.head_nurse.user, key="overtime"))).active

    assert record.hidden_fields == ["salary"]
    assert "salary" not in as_head_nurse.values and as_head_nurse.values["hours"] == 10
    assert [r.pk for r in listed] == [record.pk] and "salary" not in listed[0].values
    assert as_nurse.values["salary"] == 8000
    assert 8000 not in [cell.value for row in sheet.iter_rows() for cell in row]
    assert FormRecord.objects.get(pk=record.pk).values["salary"] == 8000  # nothing lost


def test_a_hidden_reporting_field_is_not_indexed(
    people: SimpleNamespace, begin: Callable[..., ProcessInstance]
) -> None:
    """A filter on a field the process hides would tell what it holds: it is not in the index."""
    schema = json.loads(json.dumps(SCHEMA))
    schema["components"][2]["properties"] = {"medoa:report": "true"}
    forms.form_schema_publish(actor=people.admin.user, schema=schema, key="overtime", name="加班申请")

    record = record_of(begin())

    indexed = set(FormRecordValue.objects.filter(record=record).values_list("field", flat=True))
    assert indexed == {"hours"}
