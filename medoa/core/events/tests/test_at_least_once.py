"""At-least-once delivery with the worker killed in the middle of a batch: a second worker delivers
what the first had claimed once its lease runs out; nothing is lost and no handler's effect is
applied twice (the effect is an append-only audit entry per run that committed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from medoa.core.events import publish
from medoa.core.events.models import Delivery

from .conftest import effects

ROOT = Path(__file__).resolve().parents[4]
LEASE = 2.0


def _child(worker_id: str) -> subprocess.Popen[str]:
    s = connection.settings_dict
    database = {k: s[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medoa.core.events.tests.worker_child",
            json.dumps(database),
            worker_id,
            str(LEASE),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    subscribe: Callable[..., Any],
) -> None:
    subscribe("testres.slow", ("testres.*",))
    ids = [publish("testres.bed.released", {"bed": str(i), "ward": "W1"}).pk for i in range(30)]

    first = _child("first")
    try:
        assert _wait_for(lambda: len(effects()) >= 5)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    done_by_first = effects()
    claimed_by_dead = Delivery.objects.filter(status="pending", claimed_by__startswith="first/").count()
    assert 5 <= len(done_by_first) < 30
    assert claimed_by_dead >= 1  # it died with part of its batch claimed (and maybe a handler running)

    second = _child("second")
    try:
        assert _wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 30)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(10)

    assert effects() == ids  # every event handled, each exactly once
    assert set(done_by_first) <= set(ids)
    assert not Delivery.objects.exclude(status="delivered").exists()
    # The deliveries the first worker had claimed were tried a second time by the second.
    assert Delivery.objects.filter(attempts=2).count() == claimed_by_dead
