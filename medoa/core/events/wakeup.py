"""Waking the dispatcher when there is something to deliver, instead of waiting for its next poll.

On PostgreSQL, ``announce()`` sends ``NOTIFY medoa_events`` inside the publishing transaction:
PostgreSQL delivers it at commit (never on rollback), to every worker listening on any machine.
In the publishing process itself, a dispatcher thread is woken after commit through a
``threading.Event`` (this is what wakes it on SQLite, where the worker otherwise polls).
"""

from __future__ import annotations

import threading

from django.db import connections, transaction

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
