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
