"""The real URL root plus views that fail, for the error page tests."""

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.urls import path

from medoa.config.urls import urlpatterns as root_urlpatterns

SECRET_TEXT = "secret-exception-detail-7f3a /etc/medoa/keys.json"


def explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(SECRET_TEXT)


def deny(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied(SECRET_TEXT)


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation(SECRET_TEXT)


urlpatterns = [
    path("__test__/explode/", explode),
    path("__test__/deny/", deny),
    path("__test__/suspicious/", suspicious),
    *root_urlpatterns,
]

handler400 = "medoa.web.views.bad_request"
handler403 = "medoa.web.views.permission_denied"
handler404 = "medoa.web.views.page_not_found"
handler500 = "medoa.web.views.server_error"
