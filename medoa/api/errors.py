"""The API's exception handlers: every error leaves in the one bilingual shape defined in
medoa/core/apierrors.py; nothing the client sends can produce a 500 with a stack trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError, ValidationErrorContext

from medoa.core.apierrors import (
    FALLBACK,
    MESSAGES,
    NINJA_MESSAGES,
    UNPARSABLE_BODY,
    error_body,
    in_both,
    loc_to_field,
    translate_error,
)

__all__ = [
    "FALLBACK",
    "MESSAGES",
    "NINJA_MESSAGES",
    "error_body",
    "in_both",
    "install_error_handlers",
    "loc_to_field",
    "translate_error",
]


def _original_causes(contexts: list[ValidationErrorContext[Any]]) -> list[Any]:
    causes: list[Any] = []
    for context in contexts:
        for err in context.pydantic_validation_error.errors(include_url=False):
            causes.append((err.get("ctx") or {}).get("error"))
    return causes


def _keep_causes(api: NinjaAPI) -> None:
    """ninja turns a validator's exception into a string; keep the exception so that a lazy
    message can be answered in both languages."""
    build: Callable[[list[ValidationErrorContext[Any]]], ValidationError] = (
        api.validation_error_from_error_contexts
    )

    def build_keeping_causes(error_contexts: list[ValidationErrorContext[Any]]) -> ValidationError:
        exc = build(error_contexts)
        exc.medoa_causes = _original_causes(error_contexts)  # type: ignore[attr-defined]
        return exc

    setattr(api, "validation_error_from_error_contexts", build_keeping_causes)  # noqa: B010


def install_error_handlers(api: NinjaAPI) -> None:
    _keep_causes(api)

    @api.exception_handler(ValidationError)
    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        causes: list[Any] = getattr(exc, "medoa_causes", [])
        errors = [
            translate_error(err, causes[i] if i < len(causes) else None) for i, err in enumerate(exc.errors)
        ]
        body = error_body(gettext_lazy("The request is not valid."), errors=errors)
        return api.create_response(request, body, status=422)

    @api.exception_handler(AuthenticationError)
    def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        body = error_body(gettext_lazy("Authentication required: send a valid bearer token."))
        response = api.create_response(request, body, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        message: Any = exc.message
        if exc.status_code == 400 and str(message).startswith(UNPARSABLE_BODY):
            errors = [translate_error({"type": "json_invalid", "loc": ("body",)})]
            body = error_body(MESSAGES["json_invalid"], errors=errors)
            return api.create_response(request, body, status=400)
        if isinstance(message, str) and message in NINJA_MESSAGES:
            message = NINJA_MESSAGES[message]
        body = error_body(message)
        extra = getattr(exc, "extra", None)
        if isinstance(extra, dict):
            body.update(extra)
        response = api.create_response(request, body, status=exc.status_code)
        if exc.status_code == 401:
            response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return api.create_response(request, error_body(gettext_lazy("Not found.")), status=404)

    @api.exception_handler(PermissionDenied)
    def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        body = error_body(gettext_lazy("You do not have permission to do this."))
        return api.create_response(request, body, status=403)
