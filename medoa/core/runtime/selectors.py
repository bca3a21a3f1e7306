"""Reads about the running processes."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import WorkerHeartbeat


def worker_is_alive(*, stale_seconds: int | None = None) -> bool:
    """Has any worker beaten within the last ``MEDOA_WORKER_STALE_SECONDS``?"""
    seconds = settings.MEDOA_WORKER_STALE_SECONDS if stale_seconds is None else stale_seconds
    return WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - timedelta(seconds=seconds)).exists()
