"""REST endpoints of the critical-value loop (mounted at /api/v1/quality).

``GET /critical-values?status=open|escalated|active|acknowledged|closed|all&mine=1&department=``
(``limit``, ``offset``)
— scoped to the caller (the alerts sent to them; their department tree for department heads and
head nurses; the whole hospital for 医务处, 质控办 and administrators);
``GET /critical-values/{id}``; ``POST /critical-values/{id}/ack``; ``POST /critical-values/{id}/close``
with ``{"action_taken": "…"}`` (422 naming ``action_taken`` when empty). Only the people the alert
was sent to (the responsible doctor, the fallback, those it was escalated to) and administrators
may act: others get 403 when they may see the alert, else 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from medoa.core.apierrors import ErrorOut, InvalidOut, api_user, http_error, in_both

from . import selectors, services
from .errors import QualityError, QualityInputError
from .models import CriticalAlert

router = Router(tags=["quality"])

T = TypeVar("T")
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: InvalidOut}


def _responses(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    return {**ok, **{code: ERRORS[code] for code in (401, *codes)}}


def _from_error(exc: QualityError) -> HttpError:
    if exc.status in (403, 404, 409):
        return http_error(exc.status, exc.message)
    zh, en = in_both(exc.message, exc.params)
    errors = [{"field": exc.field, "message": zh, "message_en": en, "type": "invalid"}]
    return http_error(422, exc.message % exc.params if exc.params else exc.message, errors=errors)


def _call(fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        return fn(**kwargs)
    except QualityError as exc:
        raise _from_error(exc) from None


class AlertOut(Schema):
    id: int
    status: str
    patient_id: str
    patient_initials: str
    visit_number: str
    department: str = Field(..., description="MedOA department code")
    ward: str
    room: str
    bed: str
    test_code: str
    test_name: str
    value: str
    unit: str
    flag: str
    reference_range: str
    observed_at: dt.datetime | None
    received_at: dt.datetime
    result_id: int
    observation_id: int
    source: str
    responsible: str | None = Field(None, description="username of the responsible doctor")
    routed_to: str = Field(..., description="attending, ordering or fallback")
    notified_at: dt.datetime | None
    ack_due_at: dt.datetime
    ack_limit_seconds: int
    escalation_level: int
    escalated_1_at: dt.datetime | None
    escalated_2_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    ack_seconds: int | None
    timely: bool | None = Field(
        None, description="acknowledged within the limit (null while not acknowledged)"
    )
    closed_at: dt.datetime | None
    closed_by: str | None
    action_taken: str
    may_act: bool


class AlertListOut(Schema):
    count: int
    items: list[AlertOut]


class AlertQuery(Schema):
    status: str = Field(
        "", description="open, escalated, active (open or escalated), acknowledged, closed, all (default)"
    )
    mine: bool = Field(False, description="only the alerts sent to me")
    department: int | None = Field(None, description="department id")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


class CloseIn(Schema):
    action_taken: str = Field("", description="处置措施: what was done (required)")


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _out(user: Any, alert: CriticalAlert, *, may_act: bool | None = None) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "status": alert.status,
        "patient_id": alert.patient_id,
        "patient_initials": alert.patient_initials,
        "visit_number": alert.visit_number,
        "department": alert.department.code if alert.department else alert.department_code,
        "ward": alert.ward_code,
        "room": alert.room,
        "bed": alert.bed,
        "test_code": alert.test_code,
        "test_name": alert.test_name,
        "value": alert.value,
        "unit": alert.unit,
        "flag": alert.flag,
        "reference_range": alert.reference_range,
        "observed_at": alert.observed_at,
        "received_at": alert.received_at,
        "result_id": alert.result_id,
        "observation_id": alert.observation_id,
        "source": alert.source,
        "responsible": _username(alert.responsible),
        "routed_to": alert.routed_to,
        "notified_at": alert.notified_at,
        "ack_due_at": alert.ack_due_at,
        "ack_limit_seconds": alert.ack_limit_seconds,
        "escalation_level": alert.escalation_level,
        "escalated_1_at": alert.escalated_1_at,
        "escalated_2_at": alert.escalated_2_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": _username(alert.acknowledged_by),
        "ack_seconds": alert.ack_seconds,
        "timely": alert.timely,
        "closed_at": alert.closed_at,
        "closed_by": _username(alert.closed_by),
        "action_taken": alert.action_taken,
        "may_act": selectors.may_act(user, alert) if may_act is None else may_act,
    }


@router.get(
    "/critical-values",
    response=_responses({200: AlertListOut}, 422),
    summary="Critical values I may see",
)
def critical_values(request: HttpRequest, query: Query[AlertQuery]) -> Any:
    user = api_user(request)
    if query.status and query.status not in selectors.STATUS_FILTERS:
        raise _from_error(
            QualityInputError(
                _("Choose one of: %(choices)s."),
                field="status",
                params={"choices": ", ".join(selectors.STATUS_FILTERS)},
            )
        )
    qs = selectors.alerts_for_user(user, status=query.status, mine=query.mine, department_id=query.department)
    page = list(qs[query.offset : query.offset + query.limit])
    acting = selectors.alerts_user_may_act(user, [a.pk for a in page])
    return {"count": qs.count(), "items": [_out(user, a, may_act=a.pk in acting) for a in page]}


@router.get(
    "/critical-values/{alert_id}", response=_responses({200: AlertOut}, 404), summary="One critical value"
)
def critical_value(request: HttpRequest, alert_id: int) -> Any:
    user = api_user(request)
    alert = _call(selectors.alert_get, user=user, pk=alert_id)
    return _out(user, alert)


@router.post(
    "/critical-values/{alert_id}/ack",
    response=_responses({200: AlertOut}, 403, 404),
    summary="Acknowledge a critical value (确认收到)",
    description="Idempotent: a second acknowledgement keeps the first time.",
)
def critical_value_ack(request: HttpRequest, alert_id: int) -> Any:
    user = api_user(request)
    alert = _call(selectors.alert_get, user=user, pk=alert_id)
    done = _call(services.alert_ack, actor=user, alert=alert)
    return _out(user, selectors.alert_get(user, done.pk), may_act=True)


@router.post(
    "/critical-values/{alert_id}/close",
    response=_responses({200: AlertOut}, 403, 404, 409, 422),
    summary="Record the action taken (处置措施) and close",
)
def critical_value_close(request: HttpRequest, alert_id: int, payload: CloseIn) -> Any:
    user = api_user(request)
    alert = _call(selectors.alert_get, user=user, pk=alert_id)
    done = _call(services.alert_close, actor=user, alert=alert, action_taken=payload.action_taken)
    return _out(user, selectors.alert_get(user, done.pk), may_act=True)
