"""API bearer tokens for people: random secrets shown once, stored as SHA-256, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from .models import ApiToken, User

TOKEN_PREFIX = "moa_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_issue(
    *, user: User, name: str = "", client_address: str | None = None, hours: int | None = None
) -> tuple[str, ApiToken]:
    """Create a token; return the raw secret (never stored) and the row."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = hours if hours is not None else settings.MEDOA_API_TOKEN_HOURS
    token = ApiToken.objects.create(
        user=user,
        key_hash=hash_token(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        name=name[:100],
        expires_at=timezone.now() + timedelta(hours=lifetime),
        client_address=client_address,
    )
    return raw, token


def api_token_authenticate(raw: str) -> User | None:
    """The active user behind a live token, or ``None``. One query."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    user: Any = token.user
    user._medoa_api_token = token
    return token.user
