"""GET /api/v1/audit/entries, /entries/{seq} and /verify: permission matrix, filters, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.choices import DataScope
from medoa.core.access.models import RoleGrant
from medoa.core.audit.apps import VIEW_PERMISSION
from medoa.core.audit.models import AuditEntry
from medoa.core.audit.services import audit_record
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import RoleFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/audit/entries", "/api/v1/audit/entries/1", "/api/v1/audit/verify"]


@pytest.fixture
def narrow(person: Callable[..., Staff]) -> Any:
    """Holds the audit permission, but only over their own department."""
    role = RoleFactory(code="dept_auditor")
    RoleGrant.objects.create(role=role, permission=VIEW_PERMISSION, scope=DataScope.DEPARTMENT)
    staff = person(username="narrow")
    staff.role_assignments.create(role=role, department=staff.department)
    return staff.user


@pytest.mark.parametrize("path", ENDPOINTS)
def test_anonymous_callers_get_401(client: Client, append: Any, path: str) -> None:
    append(1)

    response = client.get(path)

    assert response.status_code == 401
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("who", ["doctor", "narrow"])
def test_other_roles_and_narrow_scopes_get_403_and_the_attempt_is_recorded(
    client: Client, bearer: Any, request: Any, append: Any, path: str, who: str
) -> None:
    # given
    user = request.getfixturevalue(who)
    headers = bearer(user)
    append(1, action="test.secret")
    before = AuditEntry.objects.count()

    # when
    response = client.get(path, **headers)

    # then
    assert response.status_code == 403
    assert response.json() == {
        "detail": "您无权查看审计日志。",
        "detail_en": "You may not view the audit log.",
    }
    assert AuditEntry.objects.count() == before + 1
    denied = AuditEntry.objects.get(seq=before + 1)
    assert (denied.action, denied.outcome, denied.actor_id) == ("audit.viewed", "denied", user.pk)
    assert denied.details == {"via": "api", "path": path}


def test_the_audit_admin_lists_entries(client: Client, bearer: Any, auditor: Any) -> None:
    # given
    headers = bearer(auditor)
    entry = audit_record(
        actor=None, actor_name="ghost", action="test.listed", client_address="10.1.2.3", details={"k": "v"}
    )

    # when
    response = client.get("/api/v1/audit/entries", {"action": "test."}, **headers)

    # then
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["newer"] is None and body["older"] is None
    (item,) = body["items"]
    assert item == {
        "seq": entry.seq,
        "at": item["at"],
        "actor_id": None,
        "actor_name": "ghost",
        "action": "test.listed",
        "target_type": "",
        "target_id": "",
        "target_repr": "",
        "client_address": "10.1.2.3",
        "outcome": "success",
        "details": {"k": "v"},
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }
    viewed = AuditEntry.objects.filter(action="audit.viewed").get()
    assert viewed.details == {"via": "api", "filters": {"action": "test."}, "shown": 1}


def test_api_paging_matches_the_viewer(client: Client, bearer: Any, auditor: Any, append: Any) -> None:
    # given
    headers = bearer(auditor)
    append(70, action="test.paged")

    # when
    first = client.get("/api/v1/audit/entries", {"action": "test.paged"}, **headers).json()
    second = client.get(
        "/api/v1/audit/entries", {"action": "test.paged", "before": first["older"]}, **headers
    ).json()

    # then
    assert len(first["items"]) == 50 and len(second["items"]) == 20
    assert second["older"] is None and second["newer"] == second["items"][0]["seq"]
    assert first["items"][-1]["seq"] == first["older"]
    assert second["items"][0]["seq"] == first["older"] - 1


@pytest.mark.parametrize(
    ("query", "field", "message", "message_en"),
    [
        (
            {"time_from": "2026-02-30"},
            "time_from",
            "请按 YYYY-MM-DD 或 YYYY-MM-DD HH:MM 输入日期或日期时间。",
            "Enter a date as YYYY-MM-DD or a date and time as YYYY-MM-DD HH:MM.",
        ),
        (
            {"time_from": "2026-01-02", "time_to": "2026-01-01"},
            "time_to",
            "结束时间必须晚于开始时间。",
            "The end must be after the start.",
        ),
        (
            {"outcome": "maybe"},
            "outcome",
            "选择一个有效的选项。 maybe 不在可用的选项中。",
            "Select a valid choice. maybe is not one of the available choices.",
        ),
        ({"before": "x"}, "before", "输入整数。", "Enter a whole number."),
    ],
)
def test_bad_filters_answer_422_per_field(
    client: Client,
    bearer: Any,
    auditor: Any,
    query: dict[str, str],
    field: str,
    message: str,
    message_en: str,
) -> None:
    # when
    response = client.get("/api/v1/audit/entries", query, **bearer(auditor))

    # then
    assert response.status_code == 422
    body = response.json()
    assert (body["detail"], body["detail_en"]) == ("请求无效。", "The request is not valid.")
    assert [(e["field"], e["message"], e["message_en"]) for e in body["errors"]] == [
        (field, message, message_en)
    ]
    assert not AuditEntry.objects.filter(action="audit.viewed").exists()


def test_one_entry(client: Client, bearer: Any, auditor: Any) -> None:
    entry = audit_record(actor=None, action="test.one", details={"a": [1, 2]})

    response = client.get(f"/api/v1/audit/entries/{entry.seq}", **bearer(auditor))

    assert response.status_code == 200
    assert (response.json()["action"], response.json()["details"]) == ("test.one", {"a": [1, 2]})
    viewed = AuditEntry.objects.filter(action="audit.viewed").get()
    assert (viewed.target_type, viewed.target_id) == ("audit.auditentry", str(entry.seq))


def test_a_missing_entry_is_404(client: Client, bearer: Any, auditor: Any) -> None:
    response = client.get("/api/v1/audit/entries/999", **bearer(auditor))

    assert response.status_code == 404
    assert response.json() == {
        "detail": "不存在该编号的审计记录。",
        "detail_en": "There is no audit entry with this number.",
    }


def test_verify(client: Client, bearer: Any, auditor: Any) -> None:
    # given
    headers = bearer(auditor)
    count = AuditEntry.objects.count()

    # when
    response = client.get("/api/v1/audit/verify", **headers)

    # then
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "entries": count,
        "broken_seq": None,
        "reason": "",
        "reason_display": "",
    }
    assert AuditEntry.objects.filter(action="audit.chain.verified", outcome="success").count() == 1
