"""The roster API: the permission matrix (anonymous, wrong role, wrong ward, allowed) and a hand
edit answered with the rule check."""

from __future__ import annotations

from typing import Any

from medoa.core.audit.models import AuditEntry
from medoa.modules.roster import services
from medoa.modules.roster.models import RosterCell, WardRule

from .conftest import MONTH


def test_grid_and_cell_permission_matrix(ward_factory: Any, api_as: Any) -> None:
    w = ward_factory(["N3", "N1"])
    other = ward_factory(["N3"], code="RESP")
    roster = services.roster_open(actor=w.head.user, ward=w.ward, month=MONTH)
    url = f"/api/v1/roster/rosters/{roster.pk}"
    body = {"staff": w.nurses[0].pk, "date": "2026-12-10", "code": "N"}

    assert api_as(None).get(url).status_code == 401
    assert api_as(w.nurses[0]).get(url).status_code == 403
    assert api_as(other.head).get(url).status_code == 403
    for who in (None, w.nurses[0], other.head):
        response = api_as(who).post(f"{url}/cells", body, content_type="application/json")
        assert response.status_code in (401, 403)
    assert not RosterCell.objects.exists()
    assert not AuditEntry.objects.filter(action="roster.cell.edited").exists()

    grid = api_as(w.head).get(url)
    assert grid.status_code == 200
    assert [s["name"] for s in grid.json()["staff"]] == ["护士01", "护士02"]

    response = api_as(w.head).post(f"{url}/cells", body, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["hard_violations"] == []
    bad = api_as(w.head).post(f"{url}/cells", {**body, "code": "Z"}, content_type="application/json")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "code"


def test_rule_configuration(ward_factory: Any, api_as: Any) -> None:
    w = ward_factory(["N3"])
    url = f"/api/v1/roster/wards/{w.ward.pk}/rules/max_consecutive_nights"
    payload = {"enabled": True, "hard": False, "weight": 30, "value": 2}
    assert api_as(w.nurses[0]).put(url, payload, content_type="application/json").status_code == 403
    assert not WardRule.objects.exists()
    response = api_as(w.head).put(url, payload, content_type="application/json")
    assert response.status_code == 200
    assert WardRule.objects.get().value == 2
    unknown = api_as(w.head).put(
        url.replace("max_consecutive_nights", "nope"), payload, content_type="application/json"
    )
    assert unknown.status_code == 422
