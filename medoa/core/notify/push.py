"""Real-time push of new notifications to open browsers (server-sent events).

One ``Hub`` per web process: a daemon thread that learns of new notifications and hands each to
the streams of its recipient open in this process. How it learns depends on the database:

- PostgreSQL: ``notification_send`` announces, after commit, ``pg_notify('medoa_notify',
  'first:last')`` (the id range it inserted); the hub LISTENs on its own connection and reads
  those rows for the recipients it serves. Every web process on every machine hears it.
- SQLite (the embedded demo): there is no LISTEN. The hub looks for rows with ``id`` above the
  last one it saw every ``MEDOA_NOTIFY_POLL_SECONDS`` (0.2 s; one indexed query, nothing when
  no stream is open) and at once when this process itself committed one. SQLite serialises
  writers, so ids become visible in order and the cursor never skips a row.

Streams:

- Under ASGI (``gunicorn -k asgi medoa.config.asgi:application``, or uvicorn) a stream is an
  async generator: no thread per open browser, held until the browser goes away.
- Under the threaded WSGI server (``medoa serve``, gthread) a stream holds a thread, so each
  process serves at most ``MEDOA_NOTIFY_STREAM_SLOTS`` at once, each for
  ``MEDOA_NOTIFY_STREAM_HOLD`` seconds; the browser's EventSource then reconnects with
  ``Last-Event-ID`` and is sent what it missed. A browser that finds no free slot gets the
  current unread count and a ``retry`` of ``POLL_FALLBACK_MS``: it polls instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import Count

from . import conf
from .models import Notification, is_site_path

log = logging.getLogger("medoa.notify.push")

PG_CHANNEL = "medoa_notify"
HEARTBEAT_SECONDS = 15.0
POLL_FALLBACK_MS = 15_000
RECONNECT_MS = 1_000
BACKLOG_LIMIT = 20
BODY_PREVIEW = 300
IDLE_EXIT_SECONDS = 30.0  # a hub thread with no stream to serve ends after this long
LISTEN_WAIT_SECONDS = 3.0  # a stream on a hub just started waits this long at most for its LISTEN


def announce(first_id: int, last_id: int, *, notified: bool = False) -> None:
    """Called by ``notification_send`` inside its transaction: make the new rows known to every
    web process and, once they are committed, to this process's hub.

    On PostgreSQL the NOTIFY is sent in the same transaction: PostgreSQL delivers it only when the
    transaction commits (and drops it on rollback), so it costs no round trip and no transaction
    of its own after the commit. A failure here (the notification queue full) fails the change,
    like any other write of it. ``notified``: the statement that inserted the rows sent it already
    (``notify_statement``)."""
    if connection.vendor == "postgresql" and not notified:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [PG_CHANNEL, f"{first_id}:{last_id}"])
    if _hub is not None:
        hub = _hub
        transaction.on_commit(lambda: hub.wake(first_id, last_id), robust=True)


def notify_statement(insert: str) -> str:
    """PostgreSQL: ``insert`` (an INSERT of notifications ``RETURNING id``) and the NOTIFY of
    ``announce`` in one statement; it returns one row, the new ids in insertion order."""
    return _NOTIFY_SQL.format(insert=insert, channel=PG_CHANNEL)


_NOTIFY_SQL = (
    "WITH created AS ({insert}) SELECT array_agg(id), "
    "pg_notify('{channel}', min(id)::text || ':' || max(id)::text) FROM created"
)


def event_of(n: Notification | dict[str, Any], unread: int | None) -> dict[str, Any]:
    row: dict[str, Any] = (
        n
        if isinstance(n, dict)
        else {
            "id": n.pk,
            "kind": n.kind,
            "title": n.title,
            "body": n.body,
            "link": n.safe_link,
            "urgent": n.urgent,
            "requires_ack": n.requires_ack,
            "created_at": n.created_at.isoformat(),
        }
    )
    return {**row, "body": row["body"][:BODY_PREVIEW], "unread": unread}


_FIELDS = ("id", "recipient_id", "kind", "title", "body", "link", "urgent", "requires_ack", "created_at")


def _rows_to_events(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    recipients = {r["recipient_id"] for r in rows}
    counts = dict(
        Notification.objects.filter(recipient_id__in=recipients, read_at__isnull=True)
        .values("recipient_id")
        .annotate(n=Count("id"))
        .values_list("recipient_id", "n")
    )
    out = []
    for r in rows:
        row = {k: r[k] for k in _FIELDS if k != "recipient_id"}
        row["link"] = r["link"] if is_site_path(r["link"]) else ""
        row["created_at"] = r["created_at"].isoformat()
        out.append((r["recipient_id"], event_of(row, counts.get(r["recipient_id"], 0))))
    return out


@dataclass(eq=False)
class Subscriber:
    user_id: int
    deliver: Callable[[dict[str, Any]], None]


@dataclass
class Hub:
    subscribers: dict[int, set[Subscriber]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    wakeup: threading.Event = field(default_factory=threading.Event)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    thread: threading.Thread | None = None
    cursor: int | None = None
    slots: threading.BoundedSemaphore | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    listening: threading.Event = field(default_factory=threading.Event)

    # --- subscriptions

    def subscribe(self, user_id: int, deliver: Callable[[dict[str, Any]], None]) -> Subscriber:
        sub = Subscriber(user_id, deliver)
        with self.lock:
            self.subscribers.setdefault(user_id, set()).add(sub)
            if self.thread is None or not self.thread.is_alive():
                self.listening.clear()
                self.thread = threading.Thread(target=self._run, name="medoa-notify-hub", daemon=True)
                self.thread.start()
        return sub

    def wait_listening(self) -> None:
        """Wait (at most ``LISTEN_WAIT_SECONDS``) until the hub hears new notifications. A hub just
        started LISTENs on a new connection: a notification committed before that would wait for
        the browser's reconnect (CI, under load: a critical value sent right after the stream
        opened never came). Streams call this before their opening query, which sees everything
        committed earlier."""
        self.listening.wait(LISTEN_WAIT_SECONDS)

    def unsubscribe(self, sub: Subscriber) -> None:
        with self.lock:
            subs = self.subscribers.get(sub.user_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self.subscribers[sub.user_id]

    def ensure_cursor(self) -> None:
        """Polling hubs: start the cursor at the newest row when a stream opens on an idle hub
        (called from the stream's thread before its opening query, so nothing falls between)."""
        if self.cursor is None:
            top = Notification.objects.order_by("-id").values_list("id", flat=True).first() or 0
            with self.lock:
                if self.cursor is None:
                    self.cursor = top

    def wake(self, first_id: int, last_id: int) -> None:
        with self.lock:
            self.ranges.append((first_id, last_id))
        self.wakeup.set()

    def take_slot(self) -> bool:
        if self.slots is None:
            with self.lock:
                if self.slots is None:
                    self.slots = threading.BoundedSemaphore(int(conf.number("MEDOA_NOTIFY_STREAM_SLOTS", 2)))
        return self.slots.acquire(blocking=False)

    def give_slot(self) -> None:
        if self.slots is not None:
            with contextlib.suppress(ValueError):
                self.slots.release()

    # --- the thread

    def _fan_out(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        for user_id, event in _rows_to_events(rows):
            with self.lock:
                subs = list(self.subscribers.get(user_id, ()))
            for sub in subs:
                try:
                    sub.deliver(event)
                except Exception:
                    log.exception("push to a stream failed")

    def _watched(self) -> list[int]:
        with self.lock:
            return list(self.subscribers)

    def _idle_exit(self, since: float) -> bool:
        """True when the thread should end: nobody listening for ``IDLE_EXIT_SECONDS``. Decided
        under the lock, so ``subscribe`` starts a new thread whenever this one has gone."""
        if self.stopping.is_set():
            return True
        if time.monotonic() - since < IDLE_EXIT_SECONDS:
            return False
        with self.lock:
            if self.subscribers:
                return False
            self.thread = None
            self.cursor = None
            return True

    def _run(self) -> None:
        while True:
            try:
                if connections["default"].vendor == "postgresql":
                    self._run_postgresql()
                else:
                    self._run_polling()
                connections["default"].close()
                return
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("notification hub stopped; restarting in 1 s")
                with contextlib.suppress(Exception):
                    connections["default"].close()
                time.sleep(1)

    def _run_polling(self) -> None:
        self.listening.set()  # the cursor starts at the stream's opening (ensure_cursor)
        poll = conf.number("MEDOA_NOTIFY_POLL_SECONDS", 0.2)
        idle_since = time.monotonic()
        while True:
            if self.stopping.is_set() or (not self._watched() and self._idle_exit(idle_since)):
                return
            if self._watched():
                idle_since = time.monotonic()
            self.wakeup.wait(poll)
            self.wakeup.clear()
            with self.lock:
                self.ranges.clear()
                watched = list(self.subscribers)
                if not watched:
                    self.cursor = None  # idle: the next stream starts it afresh
                cursor = self.cursor
            if cursor is None:
                continue
            close_old_connections()
            rows = list(Notification.objects.filter(id__gt=cursor).order_by("id").values(*_FIELDS)[:1000])
            if rows:
                with self.lock:
                    self.cursor = rows[-1]["id"]
                wanted = set(watched)
                self._fan_out([r for r in rows if r["recipient_id"] in wanted])

    def _run_postgresql(self) -> None:
        db = connections["default"]
        raw = db.get_new_connection(db.get_connection_params())
        try:
            raw.autocommit = True
            raw.execute(f"LISTEN {PG_CHANNEL}")
            self.listening.set()
            idle_since = time.monotonic()
            while True:
                if self.stopping.is_set() or (not self._watched() and self._idle_exit(idle_since)):
                    return
                if self._watched():
                    idle_since = time.monotonic()
                spans: list[tuple[int, int]] = []
                for note in raw.notifies(timeout=1.0, stop_after=1):
                    spans.append(_span(note.payload))
                if spans:  # drain whatever else is already there
                    spans += [_span(n.payload) for n in raw.notifies(timeout=0.005)]
                with self.lock:
                    self.ranges.clear()
                watched = self._watched()
                spans = [s for s in spans if s[0] > 0]
                if not spans or not watched:
                    continue
                close_old_connections()
                lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
                rows = list(
                    Notification.objects.filter(id__gte=lo, id__lte=hi, recipient_id__in=watched)
                    .order_by("id")
                    .values(*_FIELDS)
                )
                covered = [r for r in rows if any(a <= r["id"] <= b for a, b in spans)]
                self._fan_out(covered)
        finally:
            with contextlib.suppress(Exception):
                raw.close()


def _span(payload: str) -> tuple[int, int]:
    first, _, last = payload.partition(":")
    try:
        return int(first), int(last or first)
    except ValueError:
        return 0, 0


_hub: Hub | None = None
_hub_lock = threading.Lock()


def hub_stop(timeout: float = 5.0) -> None:
    """End this process's hub thread (tests, shutdown); the next stream starts a new hub."""
    global _hub
    with _hub_lock:
        current, _hub = _hub, None
    if current is None:
        return
    current.stopping.set()
    current.wakeup.set()
    thread = current.thread
    if thread is not None and thread.is_alive():
        thread.join(timeout)


def hub() -> Hub:
    global _hub
    if _hub is None:
        with _hub_lock:
            if _hub is None:
                _hub = Hub()
    return _hub


# --- the event stream -------------------------------------------------------------------------


def sse(event: str, data: dict[str, Any], event_id: int | None = None, retry: int | None = None) -> bytes:
    lines = []
    if retry is not None:
        lines.append(f"retry: {retry}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


def opening(user_id: int, last_id: int | None) -> tuple[bytes, frozenset[int]]:
    """What a (re)connecting stream sends first: the unread count, and — after a reconnect — the
    notifications it missed since ``last_id`` (at most ``BACKLOG_LIMIT``). Returns the bytes and
    the ids sent, which the stream must not send again when the hub hands them over too (it
    subscribes before this query, so a row committed in between reaches it both ways)."""
    if connection.vendor != "postgresql":
        hub().ensure_cursor()
    unread = Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()
    out = [sse("hello", {"unread": unread}, retry=RECONNECT_MS)]
    sent: set[int] = set()
    if last_id is not None:
        missed = list(
            Notification.objects.filter(recipient_id=user_id, id__gt=last_id).order_by("-id")[:BACKLOG_LIMIT]
        )
        for n in reversed(missed):
            out.append(sse("notification", event_of(n, unread), event_id=n.pk))
            sent.add(n.pk)
    return b"".join(out), frozenset(sent)


def _fresh(event: dict[str, Any], backlog: frozenset[int]) -> bool:
    """Whether the hub's ``event`` is still to be sent: not already in the opening backlog.

    Not "a higher id than the last one sent": ids are taken when rows are inserted, but rows
    become visible when their transactions commit, and two writers (two event workers, two web
    requests) commit in either order — the lower id often arrives second, and is news all the
    same. The hub hands each committed row to a stream once."""
    return event["id"] not in backlog


def stream_sync(user_id: int, last_id: int | None, hold: float) -> Iterator[bytes]:
    """A WSGI stream: held ``hold`` seconds, heartbeats as comments; the caller has the slot."""
    h = hub()
    inbox: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    sub = h.subscribe(user_id, inbox.put)
    try:
        h.wait_listening()
        head, backlog = opening(user_id, last_id)
        connection.close()  # give the connection back while we only wait
        yield head
        deadline = time.monotonic() + hold
        beat = time.monotonic() + HEARTBEAT_SECONDS
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            try:
                event = inbox.get(timeout=min(deadline, beat) - now)
            except queue.Empty:
                if time.monotonic() >= beat:
                    beat = time.monotonic() + HEARTBEAT_SECONDS
                    yield b": keep-alive\n\n"
                continue
            if _fresh(event, backlog):
                yield sse("notification", event, event_id=event["id"])
    finally:
        h.unsubscribe(sub)
        h.give_slot()


async def stream_async(user_id: int, last_id: int | None) -> AsyncIterator[bytes]:
    """An ASGI stream: no thread while waiting; ends when the browser goes away."""
    h = hub()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def deliver(event: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(inbox.put_nowait, event)

    sub = h.subscribe(user_id, deliver)
    try:
        await asyncio.to_thread(h.wait_listening)
        head, backlog = await sync_to_async(_opening_and_close, thread_sensitive=False)(user_id, last_id)
        yield head
        while True:
            try:
                event = await asyncio.wait_for(inbox.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if _fresh(event, backlog):
                yield sse("notification", event, event_id=event["id"])
    finally:
        h.unsubscribe(sub)


def _opening_and_close(user_id: int, last_id: int | None) -> tuple[bytes, frozenset[int]]:
    try:
        return opening(user_id, last_id)
    finally:
        connection.close()
