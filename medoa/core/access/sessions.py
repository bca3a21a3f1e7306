"""Browser-session bookkeeping: the live-session record, the idle stamp, the half-signed-in state.

All state lives in the server-side session (the database backend), never in a cookie we would
have to trust.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from medoa.core.context import client_address_of

from .services import user_session_record

# Epoch seconds of the last request, refreshed at most once a minute (see SessionGuardMiddleware).
SEEN_KEY = "medoa_seen"
SEEN_GRANULARITY_SECONDS = 60
# The user who gave the right password and still owes a TOTP code.
PENDING_KEY = "medoa_pending_2fa"
PENDING_TTL_SECONDS = 300
# A TOTP secret shown on the enrolment page and not yet confirmed.
TOTP_SETUP_KEY = "medoa_totp_setup"


def now_seconds() -> int:
    return int(time.time())


def idle_limit_seconds() -> int:
    return int(settings.MEDOA_SESSION_IDLE_MINUTES) * 60


def session_record_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: every signed-in session (our login view, the test client's
    ``force_login``) is recorded, so logout and deactivation can find and end it."""
    session = request.session
    if not session.session_key:
        session.save()
    user_session_record(
        user=user,
        session_key=str(session.session_key),
        client_address=client_address_of(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    session[SEEN_KEY] = now_seconds()


@dataclass(frozen=True)
class PendingLogin:
    user_id: int
    next_url: str


def pending_login_set(session: SessionBase, *, user_id: int, next_url: str) -> None:
    session[PENDING_KEY] = {"user": user_id, "at": now_seconds(), "next": next_url}


def pending_login_get(session: SessionBase) -> PendingLogin | None:
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    at = data.get("at")
    user_id = data.get("user")
    if not isinstance(at, int) or not isinstance(user_id, int) or now_seconds() - at > PENDING_TTL_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    return PendingLogin(user_id=user_id, next_url=str(data.get("next") or ""))


def pending_login_clear(session: SessionBase) -> None:
    session.pop(PENDING_KEY, None)
