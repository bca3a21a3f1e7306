"""Rosters: shift types per ward, staff contracts and flags, demand, availability, ward rules,
monthly rosters and their cells, the fairness ledger, swap requests and iCal tokens.

Qualifications come from ``core.org.Staff`` (``nursing_level`` N0–N4, ``title`` for doctors);
this module adds only what scheduling needs on top (``StaffProfile``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from medoa.core.org.models import Department, Staff

from .choices import (
    CellSource,
    RequestPriority,
    RosterStatus,
    RuleCode,
    ShiftKind,
    SwapStatus,
    UnavailabilityKind,
)

MINUTES_PER_DAY = 24 * 60


class ShiftType(models.Model):
    """A shift of a ward: 白班 A 08–16, 小夜 P 16–24, 大夜 N 00–08, 休 … ``end`` at or before
    ``start`` means the shift runs past midnight (P 16:00–00:00 ends at midnight)."""

    ward = models.ForeignKey(
        Department, verbose_name=_("ward"), on_delete=models.CASCADE, related_name="roster_shift_types"
    )
    code = models.CharField(_("code"), max_length=8)
    name = models.CharField(_("name"), max_length=32)
    kind = models.CharField(_("kind"), max_length=8, choices=ShiftKind.choices)
    start = models.TimeField(_("starts"), null=True, blank=True)
    end = models.TimeField(_("ends"), null=True, blank=True)
    hours = models.DecimalField(_("hours"), max_digits=4, decimal_places=2, default=Decimal("0"))
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["ward", "sort_order", "code"]
        verbose_name = _("shift type")
        verbose_name_plural = _("shift types")
        constraints = [models.UniqueConstraint(fields=["ward", "code"], name="roster_shifttype_unique")]

    def __str__(self) -> str:
        return f"{self.name} {self.code}"

    @property
    def is_work(self) -> bool:
        return self.kind != ShiftKind.OFF

    @property
    def start_minute(self) -> int:
        return self.start.hour * 60 + self.start.minute if self.start else 0

    @property
    def minutes(self) -> int:
        """Paid minutes: the hours given, else the span from start to end (across midnight)."""
        if self.hours:
            return int(self.hours * 60)
        if self.start is None or self.end is None:
            return 0
        span = (self.end.hour * 60 + self.end.minute - self.start_minute) % MINUTES_PER_DAY
        return span or MINUTES_PER_DAY

    @property
    def end_minute(self) -> int:
        """Minutes after the start of the shift's day at which it ends (may exceed 1440)."""
        return self.start_minute + self.minutes


class StaffProfile(models.Model):
    """What scheduling needs of a person beyond core.org: the ward rostered in, the contract,
    and the protection flags (pregnant from the 7th month, nursing an infant)."""

    staff = models.OneToOneField(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="roster_profile"
    )
    ward = models.ForeignKey(
        Department, verbose_name=_("ward"), on_delete=models.CASCADE, related_name="roster_profiles"
    )
    weekly_hours = models.PositiveSmallIntegerField(_("weekly hours"), default=40)
    max_nights_per_month = models.PositiveSmallIntegerField(_("maximum nights per month"), default=8)
    pregnant_from = models.DateField(_("pregnant, 7th month from"), null=True, blank=True)
    pregnant_until = models.DateField(_("pregnancy ends"), null=True, blank=True)
    nursing_until = models.DateField(_("nursing an infant until"), null=True, blank=True)
    rostered = models.BooleanField(_("on the roster"), default=True)
    ical_token = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["ward", "staff__employee_no"]
        verbose_name = _("roster profile")
        verbose_name_plural = _("roster profiles")
        constraints = [
            models.CheckConstraint(
                condition=Q(weekly_hours__gte=1) & Q(weekly_hours__lte=60), name="roster_profile_weekly_hours"
            )
        ]

    def __str__(self) -> str:
        return f"{self.staff} @ {self.ward_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.ical_token:
            self.ical_token = secrets.token_urlsafe(32)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def protected_on(self, day: dt.date) -> bool:
        """Pregnant (7th month on) or nursing an infant on ``day``: no night shifts."""
        if (
            self.pregnant_from
            and self.pregnant_from <= day
            and (self.pregnant_until is None or day <= self.pregnant_until)
        ):
            return True
        return bool(self.nursing_until and day <= self.nursing_until)


class Demand(models.Model):
    """How many people a shift needs: per weekday (0 = Monday) or on one date (which overrides
    the weekday). ``skill_level``/``skill_minimum``: at least that many of level ≥ skill_level."""

    ward = models.ForeignKey(
        Department, verbose_name=_("ward"), on_delete=models.CASCADE, related_name="roster_demands"
    )
    shift_type = models.ForeignKey(
        ShiftType, verbose_name=_("shift type"), on_delete=models.CASCADE, related_name="demands"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), null=True, blank=True)
    on_date = models.DateField(_("date"), null=True, blank=True)
    minimum = models.PositiveSmallIntegerField(_("minimum"), default=0)
    preferred = models.PositiveSmallIntegerField(_("preferred"), default=0)
    skill_level = models.CharField(_("skill level"), max_length=32, blank=True)
    skill_minimum = models.PositiveSmallIntegerField(_("at least of that level"), default=0)

    class Meta:
        ordering = ["ward", "on_date", "weekday", "shift_type__sort_order"]
        verbose_name = _("staffing demand")
        verbose_name_plural = _("staffing demands")
        constraints = [
            models.CheckConstraint(
                condition=(Q(weekday__isnull=False) & Q(on_date__isnull=True))
                | (Q(weekday__isnull=True) & Q(on_date__isnull=False)),
                name="roster_demand_weekday_or_date",
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="roster_demand_weekday_range"),
            models.UniqueConstraint(
                fields=["shift_type", "weekday"],
                condition=Q(on_date__isnull=True),
                name="roster_demand_weekday",
            ),
            models.UniqueConstraint(
                fields=["shift_type", "on_date"], condition=Q(weekday__isnull=True), name="roster_demand_date"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.shift_type} {self.weekday if self.on_date is None else self.on_date}: {self.minimum}"


class Unavailability(models.Model):
    """A day a person cannot work: approved leave (from the approvals event), training, sick."""

    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="roster_unavailable"
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=UnavailabilityKind.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["staff", "date"]
        verbose_name = _("unavailable day")
        verbose_name_plural = _("unavailable days")
        constraints = [
            models.UniqueConstraint(fields=["staff", "date", "kind"], name="roster_unavailable_unique")
        ]
        indexes = [models.Index(fields=["date"])]

    def __str__(self) -> str:
        return f"{self.staff} {self.date} {self.kind}"


class ShiftRequest(models.Model):
    """A personal wish: off on ``date`` (``shift_type`` empty, ``on`` false), or a shift on it
    (``on`` true), or not that shift (``on`` false with a shift), with a priority."""

    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="roster_requests"
    )
    date = models.DateField(_("date"))
    shift_type = models.ForeignKey(
        ShiftType, verbose_name=_("shift type"), null=True, blank=True, on_delete=models.CASCADE
    )
    on = models.BooleanField(_("wants to work"), default=False)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=RequestPriority.choices, default=RequestPriority.NORMAL
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["staff", "date"]
        verbose_name = _("shift request")
        verbose_name_plural = _("shift requests")
        constraints = [
            models.UniqueConstraint(fields=["staff", "date"], name="roster_request_unique"),
            models.CheckConstraint(
                condition=Q(on=False) | Q(shift_type__isnull=False), name="roster_request_on_needs_shift"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff} {self.date} {'+' if self.on else '-'}{self.shift_type_id or ''}"


class WardRule(models.Model):
    """One rule of a ward's configuration: hard (must hold) or soft (weighted in the score),
    with its value (hours, days, nights …). Missing rows take the defaults (``rules.DEFAULTS``)."""

    ward = models.ForeignKey(
        Department, verbose_name=_("ward"), on_delete=models.CASCADE, related_name="roster_rules"
    )
    code = models.CharField(_("rule"), max_length=32, choices=RuleCode.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    hard = models.BooleanField(_("hard"), default=True)
    weight = models.PositiveIntegerField(_("weight"), default=1)
    value = models.PositiveIntegerField(_("value"), default=0)

    class Meta:
        ordering = ["ward", "code"]
        verbose_name = _("ward rule")
        verbose_name_plural = _("ward rules")
        constraints = [models.UniqueConstraint(fields=["ward", "code"], name="roster_wardrule_unique")]

    def __str__(self) -> str:
        return f"{self.ward_id}:{self.code}"


class Holiday(models.Model):
    """A statutory holiday (法定节假日) counted in holiday fairness."""

    date = models.DateField(_("date"), unique=True)
    name = models.CharField(_("name"), max_length=40)

    class Meta:
        ordering = ["date"]
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class Roster(models.Model):
    """A ward's roster for one month (``month`` is its first day)."""

    ward = models.ForeignKey(
        Department, verbose_name=_("ward"), on_delete=models.PROTECT, related_name="rosters"
    )
    month = models.DateField(_("month"))
    status = models.CharField(
        _("status"), max_length=10, choices=RosterStatus.choices, default=RosterStatus.DRAFT
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    score = models.IntegerField(_("score"), null=True, blank=True)
    breakdown = models.JSONField(_("score by rule"), default=dict, blank=True)
    explanation = models.JSONField(_("explanation"), default=list, blank=True)
    solver_status = models.CharField(_("solver status"), max_length=16, blank=True)
    generated_at = models.DateTimeField(_("generated"), null=True, blank=True)
    generating = models.BooleanField(_("generating"), default=False)
    progress = models.JSONField(_("progress"), default=dict, blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        Staff,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("published by"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-month", "ward"]
        verbose_name = _("roster")
        verbose_name_plural = _("rosters")
        constraints = [
            models.UniqueConstraint(fields=["ward", "month"], name="roster_roster_unique"),
            models.CheckConstraint(condition=Q(month__day=1), name="roster_roster_month_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.ward} {self.month:%Y-%m}"

    @property
    def days(self) -> list[dt.date]:
        first = self.month
        nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return [first + dt.timedelta(days=i) for i in range((nxt - first).days)]


class RosterCell(models.Model):
    """One person's shift on one day of a roster (``shift_type`` empty: off)."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="cells")
    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="+"
    )
    date = models.DateField(_("date"))
    shift_type = models.ForeignKey(
        ShiftType, verbose_name=_("shift type"), null=True, blank=True, on_delete=models.PROTECT
    )
    locked = models.BooleanField(_("locked"), default=False)
    source = models.CharField(
        _("source"), max_length=8, choices=CellSource.choices, default=CellSource.SOLVER
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["roster", "staff", "date"]
        verbose_name = _("roster cell")
        verbose_name_plural = _("roster cells")
        constraints = [models.UniqueConstraint(fields=["roster", "staff", "date"], name="roster_cell_unique")]
        indexes = [models.Index(fields=["staff", "date"])]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.date} {self.shift_type_id or '-'}"


class FairnessLedger(models.Model):
    """What a person worked in a published month: nights, weekend days, holidays, hours —
    balanced against in the next months."""

    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="+"
    )
    ward = models.ForeignKey(Department, verbose_name=_("ward"), on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"))
    nights = models.PositiveSmallIntegerField(_("nights"), default=0)
    weekends = models.PositiveSmallIntegerField(_("weekend days"), default=0)
    holidays = models.PositiveSmallIntegerField(_("holidays"), default=0)
    minutes = models.PositiveIntegerField(_("minutes worked"), default=0)

    class Meta:
        ordering = ["staff", "month"]
        verbose_name = _("fairness ledger entry")
        verbose_name_plural = _("fairness ledger")
        constraints = [models.UniqueConstraint(fields=["staff", "month"], name="roster_ledger_unique")]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.month:%Y-%m}"


class SwapRequest(models.Model):
    """A nurse asks to swap her shift on ``requester_date`` with a colleague's on
    ``partner_date`` (the same day: exchange shifts; two days: trade days). The colleague
    agrees by being named; the head nurse approves after the rule check."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="swaps")
    requester = models.ForeignKey(
        Staff, verbose_name=_("requester"), on_delete=models.CASCADE, related_name="+"
    )
    partner = models.ForeignKey(
        Staff, verbose_name=_("colleague"), on_delete=models.CASCADE, related_name="+"
    )
    requester_date = models.DateField(_("my date"))
    partner_date = models.DateField(_("colleague's date"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=SwapStatus.choices, default=SwapStatus.PENDING
    )
    violations = models.JSONField(_("rule check"), default=list, blank=True)
    decided_by = models.ForeignKey(
        Staff,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.CharField(_("comment"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("swap request")
        verbose_name_plural = _("swap requests")
        constraints = [
            models.CheckConstraint(condition=~Q(requester=models.F("partner")), name="roster_swap_not_self")
        ]

    def __str__(self) -> str:
        return f"{self.requester_id}:{self.requester_date} ⇄ {self.partner_id}:{self.partner_date}"
