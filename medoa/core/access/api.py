"""REST endpoints of this app (mounted by medoa.api.api): tokens and the caller's own record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from medoa.core.context import client_address_of

from .policy import principal_memo, principal_of
from .selectors import api_token_list_own, me_get
from .services import (
    LOGIN_FAILED,
    LoginBlocked,
    api_token_create,
    api_token_revoke,
    credentials_authenticate,
)
from .tokens import api_token_of

router = Router(tags=["auth"])


def _error(status: int, message: Any) -> HttpError:
    """An HTTP error with a lazy message: the error handler answers it in Chinese and English."""
    return HttpError(status, message)


class TokenIn(Schema):
    username: str = Field(..., min_length=1, max_length=150)
    password: str = Field(..., min_length=1, max_length=1024)
    otp: str | None = Field(None, max_length=10, description="TOTP code; required for accounts with TOTP")


class TokenOut(Schema):
    token: str
    expires_at: datetime


class TokenInfo(Schema):
    id: int
    prefix: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    client_address: str | None
    current: bool


class ErrorOut(Schema):
    detail: str
    detail_en: str


class DepartmentRef(Schema):
    id: int
    code: str
    name: str


class DepartmentOut(DepartmentRef):
    path: list[str]


class RoleOut(Schema):
    code: str
    name: str
    department: DepartmentRef
    include_children: bool


class PermissionOut(Schema):
    code: str
    scope: str


class MeOut(Schema):
    username: str
    id: int | None
    employee_no: str | None
    name: str | None
    gender: str | None
    title: str | None
    nursing_level: str | None
    position: str | None
    office_phone: str | None
    email: str | None
    department: DepartmentOut | None
    roles: list[RoleOut]
    permissions: list[PermissionOut]


@router.post(
    "/auth/token",
    auth=None,
    response={200: TokenOut, 401: ErrorOut, 403: ErrorOut},
    summary="Exchange username, password (and TOTP code) for a bearer token",
)
def token_create(request: HttpRequest, payload: TokenIn) -> Any:
    address = client_address_of(request)
    try:
        user = credentials_authenticate(
            username=payload.username,
            password=payload.password,
            otp=payload.otp,
            client_address=address,
            channel="api",
        )
    except LoginBlocked as blocked:
        raise _error(403, blocked.message) from blocked
    if user is None:
        raise _error(401, LOGIN_FAILED)
    raw, token = api_token_create(user=user, client_address=address, name="api")
    return {"token": raw, "expires_at": token.expires_at}


@router.delete("/auth/token", response={204: None}, summary="Revoke the token of this request")
def token_revoke(request: HttpRequest) -> Any:
    user: Any = request.auth  # type: ignore[attr-defined]
    token = api_token_of(user)
    if token is None:
        raise _error(401, _("Authentication required: send a valid bearer token."))
    api_token_revoke(user=user, token=token)
    return Status(204, None)


@router.get("/auth/tokens", response=list[TokenInfo], summary="The caller's own tokens (no secrets)")
def token_list(request: HttpRequest) -> Any:
    user: Any = request.auth  # type: ignore[attr-defined]
    current = api_token_of(user)
    return [
        {
            "id": t.pk,
            "prefix": t.prefix,
            "name": t.name,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "revoked_at": t.revoked_at,
            "last_used_at": t.last_used_at,
            "client_address": t.client_address,
            "current": current is not None and t.pk == current.pk,
        }
        for t in api_token_list_own(user=user)
    ]


@router.get("/me", response=MeOut, summary="The caller: staff record, department, roles, permissions")
def me(request: HttpRequest) -> Any:
    """Answered from the caller's principal. The validated answer is kept with the principal (per
    language and username), so while the access cache is warm a call costs no query and no
    validation: ninja only serialises the ``MeOut`` instance."""
    user: Any = request.auth  # type: ignore[attr-defined]
    principal = principal_of(user)
    if principal is None:  # pragma: no cover - bearer auth always yields a signed-in user
        return _me_body(user)
    key = ("api.me", get_language(), user.get_username())
    return principal_memo(principal, key, lambda: MeOut.model_validate(_me_body(user)))


def _me_body(user: Any) -> dict[str, Any]:
    data = me_get(user=user)
    staff = data.staff
    body: dict[str, Any] = {
        "username": user.get_username(),
        "id": None,
        "employee_no": None,
        "name": None,
        "gender": None,
        "title": None,
        "nursing_level": None,
        "position": None,
        "office_phone": None,
        "email": None,
        "department": None,
        "roles": [],
        "permissions": [],
    }
    if staff is None:
        return body
    department = staff.department
    body.update(
        id=staff.pk,
        employee_no=staff.employee_no,
        name=staff.name,
        gender=staff.gender,
        title=staff.title,
        nursing_level=staff.nursing_level,
        position=staff.position,
        office_phone=staff.office_phone,
        email=staff.email,
        department={
            "id": department.pk,
            "code": department.code,
            "name": department.name,
            "path": [d.name for d in data.department_path],
        },
        roles=[
            {
                "code": a.role.code,
                "name": a.role.name,
                "department": {"id": a.department.pk, "code": a.department.code, "name": a.department.name},
                "include_children": a.include_children,
            }
            for a in data.roles
        ],
        permissions=[{"code": code, "scope": str(scope)} for code, scope in data.permissions],
    )
    return body


# --- system API keys (issue 6) --------------------------------------------------------------------
# Person auth (bearer token) with ``access.system_key.manage``; the raw key is answered once, by the
# creating call.

from medoa.core.apierrors import InvalidOut, in_both  # noqa: E402

from .policy import has_perm  # noqa: E402
from .system_keys import (  # noqa: E402
    SYSTEM_KEY_MANAGE,
    SystemKeyError,
    create_system_key,
    revoke_system_key,
    system_key_get,
    system_key_list,
    update_system_key_scopes,
)


class SystemKeyIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    system: str = Field("", max_length=100)
    scopes: list[str] = Field(
        ...,
        min_length=1,
        max_length=100,
        description="exact scopes (hl7:adt, fhir:Observation) or patterns (fhir:*, events:publish:hr.*)",
    )


class SystemKeyOut(Schema):
    id: int
    name: str
    system: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    last_used_address: str | None
    revoked_at: datetime | None
    revoked_by: str | None


class SystemKeyCreatedOut(SystemKeyOut):
    key: str = Field(..., description="the raw key: shown this once, never again")


def _system_key_out(key: Any) -> dict[str, Any]:
    return {
        "id": key.pk,
        "name": key.name,
        "system": key.system,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "created_at": key.created_at,
        "created_by": key.created_by.username if key.created_by_id else None,
        "last_used_at": key.last_used_at,
        "last_used_address": key.last_used_address,
        "revoked_at": key.revoked_at,
        "revoked_by": key.revoked_by.username if key.revoked_by_id else None,
    }


class SystemKeyScopesIn(Schema):
    scopes: list[str] = Field(..., min_length=1, max_length=100)


def _system_key_error(exc: SystemKeyError) -> HttpError:
    zh, en = in_both(exc.message, exc.params)
    error = HttpError(422, zh)
    error.extra = {  # type: ignore[attr-defined]
        "detail_en": en,
        "errors": [{"field": exc.field, "message": zh, "message_en": en, "type": "invalid"}],
    }
    return error


def _system_key_manager(request: HttpRequest) -> Any:
    user: Any = request.auth  # type: ignore[attr-defined]
    if not has_perm(user, SYSTEM_KEY_MANAGE):
        raise _error(403, _("You do not have permission to do this."))
    return user


@router.get(
    "/system-keys",
    response={200: list[SystemKeyOut], 401: ErrorOut, 403: ErrorOut},
    summary="Every system API key (no secrets)",
)
def system_keys_list(request: HttpRequest) -> Any:
    user = _system_key_manager(request)
    return [_system_key_out(k) for k in system_key_list(user=user)]


@router.post(
    "/system-keys",
    response={201: SystemKeyCreatedOut, 401: ErrorOut, 403: ErrorOut, 422: InvalidOut},
    summary="Create a system API key; the answer holds the raw key, shown only this once",
)
def system_keys_create(request: HttpRequest, payload: SystemKeyIn) -> Any:
    user = _system_key_manager(request)
    try:
        key, raw = create_system_key(
            actor=user, name=payload.name, system=payload.system, scopes=payload.scopes
        )
    except SystemKeyError as exc:
        raise _system_key_error(exc) from None
    return Status(201, {**_system_key_out(key), "key": raw})


@router.post(
    "/system-keys/{int:key_id}/revoke",
    response={200: SystemKeyOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Revoke a system API key (refused everywhere within seconds)",
)
def system_keys_revoke(request: HttpRequest, key_id: int) -> Any:
    user = _system_key_manager(request)
    key = revoke_system_key(actor=user, key=system_key_get(user=user, key_id=key_id))
    key = system_key_get(user=user, key_id=key.pk)
    return _system_key_out(key)


@router.put(
    "/system-keys/{int:key_id}/scopes",
    response={200: SystemKeyOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Replace the scopes of a live system API key (the key itself stays the same)",
)
def system_keys_scopes(request: HttpRequest, key_id: int, payload: SystemKeyScopesIn) -> Any:
    user = _system_key_manager(request)
    key = system_key_get(user=user, key_id=key_id)
    try:
        update_system_key_scopes(actor=user, key=key, scopes=payload.scopes)
    except SystemKeyError as exc:
        raise _system_key_error(exc) from None
    return _system_key_out(system_key_get(user=user, key_id=key.pk))
