"""The worker's heartbeat, and /healthz reading what the real worker writes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from medoa.core.runtime.models import WorkerHeartbeat
from medoa.core.runtime.selectors import worker_is_alive
from medoa.core.runtime.services import worker_heartbeat_beat, worker_heartbeat_clear
from medoa.core.runtime.worker import HeartbeatThread, MedoaWorker, default_worker_id


@pytest.mark.django_db
def test_beat_inserts_a_row_then_updates_it() -> None:
    started = timezone.now() - timedelta(minutes=5)

    worker_heartbeat_beat(worker_id="node1:42", hostname="node1", pid=42, started_at=started)
    first = WorkerHeartbeat.objects.get(worker_id="node1:42")
    worker_heartbeat_beat(worker_id="node1:42", hostname="node1", pid=42, started_at=started)

    row = WorkerHeartbeat.objects.get()
    assert (row.worker_id, row.hostname, row.pid, row.started_at) == ("node1:42", "node1", 42, started)
    assert row.seen_at > first.seen_at
    assert row.seen_at <= timezone.now()


@pytest.mark.django_db
def test_clear_removes_own_row_and_long_dead_workers_only() -> None:
    now = timezone.now()
    for worker_id, seen in [
        ("me:1", now),
        ("other:2", now - timedelta(minutes=1)),
        ("dead:3", now - timedelta(days=2)),
    ]:
        WorkerHeartbeat.objects.create(worker_id=worker_id, started_at=seen, seen_at=seen)

    worker_heartbeat_clear(worker_id="me:1")

    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["other:2"]


@pytest.mark.django_db
def test_worker_is_alive_follows_the_stale_setting(settings: Any) -> None:
    settings.MEDOA_WORKER_STALE_SECONDS = 30
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="w:1", started_at=now, seen_at=now - timedelta(seconds=31))
    assert worker_is_alive() is False

    WorkerHeartbeat.objects.filter(worker_id="w:1").update(seen_at=now - timedelta(seconds=29))
    assert worker_is_alive() is True


def test_default_worker_id_is_host_and_pid_within_64_characters() -> None:
    worker_id = default_worker_id()

    host, pid = worker_id.rsplit(":", 1)
    assert host and pid.isdigit()
    assert len(worker_id) <= 64


def _health(client: Any) -> dict[str, str]:
    return client.get("/healthz").json()


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_healthz_says_ok_while_the_real_worker_runs_and_stale_after_it_stops(client: Any) -> None:
    # given no worker has ever run
    assert _health(client) == {"status": "ok", "database": "ok", "worker": "stale"}

    # when the real worker loop runs (in a thread: the signal handlers are the CLI's business)
    worker = MedoaWorker(worker_id="test:1", interval=0.05, heartbeat_seconds=0.1)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(install_signals=False)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        # then /healthz sees its heartbeat, which keeps moving
        assert _wait_for(lambda: _health(client)["worker"] == "ok")
        first = WorkerHeartbeat.objects.get(worker_id="test:1").seen_at
        assert _wait_for(lambda: WorkerHeartbeat.objects.get(worker_id="test:1").seen_at > first)
    finally:
        worker.stop()
        thread.join(10)

    # and after a clean stop its row is gone, so the worker reads as stale
    assert not thread.is_alive()
    assert errors == []
    assert not WorkerHeartbeat.objects.filter(worker_id="test:1").exists()
    assert _health(client) == {"status": "ok", "database": "ok", "worker": "stale"}


@pytest.mark.django_db(transaction=True)
def test_heartbeat_thread_beats_on_its_interval_and_stops() -> None:
    thread = HeartbeatThread(worker_id="hb:1", started_at=timezone.now(), interval=0.05)

    thread.start()
    assert _wait_for(lambda: WorkerHeartbeat.objects.filter(worker_id="hb:1").exists())
    thread.stop()

    assert not thread.is_alive()
    assert WorkerHeartbeat.objects.get(worker_id="hb:1").pid > 0


@pytest.mark.django_db
def test_a_stale_heartbeat_reads_as_stale_on_healthz(client: Any, settings: Any) -> None:
    settings.MEDOA_WORKER_STALE_SECONDS = 60
    old = timezone.now() - timedelta(seconds=61)
    worker_heartbeat_beat(worker_id="w:9", hostname="h", pid=9, started_at=old)
    WorkerHeartbeat.objects.filter(worker_id="w:9").update(seen_at=old)

    assert _health(client)["worker"] == "stale"
