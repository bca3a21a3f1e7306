"""API bearer tokens for people: random secrets shown once, stored as SHA-256, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.utils import timezone

from . import cache
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


@dataclass
class CachedToken:
    """A token lookup kept in ``cache.tokens``: the row and its user (with staff and department).
    Shared between requests; ``api_token_authenticate`` hands out copies."""

    token_id: int
    user_id: int
    expires_at: datetime
    token: ApiToken
    user: User


def _lookup(key_hash: str, now: datetime) -> CachedToken | None:
    hit = cache.tokens.get(key_hash)
    if isinstance(hit, CachedToken):
        return hit
    generation = cache.tokens.generation()
    token = (
        ApiToken.objects.select_related("user", "user__staff", "user__staff__department")
        .filter(key_hash=key_hash, revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    entry = CachedToken(
        token_id=token.pk, user_id=token.user_id, expires_at=token.expires_at, token=token, user=token.user
    )
    cache.tokens.set(key_hash, entry, generation=generation)
    return entry


def _user_copy(user: User) -> User:
    """The cached user for one request: its own object (and staff, department), nothing that a
    previous request set on it."""
    own = cache.model_copy(user)
    for name in ("_medoa_principal", "_medoa_api_token"):
        own.__dict__.pop(name, None)
    staff = user._state.fields_cache.get("staff")
    if staff is not None:
        staff = cache.model_copy(staff)
        department = staff._state.fields_cache.get("department")
        if department is not None:
            staff._state.fields_cache["department"] = cache.model_copy(department)
        own._state.fields_cache["staff"] = staff
    return own


def api_token_authenticate(raw: str) -> User | None:
    """The active user behind a live token, or ``None``.

    One query, which also loads the user's staff record and department so that the permission
    principal needs no query for them; none while the lookup is cached (``cache.tokens``, for
    ``MEDOA_ACCESS_CACHE_SECONDS``; revocation and deactivation invalidate it in this process).
    The expiry is checked on every call. ``last_used_at`` is refreshed every few minutes at most.
    """
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    entry = _lookup(hash_token(raw), now)
    if entry is None or entry.expires_at <= now:
        return None
    shared = entry.token
    if shared.last_used_at is None or now - shared.last_used_at > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=shared.pk).update(last_used_at=now)
        shared.last_used_at = now
    user: Any = _user_copy(entry.user)
    user._medoa_api_token = cache.model_copy(shared)
    setattr(user, STAFF_JOINED, True)
    return cast(User, user)


def api_token_of(user: Any) -> ApiToken | None:
    """The token the current API request authenticated with (``None`` outside bearer auth)."""
    token: ApiToken | None = getattr(user, "_medoa_api_token", None)
    return token
