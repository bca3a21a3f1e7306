"""The rule pages: list, editor (save with versions; a condition's syntax error beside the field
with its position; the action type's parameters after "apply"), dry-run panel, version history,
execution log with filters; who may see and who may change; no inline script or style."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from medoa.core.events import publish
from medoa.core.org.models import Staff
from medoa.engines.rules import engine, services
from medoa.engines.rules.models import Rule, RuleVersion

from .conftest import PING

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_types")]

FORM = {
    "name": "ping 规则",
    "trigger_kind": "event",
    "event_type": PING.name,
    "condition": "payload.n > 1",
    "priority": "10",
    "enabled": "on",
    "action_count": "1",
    "a-0-type": "rules.notify",
    "a-0-p-users": "it_zhang",
    "a-0-p-title": "ping {n}",
    "a-0-p-kind": "info",
}


def login(client: Client, staff: Staff) -> Client:
    client.force_login(staff.user)
    return client


@pytest.fixture
def it(designer: Staff) -> Client:
    return login(Client(), designer)


def _no_inline(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert ' style="' not in html
    assert not re.search(r"\son[a-z]+=\"", html)


def test_create_from_the_editor_then_update(it: Client) -> None:
    page = it.get("/rules/new/")
    assert page.status_code == 200
    _no_inline(page.content.decode())
    response = it.post("/rules/new/", FORM)
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert (rule.name, rule.priority, rule.enabled, rule.actions) == (
        "ping 规则",
        10,
        True,
        [
            {
                "type": "rules.notify",
                "params": {
                    "users": ["it_zhang"],
                    "roles": [],
                    "payload_fields": [],
                    "template": "",
                    "title": "ping {n}",
                    "body": "",
                    "link": "",
                    "kind": "info",
                    "urgent": False,
                },
            }
        ],
    )
    editor = it.get(f"/rules/{rule.pk}/").content.decode()
    assert 'value="ping {n}"' in editor
    _no_inline(editor)
    assert it.post(f"/rules/{rule.pk}/", {**FORM, "priority": "3", "action_count": "2"}).status_code == 302
    assert list(
        RuleVersion.objects.filter(rule=rule).order_by("version").values_list("version", flat=True)
    ) == [1, 2]
    history = it.get(f"/rules/{rule.pk}/versions/").content.decode()
    assert 'data-version="2"' in history and 'data-version="1"' in history


def test_condition_error_is_shown_beside_the_field_with_its_position(it: Client) -> None:
    response = it.post("/rules/new/", {**FORM, "condition": "payload.n >"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="condition-error"' in html
    assert "第 1 行第 12 列" in html
    assert "payload.n &gt;" in html  # what was typed is kept
    assert Rule.objects.count() == 0


def test_param_error_is_shown_beside_the_param(it: Client) -> None:
    response = it.post("/rules/new/", {**FORM, "a-0-p-title": "{a.b}"})
    assert response.status_code == 422
    assert 'data-field="actions.0.params.title"' in response.content.decode()


def test_apply_shows_the_chosen_action_types_parameters(it: Client) -> None:
    response = it.post(
        "/rules/new/", {**FORM, "action_count": "2", "a-1-type": "rules.webhook", "_refresh": "1"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="a-1-p-url"' in html and 'name="a-1-p-timeout_seconds"' in html
    assert "超时（秒）" in html and "http(s) 网址" in html  # the parameters' labels in Chinese
    assert Rule.objects.count() == 0


def test_dry_run_panel(it: Client, designer: Staff) -> None:
    rule = services.rule_create(
        actor=designer.user,
        data={
            "name": "p",
            "event_type": PING.name,
            "condition": "payload.n > 1 and payload.who == 'x'",
            "actions": [{"type": "testrules.record", "params": {}}],
            "enabled": True,
        },
    )
    html = it.post(f"/rules/{rule.pk}/dry-run/", {"payload": '{"n": 2, "who": "y"}'}).content.decode()
    assert 'id="dry-result"' in html
    assert "条件不成立" in html
    _no_inline(html)
    bad = it.post(f"/rules/{rule.pk}/dry-run/", {"payload": "{oops"})
    assert bad.status_code == 422
    assert 'id="dry-error"' in bad.content.decode()


def test_execution_log_filters(it: Client, designer: Staff) -> None:
    rule = services.rule_create(
        actor=designer.user,
        data={
            "name": "p",
            "event_type": PING.name,
            "condition": "payload.n > 1",
            "actions": [{"type": "testrules.record", "params": {}}],
            "enabled": True,
        },
    )
    engine.evaluate_event(publish(PING.name, {"n": 2}))
    second = publish(PING.name, {"n": 0})
    engine.evaluate_event(second)
    html = it.get("/rules/executions/").content.decode()
    assert html.count("data-execution=") == 2
    done = it.get("/rules/executions/?status=done").content.decode()
    assert done.count("data-execution=") == 1 and 'data-status="done"' in done
    missed = it.get(f"/rules/executions/?rule={rule.pk}&status=not_matched").content.decode()
    assert missed.count("data-execution=") == 1
    row = f'data-execution="" data-rule="{rule.pk}" data-event="{second.pk}" data-status="not_matched"'
    assert row in missed
    _no_inline(html)


def test_who_may_see_and_change(person: Callable[..., Staff], designer: Staff) -> None:
    rule = services.rule_create(
        actor=designer.user,
        data={"name": "p", "event_type": PING.name, "actions": [{"type": "testrules.record", "params": {}}]},
    )
    nurse = login(Client(), person("nurse", username="nurse_li"))
    office = login(Client(), person("medical_affairs", username="yw_chen"))
    assert Client().get("/rules/").status_code == 302  # to the login page
    for path in ("/rules/", f"/rules/{rule.pk}/", "/rules/executions/", f"/rules/{rule.pk}/versions/"):
        assert nurse.get(path).status_code == 403
        assert office.get(path).status_code == 200
    assert office.post(f"/rules/{rule.pk}/", {**FORM}).status_code == 403
    assert office.post(f"/rules/{rule.pk}/dry-run/", {"payload": "{}"}).status_code == 403
    rule.refresh_from_db()
    assert (rule.version, rule.name) == (1, "p")
    listing: Any = office.get("/rules/").content.decode()
    assert f'data-rule="{rule.pk}"' in listing and "新建规则" not in listing
