"""The event bus's errors: each carries a lazy English message (answered in Chinese and English by
the API) and, where a field is at fault, the field's path."""

from __future__ import annotations

from typing import Any


class EventError(Exception):
    """Base of the bus's refusals."""

    def __init__(
        self,
        message: Any,
        *,
        params: dict[str, Any] | None = None,
        field: str = "",
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.params = params or {}
        self.field = field
        # Per-field errors in the API's shape ({"field", "message", "message_en", "type"}).
        self.errors = errors or []

    def __str__(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text


class UnknownEventType(EventError):
    """No event type is registered under this name."""


class EventPayloadInvalid(EventError):
    """The payload does not match its event type's schema; ``errors`` names every field at fault."""


class EventKeyConflict(EventError):
    """The idempotency key was used before for an event of another type or with another payload."""


class DeliveryNotRedeliverable(EventError):
    """Only failed or dead deliveries may be redelivered (a delivered one never runs again)."""


class EventRejected(Exception):
    """Raised by a handler that will never accept this event (bad reference, obsolete data):
    the delivery goes straight to ``dead`` instead of being retried."""
