"""Real-time push: the hub hears of committed notifications (PostgreSQL LISTEN/NOTIFY, or the
table's id cursor on SQLite) and hands them to the recipient's open streams only."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings

from medoa.core.notify import push
from medoa.core.notify.models import Notification
from medoa.core.notify.services import notification_send

pytestmark = pytest.mark.django_db(transaction=True)


def _events(chunk: bytes) -> list[tuple[str, dict[str, Any], str | None]]:
    out = []
    for block in chunk.decode().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ": " not in line:
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"]), fields.get("id")))
    return out


def _next_in_thread(gen: Any, timeout: float = 5.0) -> bytes:
    box: list[bytes] = []
    t = threading.Thread(target=lambda: box.append(next(gen)))
    t.start()
    t.join(timeout)
    assert box, "no event within the timeout"
    return box[0]


def test_a_stream_gets_its_users_new_notification_and_not_others(staff_factory: Any) -> None:
    me, other = staff_factory().user, staff_factory().user
    notification_send(recipients=[me], title="old, unread")
    gen = push.stream_sync(me.pk, None, hold=10)
    assert push.hub().take_slot()

    hello = _events(next(gen))
    notification_send(recipients=[other], title="not mine")
    started = time.monotonic()
    sent, _theirs = notification_send(
        recipients=[me, other], title="危急值：3 床 血钾 6.8", link="/q/1/", kind="critical"
    )
    events = _events(_next_in_thread(gen))
    elapsed = time.monotonic() - started
    gen.close()

    assert hello == [("hello", {"unread": 1}, None)]
    assert [(e, d["title"], d["link"], d["kind"], d["unread"], i) for e, d, i in events] == [
        ("notification", "危急值：3 床 血钾 6.8", "/q/1/", "critical", 2, str(sent.pk))
    ]
    assert elapsed < 1.0
    assert push.hub().subscribers == {}


def test_nothing_is_pushed_before_commit_and_nothing_after_a_rollback(staff_factory: Any) -> None:
    me = staff_factory().user
    gen = push.stream_sync(me.pk, None, hold=1.5)
    assert push.hub().take_slot()
    next(gen)

    with pytest.raises(RuntimeError), transaction.atomic():
        notification_send(recipients=[me], title="rolled back")
        raise RuntimeError
    rest = b"".join(gen)  # the hold ends after 1.5 s

    assert _events(rest) == []
    assert not Notification.objects.filter(title="rolled back").exists()


def test_a_reconnect_gets_what_it_missed_since_last_event_id(staff_factory: Any) -> None:
    me = staff_factory().user
    first = notification_send(recipients=[me], title="seen")[0]
    notification_send(recipients=[me], title="missed 1")
    notification_send(recipients=[me], title="missed 2")

    head, backlog = push.opening(me.pk, first.pk)

    events = _events(head)
    assert [(e, d.get("title"), d["unread"]) for e, d, _i in events] == [
        ("hello", None, 3),
        ("notification", "missed 1", 3),
        ("notification", "missed 2", 3),
    ]
    assert backlog == set(
        Notification.objects.filter(title__startswith="missed").values_list("pk", flat=True)
    )
    assert head.startswith(b"retry: 1000\n")


def test_the_stream_view_refuses_anonymous_and_streams_for_the_signed_in(
    client: Any, staff_factory: Any
) -> None:
    me = staff_factory().user
    assert client.get("/notifications/stream/").status_code == 204

    client.force_login(me)
    with override_settings(MEDOA_NOTIFY_STREAM_HOLD=0.3):
        response = client.get("/notifications/stream/")
        body = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert _events(body) == [("hello", {"unread": 0}, None)]


def test_without_a_free_thread_the_browser_is_told_to_poll(client: Any, staff_factory: Any) -> None:
    me = staff_factory().user
    client.force_login(me)
    h = push.hub()
    taken = 0
    while h.take_slot():
        taken += 1
    try:
        response = client.get("/notifications/stream/", HTTP_LAST_EVENT_ID="0")
        body = b"".join(response.streaming_content)
    finally:
        for _ in range(taken):
            h.give_slot()

    assert taken == 2
    assert body.startswith(b"retry: 15000\n")
    assert _events(body) == [("hello", {"unread": 0}, None)]


def test_the_hub_uses_listen_notify_on_postgresql_and_the_cursor_elsewhere(staff_factory: Any) -> None:
    me = staff_factory().user
    gen = push.stream_sync(me.pk, None, hold=10)
    assert push.hub().take_slot()
    next(gen)
    # Written by "another process": a plain insert and the announcement the sender makes, with
    # none of this process's own wake-up.
    other = push._hub
    push._hub = None
    try:
        [n] = notification_send(recipients=[me], title="from elsewhere")
    finally:
        push._hub = other
    events = _events(_next_in_thread(gen))
    gen.close()

    assert [(d["title"], i) for _e, d, i in events] == [("from elsewhere", str(n.pk))]
    assert (connection.vendor == "postgresql") == (push.hub().cursor is None)


def _rows(*ids: int) -> list[dict[str, Any]]:
    return list(Notification.objects.filter(id__in=ids).values(*push._FIELDS))


def test_a_lower_id_handed_over_after_a_higher_one_is_still_sent(staff_factory: Any) -> None:
    """Two writers: the row inserted first (the lower id) may commit second, so the hub hands it
    over second. The stream sends it all the same (it once dropped any id below the last it had
    sent: with two event workers, a notification in a few hundred never reached the browser)."""
    me = staff_factory().user
    other = push._hub
    push._hub = None  # written "elsewhere": this process's hub is not woken
    try:
        low, high = (
            notification_send(recipients=[me], title=t)[0] for t in ("inserted first", "committed first")
        )
    finally:
        push._hub = other
    gen = push.stream_sync(me.pk, None, hold=10)
    assert push.hub().take_slot()
    next(gen)

    push.hub()._fan_out(_rows(high.pk))
    first = _events(_next_in_thread(gen))
    push.hub()._fan_out(_rows(low.pk))
    second = _events(_next_in_thread(gen))
    gen.close()

    assert [(d["title"], i) for _e, d, i in first + second] == [
        ("committed first", str(high.pk)),
        ("inserted first", str(low.pk)),
    ]


def test_the_opening_backlog_is_not_sent_twice(staff_factory: Any) -> None:
    me = staff_factory().user
    seen = notification_send(recipients=[me], title="seen")[0]
    missed = notification_send(recipients=[me], title="missed")[0]
    gen = push.stream_sync(me.pk, seen.pk, hold=10)
    assert push.hub().take_slot()
    head = _events(next(gen))

    push.hub()._fan_out(_rows(missed.pk))  # committed while the stream opened: handed over too
    later = notification_send(recipients=[me], title="later")[0]
    rest = _events(_next_in_thread(gen))
    gen.close()

    assert [(d.get("title"), i) for _e, d, i in head + rest] == [
        (None, None),
        ("missed", str(missed.pk)),
        ("later", str(later.pk)),
    ]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_two_writers_committing_out_of_id_order_both_reach_the_stream(staff_factory: Any) -> None:
    """PostgreSQL, two real transactions: the one that inserted first commits last."""
    me = staff_factory().user
    gen = push.stream_sync(me.pk, None, hold=10)
    assert push.hub().take_slot()
    next(gen)
    inserted, release = threading.Event(), threading.Event()
    box: list[Notification] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                box.append(notification_send(recipients=[me], title="inserted first")[0])
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(10)
    high = notification_send(recipients=[me], title="committed first")[0]
    first = _events(_next_in_thread(gen))
    release.set()
    writer.join(10)
    second = _events(_next_in_thread(gen))
    gen.close()

    [low] = box
    assert low.pk < high.pk
    assert [(d["title"], i) for _e, d, i in first + second] == [
        ("committed first", str(high.pk)),
        ("inserted first", str(low.pk)),
    ]
