"""Every write of the roster module: ward set-up, generation, hand edits with live checking,
locks, publishing (notifications, ledger), re-planning after a sick call, availability from
approved leave, personal requests, swaps, the ward's configuration.

Generation runs the solver synchronously in the caller (the page's POST, a management command or a
test) with a time limit (default ``MEDOA_ROSTER_TIME_LIMIT`` = 20 s) and outside any transaction:
the roster is marked ``generating`` first (so a second click is refused), the solver's progress
(best objective so far) is written to ``Roster.progress`` as it improves (the page polls it), and
the result is written in one transaction at the end, after checking nothing was published or
locked meanwhile.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.audit.services import audit_record
from medoa.core.errors import fmt
from medoa.core.events import publish
from medoa.core.notify.services import notification_send
from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Department, RoleAssignment, Staff

from . import solver
from .choices import CellSource, RosterStatus, ShiftKind, SwapStatus, UnavailabilityKind
from .convert import DOCTOR_RANKS, LEVELS, WardMonth, assignment_of, ward_month
from .errors import (
    RosterConflict,
    RosterInputError,
    RosterNotFound,
    RosterPermissionDenied,
    RosterRuleViolation,
)
from .models import (
    Demand,
    FairnessLedger,
    Roster,
    RosterCell,
    ShiftRequest,
    ShiftType,
    StaffProfile,
    SwapRequest,
    Unavailability,
    WardRule,
)
from .rules import DEFAULTS
from .selectors import CellViolation, may_manage, require_manage, roster_check, staff_of, violations_of
from .solver.check import check

DEFAULT_TIME_LIMIT = 20.0
MAX_TIME_LIMIT = 300.0
# A roster marked generating longer than this is taken to be abandoned (a killed worker).
STALE_GENERATING = dt.timedelta(minutes=10)

# code, name, kind, start, end, hours, order — 白班 A 8–16, 小夜 P 16–24, 大夜 N 0–8, 休
DEFAULT_SHIFTS = (
    ("A", "白班", ShiftKind.DAY, dt.time(8), dt.time(16), 8, 10),
    ("P", "小夜", ShiftKind.EVENING, dt.time(16), dt.time(0), 8, 20),
    ("N", "大夜", ShiftKind.NIGHT, dt.time(0), dt.time(8), 8, 30),
    ("休", "休", ShiftKind.OFF, None, None, 0, 90),
)
NURSE_TITLES = ("chief_nurse", "assoc_chief_nurse", "supervisor_nurse", "nurse_practitioner", "nurse")


def time_limit_default() -> float:
    return float(getattr(settings, "MEDOA_ROSTER_TIME_LIMIT", DEFAULT_TIME_LIMIT))


def first_of_month(value: dt.date) -> dt.date:
    return value.replace(day=1)


# --- ward set-up ----------------------------------------------------------------------------------


@transaction.atomic
def ward_setup(*, ward: Department) -> int:
    """On first use: the default shift set and a roster profile (40 h, 8 nights) for each nurse
    of the ward who has none (the head nurse is not rostered). Idempotent; returns how many
    profiles it created."""
    if not ShiftType.objects.filter(ward=ward).exists():
        ShiftType.objects.bulk_create(
            [
                ShiftType(ward=ward, code=c, name=n, kind=k, start=s, end=e, hours=h, sort_order=o)
                for c, n, k, s, e, h, o in DEFAULT_SHIFTS
            ]
        )
    heads = set(
        RoleAssignment.objects.filter(department=ward, role__code="head_nurse").values_list(
            "staff_id", flat=True
        )
    )
    candidates = Staff.objects.filter(department=ward, status=StaffStatus.ACTIVE).filter(
        Q(title__in=NURSE_TITLES) | ~Q(nursing_level="")
    )
    existing = set(StaffProfile.objects.filter(staff__in=candidates).values_list("staff_id", flat=True))
    created = 0
    for s in candidates:
        if s.pk in existing or s.pk in heads:
            continue
        StaffProfile.objects.create(staff=s, ward=ward)
        created += 1
    return created


def profile_for(staff: Staff) -> StaffProfile:
    """The person's roster profile (created in their department when missing: for the iCal token)."""
    profile = StaffProfile.objects.filter(staff=staff).first()
    if profile is None and staff.department.kind in ("ward", "unit"):
        ward_setup(ward=staff.department)  # a nurse who looks before the head nurse plans
        profile = StaffProfile.objects.filter(staff=staff).first()
    if profile is None:
        profile = StaffProfile.objects.create(staff=staff, ward=staff.department, rostered=False)
    return profile


@transaction.atomic
def roster_open(*, actor: Any, ward: Department, month: dt.date) -> Roster:
    """The ward's roster of ``month`` (created as an empty draft on first use)."""
    require_manage(actor, ward)
    month = first_of_month(month)
    ward_setup(ward=ward)
    roster, created = Roster.objects.get_or_create(ward=ward, month=month)
    if created:
        audit_record(
            actor=actor, action="roster.roster.created", target=roster, details={"month": str(month)}
        )
    return roster


# --- generating -----------------------------------------------------------------------------------


def _claim_generation(roster_id: int) -> Roster:
    with transaction.atomic():
        roster = Roster.objects.select_for_update().select_related("ward").get(pk=roster_id)
        stale = roster.updated_at and timezone.now() - roster.updated_at > STALE_GENERATING
        if roster.generating and not stale:
            raise RosterConflict(_("This roster is being generated already."))
        roster.generating = True
        roster.progress = {"started": timezone.now().isoformat(), "objective": None, "solutions": 0}
        roster.save(update_fields=["generating", "progress", "updated_at"])
        return roster


def _release(roster_id: int) -> None:
    Roster.objects.filter(pk=roster_id).update(generating=False)


def _write_assignment(roster: Roster, wm: WardMonth, assignment: dict[str, list[str | None]]) -> list[int]:
    """Replace the unlocked cells by ``assignment``; return the staff ids whose cells changed."""
    off = next((t for t in wm.shift_types.values() if t.kind == ShiftKind.OFF), None)
    existing = {
        (c.staff_id, c.date): c for c in RosterCell.objects.filter(roster=roster).select_related("shift_type")
    }
    to_create, to_update, changed = [], [], set()
    for s in wm.staff:
        row = assignment.get(str(s.pk), [None] * len(wm.days))
        for i, day in enumerate(wm.days):
            code = row[i]
            st = wm.shift_types[code] if code else off
            cell = existing.get((s.pk, day))
            if cell is None:
                to_create.append(
                    RosterCell(roster=roster, staff=s, date=day, shift_type=st, source=CellSource.SOLVER)
                )
                changed.add(s.pk)
            elif not cell.locked and cell.shift_type_id != (st.pk if st else None):
                cell.shift_type = st
                cell.source = CellSource.SOLVER
                to_update.append(cell)
                changed.add(s.pk)
    RosterCell.objects.bulk_create(to_create)
    RosterCell.objects.bulk_update(to_update, ["shift_type", "source", "updated_at"])
    return sorted(changed)


def _run(roster: Roster, wm: WardMonth, time_limit: float, seed: int) -> Any:
    started = time.monotonic()
    last = [0.0]
    found = [0]

    def progress(_assignment: dict[str, list[str | None]], objective: int, hard: int) -> None:
        found[0] += 1
        now = time.monotonic()
        if now - last[0] < 0.5:
            return
        last[0] = now
        Roster.objects.filter(pk=roster.pk).update(
            progress={
                "objective": int(objective),
                "hard_violations": int(hard),
                "solutions": found[0],
                "seconds": round(now - started, 1),
                "limit": time_limit,
            }
        )

    return solver.solve(wm.problem, time_limit=time_limit, workers=2, seed=seed, on_solution=progress)


def _check_time_limit(time_limit: float | None) -> float:
    limit = time_limit_default() if time_limit is None else float(time_limit)
    if not 1 <= limit <= MAX_TIME_LIMIT:
        raise RosterInputError(
            fmt(_("The time limit must be between 1 and %(max)s seconds."), {"max": int(MAX_TIME_LIMIT)}),
            field="time_limit",
        )
    return limit


def roster_generate(*, actor: Any, roster: Roster, time_limit: float | None = None, seed: int = 0) -> Roster:
    """Solve the ward's month and write the best roster found over the unlocked cells. Locked
    cells stay (they are fixed in the problem). The score by rule and, when the hard rules cannot
    all hold, the solver's explanation in words are kept on the roster."""
    require_manage(actor, roster.ward)
    limit = _check_time_limit(time_limit)
    if roster.status == RosterStatus.PUBLISHED:
        raise RosterConflict(
            _("A published roster is not generated again; re-plan the affected days instead.")
        )
    ward_setup(ward=roster.ward)
    roster = _claim_generation(roster.pk)
    try:
        wm = ward_month(roster.ward, roster.month, roster=roster)
        if not wm.staff:
            raise RosterInputError(_("Nobody is on this ward's roster yet."), field="staff")
        started = time.monotonic()
        solution = _run(roster, wm, limit, seed)
        seconds = time.monotonic() - started
        with transaction.atomic():
            locked = Roster.objects.select_for_update().get(pk=roster.pk)
            if locked.status == RosterStatus.PUBLISHED:
                raise RosterConflict(
                    _("The roster was published while it was being generated; nothing was changed.")
                )
            if solution.assignment:
                _write_assignment(locked, wm, solution.assignment)
            cells = list(RosterCell.objects.filter(roster=locked).select_related("shift_type"))
            objective, violations, breakdown = check(wm.problem, assignment_of(wm, cells))
            locked.score = objective
            locked.breakdown = breakdown
            locked.explanation = list(solution.explanation)
            locked.solver_status = solution.status
            locked.generated_at = timezone.now()
            locked.generating = False
            locked.progress = {
                "objective": objective,
                "seconds": round(seconds, 1),
                "limit": limit,
                "done": True,
                "status": solution.status,
            }
            locked.save()
            audit_record(
                actor=actor,
                action="roster.roster.generated",
                target=locked,
                details={
                    "status": solution.status,
                    "objective": objective,
                    "hard_violations": len(violations),
                    "seconds": round(seconds, 1),
                    "time_limit": limit,
                },
            )
        return locked
    finally:
        _release(roster.pk)


# --- hand edits -----------------------------------------------------------------------------------


def _cell_for_update(roster: Roster, staff_id: int, day: dt.date) -> RosterCell:
    if day.replace(day=1) != roster.month:
        raise RosterInputError(_("The date is not in this roster's month."), field="date")
    if not StaffProfile.objects.filter(staff_id=staff_id, ward=roster.ward, rostered=True).exists():
        raise RosterInputError(_("This person is not on this ward's roster."), field="staff")
    cell = RosterCell.objects.select_for_update().filter(roster=roster, staff_id=staff_id, date=day).first()
    if cell is None:
        cell = RosterCell.objects.create(roster=roster, staff_id=staff_id, date=day, source=CellSource.MANUAL)
    return cell


def _lock_roster(roster: Roster) -> Roster:
    locked = Roster.objects.select_for_update().select_related("ward").get(pk=roster.pk)
    if locked.generating:
        raise RosterConflict(_("This roster is being generated; wait until it is done."))
    return locked


@transaction.atomic
def cell_set(
    *, actor: Any, roster: Roster, staff_id: int, day: dt.date, code: str | None
) -> tuple[RosterCell, list[CellViolation]]:
    """Put shift ``code`` (``None`` or the off code: a day off) in a cell, by hand. The change is
    kept even when it breaks a rule: the head nurse sees the violations (returned, with their
    reasons) and decides. A published roster becomes a draft again until it is re-published."""
    require_manage(actor, roster.ward)
    roster = _lock_roster(roster)
    shift: ShiftType | None = None
    if code:
        shift = ShiftType.objects.filter(ward=roster.ward, code=code, active=True).first()
        if shift is None:
            raise RosterInputError(fmt(_("Unknown shift code: %(code)s."), {"code": code}), field="code")
    cell = _cell_for_update(roster, staff_id, day)
    before = cell.shift_type.code if cell.shift_type else ""
    cell.shift_type = shift
    cell.source = CellSource.MANUAL
    cell.save(update_fields=["shift_type", "source", "updated_at"])
    if roster.status == RosterStatus.PUBLISHED:
        roster.status = RosterStatus.DRAFT
    roster.save(update_fields=["status", "updated_at"])
    _wm, objective, violations, breakdown = roster_check(roster)
    roster.score = objective
    roster.breakdown = breakdown
    roster.save(update_fields=["score", "breakdown"])
    audit_record(
        actor=actor,
        action="roster.cell.edited",
        target=roster,
        details={
            "staff": staff_id,
            "date": day.isoformat(),
            "from": before,
            "to": shift.code if shift else "",
        },
    )
    return cell, violations


@transaction.atomic
def cell_lock(*, actor: Any, roster: Roster, staff_id: int, day: dt.date, locked: bool) -> RosterCell:
    """Lock a cell (generation and re-planning keep it) or unlock it."""
    require_manage(actor, roster.ward)
    roster = _lock_roster(roster)
    cell = _cell_for_update(roster, staff_id, day)
    cell.locked = locked
    cell.save(update_fields=["locked", "updated_at"])
    audit_record(
        actor=actor,
        action="roster.cell.locked" if locked else "roster.cell.unlocked",
        target=roster,
        details={"staff": staff_id, "date": day.isoformat()},
    )
    return cell


# --- publishing -----------------------------------------------------------------------------------


def _ledger_update(roster: Roster, wm: WardMonth, cells: list[RosterCell]) -> None:
    totals: dict[int, dict[str, int]] = {
        s.pk: {"nights": 0, "weekends": 0, "holidays": 0, "minutes": 0} for s in wm.staff
    }
    for c in cells:
        t = totals.get(c.staff_id)
        st = c.shift_type
        if t is None or st is None or st.kind == ShiftKind.OFF:
            continue
        t["minutes"] += st.minutes
        if st.kind == ShiftKind.NIGHT:
            t["nights"] += 1
        if c.date.weekday() >= 5:
            t["weekends"] += 1
        if c.date in wm.holidays:
            t["holidays"] += 1
    for staff_id, t in totals.items():
        FairnessLedger.objects.update_or_create(
            staff_id=staff_id, month=roster.month, defaults={"ward": roster.ward, **t}
        )


@transaction.atomic
def roster_publish(*, actor: Any, roster: Roster, allow_violations: bool = False) -> Roster:
    """Publish: every person on the roster is notified and sees it; the fairness ledger takes the
    month's nights, weekend days and holidays. Refused while hard rules are broken unless
    ``allow_violations`` (the head nurse confirms an exception)."""
    require_manage(actor, roster.ward)
    roster = _lock_roster(roster)
    wm, objective, violations, breakdown = roster_check(roster)
    cells = list(RosterCell.objects.filter(roster=roster).select_related("shift_type"))
    if not cells:
        raise RosterConflict(_("The roster is empty: generate it first."))
    if violations and not allow_violations:
        raise RosterRuleViolation([v.as_dict() for v in violations])
    republished = roster.published_at is not None
    if republished:
        roster.version += 1
    roster.status = RosterStatus.PUBLISHED
    roster.published_at = timezone.now()
    roster.published_by = staff_of(actor)
    roster.score = objective
    roster.breakdown = breakdown
    roster.save()
    _ledger_update(roster, wm, cells)
    users = [s.user for s in wm.staff]
    title = fmt(
        _("%(ward)s roster for %(month)s is published (version %(version)s)"),
        {"ward": roster.ward.name_zh, "month": roster.month.strftime("%Y-%m"), "version": roster.version},
    )
    notification_send(
        recipients=users,
        title=str(title),
        body=str(_("Open 'My shifts' to see your shifts.")),
        link=reverse("roster:my_shifts") + f"?month={roster.month:%Y-%m}",
        kind="info",
        data={"roster": roster.pk, "version": roster.version},
    )
    publish(
        "roster.roster.published",
        {
            "roster": roster.pk,
            "ward": roster.ward.code,
            "month": roster.month,
            "version": roster.version,
            "staff": [u.get_username() for u in users],
        },
        actor=actor,
        key=f"roster:{roster.pk}:published:{roster.version}",
    )
    audit_record(
        actor=actor,
        action="roster.roster.published",
        target=roster,
        details={
            "version": roster.version,
            "staff": len(users),
            "hard_violations": len(violations),
            "objective": objective,
        },
    )
    return roster


# --- availability and re-planning -----------------------------------------------------------------


def _dates(values: Iterable[dt.date], field: str) -> list[dt.date]:
    days = sorted(set(values))
    if not days:
        raise RosterInputError(_("Give at least one date."), field=field)
    if len(days) > 366:
        raise RosterInputError(_("At most 366 dates at once."), field=field)
    return days


def unavailability_block(
    *, staff: Staff, days: Iterable[dt.date], kind: str, reference: str = "", note: str = ""
) -> int:
    """Mark ``staff`` unavailable on ``days`` (idempotent: a day already marked with this kind is
    kept). In draft rosters the unlocked cells of those days become days off; a published roster
    keeps its cells and shows the conflict on the grid until the head nurse re-plans. Returns how
    many days were newly marked."""
    dates = _dates(days, "dates")
    UnavailabilityKind(kind)
    existing = set(
        Unavailability.objects.filter(staff=staff, kind=kind, date__in=dates).values_list("date", flat=True)
    )
    Unavailability.objects.bulk_create(
        [
            Unavailability(staff=staff, date=d, kind=kind, reference=reference[:100], note=note[:200])
            for d in dates
            if d not in existing
        ]
    )
    RosterCell.objects.filter(
        staff=staff, date__in=dates, locked=False, roster__status=RosterStatus.DRAFT
    ).update(shift_type=None, source=CellSource.MANUAL, updated_at=timezone.now())
    return len(dates) - len(existing)


@transaction.atomic
def unavailability_add(
    *, actor: Any, staff: Staff, days: Iterable[dt.date], kind: str, note: str = ""
) -> int:
    """A head nurse marks training (or other) days of a person on their ward."""
    profile = StaffProfile.objects.select_related("ward").filter(staff=staff).first()
    if profile is None:
        raise RosterInputError(_("This person is not on a roster."), field="staff")
    require_manage(actor, profile.ward)
    if kind not in UnavailabilityKind.values:
        raise RosterInputError(_("Unknown kind of absence."), field="kind")
    count = unavailability_block(staff=staff, days=days, kind=kind, note=note)
    audit_record(
        actor=actor,
        action="roster.unavailability.added",
        target=staff,
        details={"kind": kind, "dates": [d.isoformat() for d in sorted(set(days))]},
    )
    return count


def roster_replan(
    *,
    actor: Any,
    roster: Roster,
    staff: Staff,
    days: Iterable[dt.date],
    note: str = "",
    time_limit: float | None = None,
) -> tuple[Roster, list[int]]:
    """A sick call: ``staff`` cannot work on ``days``. Those days are re-planned (their cells are
    free, everyone's); every other cell stays where possible: the solver pays ``keep_previous``
    (weight 50) for each change there, so it changes another day only when a hard rule needs it
    (a colleague's weekly hours, rest after nights). Locked cells never change. The people whose
    shifts changed are notified when the roster was published. Returns the roster and those
    people's ids."""
    require_manage(actor, roster.ward)
    limit = _check_time_limit(time_limit)
    dates = [d for d in _dates(days, "dates") if d.replace(day=1) == roster.month]
    if not dates:
        raise RosterInputError(_("The date is not in this roster's month."), field="dates")
    if not StaffProfile.objects.filter(staff=staff, ward=roster.ward).exists():
        raise RosterInputError(_("This person is not on this ward's roster."), field="staff")
    with transaction.atomic():
        Unavailability.objects.bulk_create(
            [
                Unavailability(staff=staff, date=d, kind=UnavailabilityKind.SICK, note=note[:200])
                for d in dates
            ],
            ignore_conflicts=True,
        )
    roster = _claim_generation(roster.pk)
    try:
        wm = ward_month(roster.ward, roster.month, roster=roster, replan_days=set(dates))
        solution = _run(roster, wm, limit, 0)
        with transaction.atomic():
            locked = Roster.objects.select_for_update().get(pk=roster.pk)
            changed = _write_assignment(locked, wm, solution.assignment) if solution.assignment else []
            # the sick person's own cells on those days are off even when locked
            RosterCell.objects.filter(roster=locked, staff=staff, date__in=dates).update(
                shift_type=None, locked=False, source=CellSource.MANUAL
            )
            if staff.pk not in changed:
                changed.append(staff.pk)
            _wm, objective, violations, breakdown = roster_check(locked)
            locked.score = objective
            locked.breakdown = breakdown
            locked.explanation = list(solution.explanation)
            locked.generating = False
            was_published = locked.status == RosterStatus.PUBLISHED
            if was_published:
                locked.version += 1
                _ledger_update(
                    locked, wm, list(RosterCell.objects.filter(roster=locked).select_related("shift_type"))
                )
            locked.save()
            if was_published:
                users = [s.user for s in Staff.objects.filter(pk__in=changed).select_related("user")]
                notification_send(
                    recipients=users,
                    title=str(
                        fmt(
                            _("Your shifts in %(ward)s changed (%(dates)s)"),
                            {
                                "ward": locked.ward.name_zh,
                                "dates": ", ".join(d.strftime("%m-%d") for d in dates),
                            },
                        )
                    ),
                    link=reverse("roster:my_shifts") + f"?month={locked.month:%Y-%m}",
                    data={"roster": locked.pk, "version": locked.version},
                )
            audit_record(
                actor=actor,
                action="roster.roster.replanned",
                target=locked,
                details={
                    "staff": staff.pk,
                    "dates": [d.isoformat() for d in dates],
                    "changed_staff": changed,
                    "hard_violations": len(violations),
                },
            )
        return locked, changed
    finally:
        _release(roster.pk)


# --- personal requests ----------------------------------------------------------------------------


@transaction.atomic
def request_set(
    *, actor: Any, day: dt.date, code: str | None, on: bool, priority: int = 2, note: str = ""
) -> ShiftRequest:
    """The signed-in person's wish for ``day``: off (``on`` false, no code), a shift (``on``
    true), or not that shift (``on`` false with a code)."""
    staff = staff_of(actor)
    if staff is None:
        raise RosterPermissionDenied
    profile = StaffProfile.objects.filter(staff=staff, rostered=True).select_related("ward").first()
    if profile is None:
        raise RosterInputError(_("You are not on a ward's roster."), field="staff")
    if priority not in (1, 2, 3):
        raise RosterInputError(_("The priority must be 1, 2 or 3."), field="priority")
    shift = None
    if code:
        shift = (
            ShiftType.objects.filter(ward=profile.ward, code=code, active=True)
            .exclude(kind=ShiftKind.OFF)
            .first()
        )
        if shift is None:
            raise RosterInputError(fmt(_("Unknown shift code: %(code)s."), {"code": code}), field="code")
    elif on:
        raise RosterInputError(_("Name the shift you ask for."), field="code")
    row, _created = ShiftRequest.objects.update_or_create(
        staff=staff,
        date=day,
        defaults={"shift_type": shift, "on": on, "priority": priority, "note": note[:200]},
    )
    audit_record(
        actor=actor,
        action="roster.request.set",
        target=row,
        details={"date": day.isoformat(), "shift": code or "", "on": on, "priority": priority},
    )
    return row


# --- swaps ----------------------------------------------------------------------------------------


def _swapped(
    roster: Roster, swap: SwapRequest
) -> tuple[WardMonth, dict[str, list[str | None]], dict[str, list[str | None]]]:
    wm = ward_month(roster.ward, roster.month, roster=roster)
    cells = list(RosterCell.objects.filter(roster=roster).select_related("shift_type"))
    before = assignment_of(wm, cells)
    after = {k: list(v) for k, v in before.items()}
    a, b = str(swap.requester_id), str(swap.partner_id)
    if a not in after or b not in after:
        raise RosterInputError(_("Both people must be on this roster."), field="partner")
    i, j = wm.day_index(swap.requester_date), wm.day_index(swap.partner_date)
    if i == j:
        after[a][i], after[b][i] = before[b][i], before[a][i]
    else:
        # a gives her shift on day i to b, b gives his on day j to a
        after[a][i], after[b][i] = before[b][i], before[a][i]
        after[a][j], after[b][j] = before[b][j], before[a][j]
    return wm, before, after


def _new_violations(
    wm: WardMonth, before: dict[str, list[str | None]], after: dict[str, list[str | None]]
) -> list[CellViolation]:
    """Hard violations the swap would add (a lock on the swapped cells is no reason to refuse:
    the swap is the head nurse's decision)."""
    problem = wm.problem
    problem.fixed = {}
    _o1, v_before, _b1 = check(problem, before)
    _o2, v_after, _b2 = check(problem, after)
    known = {(v.rule, v.staff, v.days) for v in v_before}
    return violations_of(wm, [v for v in v_after if (v.rule, v.staff, v.days) not in known])


@transaction.atomic
def swap_request(
    *, actor: Any, roster: Roster, partner: Staff, my_date: dt.date, partner_date: dt.date, reason: str = ""
) -> SwapRequest:
    """A nurse asks to swap with a colleague of the same published roster. The rules are
    checked at once (the result is kept on the request and shown); the head nurse decides."""
    me = staff_of(actor)
    if me is None:
        raise RosterPermissionDenied
    roster = Roster.objects.select_related("ward").get(pk=roster.pk)
    if roster.status != RosterStatus.PUBLISHED:
        raise RosterConflict(_("Swaps are asked on a published roster."))
    if partner.pk == me.pk:
        raise RosterInputError(_("Choose a colleague, not yourself."), field="partner")
    for field_name, d in (("my_date", my_date), ("partner_date", partner_date)):
        if d.replace(day=1) != roster.month:
            raise RosterInputError(_("The date is not in this roster's month."), field=field_name)
        if d < timezone.localdate():
            raise RosterInputError(_("The date has passed."), field=field_name)
    on_roster = set(
        StaffProfile.objects.filter(ward=roster.ward, staff__in=[me, partner], rostered=True).values_list(
            "staff_id", flat=True
        )
    )
    if me.pk not in on_roster:
        raise RosterPermissionDenied
    if partner.pk not in on_roster:
        raise RosterInputError(_("Both people must be on this roster."), field="partner")
    swap = SwapRequest(
        roster=roster,
        requester=me,
        partner=partner,
        requester_date=my_date,
        partner_date=partner_date,
        reason=reason[:200],
    )
    wm, before, after = _swapped(roster, swap)
    if before == after:
        raise RosterInputError(
            _("The swap changes nothing: both cells hold the same shift."), field="partner_date"
        )
    swap.violations = [v.as_dict() for v in _new_violations(wm, before, after)]
    swap.save()
    managers = [
        a.staff.user
        for a in RoleAssignment.objects.filter(
            department=roster.ward, role__code="head_nurse"
        ).select_related("staff__user")
    ]
    notification_send(
        recipients=[*managers, partner.user],
        title=str(fmt(_("%(name)s asks to swap shifts"), {"name": me.name})),
        link=reverse("roster:swap_detail", args=[swap.pk]),
        data={"swap": swap.pk},
    )
    audit_record(
        actor=actor,
        action="roster.swap.requested",
        target=swap,
        details={
            "partner": partner.pk,
            "my_date": my_date.isoformat(),
            "partner_date": partner_date.isoformat(),
            "violations": len(swap.violations),
        },
    )
    return swap


@transaction.atomic
def swap_decide(*, actor: Any, swap: SwapRequest, approve: bool, note: str = "") -> SwapRequest:
    """The head nurse approves (the rules are checked again on the roster as it is now; a swap
    that breaks a hard rule is refused) or rejects a pending swap."""
    swap = (
        SwapRequest.objects.select_for_update()
        .select_related("roster__ward", "requester__user", "partner__user")
        .get(pk=swap.pk)
    )
    roster = swap.roster
    if not may_manage(actor, roster.ward):
        raise RosterPermissionDenied
    if swap.status != SwapStatus.PENDING:
        raise RosterConflict(_("This swap request is decided already."))
    if approve:
        roster = _lock_roster(roster)
        wm, before, after = _swapped(roster, swap)
        violations = _new_violations(wm, before, after)
        if violations:
            swap.violations = [v.as_dict() for v in violations]
            raise RosterRuleViolation(
                swap.violations, _("The swap breaks a hard rule; it cannot be approved.")
            )
        days = {swap.requester_date, swap.partner_date}
        for person in (swap.requester, swap.partner):
            row = after[str(person.pk)]
            for d in days:
                code = row[wm.day_index(d)]
                cell = _cell_for_update(roster, person.pk, d)
                cell.shift_type = wm.shift_types[code] if code else None
                cell.source = CellSource.SWAP
                cell.save(update_fields=["shift_type", "source", "updated_at"])
        _ledger_update(
            roster, wm, list(RosterCell.objects.filter(roster=roster).select_related("shift_type"))
        )
    swap.status = SwapStatus.APPROVED if approve else SwapStatus.REJECTED
    swap.decided_by = staff_of(actor)
    swap.decided_at = timezone.now()
    swap.decision_note = note[:200]
    swap.save()
    notification_send(
        recipients=[swap.requester.user, swap.partner.user],
        title=str(_("Your swap request was approved") if approve else _("Your swap request was rejected")),
        body=note,
        link=reverse("roster:swap_detail", args=[swap.pk]),
        data={"swap": swap.pk},
    )
    audit_record(
        actor=actor,
        action="roster.swap.approved" if approve else "roster.swap.rejected",
        target=swap,
        details={"note": note[:200]},
    )
    return swap


@transaction.atomic
def swap_cancel(*, actor: Any, swap: SwapRequest) -> SwapRequest:
    swap = SwapRequest.objects.select_for_update().get(pk=swap.pk)
    me = staff_of(actor)
    if me is None or me.pk != swap.requester_id:
        raise RosterPermissionDenied
    if swap.status != SwapStatus.PENDING:
        raise RosterConflict(_("This swap request is decided already."))
    swap.status = SwapStatus.CANCELLED
    swap.save(update_fields=["status"])
    audit_record(actor=actor, action="roster.swap.cancelled", target=swap)
    return swap


# --- configuration --------------------------------------------------------------------------------


@transaction.atomic
def rule_set(
    *, actor: Any, ward: Department, code: str, enabled: bool, hard: bool, weight: int, value: int
) -> WardRule:
    require_manage(actor, ward)
    if code not in DEFAULTS:
        raise RosterInputError(_("Unknown rule."), field="code")
    if not 1 <= weight <= 100_000:
        raise RosterInputError(_("The weight must be between 1 and 100000."), field="weight")
    if not 0 <= value <= 1000:
        raise RosterInputError(_("The value must be between 0 and 1000."), field="value")
    row, _created = WardRule.objects.update_or_create(
        ward=ward, code=code, defaults={"enabled": enabled, "hard": hard, "weight": weight, "value": value}
    )
    audit_record(
        actor=actor,
        action="roster.rule.set",
        target=row,
        details={"code": code, "enabled": enabled, "hard": hard, "weight": weight, "value": value},
    )
    return row


@transaction.atomic
def demand_set(
    *,
    actor: Any,
    ward: Department,
    code: str,
    weekday: int | None = None,
    on_date: dt.date | None = None,
    minimum: int,
    preferred: int,
    skill_level: str = "",
    skill_minimum: int = 0,
) -> Demand:
    """The staffing a shift needs on a weekday (0 = Monday) or on one date."""
    require_manage(actor, ward)
    shift = ShiftType.objects.filter(ward=ward, code=code).exclude(kind=ShiftKind.OFF).first()
    if shift is None:
        raise RosterInputError(fmt(_("Unknown shift code: %(code)s."), {"code": code}), field="code")
    if (weekday is None) == (on_date is None):
        raise RosterInputError(_("Give a weekday or a date."), field="weekday")
    if weekday is not None and not 0 <= weekday <= 6:
        raise RosterInputError(_("The weekday must be 0 (Monday) to 6 (Sunday)."), field="weekday")
    if not 0 <= minimum <= preferred <= 200:
        raise RosterInputError(_("The minimum must not exceed the preferred number."), field="minimum")
    if skill_level and skill_level not in LEVELS and skill_level not in DOCTOR_RANKS:
        raise RosterInputError(
            _("The skill level must be N0 to N4 or a doctor's title."), field="skill_level"
        )
    if skill_minimum > preferred:
        raise RosterInputError(
            _("The skill minimum must not exceed the preferred number."), field="skill_minimum"
        )
    row, _created = Demand.objects.update_or_create(
        ward=ward,
        shift_type=shift,
        weekday=weekday,
        on_date=on_date,
        defaults={
            "minimum": minimum,
            "preferred": preferred,
            "skill_level": skill_level,
            "skill_minimum": skill_minimum if skill_level else 0,
        },
    )
    audit_record(
        actor=actor,
        action="roster.demand.set",
        target=row,
        details={
            "shift": code,
            "weekday": weekday,
            "date": str(on_date or ""),
            "minimum": minimum,
            "preferred": preferred,
        },
    )
    return row


@transaction.atomic
def profile_update(
    *,
    actor: Any,
    profile: StaffProfile,
    weekly_hours: int,
    max_nights_per_month: int,
    pregnant_from: dt.date | None = None,
    pregnant_until: dt.date | None = None,
    nursing_until: dt.date | None = None,
) -> StaffProfile:
    require_manage(actor, profile.ward)
    if weekly_hours not in (40, 44):
        raise RosterInputError(_("The weekly hours must be 40 or 44."), field="weekly_hours")
    if not 0 <= max_nights_per_month <= 31:
        raise RosterInputError(_("At most 31 nights a month."), field="max_nights_per_month")
    profile.weekly_hours = weekly_hours
    profile.max_nights_per_month = max_nights_per_month
    profile.pregnant_from = pregnant_from
    profile.pregnant_until = pregnant_until
    profile.nursing_until = nursing_until
    profile.save()
    audit_record(
        actor=actor,
        action="roster.profile.updated",
        target=profile,
        details={
            "weekly_hours": weekly_hours,
            "max_nights_per_month": max_nights_per_month,
            "pregnant_from": str(pregnant_from or ""),
            "nursing_until": str(nursing_until or ""),
        },
    )
    return profile


def roster_for(*, ward: Department, month: dt.date) -> Roster:
    roster = Roster.objects.filter(ward=ward, month=first_of_month(month)).first()
    if roster is None:
        raise RosterNotFound
    return roster


# --- the ward's settings page: several rows at once, all or nothing -------------------------------


@transaction.atomic
def rules_save(*, actor: Any, ward: Department, rows: list[dict[str, Any]]) -> int:
    """Save the ward's rule table (``code``, ``enabled``, ``hard``, ``weight``, ``value`` per row);
    only rows that differ from the effective setting are written. All or nothing."""
    require_manage(actor, ward)
    from_rows = {r.code: r for r in WardRule.objects.filter(ward=ward)}
    changed = 0
    for row in rows:
        code = str(row.get("code", ""))
        current = from_rows.get(code) or DEFAULTS.get(code)
        if current is None:
            raise RosterInputError(_("Unknown rule."), field="code")
        wanted = (bool(row["enabled"]), bool(row["hard"]), int(row["weight"]), int(row["value"]))
        if wanted == (current.enabled, current.hard, current.weight, current.value):
            continue
        rule_set(
            actor=actor,
            ward=ward,
            code=code,
            enabled=wanted[0],
            hard=wanted[1],
            weight=wanted[2],
            value=wanted[3],
        )
        changed += 1
    return changed


@transaction.atomic
def demand_save(*, actor: Any, ward: Department, rows: list[dict[str, Any]]) -> int:
    """Save weekday demand per shift: each row ``code``, ``weekday`` (0–6), ``minimum``,
    ``preferred``, ``skill_level``, ``skill_minimum``. All or nothing."""
    require_manage(actor, ward)
    for row in rows:
        demand_set(actor=actor, ward=ward, **row)
    return len(rows)


@transaction.atomic
def profiles_save(*, actor: Any, ward: Department, rows: list[dict[str, Any]]) -> int:
    """Save contracts and flags of the ward's staff: each row ``staff`` (id) with the fields of
    ``profile_update``. All or nothing."""
    require_manage(actor, ward)
    profiles = {p.staff_id: p for p in StaffProfile.objects.filter(ward=ward)}
    for row in rows:
        profile = profiles.get(int(row.pop("staff")))
        if profile is None:
            raise RosterInputError(_("This person is not on this ward's roster."), field="staff")
        profile_update(actor=actor, profile=profile, **row)
    return len(rows)


@transaction.atomic
def profile_add(*, actor: Any, ward: Department, staff: Staff) -> StaffProfile:
    """Put a person of the ward's department (a doctor, a nurse from the department) on the ward's
    roster; a person rostered elsewhere moves to this ward."""
    require_manage(actor, ward)
    if not staff.is_active:
        raise RosterInputError(_("This person is not employed."), field="staff")
    allowed = staff.department_id in (ward.pk, ward.parent_id) or staff.department.path.startswith(ward.path)
    if not allowed:
        raise RosterInputError(_("This person does not work in this ward or its department."), field="staff")
    profile, _created = StaffProfile.objects.update_or_create(
        staff=staff, defaults={"ward": ward, "rostered": True}
    )
    audit_record(actor=actor, action="roster.profile.added", target=profile, details={"ward": ward.code})
    return profile
