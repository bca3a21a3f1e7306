"""Request guard: client address for audit, live-session check, idle timeout, forced TOTP
enrolment and forced password change.

For a signed-in browser session, in this order:

1. the session must still be recorded in ``UserSession`` (logout elsewhere, an administrator or
   deactivation ended it otherwise) and the person must still be active. The answer is kept per
   process for ``MEDOA_ACCESS_CACHE_SECONDS`` (``medoa.core.access.cache``); every service that
   ends a session drops it, and ending a session also deletes the session row itself, which
   Django reads on every request, so an ended session is refused at once;
2. it must have been used within ``MEDOA_SESSION_IDLE_MINUTES`` (the stamp in the session is
   refreshed at most once a minute, so most requests write nothing);
3. holders of ``MEDOA_TOTP_REQUIRED_ROLES`` without TOTP see only the enrolment page;
4. users who must change their password (``must_change_password`` or, under the 等保 profile, a
   password older than 90 days) see only the change page.

The API (bearer tokens, no session) and static files pass straight through.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth import logout as auth_logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from medoa.core.context import client_address, client_address_of

from . import cache
from .models import UserSession
from .passwords import password_expired
from .policy import principal_of
from .services import session_expire, user_session_forget, user_sessions_end
from .sessions import SEEN_GRANULARITY_SECONDS, SEEN_KEY, idle_limit_seconds, now_seconds
from .totp import totp_enrolment_required

PASS_THROUGH_PREFIXES = ("/api/", "/healthz", "/i18n/", "/favicon.ico")


class SessionGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = client_address.set(client_address_of(request))
        try:
            response = self._guard(request)
            if response is None:
                response = self.get_response(request)
            return response
        finally:
            client_address.reset(token)

    def _guard(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path_info
        if path.startswith(PASS_THROUGH_PREFIXES) or path.startswith(settings.STATIC_URL):
            return None
        user = request.user
        session = request.session
        if not user.is_authenticated:
            if SESSION_KEY in session:
                # Signed in once, but the account is no longer allowed (deactivated): drop it all.
                if session.session_key:
                    user_session_forget(session_key=session.session_key)
                session.flush()
            return None
        key = session.session_key
        if not key or not _session_is_live(key, user.pk):
            auth_logout(request)
            return _to_login(request, "ended")
        principal = principal_of(user)
        if principal is not None and principal.staff is not None and not principal.staff.is_active:
            user_sessions_end(user=user)
            auth_logout(request)
            return _to_login(request, "ended")
        now = now_seconds()
        seen = session.get(SEEN_KEY)
        if isinstance(seen, int) and now - seen > idle_limit_seconds():
            session_expire(user=user, session_key=key, reason="idle")
            auth_logout(request)
            return _to_login(request, "idle")
        if not isinstance(seen, int) or now - seen >= SEEN_GRANULARITY_SECONDS:
            session[SEEN_KEY] = now

        if totp_enrolment_required(user):
            logout_path, totp_path = reverse("access:logout"), reverse("access:totp_setup")
            if path != logout_path and path != totp_path:
                return _redirect(request, totp_path)
        if password_expired(user):
            exempt = {reverse("access:logout"), reverse("access:totp_setup")}
            password_path = reverse("access:password_change")
            if path not in exempt and path != password_path:
                return _redirect(request, password_path)
        return None


def _session_is_live(session_key: str, user_id: int) -> bool:
    """Is ``session_key`` a live ``UserSession`` of ``user_id``? One query, none while cached."""
    if cache.sessions.get(session_key) == user_id:
        return True
    generation = cache.sessions.generation()
    live = UserSession.objects.filter(session_key=session_key, user_id=user_id).exists()
    if live:
        cache.sessions.set(session_key, user_id, generation=generation)
    return live


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect that htmx follows as a full page change."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def _to_login(request: HttpRequest, reason: str) -> HttpResponse:
    query = {"reason": reason}
    if request.method == "GET" and not request.headers.get("HX-Request"):
        query["next"] = request.get_full_path()
    return _redirect(request, f"{reverse('access:login')}?{urlencode(query)}")
