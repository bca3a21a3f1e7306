"""The domain event bus: registered event types, an outbox written in the caller's transaction,
and delivery to subscribers by the worker after commit, at least once.

    from medoa.core.events import publish
    publish("hr.certificate.expiring", {"staff": "zhang", "certificate": "ACLS",
                                         "expires_on": "2026-03-01"}, key="cert:zhang:ACLS:2026-03-01")

Registries: ``medoa.core.events.registry`` (``event_types``, ``subscribers``). See docs/events.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Event


def publish(
    type: str,
    payload: Any,
    *,
    key: str | None = None,
    actor: Any = None,
    actor_name: str = "",
) -> Event:
    """``medoa.core.events.services.publish`` — this package is imported before the app registry
    is ready (its ``apps.py``), so the service module (which needs the models) is loaded on call."""
    from .services import publish as _publish

    return _publish(type, payload, key=key, actor=actor, actor_name=actor_name)
