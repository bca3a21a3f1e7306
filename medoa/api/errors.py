"""One error shape for the whole API: ``{"detail": ..., "errors": [{"field", "message", "message_en"}]}``.

Every 4xx names what was wrong; nothing the client sends can produce a 500 with a stack trace.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import override
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError


def _loc_to_field(loc: Any) -> str:
    parts = [str(p) for p in (loc or []) if p not in {"body", "payload", "query", "path", "form"}]
    return ".".join(parts)


def _translate(msg: str) -> tuple[str, str]:
    with override("en"):
        en = _(msg)
    return _(msg), en


def install_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(ValidationError)
    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = []
        for err in exc.errors:
            message = str(err.get("msg", "invalid value"))
            errors.append(
                {
                    "field": _loc_to_field(err.get("loc")),
                    "message": message,
                    "message_en": message,
                    "type": err.get("type", ""),
                }
            )
        zh, en = _translate("The request is not valid.")
        return api.create_response(request, {"detail": zh, "detail_en": en, "errors": errors}, status=422)

    @api.exception_handler(AuthenticationError)
    def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        zh, en = _translate("Authentication required: send a valid bearer token.")
        response = api.create_response(request, {"detail": zh, "detail_en": en}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        body: dict[str, Any] = {"detail": str(exc.message)}
        extra = getattr(exc, "extra", None)
        if isinstance(extra, dict):
            body.update(extra)
        return api.create_response(request, body, status=exc.status_code)
