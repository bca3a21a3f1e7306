"""django-ninja authentication: ``Authorization: Bearer <token>`` for people, system API keys
(``Authorization: Bearer msk_…`` or ``X-API-Key: msk_…``) for other systems."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.errors import HttpError
from ninja.security import HttpBearer
from ninja.security.apikey import APIKeyHeader

from medoa.core.apierrors import in_both
from medoa.core.context import client_address_of

from .models import SystemApiKey
from .system_keys import authenticate_system_key, key_allows, raw_key_from_request
from .tokens import api_token_authenticate


class BearerAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is None:
            return None
        request.user = user
        return user


class SystemKeyAuth(APIKeyHeader):
    """A system API key, sent as ``Authorization: Bearer msk_…`` or ``X-API-Key: msk_…``.

    On success sets ``request.system_key`` (and ninja's ``request.auth``) to the key; it does not
    set ``request.user``. Put it after ``BearerAuth`` where people and systems share an endpoint:
    ``auth=[BearerAuth(), SystemKeyAuth()]``; then check scopes with ``require_scope``.
    """

    param_name = "X-API-Key"

    def _get_key(self, request: HttpRequest) -> str | None:
        return raw_key_from_request(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if not key:
            return None
        system_key = authenticate_system_key(key, address=client_address_of(request))
        if system_key is None:
            return None
        request.system_key = system_key  # type: ignore[attr-defined]
        return system_key


def request_system_key(request: HttpRequest) -> SystemApiKey | None:
    """The system key this request authenticated with (``SystemKeyAuth``), or ``None``."""
    key = getattr(request, "system_key", None)
    if isinstance(key, SystemApiKey):
        return key
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, SystemApiKey) else None


def _error(status: int, message: Any, params: dict[str, Any] | None = None) -> HttpError:
    zh, en = in_both(message, params)
    error = HttpError(status, zh)
    error.extra = {"detail": zh, "detail_en": en}  # type: ignore[attr-defined]
    return error


def require_scope(request: HttpRequest, scope: str) -> SystemApiKey:
    """The request's system key if its scopes allow ``scope``; 401 without a key, 403 (``this API
    key may not send <scope>``) when the key's scopes do not allow it."""
    key = request_system_key(request)
    if key is None:
        raise _error(401, _("Authentication required: send a valid system API key."))
    if not key_allows(key, scope):
        raise _error(403, _("This API key may not send %(scope)s."), {"scope": scope})
    return key
