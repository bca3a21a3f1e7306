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


def announce(using: str = "default") -> None:
    """Say, from inside the publishing transaction, that deliveries are due."""
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
    if _local_listeners:
        transaction.on_commit(local_wakeup.set, using=using)
