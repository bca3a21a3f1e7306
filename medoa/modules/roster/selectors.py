"""Reads of the roster module: permission checks, the grid of a roster with its rule check,
a person's shifts, swap requests.

Permissions (registered in ``apps.py``): ``roster.view`` (read a ward's rosters: head nurse and
department head for their ward / department, 护理部 all), ``roster.manage`` (generate, edit,
lock, publish, re-plan, approve swaps: head nurse for their ward, 护理部 all), ``roster.own``
(everyone, own records: my shifts, my iCal feed, my swap requests).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from medoa.core.access.policy import has_perm, principal_of, scope_q
from medoa.core.errors import fmt
from medoa.core.org.choices import Title
from medoa.core.org.models import Department, Staff

from .choices import RosterStatus, ShiftKind, SwapStatus, UnavailabilityKind
from .convert import DOCTOR_RANKS, WardMonth, assignment_of, month_days, ward_month
from .errors import RosterNotFound, RosterPermissionDenied
from .models import Demand, Roster, RosterCell, ShiftType, StaffProfile, SwapRequest, Unavailability
from .rules import DEFAULTS, rules_for_ward
from .solver.check import check
from .solver.problem import Violation

PERM_VIEW = "roster.view"
PERM_MANAGE = "roster.manage"
PERM_OWN = "roster.own"


def may_view(user: Any, ward: Department) -> bool:
    return has_perm(user, PERM_VIEW, department=ward) or has_perm(user, PERM_MANAGE, department=ward)


def may_manage(user: Any, ward: Department) -> bool:
    return has_perm(user, PERM_MANAGE, department=ward)


def require_view(user: Any, ward: Department) -> None:
    if not may_view(user, ward):
        raise RosterPermissionDenied


def require_manage(user: Any, ward: Department) -> None:
    if not may_manage(user, ward):
        raise RosterPermissionDenied


def staff_of(user: Any) -> Staff | None:
    principal = principal_of(user)
    return principal.staff if principal else None


def wards_for_user(user: Any) -> QuerySet[Department]:
    """The wards whose rosters ``user`` may see: wards (and units) in the reach of ``roster.view``
    or ``roster.manage``."""
    reach = _department_q(user, PERM_VIEW) | _department_q(user, PERM_MANAGE)
    return Department.objects.filter(reach, kind__in=("ward", "unit"), status="active").order_by("path")


def _department_q(user: Any, code: str) -> Q:
    """``scope_q`` for the department rows themselves (path prefix on ``path``, pk on ``pk``)."""
    principal = principal_of(user)
    reaches = principal.grants.get(code) if principal else None
    q = Q(pk__in=[])
    for r in reaches or ():
        if r.scope == "all":
            return Q()
        if r.department_id is None or r.scope == "self":
            continue
        q |= Q(path__startswith=r.department_path) if r.subtree else Q(pk=r.department_id)
    return q


def roster_get(*, user: Any, roster_id: int, manage: bool = False) -> Roster:
    roster = Roster.objects.select_related("ward").filter(pk=roster_id).first()
    if roster is None:
        raise RosterNotFound
    if manage:
        require_manage(user, roster.ward)
    else:
        require_view(user, roster.ward)
    return roster


# --- the grid -------------------------------------------------------------------------------------

RULE_REASONS: dict[str, Any] = {
    "days_off": _("Not available on this day (leave, training or sick)."),
    "forbidden_follow": _("A day shift right after a night shift."),
    "min_rest_minutes": _("Less than %(rest)s hours of rest between two shifts."),
    "max_consecutive": _("More than %(days)s working days in a row."),
    "max_consecutive_nights": _("More than %(nights)s nights in a row."),
    "rest_after_nights": _("Fewer than %(off)s days off after a night block."),
    "weekly_minutes": _("More than the contract's weekly hours in these 7 days."),
    "max_minutes": _("More than the contract's hours this month."),
    "weekly_rest_day": _("No rest day in this week."),
    "max_shifts": _("More nights this month than the contract allows."),
    "no_night": _("No night shifts: pregnant (7th month on) or nursing an infant."),
    "cover_minimum": _("Fewer staff than the minimum on this day."),
    "skill_mix": _("Not enough senior staff (skill mix) on this day."),
    "fixed": _("A locked cell was changed."),
    "keep_previous": _("Changed outside the re-planned days."),
}


# The solver's rule names → the ward rule (``RuleCode``) they come from.
PRODUCT_RULE = {
    "days_off": "unavailable",
    "forbidden_follow": "no_day_after_night",
    "min_rest_minutes": "min_rest",
    "max_consecutive": "max_consecutive_days",
    "max_consecutive_nights": "max_consecutive_nights",
    "rest_after_nights": "days_off_after_nights",
    "weekly_minutes": "weekly_hours",
    "max_minutes": "weekly_hours",
    "weekly_rest_day": "rest_day_per_week",
    "max_shifts": "max_nights_month",
    "no_night": "no_night_protected",
    "cover_minimum": "cover_minimum",
    "skill_mix": "skill_mix",
    "fixed": "locked",
    "keep_previous": "keep_previous",
    "shift_on_request": "requests",
    "shift_off_request": "requests",
    "cover_under": "cover_preferred",
    "cover_over": "cover_preferred",
    "fair_nights": "night_fairness",
    "fair_weekends": "weekend_fairness",
    "fair_holidays": "holiday_fairness",
}


WEEKDAYS = (
    pgettext_lazy("weekday, one letter", "Mo"),
    pgettext_lazy("weekday, one letter", "Tu"),
    pgettext_lazy("weekday, one letter", "We"),
    pgettext_lazy("weekday, one letter", "Th"),
    pgettext_lazy("weekday, one letter", "Fr"),
    pgettext_lazy("weekday, one letter", "Sa"),
    pgettext_lazy("weekday, one letter", "Su"),
)


@dataclass(frozen=True)
class CellViolation:
    rule: str
    staff_id: int | None
    dates: tuple[dt.date, ...]
    reason: str
    detail: str

    @property
    def code(self) -> str:
        """The ward rule broken (``RuleCode`` value, or ``unavailable`` / ``locked``)."""
        return PRODUCT_RULE.get(self.rule, self.rule)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.code,
            "staff": self.staff_id,
            "dates": [d.isoformat() for d in self.dates],
            "reason": self.reason,
            "detail": self.detail,
        }


def reason_for(wm: WardMonth, v: Violation) -> tuple[str, str]:
    rule = v.rule
    if rule == "cover_minimum" and " with " in v.message:
        rule = "skill_mix"
    params = {
        "rest": wm.rules["min_rest"].value,
        "days": wm.rules["max_consecutive_days"].value,
        "nights": wm.rules["max_consecutive_nights"].value,
        "off": wm.rules["days_off_after_nights"].value,
    }
    message = RULE_REASONS.get(rule)
    return rule, str(fmt(message, params)) if message is not None else v.message


def violations_of(wm: WardMonth, violations: list[Violation]) -> list[CellViolation]:
    out = []
    for v in violations:
        rule, reason = reason_for(wm, v)
        days = v.days or ((v.day,) if v.day is not None else ())
        dates = tuple(wm.days[d] for d in days if 0 <= d < len(wm.days))
        if rule == "days_off" and v.staff and dates and (int(v.staff), dates[0]) in wm.carried_off:
            rule, reason = (
                "rest_after_nights",
                str(fmt(RULE_REASONS["rest_after_nights"], {"off": wm.rules["days_off_after_nights"].value})),
            )
        out.append(CellViolation(rule, int(v.staff) if v.staff else None, dates, reason, v.message))
    return out


@dataclass
class GridRow:
    staff: Staff
    profile: StaffProfile
    cells: list[dict[str, Any]]
    issues: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Grid:
    roster: Roster
    wm: WardMonth
    days: list[dict[str, Any]]
    rows: list[GridRow]
    shift_types: list[ShiftType]
    violations: list[CellViolation]
    objective: int
    breakdown: dict[str, int]
    day_issues: dict[str, list[str]]

    @property
    def hard_count(self) -> int:
        return len(self.violations)

    @property
    def explanation(self) -> list[str]:
        """The hard rules that do not hold, in words: the rule, the people and the days."""
        return explain(self.wm, self.violations)


def explain(wm: WardMonth, violations: list[CellViolation]) -> list[str]:
    names = {s.pk: s.name for s in wm.staff}
    groups: dict[str, dict[str, set[dt.date]]] = defaultdict(lambda: defaultdict(set))
    for v in violations:
        who = names.get(v.staff_id, "") if v.staff_id else str(_("the ward"))
        groups[v.reason][who].update(v.dates)
    lines = []
    for reason, people in groups.items():
        parts = []
        for who, dates in people.items():
            when = ", ".join(d.strftime("%m-%d") for d in sorted(dates))
            parts.append(f"{who} ({when})" if when else who)
        lines.append(f"{reason} {'; '.join(parts)}")
    return lines


def roster_check(
    roster: Roster, wm: WardMonth | None = None
) -> tuple[WardMonth, int, list[CellViolation], dict[str, int]]:
    """The roster's cells against the ward's rules (the solver's independent checker)."""
    wm = wm or ward_month(roster.ward, roster.month, roster=roster)
    cells = list(RosterCell.objects.filter(roster=roster).select_related("shift_type"))
    objective, violations, breakdown = check(wm.problem, assignment_of(wm, cells))
    return wm, objective, violations_of(wm, violations), breakdown


def roster_grid(*, user: Any, roster: Roster) -> Grid:
    """People × days with each cell's shift, lock, unavailability and violations (reasons)."""
    require_view(user, roster.ward)
    wm = ward_month(roster.ward, roster.month, roster=roster)
    cells = list(RosterCell.objects.filter(roster=roster).select_related("shift_type"))
    objective, raw, breakdown = check(wm.problem, assignment_of(wm, cells))
    violations = violations_of(wm, raw)
    by_cell: dict[tuple[int, dt.date], list[CellViolation]] = defaultdict(list)
    by_staff: dict[int, list[str]] = defaultdict(list)
    day_issues: dict[str, list[str]] = defaultdict(list)
    for v in violations:
        if v.staff_id is None:
            for d in v.dates:
                day_issues[d.isoformat()].append(v.reason)
        elif not v.dates:
            by_staff[v.staff_id].append(v.reason)
        else:
            for d in v.dates:
                by_cell[(v.staff_id, d)].append(v)
    cell_map = {(c.staff_id, c.date): c for c in cells}
    rows = []
    for s in wm.staff:
        row_cells = []
        counts = {"work": 0, "night": 0}
        for d in wm.days:
            c = cell_map.get((s.pk, d))
            st = c.shift_type if c else None
            reasons = list(dict.fromkeys(v.reason for v in by_cell.get((s.pk, d), ())))
            unavailable = wm.unavailable.get((s.pk, d))
            if st is not None and st.kind != ShiftKind.OFF:
                counts["work"] += 1
                if st.kind == ShiftKind.NIGHT:
                    counts["night"] += 1
            row_cells.append(
                {
                    "date": d,
                    "iso": d.isoformat(),
                    "code": st.code if st else "",
                    "name": st.name if st else "",
                    "kind": st.kind if st else ShiftKind.OFF,
                    "locked": bool(c and c.locked),
                    "unavailable": unavailable or "",
                    "unavailable_label": UnavailabilityKind(unavailable).label if unavailable else "",
                    "reasons": reasons,
                }
            )
        rows.append(GridRow(s, wm.profiles[s.pk], row_cells, by_staff.get(s.pk, []), counts))
    days = [
        {
            "date": d,
            "iso": d.isoformat(),
            "weekend": d.weekday() >= 5,
            "weekday": WEEKDAYS[d.weekday()],
            "holiday": d in wm.holidays,
            "issues": day_issues.get(d.isoformat(), []),
        }
        for d in wm.days
    ]
    return Grid(
        roster=roster,
        wm=wm,
        days=days,
        rows=rows,
        shift_types=list(wm.shift_types.values()),
        violations=violations,
        objective=objective,
        breakdown=breakdown,
        day_issues=dict(day_issues),
    )


# --- a person's shifts ----------------------------------------------------------------------------


def my_shifts(*, staff: Staff, start: dt.date, days: int = 31) -> list[RosterCell]:
    """``staff``'s cells of published rosters from ``start`` on (working days only)."""
    return list(
        RosterCell.objects.filter(
            staff=staff,
            date__gte=start,
            date__lt=start + dt.timedelta(days=days),
            roster__status=RosterStatus.PUBLISHED,
            shift_type__isnull=False,
        )
        .exclude(shift_type__kind=ShiftKind.OFF)
        .select_related("shift_type", "roster__ward")
        .order_by("date")
    )


def ical_cells(*, token: str) -> tuple[StaffProfile, list[RosterCell]] | None:
    """The person behind an iCal token and their published shifts (the last 31 days on)."""
    if not token or len(token) > 64:
        return None
    profile = StaffProfile.objects.select_related("staff").filter(ical_token=token).first()
    if profile is None or not profile.staff.is_active:
        return None
    start = dt.date.today() - dt.timedelta(days=31)
    return profile, my_shifts(staff=profile.staff, start=start, days=31 + 92)


def month_of_cells(staff: Staff, month: dt.date) -> dict[dt.date, RosterCell]:
    days = month_days(month)
    return {
        c.date: c
        for c in RosterCell.objects.filter(
            staff=staff, date__gte=days[0], date__lte=days[-1], roster__status=RosterStatus.PUBLISHED
        ).select_related("shift_type")
    }


def unavailable_days(staff: Staff, month: dt.date) -> dict[dt.date, str]:
    days = month_days(month)
    return {
        u.date: u.kind
        for u in Unavailability.objects.filter(staff=staff, date__gte=days[0], date__lte=days[-1])
    }


# --- swaps ----------------------------------------------------------------------------------------


def swap_list_for_user(*, user: Any) -> QuerySet[SwapRequest]:
    """Swaps the user asked for or is named in, and those of the wards they manage."""
    staff = staff_of(user)
    mine = Q(requester=staff) | Q(partner=staff) if staff else Q(pk__in=[])
    managed = scope_q(user, PERM_MANAGE, department_field="roster__ward")
    return (
        SwapRequest.objects.filter(mine | managed)
        .select_related("roster__ward", "requester", "partner", "decided_by")
        .order_by("-created_at")
    )


def swap_get(*, user: Any, swap_id: int) -> SwapRequest:
    swap = swap_list_for_user(user=user).filter(pk=swap_id).first()
    if swap is None:
        raise RosterNotFound
    return swap


def pending_swaps(*, user: Any) -> QuerySet[SwapRequest]:
    return swap_list_for_user(user=user).filter(status=SwapStatus.PENDING)


# --- the ward's settings page ---------------------------------------------------------------------


def rule_codes() -> list[str]:
    return list(DEFAULTS)


def work_shift_types(ward: Department) -> list[ShiftType]:
    return list(ShiftType.objects.filter(ward=ward, active=True).exclude(kind=ShiftKind.OFF))


def ward_profiles(ward: Department) -> list[StaffProfile]:
    return list(
        StaffProfile.objects.filter(ward=ward, rostered=True)
        .select_related("staff")
        .order_by("staff__employee_no")
    )


def ward_settings_context(ward: Department) -> dict[str, Any]:
    """The rule table (effective settings), weekday demand per shift, contracts and flags."""
    rules = rules_for_ward(ward)
    shift_types = work_shift_types(ward)
    demand = {(d.shift_type_id, d.weekday): d for d in Demand.objects.filter(ward=ward, on_date__isnull=True)}
    demand_rows = []
    for st in shift_types:
        cells = [demand.get((st.pk, wd)) for wd in range(7)]
        skill = next((d for d in cells if d is not None and d.skill_level), None)
        demand_rows.append(
            {
                "shift": st,
                "days": [
                    {
                        "weekday": wd,
                        "label": WEEKDAYS[wd],
                        "minimum": d.minimum if d else 0,
                        "preferred": d.preferred if d else 0,
                    }
                    for wd, d in enumerate(cells)
                ],
                "skill_level": skill.skill_level if skill else "",
                "skill_minimum": skill.skill_minimum if skill else 0,
            }
        )
    rostered = StaffProfile.objects.filter(ward=ward, rostered=True).values("staff_id")
    candidates = (
        Staff.objects.filter(department_id__in=[ward.pk, ward.parent_id], status="active")
        .exclude(pk__in=rostered)
        .order_by("department__path", "employee_no")
    )
    return {
        "ward": ward,
        "candidates": list(candidates),
        "doctor_ranks": [(t, Title(t).label) for t in DOCTOR_RANKS],
        "rules": list(rules.values()),
        "demand_rows": demand_rows,
        "profiles": ward_profiles(ward),
        "levels": ("N0", "N1", "N2", "N3", "N4"),
    }
