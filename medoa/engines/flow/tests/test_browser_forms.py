"""A form in a process, through Debian's chromium under the real CSP: the IT designer builds a
form in the form designer (two fields dragged from the palette) and publishes it, uploads a
process whose start event and head-nurse task bind it (the task shows 事由 read-only) and deploys
it; a nurse fills the start form in (the viewer's required error first) and starts; the head nurse
sees the form filled in, 事由 read-only, changes 时长 and approves; the record follows.

Screenshots go to test-artifacts/flow-form-*.png. Any console error or page error (a CSP violation
is one) fails the test."""

# The fixtures come from the form engine's factories and its browser test (imported below): the
# test parameters naming them are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.engines.flow.models import HumanTask, ProcessDefinition, ProcessInstance
from medoa.engines.forms.models import FormRecord, FormVersion
from medoa.engines.forms.tests.factories import grants, hospital, people, person  # noqa: F401
from medoa.engines.forms.tests.test_browser import (  # noqa: F401  (the session fixture)
    Session,
    _canvas_label,
    _drag,
    _open_group,
    _set_text,
    session,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://medoa/bpmn">
  <bpmn:process id="overtime_claim" name="加班申请流程" isExecutable="true">
    <bpmn:startEvent id="start" name="填写申请" camunda:formKey="medoa:form:overtime" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="head_nurse" />
    <bpmn:userTask id="head_nurse" name="护士长审核" camunda:candidateGroups="head_nurse"
        camunda:formKey="medoa:form:overtime">
      <bpmn:extensionElements>
        <camunda:properties>
          <camunda:property name="medoa:readonly" value="reason" />
        </camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="head_nurse" targetRef="end" />
    <bpmn:endEvent id="end" name="结束" />
  </bpmn:process>
</bpmn:definitions>
"""


def _shot(session: Session, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    session.page.screenshot(path=str(ARTIFACTS / f"flow-form-{name}.png"), full_page=True)


def _wait_status(page: Any, selector: str, text: str) -> None:
    for _ in range(100):
        if text in page.locator(selector).inner_text():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{selector}: {page.locator(selector).inner_text()!r} lacks {text!r}")


def test_a_form_in_a_process_from_designer_to_approval(
    session: Callable[..., Session],
    people: SimpleNamespace,
    person: Callable[..., Any],
    password: str,
    tmp_path: Path,
) -> None:
    head_nurse = person("head_nurse", username="hn_chen", name="陈护士长")

    # --- the designer builds the form and publishes it -----------------------------------------------
    designer = session()
    designer.sign_in("it_zhou", password)
    designer.go("/forms/new/")
    page = designer.page
    page.fill('input[name="key"]', "overtime")
    page.fill('input[name="name"]', "加班申请")
    page.click("#form-new-form button[type=submit]")
    page.wait_for_selector("#designer.forms-ready")
    _drag(page, "textfield", page.locator(".fjs-editor-form-root"), dy=30)
    page.wait_for_selector(".fjs-editor-container .fjs-form-field-textfield")
    _open_group(page, "general")
    _set_text(page, "label", "事由")
    _canvas_label(page, "textfield", "事由")
    _set_text(page, "key", "reason")
    _open_group(page, "validation")
    page.locator("#bio-properties-panel-required").check()
    _drag(page, "number", page.locator(".fjs-editor-container .fjs-form-field-textfield"), dy=70)
    page.wait_for_selector(".fjs-editor-container .fjs-form-field-number")
    _open_group(page, "general")
    _set_text(page, "label", "时长")
    _canvas_label(page, "number", "时长")
    _set_text(page, "key", "hours")
    page.click("#designer-publish")
    _wait_status(page, "#designer-status", "已发布")
    version = FormVersion.objects.get(definition__key="overtime")
    assert [c.get("key") for c in version.schema["components"]] == ["reason", "hours"]

    # --- and deploys a process whose start event and head-nurse task use it -----------------------
    designer.go("/flow/designer/new/")
    page.fill('input[name="key"]', "overtime_claim")
    page.fill('input[name="name"]', "加班申请流程")
    page.click("#designer-new-form button[type=submit]")
    page.wait_for_selector("#designer.flow-ready")
    upload = tmp_path / "overtime.bpmn"
    upload.write_text(PROCESS, encoding="utf-8")
    page.set_input_files("#designer-upload", str(upload))
    page.wait_for_selector('.djs-element[data-element-id="head_nurse"]')
    page.click("#designer-deploy")
    _wait_status(page, "#designer-status", "已发布")
    assert ProcessDefinition.objects.get(key="overtime_claim").latest_version is not None

    # --- a nurse fills the start form in and starts ------------------------------------------------
    nurse = session()
    nurse.sign_in("nurse_li", password)
    nurse.go("/flow/start/overtime_claim/")
    page = nurse.page
    page.wait_for_selector("#flow-form.forms-ready")
    assert page.locator('input[name="var_name"]').count() == 0
    page.click("#flow-form-submit")
    error = page.locator(".fjs-form-field-textfield .fjs-form-field-error")
    error.wait_for()
    assert error.inner_text() == "此项必填。"
    assert ProcessInstance.objects.count() == 0
    page.fill('input[name="title"]', "三月夜班加班")
    page.locator(".fjs-form-field-textfield input").fill("夜班抢救")
    page.locator(".fjs-form-field-number input").fill("10")
    _shot(nurse, "start")
    page.click("#flow-form-submit")
    page.wait_for_url("**/flow/instances/*/")
    instance = ProcessInstance.objects.get()
    record = FormRecord.objects.get()
    assert (instance.title, record.subject, record.values) == (
        "三月夜班加班",
        f"flow:instance:{instance.pk}",
        {"reason": "夜班抢救", "hours": 10},
    )
    assert (instance.variables["reason"], instance.variables["hours"]) == ("夜班抢救", 10)

    # --- the head nurse sees the form, 事由 read-only, and approves ----------------------------------
    task = HumanTask.objects.get()
    assert task.assignee == head_nurse
    chief = session()
    chief.sign_in("hn_chen", password)
    chief.go(f"/flow/tasks/{task.pk}/")
    page = chief.page
    page.wait_for_selector("#flow-form.forms-ready")
    reason = page.locator(".fjs-form-field-textfield input")
    assert reason.input_value() == "夜班抢救"
    assert reason.get_attribute("readonly") is not None
    hours = page.locator(".fjs-form-field-number input")
    assert hours.input_value() == "10"
    hours.fill("8")
    page.fill("#decide-comment", "核实 8 小时")
    _shot(chief, "task")
    page.click("#action-approve")
    page.wait_for_url("**/flow/tasks/?box=todo")
    assert "已通过：护士长审核。" in page.locator(".messages").inner_text()

    instance.refresh_from_db()
    record.refresh_from_db()
    assert (instance.status, instance.outcome) == ("completed", "approved")
    assert instance.variables["hours"] == 8
    assert (record.values, record.status) == ({"reason": "夜班抢救", "hours": 8}, "approved")

    # the nurse's record page shows the approved values
    nurse.go(f"/forms/records/{record.pk}/")
    nurse.page.wait_for_selector("#fill.forms-ready")
    assert nurse.page.locator(".fjs-form-field-number input").input_value() == "8"
