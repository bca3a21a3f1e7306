"""System check: every event type a subscriber names exactly is registered (a typo would
otherwise subscribe to nothing, silently)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Warning

from .registry import event_types, subscribers


def check_subscriptions(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    for subscriber in subscribers:
        for pattern in subscriber.event_types:
            if pattern == "*" or pattern.endswith(".*"):
                continue
            if pattern not in event_types:
                problems.append(
                    Warning(
                        f"Subscriber {subscriber.name!r} listens to {pattern!r}, which no app registers.",
                        hint="Register the event type in its app's ready(), or fix the name.",
                        id="events.W001",
                    )
                )
    return problems
