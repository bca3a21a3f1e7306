from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medoa.engines.flow.spiff import clock as spiff_clock


class FakeClock:
    """The engine's clock, moved by hand."""

    def __init__(self) -> None:
        self.current = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(spiff_clock, "now", fake.now)
    return fake
