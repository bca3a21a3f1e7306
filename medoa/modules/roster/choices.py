"""Enumerations of the roster module."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ShiftKind(models.TextChoices):
    DAY = "day", _("Day shift")
    EVENING = "evening", _("Evening shift")
    NIGHT = "night", _("Night shift")
    OFF = "off", _("Rest day")
    ONCALL = "oncall", _("On call")


class RosterStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("roster status", "Draft")
    PUBLISHED = "published", pgettext_lazy("roster status", "Published")


class CellSource(models.TextChoices):
    SOLVER = "solver", _("Solver")
    MANUAL = "manual", _("Manual")
    SWAP = "swap", _("Swap")


class UnavailabilityKind(models.TextChoices):
    LEAVE = "leave", _("Approved leave")
    TRAINING = "training", _("Training")
    SICK = "sick", _("Sick")
    OTHER = "other", _("Other")


class RequestPriority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")


class SwapStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class RuleCode(models.TextChoices):
    """The ward rules a head nurse configures (hard or soft, weight, value)."""

    MIN_REST = "min_rest", _("Minimum rest between shifts (hours)")
    NO_DAY_AFTER_NIGHT = "no_day_after_night", _("No day shift right after a night")
    MAX_CONSECUTIVE_DAYS = "max_consecutive_days", _("Maximum consecutive working days")
    MAX_CONSECUTIVE_NIGHTS = "max_consecutive_nights", _("Maximum consecutive nights")
    DAYS_OFF_AFTER_NIGHTS = "days_off_after_nights", _("Days off after a night block")
    WEEKLY_HOURS = "weekly_hours", _("Weekly hours limit (contract)")
    REST_DAY_PER_WEEK = "rest_day_per_week", _("Rest days in every 7 days")
    MAX_NIGHTS_MONTH = "max_nights_month", _("Maximum nights per month (contract)")
    NO_NIGHT_PROTECTED = "no_night_protected", _("No nights for pregnant (7th month on) or nursing staff")
    COVER_MINIMUM = "cover_minimum", _("Minimum staffing per shift")
    COVER_PREFERRED = "cover_preferred", _("Preferred staffing per shift")
    SKILL_MIX = "skill_mix", _("Skill mix per shift")
    REQUESTS = "requests", _("Personal requests")
    NIGHT_FAIRNESS = "night_fairness", _("Night fairness")
    WEEKEND_FAIRNESS = "weekend_fairness", _("Weekend fairness")
    HOLIDAY_FAIRNESS = "holiday_fairness", _("Holiday fairness")
