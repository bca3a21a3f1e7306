"""The bench's URLconf: MedOA's own URLs plus ``/bench/bare``, a view that does nothing.

``/bench/bare`` runs through the same middleware as every MedOA page (sessions, CSRF,
authentication, security headers), so the ratio of a MedOA endpoint to it shows what MedOA's own
work costs on top of Django's. Selected with ``MEDOA_ROOT_URLCONF=bench.urls_bench``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from medoa.config import urls as medoa_urls


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/bare", bare), *medoa_urls.urlpatterns]

handler400 = medoa_urls.handler400
handler403 = medoa_urls.handler403
handler404 = medoa_urls.handler404
handler500 = medoa_urls.handler500
