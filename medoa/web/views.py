"""The shell's pages: the role workbench, the language switch, health check and error pages.

Error pages are rendered WITHOUT the request context: no context processor runs (so a database
outage cannot break the 500 page) and nothing from the request or the exception reaches them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from medoa.core.access.policy import principal_of
from medoa.core.registries import workbench_cards
from medoa.core.runtime.models import WorkerHeartbeat

from .selectors import workbench_cards_with_context, workbench_heading, workbench_profile
from .services import user_language_set

SameSite = Literal["Lax", "Strict", "None", False] | None


@login_required
@require_GET
def workbench(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request.user)
    role_codes = principal.role_codes if principal is not None else set()
    context = {
        "heading": workbench_heading(role_codes),
        "profile": workbench_profile(user=request.user),
        "cards": workbench_cards_with_context(request=request, cards=workbench_cards),
    }
    return render(request, "web/workbench.html", context)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language switch: sets the ``medoa_language`` cookie and, for a signed-in user, keeps the
    choice on the account too (it then follows them to other browsers). Redirects to ``next`` when
    that is a path on this site, else to the workbench."""
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    language = request.POST.get("language", "")
    if language not in {code for code, _name in settings.LANGUAGES}:
        messages.error(request, _("This language is not available."))
        return response
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=cast(SameSite, settings.LANGUAGE_COOKIE_SAMESITE),
    )
    if request.user.is_authenticated:
        user_language_set(user=request.user, language=language)
    return response


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: database reachable, and whether a worker beat recently."""
    body: dict[str, Any] = {"status": "ok", "database": "ok", "worker": "stale"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        cutoff = timezone.now() - timedelta(seconds=settings.MEDOA_WORKER_STALE_SECONDS)
        if WorkerHeartbeat.objects.filter(seen_at__gte=cutoff).exists():
            body["worker"] = "ok"
    except Exception:
        body.update(status="error", database="error", worker="unknown")
        return JsonResponse(body, status=503)
    return JsonResponse(body)


def _error(status: int, template: str) -> HttpResponse:
    body = loader.get_template(template).render({"status": status})
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(400, "web/errors/400.html")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(403, "web/errors/403.html")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(404, "web/errors/404.html")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(500, "web/errors/500.html")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(403, "web/errors/403_csrf.html")
