"""A ward's month as the solver's ``Problem`` and back.

``ward_month(ward, month)`` reads everything a roster depends on — the ward's shift types,
its rostered staff with their levels, contracts and flags, demand and skill mix, approved leave
and training days, personal requests, locked cells, the ward's rules and the fairness ledger —
and builds ``solver.problem.Problem``. Staff ids in the problem are staff primary keys as text,
shift ids are the shift codes, day ``i`` is the month's ``i``-th day.

The ward rules map onto the solver's rules like this (``RuleCode`` → solver rule):

========================  ====================================================================
min_rest                  ``min_rest_minutes`` (value hours × 60, from the shifts' times)
no_day_after_night        ``forbidden_follow`` (every night kind → every day kind, next day)
max_consecutive_days      ``max_consecutive`` (``Staff.max_consecutive``)
max_consecutive_nights    ``max_consecutive_nights``
days_off_after_nights     ``rest_after_nights``
weekly_hours              ``weekly_minutes`` (contract 40/44 h per 7 days) and ``max_minutes``
rest_day_per_week         ``weekly_rest_day``
max_nights_month          ``max_shifts`` (contract's nights per month, per night shift type)
no_night_protected        ``no_night`` (pregnant from the 7th month, nursing an infant)
cover_minimum             ``Cover(hard=…)`` with the demand's minimum (``cover_minimum``)
cover_preferred           ``Cover`` with the preferred number (``cover_under``/``cover_over``)
skill_mix                 ``Cover(skill="N3+")`` with the demand's skill minimum
requests                  ``Request`` weight = priority × rule weight
night/weekend/holiday     ``fair_nights`` / ``fair_weekends`` / ``fair_holidays`` with history
_fairness                 from the ledger of the three months before
========================  ====================================================================
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q

from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Department, Staff

from .choices import RuleCode, ShiftKind
from .models import (
    Demand,
    FairnessLedger,
    Holiday,
    Roster,
    RosterCell,
    ShiftRequest,
    ShiftType,
    StaffProfile,
    Unavailability,
)
from .rules import RuleSetting, rules_for_ward
from .solver import problem as sp

LEVELS = ("N0", "N1", "N2", "N3", "N4")
HISTORY_MONTHS = 3
UNLIMITED = 10**6


def month_days(month: dt.date) -> list[dt.date]:
    first = month.replace(day=1)
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return [first + dt.timedelta(days=i) for i in range((nxt - first).days)]


# Doctors' titles from junior to senior: a skill mix may ask for "attending or above".
DOCTOR_RANKS = ("resident", "attending", "assoc_chief_physician", "chief_physician")


def skills_of(staff: Staff) -> frozenset[str]:
    """``N2`` holds ``N0+``, ``N1+`` and ``N2+``; an attending physician holds ``resident+`` and
    ``attending+``; everyone holds their title as it is."""
    skills: set[str] = set()
    for ladder, value in ((LEVELS, staff.nursing_level), (DOCTOR_RANKS, staff.title)):
        if value in ladder:
            rank = ladder.index(value)
            skills.update(f"{step}+" for step in ladder[: rank + 1])
    if staff.title:
        skills.add(staff.title)
    return frozenset(skills)


def skill_key(level: str) -> str:
    return f"{level}+" if level in LEVELS or level in DOCTOR_RANKS else level


@dataclass
class WardMonth:
    """Everything a ward's month is made of, and the problem built from it."""

    ward: Department
    month: dt.date
    days: list[dt.date]
    staff: list[Staff]
    profiles: dict[int, StaffProfile]
    shift_types: dict[str, ShiftType]
    rules: dict[str, RuleSetting]
    unavailable: dict[tuple[int, dt.date], str]
    problem: sp.Problem
    holidays: set[dt.date] = field(default_factory=set)
    # (staff pk, date) kept off because the person's night block ended at the end of last month
    carried_off: set[tuple[int, dt.date]] = field(default_factory=set)

    def day_index(self, day: dt.date) -> int:
        return (day - self.days[0]).days

    def staff_by_id(self) -> dict[str, Staff]:
        return {str(s.pk): s for s in self.staff}


def ward_staff(ward: Department) -> list[Staff]:
    """The active staff with a roster profile for ``ward``, in employee-number order."""
    return list(
        Staff.objects.filter(
            roster_profile__ward=ward, roster_profile__rostered=True, status=StaffStatus.ACTIVE
        )
        .select_related("user")
        .order_by("employee_no")
    )


def _rule(rules: dict[str, RuleSetting], code: str) -> sp.Rule:
    s = rules[code]
    return sp.Rule(enabled=s.enabled, hard=s.hard, weight=max(s.weight, 1), value=s.value)


def _history(staff: list[Staff], month: dt.date) -> dict[str, dict[str, int]]:
    """Nights, weekends and holidays of the last three months per person, less the smallest
    (a newcomer starts level with the least loaded colleague, not with a debt)."""
    since = month
    for _ in range(HISTORY_MONTHS):
        since = (since - dt.timedelta(days=1)).replace(day=1)
    totals: dict[str, dict[str, int]] = {
        str(s.pk): {"nights": 0, "weekends": 0, "holidays": 0} for s in staff
    }
    for row in FairnessLedger.objects.filter(staff__in=staff, month__gte=since, month__lt=month):
        t = totals[str(row.staff_id)]
        t["nights"] += row.nights
        t["weekends"] += row.weekends
        t["holidays"] += row.holidays
    if totals:
        for key in ("nights", "weekends", "holidays"):
            low = min(t[key] for t in totals.values())
            for t in totals.values():
                t[key] -= low
    return totals


def ward_month(
    ward: Department,
    month: dt.date,
    *,
    roster: Roster | None = None,
    replan_days: set[dt.date] | None = None,
) -> WardMonth:
    """Build the problem for ``ward``'s ``month``. With ``roster``, its locked cells are fixed;
    with ``replan_days`` its present cells are the baseline (``previous``) and only those days
    are free to change without the ``keep_previous`` penalty."""
    days = month_days(month)
    first, last = days[0], days[-1]
    horizon = len(days)
    rules = rules_for_ward(ward)
    staff = ward_staff(ward)
    profiles = {p.staff_id: p for p in StaffProfile.objects.filter(staff__in=staff)}
    shift_types = {
        t.code: t for t in ShiftType.objects.filter(ward=ward, active=True).order_by("sort_order", "code")
    }
    work = {code: t for code, t in shift_types.items() if t.kind != ShiftKind.OFF}
    nights = [code for code, t in work.items() if t.kind == ShiftKind.NIGHT]
    day_shifts = [code for code, t in work.items() if t.kind == ShiftKind.DAY]

    shifts = [sp.Shift(code, t.minutes, t.start_minute, str(t.kind)) for code, t in work.items()]
    forbidden: dict[str, set[str]] = {}
    if rules[RuleCode.NO_DAY_AFTER_NIGHT].enabled:
        for n in nights:
            forbidden[n] = set(day_shifts)

    # availability
    unavailable: dict[tuple[int, dt.date], str] = {}
    days_off: dict[str, set[int]] = defaultdict(set)
    for row in Unavailability.objects.filter(staff__in=staff, date__gte=first, date__lte=last):
        unavailable.setdefault((row.staff_id, row.date), row.kind)
        days_off[str(row.staff_id)].add((row.date - first).days)

    holidays = set(Holiday.objects.filter(date__gte=first, date__lte=last).values_list("date", flat=True))

    # A night block that ended in the last days of the month before: its days off reach into this one.
    carried_off: set[tuple[int, dt.date]] = set()
    after_nights = rules[RuleCode.DAYS_OFF_AFTER_NIGHTS]
    if after_nights.enabled and after_nights.hard and after_nights.value:
        k = after_nights.value
        tail_start = first - dt.timedelta(days=k)
        tail: dict[int, dict[dt.date, str]] = defaultdict(dict)
        for c in RosterCell.objects.filter(
            roster__ward=ward,
            roster__month=tail_start.replace(day=1),
            staff__in=staff,
            date__gte=tail_start,
            date__lt=first,
        ).select_related("shift_type"):
            if c.shift_type is not None:
                tail[c.staff_id][c.date] = c.shift_type.kind
        for staff_id, kinds in tail.items():
            for back in range(1, k + 1):
                kind = kinds.get(first - dt.timedelta(days=back))
                if kind == ShiftKind.NIGHT:
                    for i in range(k - back + 1):
                        carried_off.add((staff_id, days[i]))
                        days_off[str(staff_id)].add(i)
                    break
                if kind not in (None, ShiftKind.OFF):
                    break  # worked after the block (or no block): nothing carried

    # staff
    max_consecutive = rules[RuleCode.MAX_CONSECUTIVE_DAYS]
    weekly = rules[RuleCode.WEEKLY_HOURS]
    nights_cap = rules[RuleCode.MAX_NIGHTS_MONTH]
    protected_rule = rules[RuleCode.NO_NIGHT_PROTECTED]
    solver_staff = []
    for s in staff:
        p = profiles[s.pk]
        sid = str(s.pk)
        away = len(days_off.get(sid, ()))
        # Leave and training days count as worked hours of the contract: the month's cap shrinks.
        cap = p.weekly_hours * 60 * (horizon - away) // 7
        solver_staff.append(
            sp.Staff(
                id=sid,
                max_shifts=dict.fromkeys(nights, p.max_nights_per_month) if nights_cap.enabled else {},
                max_minutes=cap if weekly.enabled else 10**9,
                min_minutes=0,
                max_consecutive=max_consecutive.value if max_consecutive.enabled else UNLIMITED,
                min_consecutive=1,
                min_consecutive_off=1,
                max_weekends=UNLIMITED,
                skills=skills_of(s),
                no_night=protected_rule.enabled and any(p.protected_on(d) for d in days),
                weekly_minutes=p.weekly_hours * 60,
            )
        )

    # demand: a date's rows override the weekday's
    by_weekday: dict[tuple[int, str], Demand] = {}
    by_date: dict[tuple[dt.date, str], Demand] = {}
    for dem in (
        Demand.objects.filter(ward=ward, shift_type__active=True)
        .filter(Q(on_date__isnull=True) | Q(on_date__gte=first, on_date__lte=last))
        .select_related("shift_type")
    ):
        if dem.on_date is None:
            by_weekday[(dem.weekday or 0, dem.shift_type.code)] = dem
        else:
            by_date[(dem.on_date, dem.shift_type.code)] = dem
    cover_min = rules[RuleCode.COVER_MINIMUM]
    cover_pref = rules[RuleCode.COVER_PREFERRED]
    skill_mix = rules[RuleCode.SKILL_MIX]
    cover: list[sp.Cover] = []
    for i, day in enumerate(days):
        for code in work:
            found = by_date.get((day, code)) or by_weekday.get((day.weekday(), code))
            if found is None:
                continue
            d = found
            want_pref = cover_pref.enabled and d.preferred > d.minimum
            if cover_min.enabled and d.minimum:
                cover.append(
                    sp.Cover(
                        i,
                        code,
                        d.minimum,
                        weight_under=max(cover_min.weight, 1),
                        weight_over=0 if want_pref else 1,
                        hard=cover_min.hard,
                    )
                )
            if want_pref:
                cover.append(
                    sp.Cover(i, code, d.preferred, weight_under=max(cover_pref.weight, 1), weight_over=1)
                )
            if skill_mix.enabled and d.skill_level and d.skill_minimum:
                cover.append(
                    sp.Cover(
                        i,
                        code,
                        d.skill_minimum,
                        weight_under=max(skill_mix.weight, 1),
                        skill=skill_key(d.skill_level),
                        hard=skill_mix.hard,
                    )
                )

    requests: list[sp.Request] = []
    req_rule = rules[RuleCode.REQUESTS]
    if req_rule.enabled:
        for r in ShiftRequest.objects.filter(staff__in=staff, date__gte=first, date__lte=last).select_related(
            "shift_type"
        ):
            wish = r.shift_type.code if r.shift_type else None
            if wish is not None and wish not in work:
                continue
            requests.append(
                sp.Request(
                    str(r.staff_id), (r.date - first).days, wish, r.on, max(req_rule.weight, 1) * r.priority
                )
            )

    fixed: dict[tuple[str, int], str | None] = {}
    previous: dict[str, list[str | None]] | None = None
    if roster is not None:
        cells = list(RosterCell.objects.filter(roster=roster).select_related("shift_type"))
        for c in cells:
            if c.locked:
                kept = c.shift_type.code if c.shift_type and c.shift_type.kind != ShiftKind.OFF else None
                fixed[(str(c.staff_id), (c.date - first).days)] = kept
        if replan_days is not None:
            previous = {str(s.pk): [None] * horizon for s in staff}
            for c in cells:
                before = previous.get(str(c.staff_id))
                if before is not None and c.shift_type and c.shift_type.kind != ShiftKind.OFF:
                    before[(c.date - first).days] = c.shift_type.code

    solver_rules = sp.default_rules()
    solver_rules["forbidden_follow"] = _rule(rules, RuleCode.NO_DAY_AFTER_NIGHT)
    solver_rules["max_consecutive"] = _rule(rules, RuleCode.MAX_CONSECUTIVE_DAYS)
    solver_rules["max_shifts"] = _rule(rules, RuleCode.MAX_NIGHTS_MONTH)
    solver_rules["max_minutes"] = _rule(rules, RuleCode.WEEKLY_HOURS)
    solver_rules["max_weekends"] = sp.Rule(enabled=False)
    solver_rules["min_consecutive"] = sp.Rule(enabled=False)
    solver_rules["min_consecutive_off"] = sp.Rule(enabled=False)
    solver_rules["min_minutes"] = sp.Rule(enabled=False)
    rest = _rule(rules, RuleCode.MIN_REST)
    rest.value = rules[RuleCode.MIN_REST].value * 60
    solver_rules["min_rest_minutes"] = rest
    solver_rules["max_consecutive_nights"] = _rule(rules, RuleCode.MAX_CONSECUTIVE_NIGHTS)
    solver_rules["rest_after_nights"] = _rule(rules, RuleCode.DAYS_OFF_AFTER_NIGHTS)
    weekly_minutes = _rule(rules, RuleCode.WEEKLY_HOURS)
    weekly_minutes.value = 40 * 60
    solver_rules["weekly_minutes"] = weekly_minutes
    solver_rules["weekly_rest_day"] = _rule(rules, RuleCode.REST_DAY_PER_WEEK)
    solver_rules["no_night"] = _rule(rules, RuleCode.NO_NIGHT_PROTECTED)
    solver_rules["cover_minimum"] = _rule(rules, RuleCode.COVER_MINIMUM)
    solver_rules["fair_nights"] = _rule(rules, RuleCode.NIGHT_FAIRNESS)
    solver_rules["fair_weekends"] = _rule(rules, RuleCode.WEEKEND_FAIRNESS)
    solver_rules["fair_holidays"] = _rule(rules, RuleCode.HOLIDAY_FAIRNESS)

    problem = sp.Problem(
        horizon=horizon,
        shifts=shifts,
        staff=solver_staff,
        start_weekday=first.weekday(),
        forbidden_follow=forbidden,
        days_off=dict(days_off),
        requests=requests,
        cover=cover,
        fixed=fixed,
        previous=previous,
        replan_days={(d - first).days for d in replan_days or ()},
        holidays={(d - first).days for d in holidays},
        history=_history(staff, first),
        rules=solver_rules,
    )
    return WardMonth(
        ward=ward,
        month=first,
        days=days,
        staff=staff,
        profiles=profiles,
        shift_types=shift_types,
        rules=rules,
        unavailable=unavailable,
        problem=problem,
        holidays=holidays,
        carried_off=carried_off,
    )


def assignment_of(wm: WardMonth, cells: list[RosterCell]) -> dict[str, list[str | None]]:
    """The roster's cells as the solver's assignment (off and missing cells are ``None``)."""
    first = wm.days[0]
    assignment: dict[str, list[str | None]] = {str(s.pk): [None] * len(wm.days) for s in wm.staff}
    for c in cells:
        row = assignment.get(str(c.staff_id))
        if row is None or c.shift_type is None or c.shift_type.kind == ShiftKind.OFF:
            continue
        row[(c.date - first).days] = c.shift_type.code
    return assignment
