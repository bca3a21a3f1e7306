"""The form engine through Debian's chromium, under the real CSP: a designer builds a form in the
form-js editor (a text field and a number field dragged from the palette, key, label and required
set in the properties panel) and publishes it; a nurse submits it empty (the required error shows
beside the field), fills it in and finds the record in the list. A second form shows the server's
own errors beside their field (a staff member chosen in the picker who left before the submit).
Every outside schema (../shared/data/forms) opens in the designer and its preview.

Screenshots go to test-artifacts/forms-*.png. Any console error or page error (a CSP violation is
one) fails the test."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.access.tests.browser import BrowserSession, sessions
from medoa.core.org.choices import StaffStatus
from medoa.engines.forms import services
from medoa.engines.forms.models import FormRecord, FormVersion

from .factories import grants, hospital, people, person  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Session(BrowserSession):
    prefix = "forms"
    width = 1400
    height = 900


@pytest.fixture
def session(browser: Any, live_server: Any) -> Iterator[Callable[..., Session]]:
    yield from sessions(Session, browser, live_server)


def _drag(page: Any, field_type: str, target: Any, *, dy: float) -> None:
    """Drag a palette entry onto ``target`` (dy pixels below its top), as a person would."""
    source = page.locator(f'.fjs-palette-field[data-field-type="{field_type}"]')
    source.hover()
    page.mouse.down()
    box = target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + dy, steps=12)
    page.mouse.move(box["x"] + box["width"] / 2 + 4, box["y"] + dy + 4, steps=4)
    page.mouse.up()


def _open_group(page: Any, group: str) -> None:
    header = page.locator(f'[data-group-id="group-{group}"] .bio-properties-panel-group-header')
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def _set_text(page: Any, entry: str, value: str) -> None:
    box = page.locator(f"#bio-properties-panel-{entry}")
    box.fill(value)
    box.press("Tab")


def _canvas_label(page: Any, field_type: str, text: str) -> None:
    """The label typed into the properties panel reached the form (the panel applies it debounced)."""
    page.locator(f".fjs-editor-container .fjs-form-field-{field_type} label", has_text=text).wait_for()


def test_build_publish_fill_and_list(
    session: Callable[..., Session], people: SimpleNamespace, password: str
) -> None:
    # --- the designer builds the form -----------------------------------------------------------
    designer = session()
    designer.sign_in("it_zhou", password)
    designer.go("/forms/new/")
    page = designer.page
    page.fill('input[name="key"]', "visit_log")
    page.fill('input[name="name"]', "探视登记")
    page.click("#form-new-form button[type=submit]")
    page.wait_for_selector("#designer.forms-ready")
    assert page.locator(".fjs-palette-field-text").first.inner_text() == "单行文本"
    assert "人员选择" in page.locator(".fjs-palette-entries").inner_text()
    assert "手写签名" in page.locator(".fjs-palette-entries").inner_text()

    canvas = page.locator(".fjs-editor-form-root")
    _drag(page, "textfield", canvas, dy=30)
    page.wait_for_selector(".fjs-editor-container .fjs-form-field-textfield")
    _open_group(page, "general")
    _set_text(page, "label", "访客姓名")
    _canvas_label(page, "textfield", "访客姓名")
    _set_text(page, "key", "visitor")
    _open_group(page, "validation")
    page.locator("#bio-properties-panel-required").check()

    _drag(page, "number", page.locator(".fjs-editor-container .fjs-form-field-textfield"), dy=70)
    page.wait_for_selector(".fjs-editor-container .fjs-form-field-number")
    _open_group(page, "general")
    _set_text(page, "label", "人数")
    _canvas_label(page, "number", "人数")
    _set_text(page, "key", "visitors")
    designer.shot("designer")

    page.click("#designer-publish")
    designer.wait_text("#designer-status", "已发布")
    assert page.locator("#designer-problems").is_hidden()
    version = FormVersion.objects.get(definition__key="visit_log")
    components = [
        (c["type"], c.get("key"), c.get("label"), c.get("validate", {}).get("required", False))
        for c in version.schema["components"]
    ]
    assert components == [("textfield", "visitor", "访客姓名", True), ("number", "visitors", "人数", False)]

    # --- a nurse fills it in --------------------------------------------------------------------
    nurse = session()
    nurse.sign_in("nurse_li", password)
    nurse.go("/forms/visit_log/fill/")
    page = nurse.page
    page.wait_for_selector("#fill.forms-ready")
    page.click("#fill-submit")
    error = page.locator(".fjs-form-field-textfield .fjs-form-field-error")
    error.wait_for()
    assert error.inner_text() == "此项必填。"
    assert page.locator(".fjs-form-field-number .fjs-form-field-error").count() == 0
    assert FormRecord.objects.count() == 0
    nurse.shot("fill-required")

    page.locator(".fjs-form-field-textfield input").fill("张三")
    page.locator(".fjs-form-field-number input").fill("2")
    page.click("#fill-submit")
    page.wait_for_url("**/forms/records/*/")
    record = FormRecord.objects.get()
    assert (record.submitter, record.values) == (people.nurse, {"visitor": "张三", "visitors": 2})
    page.wait_for_selector("#fill.forms-ready")
    assert page.locator(".fjs-form-field-textfield input").input_value() == "张三"
    nurse.shot("record")

    nurse.go("/forms/visit_log/records/")
    rows = page.locator("#record-table tbody tr[data-record]")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-record") == str(record.pk)
    assert "李护士" in rows.first.inner_text()


def test_the_servers_errors_show_beside_their_field(
    session: Callable[..., Session], people: SimpleNamespace, password: str
) -> None:
    services.form_schema_publish(
        actor=people.it.user,
        schema={
            "type": "default",
            "id": "handover",
            "components": [
                {"type": "textfield", "key": "note", "label": "交接内容"},
                {"type": "medoa-staff", "key": "to", "label": "交接给", "validate": {"required": True}},
            ],
        },
        name="交班",
    )
    nurse = session()
    nurse.sign_in("nurse_li", password)
    nurse.go("/forms/handover/fill/")
    page = nurse.page
    page.wait_for_selector("#fill.forms-ready")
    page.locator(".fjs-form-field-textfield input").fill("3 床术后")
    page.locator(".medoa-picker-input").fill("何")
    page.click('.medoa-option:has-text("何护士")')
    assert page.locator(".medoa-chip").inner_text() == "何护士"

    # 何护士 leaves before the submit: only the server knows
    people.nurse2.status = StaffStatus.LEFT
    people.nurse2.save(update_fields=["status"])
    nurse.expect_refusal("/forms/handover/fill/")
    page.click("#fill-submit")
    error = page.locator(".fjs-form-field-medoa-staff .fjs-form-field-error")
    error.wait_for()
    assert error.inner_text() == f"人员 {people.nurse2.pk} 不存在或已停用。"
    assert page.locator(".fjs-form-field-textfield .fjs-form-field-error").count() == 0
    assert "forms-status-error" in (page.locator("#fill-status").get_attribute("class") or "")
    assert FormRecord.objects.count() == 0
    nurse.shot("fill-server-error")


def test_every_outside_schema_opens_in_the_designer_and_its_preview(
    session: Callable[..., Session], people: SimpleNamespace, password: str, shared_data: Path
) -> None:
    services.form_create(actor=people.it.user, key="outside", name="外来表单", schema={"components": []})
    files = sorted(p for p in (shared_data / "forms").iterdir() if p.suffix in (".json", ".form"))
    assert files
    designer = session()
    designer.sign_in("it_zhou", password)
    designer.go("/forms/outside/design/")
    page = designer.page
    page.wait_for_selector("#designer.forms-ready")
    page.click("#designer-preview")
    for path in files:
        page.set_input_files("#designer-upload", str(path))
        designer.wait_text("#designer-status", "文件已载入")
        assert page.locator("#designer-problems").is_hidden(), path.name
        components = json.loads(path.read_text(encoding="utf-8"))["components"]
        assert page.locator(".fjs-editor-container .fjs-form-field").count() >= len(components) > 0, path.name
        page.locator("#designer-preview-form .fjs-form-field").first.wait_for()
        designer.shot(f"outside-{path.stem[:40]}")
