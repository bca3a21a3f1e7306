"""/api/v1/decisions: deploy (raw XML and JSON; a DRD answers a list), list, get, evaluate; the
permission matrix (anonymous 401, no role 403/empty, a nurse may evaluate but not deploy, IT may
deploy); refusals with every problem and nothing written; audit entries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.policy import has_perm
from medoa.core.access.tokens import api_token_issue
from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Staff
from medoa.engines.rules import services
from medoa.engines.rules.models import DecisionDefinition, DecisionVersion

API = "/api/v1/decisions"
NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"

TRIAGE = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{NS}" id="triage_defs" name="Triage" namespace="urn:medoa">
  <decision id="triage_level" name="分诊级别">
    <decisionTable id="t" hitPolicy="FIRST">
      <input id="i1" label="Heart rate">
        <inputExpression id="e1" typeRef="number"><text>heart_rate</text></inputExpression></input>
      <input id="i2" label="SpO2">
        <inputExpression id="e2" typeRef="number"><text>spo2</text></inputExpression></input>
      <output id="o1" name="level" typeRef="number"/>
      <output id="o2" name="area" typeRef="string"/>
      <rule id="r1"><inputEntry><text>&gt; 150</text></inputEntry><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>1</text></outputEntry><outputEntry><text>"抢救室"</text></outputEntry></rule>
      <rule id="r2"><inputEntry><text>-</text></inputEntry><inputEntry><text>&lt; 90</text></inputEntry>
        <outputEntry><text>2</text></outputEntry><outputEntry><text>"抢救室"</text></outputEntry></rule>
      <rule id="r3"><inputEntry><text>[100..150]</text></inputEntry><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>3</text></outputEntry><outputEntry><text>"急诊诊室"</text></outputEntry></rule>
      <rule id="r4"><inputEntry><text>-</text></inputEntry><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>4</text></outputEntry><outputEntry><text>"候诊区"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


def _dinner(shared_data: Path) -> bytes:
    return (shared_data / "dmn" / "dinner-drg__camunda-examples__dinnerDecisions.dmn").read_bytes()


def _counts() -> tuple[int, int, int]:
    return (
        DecisionDefinition.objects.count(),
        DecisionVersion.objects.count(),
        AuditEntry.objects.filter(action="rules.decision.deployed").count(),
    )


@pytest.fixture
def client_for() -> Callable[[Staff], Client]:
    def make(staff: Staff) -> Client:
        raw, _token = api_token_issue(user=staff.user)
        return Client(headers={"Authorization": f"Bearer {raw}"})

    return make


@pytest.fixture
def it(person: Callable[..., Staff], client_for: Callable[[Staff], Client]) -> Client:
    return client_for(person("it", username="it_zhang"))


@pytest.fixture
def nurse(person: Callable[..., Staff], client_for: Callable[[Staff], Client]) -> Client:
    return client_for(person("nurse", username="nurse_li"))


def _deploy_xml(client: Client, xml: str | bytes) -> Any:
    return client.post(API, data=xml, content_type="application/xml")


def _evaluate(client: Client, key: str, body: Any) -> Any:
    return client.post(f"{API}/{key}/evaluate", data=json.dumps(body), content_type="application/json")


def test_deploy_raw_xml_then_evaluate(it: Client, nurse: Client) -> None:
    response = _deploy_xml(it, TRIAGE)
    assert response.status_code == 201, response.json()
    deployed = response.json()
    assert {k: deployed[k] for k in ("key", "version", "name", "hit_policy", "requires")} == {
        "key": "triage_level",
        "version": 1,
        "name": "分诊级别",
        "hit_policy": "FIRST",
        "requires": [],
    }
    response = _evaluate(nurse, "triage_level", {"inputs": {"heart_rate": 120, "spo2": 88}})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["outputs"] == {"level": 2, "area": "抢救室"}
    assert body["version"] == 1
    assert body["hit_policy"] == "FIRST"
    assert body["selected_rules"] == [2]
    assert [m["id"] for m in body["matched_rules"]] == ["r2"]  # FIRST stops at the first match
    assert body["inputs"] == {"Heart rate": 120, "SpO2": 88}


def test_deploy_json_body_and_versions(it: Client) -> None:
    first = it.post(API, data=json.dumps({"xml": TRIAGE}), content_type="application/json")
    assert first.status_code == 201, first.json()
    second = it.post(
        API, data=json.dumps({"xml": TRIAGE.replace('"候诊区"', '"门诊"')}), content_type="application/json"
    )
    assert second.json()["version"] == 2
    assert _evaluate(it, "triage_level", {"inputs": {"heart_rate": 60, "spo2": 99}}).json()["outputs"] == {
        "level": 4,
        "area": "门诊",
    }
    old = _evaluate(it, "triage_level", {"inputs": {"heart_rate": 60, "spo2": 99}, "version": 1}).json()
    assert old["outputs"] == {"level": 4, "area": "候诊区"}
    detail = it.get(f"{API}/triage_level").json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["inputs"] == [
        {"id": "i1", "label": "Heart rate", "expression": "heart_rate", "type_ref": "number", "name": None},
        {"id": "i2", "label": "SpO2", "expression": "spo2", "type_ref": "number", "name": None},
    ]
    assert [o["name"] for o in detail["outputs"]] == ["level", "area"]
    missing = _evaluate(it, "triage_level", {"inputs": {}, "version": 9})
    assert missing.status_code == 404


def test_drd_deploys_every_decision_and_evaluates_what_it_requires(it: Client, shared_data: Path) -> None:
    before = _counts()
    response = _deploy_xml(it, _dinner(shared_data))
    assert response.status_code == 201, response.json()
    assert [(d["key"], d["version"], d["requires"]) for d in response.json()] == [
        ("beverages", 1, ["dish"]),
        ("dish", 1, []),
    ]
    assert _counts() == (before[0] + 2, before[1] + 2, before[2] + 2)
    body = _evaluate(
        it, "beverages", {"inputs": {"season": "Winter", "guestCount": 7, "guestsWithChildren": True}}
    ).json()
    assert body["outputs"] == [
        {"beverages": "Bordeaux"},
        {"beverages": "Apple Juice"},
        {"beverages": "Water"},
    ]
    assert body["required"]["dish"]["outputs"] == {"desiredDish": "Roastbeef"}
    assert [d["key"] for d in it.get(API).json()] == ["beverages", "dish"]


def test_refused_file_lists_problems_and_writes_nothing(it: Client) -> None:
    before = _counts()
    bad = TRIAGE.replace('hitPolicy="FIRST"', 'hitPolicy="SOMETIMES"').replace("&gt; 150", "&gt; &gt; 150")
    response = _deploy_xml(it, bad)
    assert response.status_code == 400
    body = response.json()
    assert body["detail_en"] == "The DMN file cannot be deployed; nothing was changed."
    assert [(p["element_type"], p["element_id"], p["line"]) for p in body["problems"]] == [
        ("decisionTable", "t", 4),
        ("inputEntry", "", 11),
    ]
    assert body["problems"][0]["message_en"].startswith("the hit policy “SOMETIMES” is not one of")
    assert body["problems"][0]["message"] != body["problems"][0]["message_en"]  # Chinese first
    assert _counts() == before


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("<definitions", "application/xml", 400),
        ("not xml", "text/plain", 415),
        ("{", "application/json", 400),
        (json.dumps({"xml": TRIAGE, "key": "x"}), "application/json", 422),
        (json.dumps({}), "application/json", 422),
    ],
)
def test_bad_deploy_requests(it: Client, data: str, content_type: str, status: int) -> None:
    before = _counts()
    response = it.post(API, data=data, content_type=content_type)
    assert response.status_code == status, response.json()
    assert _counts() == before


def test_evaluation_without_answer_is_422_naming_the_rules(it: Client) -> None:
    _deploy_xml(it, TRIAGE.replace('hitPolicy="FIRST"', 'hitPolicy="UNIQUE"'))
    response = _evaluate(it, "triage_level", {"inputs": {"heart_rate": 160, "spo2": 80}})
    assert response.status_code == 422
    body = response.json()
    assert body["decision"] == "triage_level"
    assert body["rule_ids"] == ["r1", "r2", "r4"]
    assert body["errors"][0]["message_en"] == (
        "the hit policy UNIQUE allows one matching rule, but rules 1, 2, 4 matched"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": [1, 2]}, "inputs"),
        ({"inputs": {}, "extra": 1}, "extra"),
        ({"inputs": {}, "version": 0}, "version"),
    ],
)
def test_bad_evaluate_requests(it: Client, body: Any, field: str) -> None:
    _deploy_xml(it, TRIAGE)
    response = _evaluate(it, "triage_level", body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_permission_matrix(
    it: Client,
    nurse: Client,
    person: Callable[..., Staff],
    client_for: Callable[[Staff], Client],
    user_factory: Any,
) -> None:
    # evaluating is granted to every staff member ("*"); an account that is no staff member (a
    # bare service user) holds nothing; deploying needs rules.decision.design (IT, sys_admin)
    staff_without_roles = client_for(person(username="no_roles"))
    raw, _token = api_token_issue(user=user_factory(username="svc_account"))
    not_staff = Client(headers={"Authorization": f"Bearer {raw}"})
    anonymous = Client()
    before = _counts()
    assert anonymous.post(API, data=TRIAGE, content_type="application/xml").status_code == 401
    assert nurse.post(API, data=TRIAGE, content_type="application/xml").status_code == 403
    assert staff_without_roles.post(API, data=TRIAGE, content_type="application/xml").status_code == 403
    assert not_staff.post(API, data=TRIAGE, content_type="application/xml").status_code == 403
    assert _counts() == before
    assert _deploy_xml(it, TRIAGE).status_code == 201
    inputs = {"inputs": {"heart_rate": 60, "spo2": 99}}
    assert _evaluate(anonymous, "triage_level", inputs).status_code == 401
    assert _evaluate(not_staff, "triage_level", inputs).status_code == 403
    assert _evaluate(staff_without_roles, "triage_level", inputs).status_code == 200
    assert _evaluate(nurse, "triage_level", inputs).status_code == 200
    assert anonymous.get(API).status_code == 401
    assert not_staff.get(API).json() == []
    assert not_staff.get(f"{API}/triage_level").status_code == 404
    assert [d["key"] for d in nurse.get(API).json()] == ["triage_level"]
    assert nurse.get(f"{API}/no_such").status_code == 404
    assert _evaluate(nurse, "no_such", inputs).status_code == 404


def test_deploy_is_audited(it: Client) -> None:
    _deploy_xml(it, TRIAGE)
    entry = AuditEntry.objects.filter(action="rules.decision.deployed").latest("pk")
    assert entry.details["key"] == "triage_level"
    assert entry.details["version"] == 1
    assert entry.details["deployed_with"] == ["triage_level"]


def test_engine_call_without_a_person(it: Client) -> None:
    _deploy_xml(it, TRIAGE)
    result = services.decision_run(key="triage_level", inputs={"heart_rate": 155, "spo2": 99})
    assert result.value == {"level": 1, "area": "抢救室"}


def test_evaluate_query_count(it: Client, django_assert_num_queries: Any, person: Any) -> None:
    _deploy_xml(it, TRIAGE)
    staff = person("nurse", username="nurse_q")
    assert has_perm(staff.user, "rules.decision.evaluate")
    with django_assert_num_queries(1):
        services.decision_evaluate(actor=staff.user, key="triage_level", inputs={"heart_rate": 1, "spo2": 99})
