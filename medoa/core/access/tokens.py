"""API bearer tokens for people: random secrets shown once, stored as SHA-256, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from .models import ApiToken, User
from .policy import STAFF_JOINED

TOKEN_PREFIX = "moa_"
# ``last_used_at`` is refreshed at most this often, so that a busy client does not write per call.
LAST_USED_GRANULARITY = timedelta(minutes=5)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_issue(
    *, user: User, name: str = "", client_address: str | None = None, hours: int | None = None
) -> tuple[str, ApiToken]:
    """Create a token; return the raw secret (never stored) and the row."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = hours if hours is not None else settings.MEDOA_API_TOKEN_HOURS
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        key_hash=hash_token(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        name=name[:100],
        expires_at=now + timedelta(hours=lifetime),
        last_used_at=now,
        client_address=client_address,
    )
    return raw, token


def api_token_authenticate(raw: str) -> User | None:
    """The active user behind a live token, or ``None``.

    One query, which also loads the user's staff record and department so that the permission
    principal needs no query for them. ``last_used_at`` is refreshed every few minutes at most.
    """
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user", "user__staff", "user__staff__department")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    user: Any = token.user
    user._medoa_api_token = token
    setattr(user, STAFF_JOINED, True)
    return token.user


def api_token_of(user: Any) -> ApiToken | None:
    """The token the current API request authenticated with (``None`` outside bearer auth)."""
    token: ApiToken | None = getattr(user, "_medoa_api_token", None)
    return token
