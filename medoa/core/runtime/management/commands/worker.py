"""``medoa manage worker``: the same worker as ``medoa worker`` (task loop + heartbeat)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from medoa.core.runtime.worker import HEARTBEAT_SECONDS, MedoaWorker


class Command(BaseCommand):
    help = "Run the background worker: all task queues, with a heartbeat for /healthz."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--queue", default="*", help="comma-separated queue names ('*' = all)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls when idle")
        parser.add_argument(
            "--heartbeat", type=float, default=HEARTBEAT_SECONDS, help="seconds between beats"
        )
        parser.add_argument("--batch", action="store_true", help="run what is queued, then exit")

    def handle(
        self, *args: Any, queue: str, interval: float, heartbeat: float, batch: bool, **opts: Any
    ) -> None:
        MedoaWorker(
            queue_names=[q.strip() for q in queue.split(",") if q.strip()] or ["*"],
            interval=interval,
            heartbeat_seconds=heartbeat,
            batch=batch,
        ).run()
