"""REST endpoints of the approval centre (mounted at /api/v1/approvals).

``GET /catalog`` — the request types; ``POST /requests`` — submit ``{"type", "data"}`` → the request
with its process instance and first tasks; ``GET /requests?mine=1`` (or ``box=mine|todo|done|cc|all``);
``GET /requests/{id}`` — with the approval chain, copies and comments; ``POST /requests/{id}/withdraw``;
``GET|POST /requests/{id}/comments``; leave: ``GET /leave/balances``, ``GET /leave/working-days``,
``POST /requests/{id}/resume`` (销假), ``PUT /leave/auto-delegation``; the holiday calendar:
``GET /holidays``, ``PUT|DELETE /holidays/{date}``. Acting on tasks is the process engine's task API
(``POST /api/v1/flow/tasks/{id}/actions``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal, TypeVar

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from medoa.core.apierrors import ErrorOut, InvalidOut, api_user, http_error, in_both
from medoa.core.org.models import Staff
from medoa.engines.flow import selectors as flow_selectors
from medoa.engines.flow.models import HumanTask

from . import api_stats, selectors, services
from .catalog import ordered, request_types
from .errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalNotFound,
    ApprovalPermissionDenied,
)
from .models import ApprovalRequest, Holiday
from .workdays import working_dates

router = Router(tags=["approvals"])
router.add_router("", api_stats.router)  # PROC's GET /stats

T = TypeVar("T")

ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: InvalidOut}


def _responses(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    return {**ok, **{code: ERRORS[code] for code in (401, *codes)}}


def _field_error(field: str, message: Any) -> dict[str, str]:
    zh, en = in_both(message)
    return {"field": field, "message": zh, "message_en": en, "type": "invalid"}


def _from_error(exc: ApprovalError) -> HttpError:
    if isinstance(exc, ApprovalPermissionDenied):
        return http_error(403, exc.message)
    if isinstance(exc, ApprovalNotFound):
        return http_error(404, exc.message)
    if isinstance(exc, ApprovalConflict):
        return http_error(409, exc.message)
    errors = exc.errors or [(exc.field or "", exc.message)]
    return http_error(422, exc.message, errors=[_field_error(f or "", m) for f, m in errors])


def _call(fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        return fn(**kwargs)
    except ApprovalError as exc:
        raise _from_error(exc) from None


# --- schemas -------------------------------------------------------------------------------------


class RequestTypeOut(Schema):
    key: str
    name: str
    category: str
    description: str
    icon: str
    keywords: list[str]
    installed: bool
    data_schema: dict[str, Any]


class RequestIn(Schema):
    type: str = Field(..., description="a request type's key (GET /catalog): leave, reimbursement …")
    data: dict[str, Any] = Field(..., description="the type's data (see docs/approvals.md)")


class TaskOut(Schema):
    id: int
    name: str
    step_id: str
    assignee: str | None
    assignee_name: str | None
    candidates: list[str]
    due_at: datetime.datetime | None


class ChainStepOut(Schema):
    step_id: str
    name: str
    state: str
    people: list[str]
    outcome: str
    comment: str
    at: datetime.datetime | None
    due_at: datetime.datetime | None
    on_behalf_of: str
    task_id: int | None


class CommentOut(Schema):
    id: int
    author: str
    author_name: str
    text: str
    mentions: list[str]
    created_at: datetime.datetime


class LeaveOut(Schema):
    leave_type: str
    start_date: datetime.date
    end_date: datetime.date
    days: int
    year: int
    resumed_on: datetime.date | None
    returned_days: int


class RequestOut(Schema):
    id: int
    number: str
    type: str
    type_name: str
    summary: str
    status: str
    status_label: str
    initiator: str
    initiator_name: str
    department: str
    submitted_at: datetime.datetime
    finished_at: datetime.datetime | None
    process_instance_id: int | None
    current_tasks: list[TaskOut]


class RequestDetailOut(RequestOut):
    data: dict[str, Any]
    leave: LeaveOut | None
    chain: list[ChainStepOut]
    copied_to: list[str]
    comments: list[CommentOut]
    my_task_id: int | None
    my_actions: list[str]


class RequestListOut(Schema):
    count: int
    items: list[RequestOut]


class RequestQuery(Schema):
    box: Literal["mine", "todo", "done", "cc", "all"] = "mine"
    mine: bool = False
    type: str = ""
    status: Literal["", "submitted", "approved", "rejected", "withdrawn", "cancelled"] = ""
    search: str = Field("", max_length=100)
    offset: int = Field(0, ge=0)
    limit: int = Field(20, ge=1, le=100)


class CommentIn(Schema):
    text: str = Field(..., description="plain text; @username or @姓名 mentions notify those people")


class ReasonIn(Schema):
    reason: str = Field("", max_length=200)


class ResumeIn(Schema):
    resumed_on: datetime.date = Field(..., description="the day back at work (YYYY-MM-DD)")


class BalanceOut(Schema):
    leave_type: str
    label: str
    year: int
    entitled: Decimal | None
    used: Decimal
    pending: Decimal
    available: Decimal | None


class BalanceQuery(Schema):
    year: int | None = Field(None, ge=2000, le=2100)
    staff: str = Field("", description="a username (人事处 only; default: yourself)")


class WorkingDaysQuery(Schema):
    start: datetime.date
    end: datetime.date


class WorkingDaysOut(Schema):
    start: datetime.date
    end: datetime.date
    days: int
    dates: list[datetime.date]


class HolidayOut(Schema):
    date: datetime.date
    kind: str
    name: str


class HolidayIn(Schema):
    kind: Literal["holiday", "workday"]
    name: str = Field("", max_length=64)


class AutoDelegationIn(Schema):
    delegate: str | None = Field(None, description="a username, or null to switch it off")


class AutoDelegationOut(Schema):
    delegate: str | None
    delegate_name: str | None


# --- shaping -------------------------------------------------------------------------------------


def _task_out(row: HumanTask) -> dict[str, Any]:
    return {
        "id": row.pk,
        "name": row.name,
        "step_id": row.task_def_id,
        "assignee": row.assignee.user.username if row.assignee else None,
        "assignee_name": row.assignee.name if row.assignee else None,
        "candidates": [c.staff.user.username for c in row.candidates.all()] if row.assignee is None else [],
        "due_at": row.due_at,
    }


def _tasks(
    request: ApprovalRequest, open_tasks: dict[int, list[HumanTask]] | None = None
) -> list[dict[str, Any]]:
    """The open tasks of the request's process (who is next)."""
    if request.process_instance_id is None:
        return []
    if open_tasks is None:
        open_tasks = selectors.open_tasks_by_instance([request.process_instance_id])
    return [_task_out(row) for row in open_tasks.get(request.process_instance_id, [])]


def _type_name(key: str) -> str:
    return str(request_types.get(key).name) if key in request_types else key


def request_out(
    request: ApprovalRequest, *, open_tasks: dict[int, list[HumanTask]] | None = None
) -> dict[str, Any]:
    return {
        "id": request.pk,
        "number": request.number or "",
        "type": request.type_key,
        "type_name": _type_name(request.type_key),
        "summary": request.summary,
        "status": request.status,
        "status_label": str(request.get_status_display()),
        "initiator": request.initiator.user.username,
        "initiator_name": request.initiator.name,
        "department": request.department.code,
        "submitted_at": request.submitted_at,
        "finished_at": request.finished_at,
        "process_instance_id": request.process_instance_id,
        "current_tasks": _tasks(request, open_tasks),
    }


def _detail(user: Any, request: ApprovalRequest) -> dict[str, Any]:
    leave = getattr(request, "leave", None) if request.type_key == "leave" else None
    staff = selectors.staff_of(user)
    my_task = None
    if staff is not None and request.process_instance_id is not None:
        my_task = selectors.todo_tasks_for(staff=staff, instance_ids=[request.process_instance_id]).get(
            request.process_instance_id
        )
    data = request.data
    is_initiator = staff is not None and staff.pk == request.initiator_id
    if not is_initiator and request.form_record is not None and request.form_record.hidden_fields:
        hidden = {path.split(".")[0].split("[")[0] for path in request.form_record.hidden_fields}
        data = {k: v for k, v in data.items() if k not in hidden}  # as the process engine shows them
    return {
        **request_out(request),
        "data": data,
        "leave": (
            {
                "leave_type": leave.leave_type,
                "start_date": leave.start_date,
                "end_date": leave.end_date,
                "days": leave.days,
                "year": leave.year,
                "resumed_on": leave.resumed_on,
                "returned_days": leave.returned_days,
            }
            if leave is not None
            else None
        ),
        "chain": [vars(step) for step in selectors.request_chain(request)],
        "copied_to": selectors.request_copies(request),
        "comments": [
            {
                "id": c.pk,
                "author": c.author.user.username,
                "author_name": c.author.name,
                "text": c.text,
                "mentions": [m.name for m in c.mentions.all()],
                "created_at": c.created_at,
            }
            for c in selectors.comment_list(request)
        ],
        "my_task_id": my_task.pk if my_task is not None else None,
        "my_actions": flow_selectors.task_allowed_actions(user=user, task=my_task) if my_task else [],
    }


# --- endpoints -----------------------------------------------------------------------------------


@router.get("/catalog", response=_responses({200: list[RequestTypeOut]}), summary="The request types")
def catalog(request: HttpRequest) -> Any:
    api_user(request)
    installed = selectors.installed_process_keys()
    return [
        {
            "key": t.key,
            "name": str(t.name),
            "category": str(t.category),
            "description": str(t.description),
            "icon": t.icon,
            "keywords": list(t.keywords),
            "installed": t.process_key in installed,
            "data_schema": t.data_schema.model_json_schema(),
        }
        for t in ordered()
    ]


@router.post(
    "/requests",
    response=_responses({201: RequestDetailOut}, 403, 409, 422),
    summary="Submit a request (starts its approval process)",
    description="Each invalid field answers 422 with `errors[].field` = `data.<field>`; nothing is "
    "stored then. The answer has the process instance id and the first tasks.",
)
def requests_submit(request: HttpRequest, payload: RequestIn) -> Any:
    user = api_user(request)
    created = _call(services.request_submit, actor=user, type_key=payload.type, data=payload.data)
    created = selectors.request_get_for_user(user=user, request_id=created.pk)
    return Status(201, _detail(user, created))


@router.get("/requests", response=_responses({200: RequestListOut}), summary="Requests by box")
def requests_list(request: HttpRequest, query: Query[RequestQuery]) -> Any:
    user = api_user(request)
    box = "mine" if query.mine else query.box
    qs = selectors.request_list(
        user=user, box=box, type_key=query.type, status=query.status, search=query.search
    )
    page = list(qs[query.offset : query.offset + query.limit])
    open_tasks = selectors.open_tasks_by_instance(
        [r.process_instance_id for r in page if r.process_instance_id]
    )
    return {"count": qs.count(), "items": [request_out(r, open_tasks=open_tasks) for r in page]}


@router.get(
    "/requests/{request_id}",
    response=_responses({200: RequestDetailOut}, 404),
    summary="One request: data, approval chain, copies, comments, what I may do",
)
def requests_get(request: HttpRequest, request_id: int) -> Any:
    user = api_user(request)
    found = _call(selectors.request_get_for_user, user=user, request_id=request_id)
    return _detail(user, found)


@router.post(
    "/requests/{request_id}/withdraw",
    response=_responses({200: RequestOut}, 403, 404, 409),
    summary="Withdraw my request (while nobody else has decided)",
)
def requests_withdraw(request: HttpRequest, request_id: int, payload: ReasonIn) -> Any:
    user = api_user(request)
    found = _call(selectors.request_get_for_user, user=user, request_id=request_id)
    done = _call(services.request_withdraw, actor=user, request=found, reason=payload.reason)
    return request_out(selectors.request_get_for_user(user=user, request_id=done.pk))


@router.get(
    "/requests/{request_id}/comments", response=_responses({200: list[CommentOut]}, 404), summary="Comments"
)
def comments_list(request: HttpRequest, request_id: int) -> Any:
    user = api_user(request)
    found = _call(selectors.request_get_for_user, user=user, request_id=request_id)
    return _detail(user, found)["comments"]


@router.post(
    "/requests/{request_id}/comments",
    response=_responses({201: CommentOut}, 404, 422),
    summary="Add a comment (@mentions notify)",
)
def comments_add(request: HttpRequest, request_id: int, payload: CommentIn) -> Any:
    user = api_user(request)
    found = _call(selectors.request_get_for_user, user=user, request_id=request_id)
    comment = _call(services.comment_add, actor=user, request=found, text=payload.text)
    return Status(
        201,
        {
            "id": comment.pk,
            "author": comment.author.user.username,
            "author_name": comment.author.name,
            "text": comment.text,
            "mentions": [m.name for m in comment.mentions.all()],
            "created_at": comment.created_at,
        },
    )


@router.post(
    "/requests/{request_id}/resume",
    response=_responses({200: LeaveOut}, 403, 404, 409, 422),
    summary="销假: back at work on a day; the unused working days return to the balance",
)
def leave_resume(request: HttpRequest, request_id: int, payload: ResumeIn) -> Any:
    user = api_user(request)
    found = _call(selectors.request_get_for_user, user=user, request_id=request_id)
    record = _call(services.leave_resume, actor=user, request=found, resumed_on=payload.resumed_on)
    return {
        "leave_type": record.leave_type,
        "start_date": record.start_date,
        "end_date": record.end_date,
        "days": record.days,
        "year": record.year,
        "resumed_on": record.resumed_on,
        "returned_days": record.returned_days,
    }


def _staff_for_balances(user: Any, username: str) -> Staff:
    me = selectors.staff_of(user)
    if not username or (me is not None and me.user.username == username):
        if me is None:
            raise http_error(403, ApprovalPermissionDenied.default_message)
        return me
    other = Staff.objects.select_related("department", "user").filter(user__username=username).first()
    if other is None or not selectors.may_see_balances_of(user, other):
        raise http_error(404, ApprovalNotFound.default_message)
    return other


@router.get(
    "/leave/balances",
    response=_responses({200: list[BalanceOut]}, 403, 404),
    summary="Leave balances per type for a year (entitled, used, pending, available; null = unlimited)",
)
def leave_balances(request: HttpRequest, query: Query[BalanceQuery]) -> Any:
    user = api_user(request)
    staff = _staff_for_balances(user, query.staff)
    return [vars(row) for row in selectors.leave_balances(staff=staff, year=query.year)]


@router.get(
    "/leave/working-days",
    response=_responses({200: WorkingDaysOut}, 422),
    summary="Working days between two dates (weekends and holidays out, make-up days in)",
)
def leave_working_days(request: HttpRequest, query: Query[WorkingDaysQuery]) -> Any:
    api_user(request)
    if query.end < query.start:
        raise http_error(422, ApprovalConflict.default_message, errors=[_field_error("end", "end < start")])
    if (query.end - query.start).days > 400:
        raise http_error(
            422, ApprovalConflict.default_message, errors=[_field_error("end", "at most 400 days")]
        )
    dates = working_dates(query.start, query.end)
    return {"start": query.start, "end": query.end, "days": len(dates), "dates": dates}


@router.put(
    "/leave/auto-delegation",
    response=_responses({200: AutoDelegationOut}, 403, 422),
    summary="While I am on approved leave, delegate my approvals to someone (null: off)",
)
def auto_delegation_put(request: HttpRequest, payload: AutoDelegationIn) -> Any:
    user = api_user(request)
    delegate = None
    if payload.delegate:
        delegate = Staff.objects.select_related("user").filter(user__username=payload.delegate).first()
        if delegate is None:
            raise http_error(
                422,
                ApprovalNotFound.default_message,
                errors=[_field_error("delegate", ApprovalNotFound.default_message)],
            )
    setting = _call(services.auto_delegation_set, actor=user, delegate=delegate)
    return {
        "delegate": setting.delegate.user.username if setting else None,
        "delegate_name": setting.delegate.name if setting else None,
    }


def _holiday_out(h: Holiday) -> dict[str, Any]:
    return {"date": h.date, "kind": h.kind, "name": h.name}


@router.get("/holidays", response=_responses({200: list[HolidayOut]}), summary="The holiday calendar")
def holidays_list(request: HttpRequest, year: int | None = None) -> Any:
    api_user(request)
    return [_holiday_out(h) for h in selectors.holiday_list(year=year)]


@router.put(
    "/holidays/{day}",
    response=_responses({200: HolidayOut}, 403, 422),
    summary="Mark a day as a public holiday or a make-up working day (approvals.calendar.manage)",
)
def holidays_put(request: HttpRequest, day: datetime.date, payload: HolidayIn) -> Any:
    user = api_user(request)
    return _holiday_out(
        _call(services.holiday_set, actor=user, day=day, kind=payload.kind, name=payload.name)
    )


@router.delete(
    "/holidays/{day}",
    response=_responses({204: None}, 403, 404),
    summary="Remove a day from the holiday calendar (approvals.calendar.manage)",
)
def holidays_delete(request: HttpRequest, day: datetime.date) -> Any:
    user = api_user(request)
    _call(services.holiday_remove, actor=user, day=day)
    return Status(204, None)
