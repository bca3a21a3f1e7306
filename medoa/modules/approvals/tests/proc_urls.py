"""The site's URLs with PROC's approval pages added to the ``approvals`` namespace and the
statistics router on a test API at ``/api/v1/approvals/stats`` — for PROC's view and API tests
until ``urls.py`` includes ``urls_proc`` and the API mounts ``api_stats.router`` (then they
change nothing). The site's URLs are included by name: a module may not import ``config`` or
``api`` (import-linter)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from ninja import NinjaAPI
from ninja.errors import HttpError

from medoa.core.access.api_auth import BearerAuth
from medoa.modules.approvals import api_stats, urls_proc
from medoa.modules.approvals import urls as approvals_urls

SITE_URLCONF = "medoa.config.urls"
STATS_URL = "/api/v1/approvals/stats"

_names = {p.name for p in approvals_urls.urlpatterns}
_extra = [p for p in urls_proc.urlpatterns if p.name not in _names]
_api = NinjaAPI(auth=BearerAuth(), urls_namespace="approvals_proc_api", docs_url=None, openapi_url=None)
_api.add_router("/approvals", api_stats.router)


@_api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _api.create_response(request, {"detail": str(exc.message)}, status=exc.status_code)


urlpatterns = [
    path("api/v1/", _api.urls),
    path("approvals/", include((approvals_urls.urlpatterns + _extra, "approvals"))),
    path("", include(SITE_URLCONF)),
]
