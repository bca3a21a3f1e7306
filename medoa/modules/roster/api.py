"""The roster REST API, mounted at /api/v1/roster (bearer tokens; every object checked by role and
ward).

``GET /rosters/{id}`` — the grid: days, people, each cell's shift, lock, unavailability and the
reasons of the hard rules it breaks, the score by rule (``roster.view``).
``POST /rosters/{id}/cells`` — ``{"staff", "date", "code" | null}`` or ``{"staff", "date",
"locked"}``: a hand edit or a lock, answered with the rule check (``roster.manage``).
``POST /rosters/{id}/generate`` — ``{"time_limit"?: seconds}``, synchronous (``roster.manage``).
``POST /rosters/{id}/publish`` — ``{"allow_violations"?: bool}``; 422 with ``violations`` while
hard rules are broken.
``PUT /wards/{id}/rules/{code}`` — ``{"enabled", "hard", "weight", "value"}``.
``PUT /wards/{id}/demand`` — ``{"code", "weekday" | "on_date", "minimum", "preferred",
"skill_level", "skill_minimum"}``.
``POST /unavailability`` — ``{"staff", "dates", "kind": "training" | "sick" | "other", "note"}``.
``GET /my-shifts?start=YYYY-MM-DD&days=31`` — the caller's published shifts.

Errors: 403 (permission), 404, 409 (state), 422 with ``field`` (and ``violations``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from medoa.core.apierrors import in_both
from medoa.core.org.models import Department, Staff

from . import selectors, services
from .errors import RosterConflict, RosterError, RosterNotFound, RosterPermissionDenied, RosterRuleViolation

router = Router(tags=["roster"])
T = TypeVar("T")


def _error(exc: RosterError) -> HttpError:
    status = 422
    if isinstance(exc, RosterPermissionDenied):
        status = 403
    elif isinstance(exc, RosterNotFound):
        status = 404
    elif isinstance(exc, RosterConflict):
        status = 409
    error = HttpError(status, str(exc.message))
    extra: dict[str, Any] = {}
    if exc.field:
        zh, en = in_both(exc.message)
        extra["errors"] = [{"field": exc.field, "message": zh, "message_en": en, "type": "invalid"}]
    if isinstance(exc, RosterRuleViolation):
        extra["violations"] = exc.violations
    if extra:
        error.extra = extra  # type: ignore[attr-defined]
    return error


def _call(fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        return fn(**kwargs)
    except RosterError as exc:
        raise _error(exc) from None


def _grid_out(grid: selectors.Grid) -> dict[str, Any]:
    return {
        "id": grid.roster.pk,
        "ward": grid.roster.ward.code,
        "month": grid.roster.month.isoformat(),
        "status": grid.roster.status,
        "version": grid.roster.version,
        "solver_status": grid.roster.solver_status,
        "objective": grid.objective,
        "breakdown": grid.breakdown,
        "hard_violations": [v.as_dict() for v in grid.violations],
        "explanation": grid.explanation,
        "shift_types": [
            {"code": t.code, "name": t.name, "kind": t.kind, "minutes": t.minutes} for t in grid.shift_types
        ],
        "staff": [
            {
                "id": r.staff.pk,
                "name": r.staff.name,
                "level": r.staff.nursing_level,
                "cells": [
                    {
                        "date": c["iso"],
                        "code": c["code"] if c["kind"] != "off" else "",
                        "locked": c["locked"],
                        "unavailable": c["unavailable"],
                        "reasons": c["reasons"],
                    }
                    for c in r.cells
                ],
            }
            for r in grid.rows
        ],
    }


def _roster(request: HttpRequest, roster_id: int, *, manage: bool = False) -> Any:
    return _call(selectors.roster_get, user=request.user, roster_id=roster_id, manage=manage)


@router.get("/rosters/{roster_id}", summary="A roster's grid with the rule check")
def roster_get(request: HttpRequest, roster_id: int) -> Any:
    roster = _roster(request, roster_id)
    return _grid_out(_call(selectors.roster_grid, user=request.user, roster=roster))


class CellIn(Schema):
    staff: int
    date: dt.date
    code: str | None = None
    locked: bool | None = None


@router.post("/rosters/{roster_id}/cells", summary="Edit or lock a cell; answers with the rule check")
def cell_post(request: HttpRequest, roster_id: int, body: CellIn) -> Any:
    roster = _roster(request, roster_id, manage=True)
    if body.locked is not None:
        _call(
            services.cell_lock,
            actor=request.user,
            roster=roster,
            staff_id=body.staff,
            day=body.date,
            locked=body.locked,
        )
    else:
        _call(
            services.cell_set,
            actor=request.user,
            roster=roster,
            staff_id=body.staff,
            day=body.date,
            code=body.code or None,
        )
    roster.refresh_from_db()
    return _grid_out(_call(selectors.roster_grid, user=request.user, roster=roster))


class GenerateIn(Schema):
    time_limit: float | None = None


@router.post("/rosters/{roster_id}/generate", summary="Generate the roster (synchronous, time-limited)")
def roster_generate(request: HttpRequest, roster_id: int, body: GenerateIn) -> Any:
    roster = _roster(request, roster_id, manage=True)
    roster = _call(services.roster_generate, actor=request.user, roster=roster, time_limit=body.time_limit)
    return _grid_out(_call(selectors.roster_grid, user=request.user, roster=roster))


class PublishIn(Schema):
    allow_violations: bool = False


@router.post("/rosters/{roster_id}/publish", summary="Publish and notify the staff")
def roster_publish(request: HttpRequest, roster_id: int, body: PublishIn) -> Any:
    roster = _roster(request, roster_id, manage=True)
    roster = _call(
        services.roster_publish, actor=request.user, roster=roster, allow_violations=body.allow_violations
    )
    return {"id": roster.pk, "status": roster.status, "version": roster.version}


def _ward(ward_id: int) -> Department:
    ward = Department.objects.filter(pk=ward_id).first()
    if ward is None:
        raise HttpError(404, "Not found.")
    return ward


class RuleIn(Schema):
    enabled: bool = True
    hard: bool = True
    weight: int = 1
    value: int = 0


@router.put("/wards/{ward_id}/rules/{code}", summary="Configure one ward rule")
def rule_put(request: HttpRequest, ward_id: int, code: str, body: RuleIn) -> Any:
    row = _call(services.rule_set, actor=request.user, ward=_ward(ward_id), code=code, **body.dict())
    return {
        "code": row.code,
        "enabled": row.enabled,
        "hard": row.hard,
        "weight": row.weight,
        "value": row.value,
    }


class DemandIn(Schema):
    code: str
    weekday: int | None = None
    on_date: dt.date | None = None
    minimum: int
    preferred: int
    skill_level: str = ""
    skill_minimum: int = 0


@router.put("/wards/{ward_id}/demand", summary="Set the staffing a shift needs on a weekday or a date")
def demand_put(request: HttpRequest, ward_id: int, body: DemandIn) -> Any:
    row = _call(services.demand_set, actor=request.user, ward=_ward(ward_id), **body.dict())
    return {"id": row.pk, "minimum": row.minimum, "preferred": row.preferred}


class UnavailabilityIn(Schema):
    staff: int
    dates: list[dt.date]
    kind: str = "training"
    note: str = ""


@router.post("/unavailability", summary="Mark training or other days a person cannot work")
def unavailability_post(request: HttpRequest, body: UnavailabilityIn) -> Any:
    staff = Staff.objects.filter(pk=body.staff).first()
    if staff is None:
        raise HttpError(404, "Not found.")
    count = _call(
        services.unavailability_add,
        actor=request.user,
        staff=staff,
        days=body.dates,
        kind=body.kind,
        note=body.note,
    )
    return {"added": count}


@router.get("/my-shifts", summary="My published shifts")
def my_shifts(request: HttpRequest, start: dt.date | None = None, days: int = 31) -> Any:
    staff = selectors.staff_of(request.user)
    if staff is None:
        raise HttpError(403, "You do not have permission to do this.")
    begin = start or dt.date.today()
    cells = selectors.my_shifts(staff=staff, start=begin, days=max(1, min(days, 366)))
    return [
        {
            "date": c.date.isoformat(),
            "code": c.shift_type.code if c.shift_type else "",
            "name": c.shift_type.name if c.shift_type else "",
            "start": c.shift_type.start.isoformat() if c.shift_type and c.shift_type.start else None,
            "minutes": c.shift_type.minutes if c.shift_type else 0,
            "ward": c.roster.ward.code,
        }
        for c in cells
    ]
