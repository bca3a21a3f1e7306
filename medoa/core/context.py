"""Per-request context (client address) that services read when the caller does not pass it."""

from __future__ import annotations

from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest

client_address: ContextVar[str | None] = ContextVar("medoa_client_address", default=None)


def client_address_of(request: HttpRequest) -> str | None:
    """The peer's address. ``X-Forwarded-For`` is trusted only when MEDOA_TRUSTED_PROXIES lists
    the immediate peer (see docs/operators.md), so a client cannot choose its own address."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = getattr(settings, "MEDOA_TRUSTED_PROXIES", ())
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if remote in trusted and forwarded:
        return forwarded.split(",")[-1].strip() or remote
    return remote
