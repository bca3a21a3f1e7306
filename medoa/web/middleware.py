"""Presentation middleware: the language choice and the security headers of every response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

# Our pages: scripts and styles only from our own origin (no inline script, no style="" attribute;
# htmx's inline indicator style is switched off in base.html's htmx-config).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; frame-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
# The interactive API docs (django-ninja's Swagger UI) bootstrap inline and load from its CDN;
# only that page gets the looser policy.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
DOCS_PATH = "/api/v1/docs"
# The camera stays available to our own pages (scanning equipment QR codes on a phone).
PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"


class LanguageMiddleware:
    """Chinese first: the language comes from the ``medoa_language`` cookie, else the signed-in
    user's stored choice, else ``LANGUAGE_CODE`` (zh-hans) — never the browser's Accept-Language
    header, so a hospital PC with an English browser still opens in Chinese."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        lang = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if lang not in self.supported:
            lang = settings.LANGUAGE_CODE
        translation.activate(lang)
        request.LANGUAGE_CODE = lang
        try:
            response = self.get_response(request)
            response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        finally:
            translation.deactivate()
        return response

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        """Without a cookie, a signed-in user's stored language applies (the session is loaded
        by now; this reads no extra row)."""
        if request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "") in self.supported:
            return
        user = getattr(request, "user", None)
        lang = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if lang in self.supported and lang != request.LANGUAGE_CODE:
            translation.activate(lang)
            request.LANGUAGE_CODE = lang


class SecurityHeadersMiddleware:
    """CSP and friends on every response; ``Cache-Control: no-store`` on everything a signed-in
    user sees and on the whole API (pages and answers with personal data must not be cached by
    the browser or a proxy). Referrer-Policy, X-Frame-Options and COOP come from Django's
    SecurityMiddleware and XFrameOptionsMiddleware (settings ``SECURE_*``, ``X_FRAME_OPTIONS``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_docs = request.path == DOCS_PATH or request.path.startswith(DOCS_PATH + "/")
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP if is_docs else CSP)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if request.path.startswith(settings.STATIC_URL):
            return response
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
            response.headers.pop("Expires", None)
        return response
