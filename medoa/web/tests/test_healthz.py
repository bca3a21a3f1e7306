"""/healthz: database reachable, and whether a worker beat within MEDOA_WORKER_STALE_SECONDS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from medoa.core.runtime.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def _beat(seconds_ago: int, worker_id: str = "w1") -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id=worker_id,
        hostname="node1",
        pid=1234,
        started_at=now - timedelta(hours=1),
        seen_at=now - timedelta(seconds=seconds_ago),
    )


def test_worker_ok_when_a_heartbeat_is_recent(client: Any, settings: Any) -> None:
    settings.MEDOA_WORKER_STALE_SECONDS = 60
    _beat(seconds_ago=5)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "worker": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_worker_stale_when_the_last_heartbeat_is_old(client: Any, settings: Any) -> None:
    settings.MEDOA_WORKER_STALE_SECONDS = 60
    _beat(seconds_ago=61)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "worker": "stale"}


def test_worker_stale_when_no_worker_ever_ran(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "worker": "stale"}


def test_one_live_worker_among_stale_ones_is_enough(client: Any) -> None:
    _beat(seconds_ago=3600, worker_id="old")
    _beat(seconds_ago=1, worker_id="new")

    assert client.get("/healthz").json()["worker"] == "ok"


def test_healthz_takes_only_get(client: Any) -> None:
    assert client.post("/healthz").status_code == 405
