"""Fixtures of the notification centre's tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from medoa.core.notify import push
from medoa.core.notify.models import Notification
from medoa.core.notify.services import notification_send


@pytest.fixture
def inbox(db: Any) -> Callable[..., list[Notification]]:
    """``inbox(user, 3)``: three notifications for ``user``, oldest first (titles n0, n1, n2)."""

    def fill(user: Any, count: int, prefix: str = "n") -> list[Notification]:
        return [notification_send(recipients=[user], title=f"{prefix}{i}")[0] for i in range(count)]

    return fill


@pytest.fixture(autouse=True)
def _stop_the_hub() -> Any:
    """Each test starts with no push hub and ends its hub thread (and its LISTEN connection)."""
    push.hub_stop()
    yield
    push.hub_stop()
