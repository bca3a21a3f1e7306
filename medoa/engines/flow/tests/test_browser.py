"""The process engine through Debian's chromium, under the real CSP: a designer draws a small
process in the bpmn-js modeler (palette and context pad, the assignee set in the properties
panel), sees deploy's problem list, deploys; a nurse starts it from the definitions list; a doctor
approves it on the task page; the instance shows completed with the diagram coloured.

Screenshots go to test-artifacts/flow-*.png. Any console error or page error fails the test."""

# The fixtures come from test_views (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyotp
import pytest

from medoa.core.access.tests.browser import BrowserSession, sessions
from medoa.engines.flow.models import HumanTask, Incident, ProcessDefinition, ProcessInstance
from medoa.engines.flow.tests.test_views import TOTP_SECRET, grants, hospital, people, person  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BPMN = Path(__file__).resolve().parent / "bpmn"
SHAPES = '.djs-shape:not([data-element-id$="_label"])'


class Session(BrowserSession):
    prefix = "flow"


@pytest.fixture
def session(browser: Any, live_server: Any) -> Iterator[Callable[..., Session]]:
    yield from sessions(Session, browser, live_server)


def _selected_id(page: Any) -> str:
    return str(page.locator(".djs-element.selected").first.get_attribute("data-element-id"))


def _select(page: Any, element_id: str) -> None:
    """Select a diagram element (a click on a selected element would deselect it)."""
    if page.locator(f'.djs-element.selected[data-element-id="{element_id}"]').count() == 0:
        page.click(f'.djs-element[data-element-id="{element_id}"]')


def _context_pad(page: Any, action: str) -> None:
    page.click(f'.djs-context-pad [data-action="{action}"]')


def _open_group(page: Any, group: str) -> None:
    header = page.locator(f'[data-group-id="group-{group}"] .bio-properties-panel-group-header')
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def test_draw_deploy_start_and_approve(
    session: Callable[..., Session], people: SimpleNamespace, password: str
) -> None:
    # --- the designer draws the process ---------------------------------------------------------
    designer = session()
    designer.sign_in("it_zhou", password)
    designer.go("/flow/designer/new/")
    page = designer.page
    page.fill('input[name="key"]', "sick-leave")
    page.fill('input[name="name"]', "病假申请")
    page.fill('input[name="category"]', "人事")
    page.click("#designer-new-form button[type=submit]")
    page.wait_for_selector("#designer.flow-ready")
    assert page.locator("h1").inner_text() == "流程设计器 sick-leave"
    # the template's three elements go; we draw our own
    assert page.locator(SHAPES).count() == 3
    for element in ("Task_approve", "StartEvent_1", "EndEvent_1"):
        _select(page, element)
        _context_pad(page, "delete")
    assert page.locator(SHAPES).count() == 0

    # a start event from the palette, placed by a click on the canvas
    box = page.locator("#designer-canvas").bounding_box()
    page.click('.djs-palette [data-action="create.start-event"]')
    page.mouse.move(box["x"] + 260, box["y"] + 220)
    page.mouse.click(box["x"] + 260, box["y"] + 220)
    start_id = _selected_id(page)
    assert start_id.startswith(("Event_", "StartEvent"))

    # append a task from the context pad and turn it into a user task
    _context_pad(page, "append.append-task")
    page.keyboard.press("Escape")  # leave the label editor the append opened
    task_id = _selected_id(page)
    _context_pad(page, "replace")
    page.click('.djs-popup [data-id="replace-with-user-task"]')
    assert _selected_id(page) == task_id  # the replaced element keeps its id and stays selected
    assert page.locator(".bio-properties-panel-header-type").inner_text() == "用户任务"

    # name it in the properties panel
    _open_group(page, "general")
    name = page.locator("#bio-properties-panel-name")
    name.fill("科室审批")
    name.press("Tab")
    # an end event after it
    _select(page, task_id)
    _context_pad(page, "append.end-event")
    page.keyboard.press("Escape")
    assert page.locator(SHAPES).count() == 3
    assert page.locator(".djs-connection").count() == 2

    # deploy without an assignee: the problem is listed beside the canvas; clicking it selects the task
    designer.expect_refusal("/flow/designer/deploy/")
    page.click("#designer-deploy")
    problems = page.locator("#designer-problem-list li")
    problems.first.wait_for()
    assert "未能发布" in page.locator("#designer-status").inner_text()
    listed = page.locator(f'#designer-problem-list [data-element-id="{task_id}"]')
    assert listed.count() == 1
    _select(page, start_id)
    listed.click()
    assert _selected_id(page) == task_id
    assert ProcessDefinition.objects.count() == 0
    designer.shot("designer-problems")

    # set the assignee in the panel's user assignment group
    _open_group(page, "CamundaPlatform__UserAssignment")
    assignee = page.locator("#bio-properties-panel-assignee")
    assignee.fill("doc_wang")
    assignee.press("Tab")
    designer.shot("designer-assignee")

    page.click("#designer-save")
    page.wait_for_selector("#designer-status.flow-status-ok")
    assert page.locator("#designer-status").inner_text() == "草稿已保存。"
    page.click("#designer-deploy")
    for _ in range(50):  # (wait_for_function with a string is blocked by the CSP: poll instead)
        if "已发布" in page.locator("#designer-status").inner_text():
            break
        page.wait_for_timeout(100)
    assert page.locator("#designer-status").inner_text() == "病假申请 第 1 版已发布。"
    assert page.locator("#designer-problems").is_hidden()
    version = ProcessDefinition.objects.get(key="sick-leave").latest_version
    assert version is not None and version.version == 1
    assert 'camunda:assignee="doc_wang"' in version.bpmn_xml
    assert 'name="科室审批"' in version.bpmn_xml
    designer.shot("designer-deployed")

    # --- the nurse starts it ----------------------------------------------------------------------
    nurse = session()
    nurse.sign_in("nurse_li", password)
    nurse.go("/flow/definitions/")
    nurse.shot("definitions")
    nurse.page.click('tr[data-key="sick-leave"] a:has-text("发起")')
    nurse.page.wait_for_load_state()
    assert nurse.page.locator("h1").inner_text() == "发起 病假申请"
    nurse.page.fill('input[name="title"]', "李护士病假两天")
    nurse.page.locator('input[name="var_name"]').first.fill("days")
    nurse.page.locator('select[name="var_type"]').first.select_option("number")
    nurse.page.locator('input[name="var_value"]').first.fill("两")
    nurse.expect_refusal("/flow/start/sick-leave/")
    nurse.page.click("#start-form button[type=submit]")
    nurse.page.wait_for_load_state()
    # a bad number is named beside its row and nothing started
    assert "两 不是数字。" in nurse.page.locator(".flow-var-error").first.inner_text()
    assert ProcessInstance.objects.count() == 0
    nurse.shot("start-errors")
    nurse.page.locator('input[name="var_value"]').first.fill("2")
    nurse.page.click("#start-form button[type=submit]")
    nurse.page.wait_for_selector("#instance-diagram .flow-viewer.flow-ready")
    instance = ProcessInstance.objects.get()
    assert nurse.page.url.endswith(f"/flow/instances/{instance.pk}/")
    assert nurse.page.locator(f'.djs-element.flow-active[data-element-id="{task_id}"]').count() == 1
    nurse.shot("instance-running")

    # --- the doctor approves it from the to-do inbox -------------------------------------------------
    doctor = session()
    doctor.sign_in("doc_wang", password)
    card = doctor.page.locator(".flow-card-counts")
    assert card.locator('a[href="/flow/tasks/?box=todo"] strong').inner_text() == "1"
    doctor.shot("workbench")
    doctor.go("/flow/tasks/")
    assert doctor.page.locator('#inbox-tabs a[data-box="todo"] .badge').inner_text() == "1"
    doctor.shot("inbox")
    doctor.page.click('#inbox-table a:has-text("科室审批")')
    doctor.page.wait_for_selector("#instance-diagram .flow-viewer.flow-ready")
    assert "李护士病假两天" in doctor.page.locator("#task-header").inner_text()
    assert "days" in doctor.page.locator("#instance-variables").inner_text()
    doctor.shot("task")
    # the person picker of "transfer" suggests matching staff as one types (htmx, no inline script)
    doctor.page.click("#more-transfer > summary")
    doctor.page.fill("#transfer-person", "赵")
    doctor.page.locator('#transfer-people option[value="doc_zhao"]').wait_for(state="attached")
    assert doctor.page.locator("#transfer-people option").count() == 1
    doctor.page.click("#more-transfer > summary")
    doctor.page.fill("#decide-comment", "同意，注意休息")
    doctor.page.click("#action-approve")
    doctor.page.wait_for_load_state()
    assert "已通过：科室审批。" in doctor.page.locator(".messages").inner_text()
    assert doctor.page.locator('#inbox-tabs a[data-box="todo"] .badge').inner_text() == "0"
    task = HumanTask.objects.get()
    assert (task.status, task.outcome, task.comment) == ("completed", "approved", "同意，注意休息")

    # --- the instance is completed, its diagram coloured ----------------------------------------------
    nurse.go(f"/flow/instances/{instance.pk}/")
    nurse.page.wait_for_selector("#instance-diagram .flow-viewer.flow-ready")
    assert nurse.page.locator('#instance-status [data-status="completed"]').count() == 1
    assert nurse.page.locator(f'.djs-element.flow-done[data-element-id="{task_id}"]').count() == 1
    assert nurse.page.locator(".djs-element.flow-active").count() == 0
    # the start event, the end event reached and both flows of the path are coloured too
    assert nurse.page.locator(f'.djs-element.flow-done[data-element-id="{start_id}"]').count() == 1
    assert nurse.page.locator(".djs-shape.flow-done").count() == 3
    assert nurse.page.locator(".djs-connection.flow-taken").count() == 2
    stroke = nurse.page.locator(".djs-connection.flow-taken .djs-visual > path").first.evaluate(
        "el => getComputedStyle(el).stroke"
    )
    assert stroke == "rgb(30, 123, 58)"
    history = nurse.page.locator("#instance-history").inner_text()
    assert "同意，注意休息" in history and "王医生" in history
    nurse.shot("instance-completed")


def test_inbox_on_a_phone(session: Callable[..., Session], people: SimpleNamespace, password: str) -> None:
    # given a deployed process with a task waiting for the doctor
    from medoa.engines.flow import services

    xml = (BPMN / "view_two_step.bpmn").read_text(encoding="utf-8")
    services.definition_deploy(actor=people.designer.user, xml=xml)
    services.instance_start(
        actor=people.nurse.user,
        definition_key="view_two_step",
        variables={"approver": "doc_wang", "second": "doc_zhao"},
        title="手机上的申请",
    )
    phone = session(width=390, height=844)
    phone.sign_in("doc_wang", password)

    # when the inbox opens on a 390 px screen
    phone.go("/flow/tasks/")

    # then the rows are cards that fit the screen, and the task opens with its actions
    row = phone.page.locator("#inbox-table tbody tr").first.bounding_box()
    assert row is not None and row["x"] >= 0 and row["x"] + row["width"] <= 390
    assert phone.page.locator("#inbox-table thead").is_hidden()
    phone.shot("inbox-phone")
    phone.page.click('#inbox-table a:has-text("初审")')
    phone.page.wait_for_selector("#instance-diagram .flow-viewer.flow-ready")
    assert phone.page.locator("#action-approve").is_visible()
    phone.shot("task-phone")


def test_upload_without_a_diagram_is_laid_out_then_downloaded_and_deployed(
    session: Callable[..., Session], people: SimpleNamespace, password: str, tmp_path: Path
) -> None:
    # given a designer on a new draft and a Camunda-style file without diagram interchange
    designer = session()
    designer.sign_in("it_zhou", password)
    designer.go("/flow/designer/new/")
    page = designer.page
    page.fill('input[name="key"]', "uploaded")
    page.fill('input[name="name"]', "上传的流程")
    page.click("#designer-new-form button[type=submit]")
    page.wait_for_selector("#designer.flow-ready")
    upload = tmp_path / "uploaded.bpmn"
    upload.write_text((BPMN / "view_no_di.bpmn").read_text(encoding="utf-8"), encoding="utf-8")
    too_big = tmp_path / "big.bpmn"
    too_big.write_bytes(b"<x/>" + b" " * (5 * 1024 * 1024))
    wrong = tmp_path / "notes.txt"
    wrong.write_text("hello", encoding="utf-8")

    # when the wrong files are chosen, they are refused in the browser
    page.set_input_files("#designer-upload", str(wrong))
    assert page.locator("#designer-status").inner_text() == "请选择 .bpmn 或 .xml 文件。"
    page.set_input_files("#designer-upload", str(too_big))
    assert page.locator("#designer-status").inner_text() == "文件超过 5 MB。"

    # when the file is uploaded, the browser lays it out
    page.set_input_files("#designer-upload", str(upload))
    page.wait_for_selector('.djs-element[data-element-id="check"]')
    assert page.locator("#designer-status").inner_text() == "文件中没有图形布局，已自动排版。"
    assert page.locator(SHAPES).count() == 3
    designer.shot("designer-uploaded")

    # then the download holds the diagram and the Camunda attributes
    with page.expect_download() as info:
        page.click("#designer-download")
    downloaded = Path(info.value.path()).read_text(encoding="utf-8")
    assert info.value.suggested_filename == "uploaded.bpmn"
    assert "BPMNShape" in downloaded and 'camunda:candidateGroups="dept_head"' in downloaded

    # and it deploys as version 1 with the laid-out diagram
    page.click("#designer-deploy")
    for _ in range(50):
        if "已发布" in page.locator("#designer-status").inner_text():
            break
        page.wait_for_timeout(100)
    assert page.locator("#designer-status").inner_text() == "上传的流程 第 1 版已发布。"
    version = ProcessDefinition.objects.get(key="uploaded").latest_version
    assert version is not None and "BPMNShape" in version.bpmn_xml


def test_instance_administration(
    session: Callable[..., Session], people: SimpleNamespace, password: str
) -> None:
    # given a running instance with an open incident
    from medoa.engines.flow import services

    xml = (BPMN / "view_two_step.bpmn").read_text(encoding="utf-8")
    services.definition_deploy(actor=people.designer.user, xml=xml)
    instance = services.instance_start(
        actor=people.nurse.user,
        definition_key="view_two_step",
        variables={"approver": "doc_wang", "second": "doc_zhao"},
        title="需要管理员处理",
    )
    incident = Incident.objects.create(instance=instance, step_id="first", message="外部系统无响应")
    ProcessInstance.objects.filter(pk=instance.pk).update(has_incident=True)

    # when the administrator signs in with the second factor and opens the list of instances with incidents
    admin = session()
    admin.sign_in("admin_sun", password)
    admin.page.wait_for_url(f"{admin.url}/accounts/login/verify/")
    admin.page.fill('input[name="otp"]', pyotp.TOTP(TOTP_SECRET).now())
    admin.page.click('button[type="submit"]')
    admin.page.wait_for_load_state()
    admin.go("/flow/admin/instances/?incident=yes")
    row = admin.page.locator(f'#admin-table tr[data-instance="{instance.pk}"]')
    assert "外部系统无响应" in row.inner_text()
    admin.shot("admin")

    # then retry resolves the incident, and suspend and resume work from the row
    row.locator(f'[data-retry="{incident.pk}"]').click()
    admin.page.wait_for_load_state()
    assert "正在重试该步骤。" in admin.page.locator(".messages").inner_text()
    incident.refresh_from_db()
    assert incident.status == "resolved"
    admin.go("/flow/admin/instances/")
    admin.page.locator(f'#admin-table tr[data-instance="{instance.pk}"] button[value="suspend"]').click()
    admin.page.wait_for_load_state()
    assert f"实例 {instance.pk} 已挂起。" in admin.page.locator(".messages").inner_text()
    admin.page.locator(f'#admin-table tr[data-instance="{instance.pk}"] button[value="resume"]').click()
    admin.page.wait_for_load_state()
    instance.refresh_from_db()
    assert instance.status == "running"
