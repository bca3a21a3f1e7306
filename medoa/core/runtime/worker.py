"""The background worker: django-tasks-db's worker loop plus a heartbeat thread.

``medoa worker`` runs ``MedoaWorker(...).run()``. The loop claims and runs queued tasks (many
workers may share one PostgreSQL queue: the claim uses ``SKIP LOCKED``); the heartbeat thread
upserts this worker's ``WorkerHeartbeat`` row every ``heartbeat_seconds`` so that ``/healthz``
can say whether background work is being done. On a clean exit the row is removed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from datetime import datetime

from django.db import DatabaseError, close_old_connections, connection, connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from medoa.core.registries import PeriodicJob, periodic_jobs

from .defaults import HEARTBEAT_SECONDS
from .services import worker_heartbeat_beat, worker_heartbeat_clear

logger = logging.getLogger("medoa.worker")


def default_worker_id() -> str:
    """``hostname:pid``, at most 64 characters (the queue's and the heartbeat's limit)."""
    pid = str(os.getpid())
    return f"{socket.gethostname()[: 63 - len(pid)]}:{pid}"


class HeartbeatThread(threading.Thread):
    """Beats every ``interval`` seconds until ``stop()``; database errors are logged, not fatal."""

    def __init__(self, *, worker_id: str, started_at: datetime, interval: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(name=f"heartbeat-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.started_at = started_at
        self.interval = interval
        self._stopping = threading.Event()

    def beat(self) -> None:
        worker_heartbeat_beat(
            worker_id=self.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
        )

    def run(self) -> None:
        try:
            while not self._stopping.wait(self.interval):
                close_old_connections()
                try:
                    self.beat()
                except DatabaseError:
                    logger.exception("worker %s could not record its heartbeat", self.worker_id)
        finally:
            connection.close()  # this thread's own connection

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)


class PeriodicJobsThread(threading.Thread):
    """Runs every job of ``medoa.core.registries.periodic_jobs`` on its own interval until
    ``stop()``. A failing job is logged and tried again at its next turn; it never stops the others.
    The registry is read when the thread starts (apps register their jobs in ``ready()``)."""

    def __init__(
        self, *, worker_id: str, jobs: Sequence[PeriodicJob] | None = None, tick: float = 0.5
    ) -> None:
        super().__init__(name=f"periodic-{worker_id}", daemon=True)
        self.jobs = list(jobs) if jobs is not None else list(periodic_jobs)
        self.tick = tick
        self._stopping = threading.Event()

    def run_due(self, due_at: dict[str, float]) -> None:
        """Run each job whose turn has come (``due_at``: job key → monotonic time of its next run)."""
        for job in self.jobs:
            if self._stopping.is_set():
                return
            now = time.monotonic()
            if due_at.get(job.key, 0.0) > now:
                continue
            due_at[job.key] = now + job.every_seconds
            close_old_connections()
            try:
                job.run()
            except Exception:
                logger.exception("periodic job %s failed", job.key)

    def run(self) -> None:
        due_at: dict[str, float] = {}
        try:
            while not self._stopping.is_set():
                self.run_due(due_at)
                self._stopping.wait(self.tick)
        finally:
            connection.close()  # this thread's own connection

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)


class MedoaWorker:
    """One worker process's loop (all queues by default) with its heartbeat."""

    def __init__(
        self,
        *,
        queue_names: Sequence[str] = ("*",),
        interval: float = 1.0,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        worker_id: str | None = None,
        batch: bool = False,
        max_tasks: int | None = None,
        backend_name: str = "default",
    ) -> None:
        self.worker_id = worker_id or default_worker_id()
        self.heartbeat = HeartbeatThread(
            worker_id=self.worker_id, started_at=timezone.now(), interval=heartbeat_seconds
        )
        self.periodic = PeriodicJobsThread(worker_id=self.worker_id)
        self.loop = Worker(
            queue_names=list(queue_names),
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=False,
            max_tasks=max_tasks,
            worker_id=self.worker_id,
            excluded_queue_names=[],
        )

    def run(self, *, install_signals: bool = True) -> None:
        """Run until stopped (SIGINT/SIGTERM when ``install_signals``, else ``stop()``).

        The first heartbeat is written before the loop starts, so a worker that cannot reach the
        database fails at once instead of looking alive.
        """
        self.heartbeat.beat()
        self.heartbeat.start()
        self.periodic.start()
        if install_signals:
            self.loop.configure_signals()
        logger.info("worker %s started", self.worker_id)
        try:
            self.loop.run()
        finally:
            self.periodic.stop()
            self.heartbeat.stop()
            try:
                worker_heartbeat_clear(worker_id=self.worker_id)
            except DatabaseError:
                logger.exception("worker %s could not remove its heartbeat", self.worker_id)
            logger.info("worker %s stopped", self.worker_id)
            connections.close_all()  # this thread's connections

    def stop(self) -> None:
        """Finish the current task, then leave the loop (for callers that run it in a thread)."""
        self.loop.running = False
