"""The shell's pages: the role workbench, health check and error pages that leak nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from medoa.core.runtime.models import WorkerHeartbeat


@login_required
def workbench(request: HttpRequest) -> HttpResponse:
    return render(request, "web/workbench.html", {})


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
        body.update(status="error", database="error")
        return JsonResponse(body, status=503)
    return JsonResponse(body)


def _error(request: HttpRequest, status: int, template: str) -> HttpResponse:
    return render(request, template, {"status": status}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, "web/errors/400.html")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "web/errors/403.html")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "web/errors/404.html")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(request, 500, "web/errors/500.html")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(request, 403, "web/errors/403_csrf.html")
