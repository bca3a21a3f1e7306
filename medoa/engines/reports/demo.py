"""Demo loader ``reports``: the daily and duration facts of the demo's history.

The other loaders write weeks of history (finished stays, operations, approvals) as an initial
load, without events — so nothing marks those days for the periodic refresh. This loader, the
last to run, builds the facts of those weeks at once, and the cockpit opens on real figures.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from django.utils import timezone

from medoa.core.registries import DemoLoader

from .facts import durations_rebuild, facts_rebuild
from .helpers import local_date

HISTORY_DAYS: Final = 40  # the longest history a demo loader writes, and a few days more


def demo_load(*, password: str = "") -> None:
    """``password`` is the loaders' common argument (unused)."""
    today = local_date(timezone.now())
    first = today - dt.timedelta(days=HISTORY_DAYS)
    facts_rebuild(first, today)
    durations_rebuild(first, today)


DEMO_LOADER: Final = DemoLoader("reports", demo_load, order=95)
