from __future__ import annotations

from .services import requests_sync_ended


def sync_job() -> int:
    """Periodic: requests whose process was withdrawn or cancelled follow it."""
    return requests_sync_ended()
