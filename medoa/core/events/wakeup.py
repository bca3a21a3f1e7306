"""Waking the dispatcher when there is something to deliver, instead of waiting for its next poll.

On PostgreSQL, ``announce()`` sends ``NOTIFY medoa_events`` inside the publishing transaction:
PostgreSQL delivers it at commit (never on rollback), to every worker listening on any machine.
In the publishing process itself, a dispatcher thread is woken after commit through a
``threading.Event`` (this is what wakes it on SQLite, where the worker otherwise polls).

``Listener`` is the waiting side, shared by every worker thread woken this way (the event
dispatcher on ``medoa_events``, the HL7 processor on ``medoa_hl7``): a PostgreSQL connection of its
own that LISTENs on one channel; ``open_listener`` gives one, or ``None`` where the thread polls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import connection, connections, transaction

CHANNEL = "medoa_events"

local_wakeup = threading.Event()
# How many dispatcher threads run in this process (the after-commit hook is skipped when none).
_local_listeners = 0
_lock = threading.Lock()


def listening(delta: int) -> None:
    global _local_listeners
    with _lock:
        _local_listeners += delta


def _announced() -> None:
    """The marker ``announce`` leaves among the transaction's on-commit callbacks (it does nothing)."""


def announce(using: str = "default") -> None:
    """Say, from inside the publishing transaction, that deliveries are due — once per transaction.

    A transaction that publishes many events (a batch of HL7 messages) notifies once: the first
    call leaves a marker among the connection's on-commit callbacks, which Django drops on a
    rollback (of the transaction, or of the savepoint the call was made in — and PostgreSQL
    drops that savepoint's NOTIFY with it), so the next call notifies again."""
    conn = connections[using]
    if conn.in_atomic_block:
        if any(entry[1] is _announced for entry in conn.run_on_commit):
            return
        transaction.on_commit(_announced, using=using)
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
    if _local_listeners:
        transaction.on_commit(local_wakeup.set, using=using)


class Listener:
    """A PostgreSQL connection of its own (the default database's settings) that LISTENs on
    ``channel``."""

    def __init__(self, channel: str) -> None:
        params = connection.settings_dict
        options = params.get("OPTIONS", {})
        kwargs: dict[str, Any] = {
            k: options[k] for k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "options") if k in options
        }
        self.conn = psycopg.connect(
            dbname=params["NAME"],
            user=params.get("USER") or None,
            password=params.get("PASSWORD") or None,
            host=params.get("HOST") or None,
            port=params.get("PORT") or None,
            autocommit=True,
            connect_timeout=5,
            **kwargs,
        )
        self.conn.execute(f"LISTEN {channel}")

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a notification; True when one (or more) came."""
        got = False
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            got = True
        if got:  # drain the others that came with it, without waiting
            for _ in self.conn.notifies(timeout=0):
                pass
        return got

    def wait_while(self, seconds: float, should_run: Callable[[], bool], *, step: float = 0.25) -> bool:
        """Wait up to ``seconds`` for a notification in short steps, so that a thread told to stop
        (``should_run()`` false) notices it quickly; True when one came."""
        waited = 0.0
        while waited < seconds and should_run():
            if self.wait(step):
                return True
            waited += step
        return False

    def close(self) -> None:
        self.conn.close()


def open_listener(
    channel: str, *, wanted: bool, log: logging.Logger, label: str, poll: float
) -> Listener | None:
    """A ``Listener`` on ``channel`` when ``wanted`` and the database is PostgreSQL; ``None`` (the
    caller polls every ``poll`` seconds) otherwise, or when the connection cannot be made (logged
    to ``log`` under ``label``)."""
    if not wanted or connection.vendor != "postgresql":
        return None
    try:
        return Listener(channel)
    except Exception:
        log.exception("%s: LISTEN is not available; polling every %s s", label, poll)
        return None
