"""The webhook sender in the worker: a thread of its own (HTTP calls may take seconds; the
periodic jobs and the event dispatcher must not wait for them)."""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.db import DatabaseError, close_old_connections, connection

from .services import BATCH, deliver_due, wakeup

log = logging.getLogger("medoa.integration.webhooks")

POLL_SECONDS = 1.0


class SenderThread(threading.Thread):
    """Sends due deliveries until ``stop()`` or until ``parent`` (the periodic-jobs thread that
    started it) has ended."""

    def __init__(self, *, worker_id: str, parent: threading.Thread | None = None) -> None:
        super().__init__(name=f"webhooks-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.parent = parent
        self._stopping = threading.Event()

    def _should_run(self) -> bool:
        return not self._stopping.is_set() and (self.parent is None or self.parent.is_alive())

    def run(self) -> None:
        try:
            while self._should_run():
                close_old_connections()
                try:
                    claimed = deliver_due(worker_id=self.worker_id)
                except DatabaseError:
                    log.exception("webhooks: a sending round failed")
                    claimed = 0
                if claimed < BATCH and self._should_run():
                    wakeup.wait(POLL_SECONDS)
                    wakeup.clear()
        finally:
            connection.close()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        wakeup.set()
        if self.is_alive():
            self.join(timeout)


_thread: SenderThread | None = None
_lock = threading.Lock()


def send_job() -> int:
    """The worker's periodic job (``webhooks.send``): keeps this process's sender thread running."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            worker_id = f"{socket.gethostname()[:50]}:{os.getpid()}"
            _thread = SenderThread(worker_id=worker_id, parent=threading.current_thread())
            _thread.start()
    return 0
