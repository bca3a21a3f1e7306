"""REST endpoints of the organisation (mounted at /api/v1/ by medoa.api.api).

* ``GET /departments`` — the tree as a flat list in path order (each row has ``parent_id`` and
  ``depth``), filterable; ``GET /departments/{id}``. Visible to every staff member.
* ``GET /staff`` — the directory (name, department, title, office phone) with search and paging.
* ``GET /staff/{id}`` — directory fields for anyone; the full record (``visibility: "record"``)
  within the caller's ``org.staff.view`` scope or for their own record; national ID and mobile
  phone (``visibility: "private"``) for ``org.staff.view_private`` holders and the person.
* ``POST /staff``, ``PATCH /staff/{id}``, ``POST /staff/{id}/deactivate`` — ``org.staff.manage``.
* ``GET/POST /delegations``, ``POST /delegations/{id}/revoke`` — the caller's delegations.

A missing permission answers 403; an object outside the caller's scope answers 404.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from pydantic import AwareDatetime, ConfigDict, field_validator

from medoa.core.access.models import User
from medoa.core.access.policy import has_perm

from . import services
from .choices import DepartmentCategory, DepartmentKind, StaffStatus, Title
from .models import Delegation, Department, RoleAssignment, Staff
from .selectors import (
    can_manage_staff,
    can_view_private,
    delegation_get,
    delegation_list_for_user,
    delegation_state,
    department_get,
    department_list,
    staff_directory,
    staff_directory_get,
    staff_get,
)
from .validators import (
    EMPLOYEE_NO_RE,
    USERNAME_RE,
    normalise_mobile,
    normalise_national_id,
    normalise_process_keys,
)

router = Router(tags=["org"])

TitleCode = Literal[tuple(Title.values)]  # type: ignore[valid-type]
KindCode = Literal[tuple(DepartmentKind.values)]  # type: ignore[valid-type]
CategoryCode = Literal[tuple(DepartmentCategory.values)]  # type: ignore[valid-type]
FIELD_NAMES = {"department": "department_id", "delegator": "delegator_id", "delegate": "delegate_id"}


# --- errors -----------------------------------------------------------------------------------------


def _both(render: Any) -> tuple[str, str]:
    with override("zh-hans"):
        zh = render()
    with override("en"):
        en = render()
    return zh, en


def _first_error(exc: DjangoValidationError) -> DjangoValidationError:
    if hasattr(exc, "error_dict"):
        return next(e for errors in exc.error_dict.values() for e in errors)
    return exc.error_list[0]


def _lazy_message(exc: DjangoValidationError) -> Any:
    """The first message of a django ValidationError as a lazy string (rendered per language)."""
    error = _first_error(exc)

    def render() -> str:
        return str(error.message) % error.params if error.params else str(error.message)

    return lazy(render, str)()


def _invalid(exc: DjangoValidationError, *, status: int = 422) -> HttpError:
    """A service's ValidationError in the API's error shape, each message in zh and en. 422
    says "the request is not valid"; another status (409) leads with the first message."""
    items: list[tuple[str, DjangoValidationError]] = []
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            items.extend((FIELD_NAMES.get(name, name), e) for e in errors)
    else:
        items.extend(("", e) for e in exc.error_list)
    errors_out = []
    for name, error in items:
        zh, en = _both(lambda error=error: next(iter(DjangoValidationError([error]))))
        errors_out.append({"field": name, "message": zh, "message_en": en, "type": error.code or "invalid"})
    message = _("The request is not valid.") if status == 422 else _lazy_message(exc)
    http_error = _http_error(status, message)
    http_error.extra = {"errors": errors_out}  # type: ignore[attr-defined]
    return http_error


def _http_error(status: int, message: Any) -> HttpError:
    """An HTTP error with a lazy message: the API's handler answers it in Chinese and English."""
    return HttpError(status, message)


def _forbidden() -> HttpError:
    return _http_error(403, _("You do not have permission to do this."))


def _not_found() -> Http404:
    return Http404()


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise _http_error(401, _("Authentication required: send a valid bearer token."))
    return user


# --- schemas ----------------------------------------------------------------------------------------


class ErrorOut(Schema):
    detail: str
    detail_en: str


class ErrorItem(Schema):
    field: str
    message: str
    message_en: str
    type: str


class InvalidOut(ErrorOut):
    errors: list[ErrorItem] = []


class DepartmentRef(Schema):
    id: int
    code: str
    name: str


class StaffRef(Schema):
    id: int
    name: str


class DepartmentOut(Schema):
    id: int
    code: str
    name: str
    name_zh: str
    name_en: str
    kind: str
    category: str
    status: str
    parent_id: int | None
    depth: int
    sort_order: int
    head: StaffRef | None


class DepartmentFilter(Schema):
    status: Literal["active", "inactive"] | None = None
    kind: KindCode | None = None  # type: ignore[valid-type]
    category: CategoryCode | None = None  # type: ignore[valid-type]
    under: int | None = Field(None, ge=1, description="Only this department and those below it")
    search: str = Field("", max_length=100)


class DirectoryEntryOut(Schema):
    id: int
    name: str
    department: DepartmentRef
    title: str
    title_label: str
    office_phone: str


class StaffPageOut(Schema):
    count: int
    page: int
    page_size: int
    items: list[DirectoryEntryOut]


class StaffFilter(Schema):
    search: str = Field("", max_length=100)
    department: int | None = Field(None, ge=1, description="This department and those below it")
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


class RoleHeld(Schema):
    code: str
    name: str
    department: DepartmentRef
    include_children: bool


class StaffOut(DirectoryEntryOut):
    visibility: Literal["directory", "record", "private"]
    employee_no: str | None = None
    gender: str | None = None
    nursing_level: str | None = None
    position: str | None = None
    email: str | None = None
    hire_date: datetime.date | None = None
    status: str | None = None
    username: str | None = None
    roles: list[RoleHeld] | None = None
    phone: str | None = None
    national_id: str | None = None


def _django_check(fn: Any, value: str) -> str:
    try:
        result: str = fn(value)
    except DjangoValidationError as exc:
        raise ValueError(_lazy_message(exc)) from None
    return result


class StaffFieldsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=64)
    gender: Literal["M", "F", "U"] = "U"
    department_id: int = Field(..., ge=1)
    title: TitleCode  # type: ignore[valid-type]
    nursing_level: Literal["", "N0", "N1", "N2", "N3", "N4"] = ""
    position: str = Field("", max_length=64)
    office_phone: str = Field("", max_length=32)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=32, description="Mainland mobile number (11 digits)")
    national_id: str = Field("", max_length=32, description="18 characters with a valid check digit")
    hire_date: datetime.date | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return _django_check(normalise_mobile, value)

    @field_validator("national_id")
    @classmethod
    def _national_id(cls, value: str) -> str:
        return _django_check(normalise_national_id, value)


class StaffCreateIn(StaffFieldsIn):
    employee_no: str = Field(..., min_length=1, max_length=32, pattern=EMPLOYEE_NO_RE.pattern)
    username: str = Field(..., min_length=1, max_length=150, pattern=USERNAME_RE.pattern)
    initial_password: str = Field(..., min_length=1, max_length=128)


class StaffUpdateIn(Schema):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    employee_no: str | None = Field(None, min_length=1, max_length=32, pattern=EMPLOYEE_NO_RE.pattern)
    name: str | None = Field(None, min_length=1, max_length=64)
    gender: Literal["M", "F", "U"] | None = None
    department_id: int | None = Field(None, ge=1)
    title: TitleCode | None = None  # type: ignore[valid-type]
    nursing_level: Literal["", "N0", "N1", "N2", "N3", "N4"] | None = None
    position: str | None = Field(None, max_length=64)
    office_phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32)
    national_id: str | None = Field(None, max_length=32)
    hire_date: datetime.date | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else _django_check(normalise_mobile, value)

    @field_validator("national_id")
    @classmethod
    def _national_id(cls, value: str | None) -> str | None:
        return None if value is None else _django_check(normalise_national_id, value)


class DeactivateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    status: Literal["left", "disabled"] = "left"
    reason: str = Field("", max_length=200)


class DelegationOut(Schema):
    id: int
    delegator: StaffRef
    delegate: StaffRef
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    process_keys: list[str]
    reason: str
    state: Literal["upcoming", "active", "ended", "revoked"]
    revoked_at: datetime.datetime | None
    created_by: StaffRef


class DelegationFilter(Schema):
    state: Literal["upcoming", "active", "ended", "revoked", "current"] | None = None


class DelegationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    delegator_id: int | None = Field(None, ge=1, description="Default: the caller")
    delegate_id: int = Field(..., ge=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    process_keys: list[str] = Field(default_factory=list, max_length=50)
    reason: str = Field("", max_length=200)

    @field_validator("process_keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        try:
            return normalise_process_keys(value)
        except DjangoValidationError as exc:
            raise ValueError(_lazy_message(exc)) from None


# --- shaping ----------------------------------------------------------------------------------------


def _dept_ref(dept: Department) -> dict[str, Any]:
    return {"id": dept.pk, "code": dept.code, "name": dept.name}


def _department_out(dept: Department) -> dict[str, Any]:
    return {
        "id": dept.pk,
        "code": dept.code,
        "name": dept.name,
        "name_zh": dept.name_zh,
        "name_en": dept.name_en,
        "kind": dept.kind,
        "category": dept.category,
        "status": dept.status,
        "parent_id": dept.parent_id,
        "depth": dept.depth,
        "sort_order": dept.sort_order,
        "head": {"id": dept.head.pk, "name": dept.head.name} if dept.head else None,
    }


def _directory_out(staff: Staff) -> dict[str, Any]:
    return {
        "id": staff.pk,
        "name": staff.name,
        "department": _dept_ref(staff.department),
        "title": staff.title,
        "title_label": str(staff.get_title_display()),
        "office_phone": staff.office_phone,
    }


def _staff_out(user: User, staff: Staff, *, record: bool) -> dict[str, Any]:
    out = _directory_out(staff)
    out["visibility"] = "directory"
    if not record:
        return out
    assignments = RoleAssignment.objects.filter(staff=staff).select_related("role", "department")
    out.update(
        visibility="record",
        employee_no=staff.employee_no,
        gender=staff.gender,
        nursing_level=staff.nursing_level,
        position=staff.position,
        email=staff.email,
        hire_date=staff.hire_date,
        status=staff.status,
        username=staff.user.username,
        roles=[
            {
                "code": a.role.code,
                "name": a.role.name,
                "department": _dept_ref(a.department),
                "include_children": a.include_children,
            }
            for a in assignments
        ],
    )
    if can_view_private(user, staff):
        out.update(visibility="private", phone=staff.phone, national_id=staff.national_id)
    return out


def _delegation_out(delegation: Delegation) -> dict[str, Any]:
    return {
        "id": delegation.pk,
        "delegator": {"id": delegation.delegator.pk, "name": delegation.delegator.name},
        "delegate": {"id": delegation.delegate.pk, "name": delegation.delegate.name},
        "starts_at": delegation.starts_at,
        "ends_at": delegation.ends_at,
        "process_keys": list(delegation.process_keys),
        "reason": delegation.reason,
        "state": delegation_state(delegation),
        "revoked_at": delegation.revoked_at,
        "created_by": {"id": delegation.created_by.pk, "name": delegation.created_by.name},
    }


def _require_directory(user: User) -> None:
    if not has_perm(user, "org.directory.view"):
        raise _forbidden()


# --- departments ------------------------------------------------------------------------------------


@router.get(
    "/departments",
    response={200: list[DepartmentOut], 401: ErrorOut, 403: ErrorOut},
    summary="The department tree (flat, in path order), filterable",
)
def departments_list(request: HttpRequest, filters: Query[DepartmentFilter]) -> Any:
    user = _user(request)
    _require_directory(user)
    under = None
    if filters.under is not None:
        under = department_get(user=user, pk=filters.under)
        if under is None:
            raise _not_found()
    qs = department_list(
        user=user,
        status=filters.status or "",
        kind=filters.kind or "",
        category=filters.category or "",
        under=under,
        search=filters.search.strip(),
    )
    return [_department_out(d) for d in qs]


@router.get(
    "/departments/{department_id}",
    response={200: DepartmentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="One department",
)
def departments_get(request: HttpRequest, department_id: int) -> Any:
    user = _user(request)
    _require_directory(user)
    dept = department_get(user=user, pk=department_id)
    if dept is None:
        raise _not_found()
    return _department_out(dept)


# --- staff ------------------------------------------------------------------------------------------


@router.get(
    "/staff",
    response={200: StaffPageOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="The staff directory (通讯录): name, department, title, office phone",
)
def staff_directory_list(request: HttpRequest, filters: Query[StaffFilter]) -> Any:
    user = _user(request)
    _require_directory(user)
    department = None
    if filters.department is not None:
        department = department_get(user=user, pk=filters.department)
        if department is None:
            raise _not_found()
    qs = staff_directory(user=user, search=filters.search, department=department)
    count = qs.count()
    start = (filters.page - 1) * filters.page_size
    items = [_directory_out(s) for s in qs[start : start + filters.page_size]]
    return {"count": count, "page": filters.page, "page_size": filters.page_size, "items": items}


@router.get(
    "/staff/{staff_id}",
    response={200: StaffOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="One staff member: directory fields, the full record, or with private fields",
)
def staff_detail(request: HttpRequest, staff_id: int) -> Any:
    user = _user(request)
    staff = staff_get(user=user, pk=staff_id)
    if staff is not None:
        return _staff_out(user, staff, record=True)
    _require_directory(user)
    entry = staff_directory_get(user=user, pk=staff_id)
    if entry is None:
        raise _not_found()
    return _staff_out(user, entry, record=False)


def _manageable_department(user: User, department_id: int) -> Department:
    dept = Department.objects.filter(pk=department_id).first()
    if dept is None:
        raise _invalid(DjangoValidationError({"department": [_("No department has this id.")]}))
    if not has_perm(user, "org.staff.manage", department=dept):
        raise _forbidden()
    return dept


@router.post(
    "/staff",
    response={201: StaffOut, 401: ErrorOut, 403: ErrorOut, 422: InvalidOut},
    summary="Create a staff member and their account (must change the initial password)",
)
def staff_create(request: HttpRequest, payload: StaffCreateIn) -> Any:
    user = _user(request)
    if not has_perm(user, "org.staff.manage"):
        raise _forbidden()
    data = payload.model_dump()
    data["department"] = _manageable_department(user, data.pop("department_id"))
    try:
        staff = services.staff_create(actor=user, **data)
    except DjangoValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, _staff_out(user, staff, record=True))


def _staff_to_manage(user: User, staff_id: int) -> Staff:
    if not has_perm(user, "org.staff.manage"):
        raise _forbidden()
    staff = staff_get(user=user, pk=staff_id)
    if staff is None:
        raise _not_found()
    if not can_manage_staff(user, staff):
        raise _forbidden()
    return staff


@router.patch(
    "/staff/{staff_id}",
    response={200: StaffOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Change a staff member's record (only the fields sent)",
)
def staff_update(request: HttpRequest, staff_id: int, payload: StaffUpdateIn) -> Any:
    user = _user(request)
    staff = _staff_to_manage(user, staff_id)
    changes = payload.model_dump(exclude_unset=True)
    if ("phone" in changes or "national_id" in changes) and not can_view_private(user, staff):
        raise _forbidden()
    nulls = sorted(k for k, v in changes.items() if v is None and k != "hire_date")
    if nulls:
        raise _invalid(DjangoValidationError({k: [_("This field cannot be empty (null).")] for k in nulls}))
    if "department_id" in changes:
        changes["department"] = _manageable_department(user, changes.pop("department_id"))
    try:
        staff = services.staff_update(actor=user, staff=staff, **changes)
    except DjangoValidationError as exc:
        raise _invalid(exc) from None
    return _staff_out(user, staff, record=True)


@router.post(
    "/staff/{staff_id}/deactivate",
    response={200: StaffOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: InvalidOut, 422: InvalidOut},
    summary="Mark a staff member as left or disabled; ends their sessions and tokens",
)
def staff_deactivate(request: HttpRequest, staff_id: int, payload: DeactivateIn) -> Any:
    user = _user(request)
    staff = _staff_to_manage(user, staff_id)
    if staff.status != StaffStatus.ACTIVE:
        raise _invalid(DjangoValidationError(_("This staff member is not employed any more.")), status=409)
    try:
        staff = services.staff_deactivate(
            actor=user, staff=staff, status=payload.status, reason=payload.reason
        )
    except DjangoValidationError as exc:
        raise _invalid(exc) from None
    return _staff_out(user, staff, record=True)


# --- delegations ------------------------------------------------------------------------------------


@router.get(
    "/delegations",
    response={200: list[DelegationOut], 401: ErrorOut, 403: ErrorOut},
    summary="Delegations the caller gave, received or created",
)
def delegations_list(request: HttpRequest, filters: Query[DelegationFilter]) -> Any:
    user = _user(request)
    _require_directory(user)
    return [_delegation_out(d) for d in delegation_list_for_user(user=user, state=filters.state or "")]


@router.post(
    "/delegations",
    response={201: DelegationOut, 401: ErrorOut, 403: ErrorOut, 422: InvalidOut},
    summary="Delegate tasks (own, or of someone within org.delegation.manage scope)",
)
def delegations_create(request: HttpRequest, payload: DelegationIn) -> Any:
    user = _user(request)
    _require_directory(user)
    me = Staff.objects.filter(user=user).select_related("department").first()
    errors: dict[str, list[Any]] = {}
    delegator = me
    if payload.delegator_id is not None:
        delegator = Staff.objects.select_related("department").filter(pk=payload.delegator_id).first()
        if delegator is None:
            errors["delegator"] = [_("No staff member has this id.")]
    delegate = Staff.objects.filter(pk=payload.delegate_id).first()
    if delegate is None:
        errors["delegate"] = [_("No staff member has this id.")]
    if errors:
        raise _invalid(DjangoValidationError(errors))
    assert delegator is not None and delegate is not None
    try:
        delegation = services.delegation_create(
            actor=user,
            delegator=delegator,
            delegate=delegate,
            starts_at=payload.starts_at,
            ends_at=payload.ends_at,
            process_keys=payload.process_keys,
            reason=payload.reason,
        )
    except PermissionDenied:
        raise _forbidden() from None
    except DjangoValidationError as exc:
        raise _invalid(exc) from None
    delegation = Delegation.objects.select_related("delegator", "delegate", "created_by").get(
        pk=delegation.pk
    )
    return Status(201, _delegation_out(delegation))


@router.post(
    "/delegations/{delegation_id}/revoke",
    response={200: DelegationOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: InvalidOut},
    summary="Revoke a delegation (the delegator, or org.delegation.manage over their department)",
)
def delegations_revoke(request: HttpRequest, delegation_id: int) -> Any:
    user = _user(request)
    delegation = delegation_get(user=user, pk=delegation_id)
    if delegation is None:
        raise _not_found()
    try:
        delegation = services.delegation_revoke(actor=user, delegation=delegation)
    except PermissionDenied:
        raise _forbidden() from None
    except DjangoValidationError as exc:
        raise _invalid(exc, status=409) from None
    delegation = Delegation.objects.select_related("delegator", "delegate", "created_by").get(
        pk=delegation.pk
    )
    return _delegation_out(delegation)
