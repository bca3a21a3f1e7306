"""/api/v1/rules: the permission matrix (anonymous 401, a nurse 403 with nothing written, 医务处 may
read but not write, IT may design), create/get/put with versions, 422 naming the field (a
condition's position), dry run, the execution log and its filters, the action types."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.tokens import api_token_issue
from medoa.core.events import publish
from medoa.core.org.models import Staff
from medoa.engines.rules import engine
from medoa.engines.rules.models import Rule, RuleEvaluation, RuleExecution, RuleVersion

from .conftest import PING

API = "/api/v1/rules"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_types")]

RULE = {
    "name": "ping",
    "event_type": PING.name,
    "condition": "payload.n > 1",
    "actions": [{"type": "testrules.record", "params": {}}],
    "enabled": True,
}


@pytest.fixture
def client_for() -> Callable[[Staff], Client]:
    def make(staff: Staff) -> Client:
        raw, _token = api_token_issue(user=staff.user)
        return Client(headers={"Authorization": f"Bearer {raw}"})

    return make


@pytest.fixture
def it(designer: Staff, client_for: Callable[[Staff], Client]) -> Client:
    return client_for(designer)


def _post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def _put(client: Client, path: str, body: Any) -> Any:
    return client.put(path, data=json.dumps(body), content_type="application/json")


def test_permission_matrix(
    it: Client, person: Callable[..., Staff], client_for: Callable[[Staff], Client]
) -> None:
    nurse = client_for(person("nurse", username="nurse_li"))
    office = client_for(person("medical_affairs", username="yw_chen"))
    anonymous = Client()
    assert _post(anonymous, API, RULE).status_code == 401
    assert _post(nurse, API, RULE).status_code == 403
    assert _post(office, API, RULE).status_code == 403
    assert Rule.objects.count() == 0
    created = _post(it, API, RULE)
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    assert anonymous.get(API).status_code == 401
    assert nurse.get(API).status_code == 403
    assert nurse.get(f"{API}/{rule_id}").status_code == 403
    assert nurse.get(f"{API}/executions").status_code == 403
    assert [r["id"] for r in office.get(API).json()] == [rule_id]
    assert office.get(f"{API}/{rule_id}").status_code == 200
    assert _put(office, f"{API}/{rule_id}", {**RULE, "priority": 1}).status_code == 403
    assert _post(office, f"{API}/{rule_id}/dry-run", {"payload": {"n": 2}}).status_code == 403
    assert _post(nurse, f"{API}/{rule_id}/dry-run", {"payload": {"n": 2}}).status_code == 403
    assert Rule.objects.get().version == 1


def test_create_get_update_with_versions(it: Client) -> None:
    body = _post(it, API, RULE).json()
    assert {
        k: body[k]
        for k in ("name", "trigger_kind", "event_type", "condition", "priority", "enabled", "version")
    } == {
        "name": "ping",
        "trigger_kind": "event",
        "event_type": PING.name,
        "condition": "payload.n > 1",
        "priority": 100,
        "enabled": True,
        "version": 1,
    }
    updated = _put(it, f"{API}/{body['id']}", {**RULE, "priority": 7, "enabled": False})
    assert updated.status_code == 200, updated.json()
    assert (updated.json()["version"], updated.json()["priority"]) == (2, 7)
    detail = it.get(f"{API}/{body['id']}").json()
    assert [(v["version"], v["data"]["priority"], v["saved_by"]) for v in detail["versions"]] == [
        (2, 7, "it_zhang"),
        (1, 100, "it_zhang"),
    ]
    assert it.get(f"{API}/999999").status_code == 404
    assert _put(it, f"{API}/999999", RULE).status_code == 404


def test_refusals_name_the_field_and_write_nothing(it: Client) -> None:
    response = _post(it, API, {**RULE, "condition": "payload.n >"})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["line"], error["column"], error["position"]) == ("condition", 1, 12, 11)
    assert error["message_en"] == "Line 1, column 12: invalid syntax"
    response = _post(
        it, API, {**RULE, "actions": [{"type": "rules.notify", "params": {"roles": ["hr"], "title": 5}}]}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["actions.0.params.title"]
    response = _post(it, API, {**RULE, "colour": "red"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["colour"]
    assert it.post(API, data="{not json", content_type="application/json").status_code == 400
    assert (Rule.objects.count(), RuleVersion.objects.count()) == (0, 0)


def test_dry_run_and_execution_log(it: Client) -> None:
    rule_id = _post(it, API, RULE).json()["id"]
    result = _post(it, f"{API}/{rule_id}/dry-run", {"payload": {"n": 2}}).json()
    assert (result["matched"], result["condition"]["value"], result["actions"][0]["would_run"]) == (
        True,
        True,
        True,
    )
    bad = _post(it, f"{API}/{rule_id}/dry-run", {"payload": {"n": "x"}})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["payload.n"]
    assert _post(it, f"{API}/{rule_id}/dry-run", {}).status_code == 422
    assert _post(it, f"{API}/{rule_id}/dry-run", {"event_id": 987654}).status_code == 422
    assert RuleExecution.objects.count() == RuleEvaluation.objects.count() == 0

    first = publish(PING.name, {"n": 2})
    second = publish(PING.name, {"n": 0})
    engine.evaluate_event(first)
    engine.evaluate_event(second)
    rows = it.get(f"{API}/executions").json()
    summary = RuleEvaluation.objects.get(event=second)
    done = RuleExecution.objects.get(event=first)
    assert [(r["event"], r["status"], r["rule"], r["id"], r["evaluation"], r["matched"]) for r in rows] == [
        (second.pk, "not_matched", rule_id, None, summary.pk, False),
        (first.pk, "done", rule_id, done.pk, None, True),
    ]
    assert (rows[0]["rule_name"], rows[0]["rule_version"], rows[0]["duration_ms"]) == ("ping", 1, None)
    assert [r["event"] for r in it.get(f"{API}/executions?rule={rule_id}&event={second.pk}").json()] == [
        second.pk
    ]
    assert it.get(f"{API}/executions?rule={rule_id}&page=2").json() == []
    assert it.get(f"{API}/executions?page=0").status_code == 422
    assert [r["event"] for r in it.get(f"{API}/executions?status=done").json()] == [first.pk]
    assert [r["event"] for r in it.get(f"{API}/executions?event={second.pk}").json()] == [second.pk]
    assert it.get(f"{API}/executions?rule=999").json() == []


def test_action_types_list_their_parameters(it: Client) -> None:
    types = {a["type"]: a for a in it.get(f"{API}/actions").json()}
    assert {"rules.notify", "rules.supervise", "rules.decide", "rules.webhook", "flow.start"} <= set(types)
    assert "template" in types["rules.notify"]["params_schema"]["properties"]
