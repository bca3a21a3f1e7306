"""Worker heartbeats: each worker upserts its row every few seconds; /healthz reads them."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from .models import WorkerHeartbeat

# Rows of workers that died without saying goodbye are removed after this long.
FORGET_AFTER = datetime.timedelta(days=1)


@transaction.atomic
def worker_heartbeat_beat(*, worker_id: str, hostname: str, pid: int, started_at: datetime.datetime) -> None:
    """Record that worker ``worker_id`` is alive now (insert or update its row)."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"hostname": hostname[:255], "pid": pid, "started_at": started_at, "seen_at": now},
    )


@transaction.atomic
def worker_heartbeat_clear(*, worker_id: str) -> None:
    """Remove the worker's row on a clean exit, and rows of long-dead workers."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
    WorkerHeartbeat.objects.filter(seen_at__lt=timezone.now() - FORGET_AFTER).delete()
