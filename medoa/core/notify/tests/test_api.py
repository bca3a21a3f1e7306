"""/api/v1/notifications: the permission matrix and behaviour.

There is no role or department scope on an inbox: every person reads and changes only their own
notifications. The matrix is therefore: anonymous (401), a revoked token (401), another person —
of the same department, another department, or holding administrator roles — (404 and nothing
changed), and the owner (allowed).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from medoa.core.access.tokens import api_token_issue
from medoa.core.notify.models import Notification
from medoa.core.notify.services import notification_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(staff_factory: Any) -> Any:
    return staff_factory()


@pytest.fixture
def bearer() -> Any:
    def make(user: Any) -> dict[str, str]:
        raw, _ = api_token_issue(user=user)
        return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    return make


@pytest.fixture
def others(staff_factory: Any, role_assignment_factory: Any, role_factory: Any, owner: Any) -> dict[str, Any]:
    same_dept = staff_factory(department=owner.department)
    other_dept = staff_factory()
    admin = staff_factory(department=owner.department)
    for code in ("sys_admin", "audit_admin", "dept_head"):
        role_assignment_factory(staff=admin, role=role_factory(code=code), department=admin.department)
    return {"same department": same_dept, "other department": other_dept, "administrator": admin}


def _state() -> list[tuple[int, bool]]:
    """(id, unread) of every notification."""
    return [
        (pk, read_at is None)
        for pk, read_at in Notification.objects.order_by("pk").values_list("pk", "read_at")
    ]


def test_anonymous_gets_401_everywhere(client: Any, owner: Any) -> None:
    [n] = notification_send(recipients=[owner.user], title="x")
    before = _state()

    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post(f"/api/v1/notifications/{n.pk}/read").status_code == 401
    assert client.post("/api/v1/notifications/read-all").status_code == 401
    assert _state() == before


def test_a_session_cookie_is_not_enough(client: Any, owner: Any) -> None:
    client.force_login(owner.user)
    assert client.get("/api/v1/notifications").status_code == 401


def test_a_revoked_token_gets_401(client: Any, owner: Any) -> None:
    raw, token = api_token_issue(user=owner.user)
    token.revoked_at = timezone.now()
    token.save()
    notification_send(recipients=[owner.user], title="x")
    before = _state()

    response = client.post("/api/v1/notifications/read-all", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 401
    assert _state() == before


@pytest.mark.parametrize("who", ["same department", "other department", "administrator"])
def test_nobody_else_reads_or_marks_my_notifications(
    client: Any, owner: Any, others: dict[str, Any], bearer: Any, who: str
) -> None:
    [n] = notification_send(recipients=[owner.user], title="私人通知")
    before = _state()
    auth = bearer(others[who].user)

    listing = client.get("/api/v1/notifications", **auth)
    read = client.post(f"/api/v1/notifications/{n.pk}/read", **auth)
    read_all = client.post("/api/v1/notifications/read-all", **auth)

    assert listing.status_code == 200
    assert listing.json() == {"count": 0, "unread": 0, "items": []}
    assert read.status_code == 404
    assert read.json()["detail"] == "通知不存在。"
    assert read_all.json() == {"marked": 0}
    assert _state() == before


def test_owner_lists_newest_first_with_counts(client: Any, owner: Any, bearer: Any) -> None:
    sent = [notification_send(recipients=[owner.user], title=f"n{i}", link="/x/")[0] for i in range(3)]
    notification_send(recipients=[owner.user], title="bad link", link="javascript:alert(1)")
    Notification.objects.filter(pk=sent[0].pk).update(read_at=timezone.now())

    body = client.get("/api/v1/notifications?limit=2", **bearer(owner.user)).json()

    assert body["count"] == 4
    assert body["unread"] == 3
    assert [(i["title"], i["link"], i["read_at"] is None) for i in body["items"]] == [
        ("bad link", "", True),
        ("n2", "/x/", True),
    ]
    assert set(body["items"][0]) == {
        "id",
        "kind",
        "title",
        "body",
        "link",
        "data",
        "created_at",
        "read_at",
        "urgent",
        "requires_ack",
        "ack_by",
        "acked_at",
        "escalated_at",
    }


def test_owner_filters_unread_and_pages(client: Any, owner: Any, bearer: Any) -> None:
    sent = [notification_send(recipients=[owner.user], title=f"n{i}")[0] for i in range(5)]
    Notification.objects.filter(pk=sent[4].pk).update(read_at=timezone.now())

    body = client.get("/api/v1/notifications?unread=true&limit=2&offset=1", **bearer(owner.user)).json()

    assert body["count"] == 4
    assert [i["title"] for i in body["items"]] == ["n2", "n1"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("limit=abc", "limit"),
        ("unread=maybe", "unread"),
    ],
)
def test_bad_paging_is_a_precise_422(client: Any, owner: Any, bearer: Any, query: str, field: str) -> None:
    response = client.get(f"/api/v1/notifications?{query}", **bearer(owner.user))

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_owner_marks_one_read(client: Any, owner: Any, bearer: Any) -> None:
    a, b = (notification_send(recipients=[owner.user], title=t)[0] for t in ("a", "b"))

    response = client.post(f"/api/v1/notifications/{a.pk}/read", **bearer(owner.user))

    assert response.status_code == 200
    assert response.json()["id"] == a.pk
    assert response.json()["read_at"] is not None
    assert _state() == [(a.pk, False), (b.pk, True)]


def test_owner_marks_all_read(client: Any, owner: Any, others: dict[str, Any], bearer: Any) -> None:
    for t in ("a", "b", "c"):
        notification_send(recipients=[owner.user], title=t)
    [theirs] = notification_send(recipients=[others["same department"].user], title="theirs")

    response = client.post("/api/v1/notifications/read-all", **bearer(owner.user))

    assert response.json() == {"marked": 3}
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_a_non_numeric_id_is_a_422(client: Any, owner: Any, bearer: Any) -> None:
    response = client.post("/api/v1/notifications/abc/read", **bearer(owner.user))
    assert response.status_code in {404, 422}
