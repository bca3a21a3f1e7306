from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from medoa.core.notify.models import Notification
from medoa.core.notify.services import notification_mark_read, notification_send

pytestmark = pytest.mark.django_db


def test_send_puts_one_notification_in_each_inbox(user_factory: Any) -> None:
    a, b = user_factory(), user_factory()

    sent = notification_send(
        recipients=[a, b, a, None], title="危急值提醒", body="请尽快处理", link="/quality/1/", kind="critical"
    )

    assert len(sent) == 2
    rows = list(Notification.objects.order_by("recipient_id").values_list("recipient_id", "title", "kind"))
    assert rows == [(a.pk, "危急值提醒", "critical"), (b.pk, "危急值提醒", "critical")]


def test_send_writes_the_rows_and_their_announcement_in_one_statement_on_postgresql(
    user_factory: Any,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no NOTIFY: the rows go in with the ORM's bulk insert")
    a, b = user_factory(), user_factory()

    with CaptureQueriesContext(connection) as captured:
        sent = notification_send(recipients=[a, b], title="新任务", link="/flow/tasks/1/", data={"task": 1})

    assert len(captured.captured_queries) == 1
    assert "pg_notify" in captured.captured_queries[0]["sql"]
    stored = list(Notification.objects.order_by("id").values_list("id", "recipient_id", "title", "data"))
    assert stored == [(sent[0].pk, a.pk, "新任务", {"task": 1}), (sent[1].pk, b.pk, "新任务", {"task": 1})]
    assert all(n.created_at is not None and not n._state.adding for n in sent)


def test_mark_read_changes_only_the_callers_notifications(user_factory: Any, inbox: Any) -> None:
    me, other = user_factory(), user_factory()
    mine = inbox(me, 3)
    theirs = inbox(other, 2)

    changed = notification_mark_read(user=me, ids=[mine[0].pk, theirs[0].pk])

    assert changed == 1
    assert set(Notification.objects.filter(read_at__isnull=False).values_list("pk", flat=True)) == {
        mine[0].pk
    }


def test_mark_all_read(user_factory: Any, inbox: Any) -> None:
    me, other = user_factory(), user_factory()
    inbox(me, 3)
    inbox(other, 2)

    assert notification_mark_read(user=me) == 3
    assert notification_mark_read(user=me) == 0
    assert Notification.objects.filter(recipient=other, read_at__isnull=True).count() == 2


def test_marking_a_read_notification_again_keeps_its_first_read_time(user_factory: Any, inbox: Any) -> None:
    me = user_factory()
    [n] = inbox(me, 1)
    notification_mark_read(user=me, ids=[n.pk])
    n.refresh_from_db()
    first = n.read_at

    assert notification_mark_read(user=me, ids=[n.pk]) == 0
    n.refresh_from_db()
    assert n.read_at == first


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("/approvals/12/", "/approvals/12/"),
        ("", ""),
        ("javascript:alert(1)", ""),
        ("//evil.example/x", ""),
        ("https://evil.example/", ""),
        ("/\\evil.example", ""),
        ("/ok path", ""),
        ("approvals/12/", ""),
    ],
)
def test_only_links_into_this_site_are_shown(link: str, shown: str) -> None:
    assert Notification(link=link).safe_link == shown
