"""The engine's clock: every timer decision asks :func:`now`.

Tests move time by patching this one function (``monkeypatch.setattr(clock, "now", …)``); the
timer event definitions look it up on this module at each call.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
