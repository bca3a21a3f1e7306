"""Reports: pre-aggregated daily facts, saved reports and their schedules."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DailyFact(models.Model):
    """One number per (day, department, key): the cockpit's KPIs sum these instead of scanning
    the source tables. Refreshed by a periodic job (the last days) and on the relevant events;
    ``facts_rebuild`` recomputes any range. ``department`` is the ward (or the department) the
    number belongs to; department trees add up their subtree."""

    day = models.DateField()
    department = models.ForeignKey(
        "org.Department", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    key = models.CharField(max_length=64)
    value = models.FloatField(default=0.0)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "day", "department"], name="reports_fact_unique", nulls_distinct=False
            )
        ]
        indexes = [models.Index(fields=["key", "day"], name="reports_fact_key_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.department_id} {self.key}={self.value}"


class FactDirtyDay(models.Model):
    """A day whose facts must be recomputed (marked by event handlers, drained by the job)."""

    day = models.DateField(primary_key=True)
    marked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return str(self.day)


class ScheduleFrequency(models.TextChoices):
    NONE = "", _("Not scheduled")
    WEEKLY = "weekly", _("Weekly")


class ExportFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    XLSX = "xlsx", "Excel (.xlsx)"


class SavedReport(models.Model):
    """A report built in the builder: the query spec (dataset, measures, dimensions, filters,
    sort), the chart type, the roles it is shared with, and an optional weekly e-mail."""

    name = models.CharField(_("name"), max_length=200)
    dataset = models.CharField(_("dataset"), max_length=64)
    spec = models.JSONField(_("query"), default=dict)
    chart = models.CharField(_("chart"), max_length=16, default="bar")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shared_roles = models.JSONField(_("shared with roles"), default=list, blank=True)
    schedule = models.CharField(
        _("schedule"), max_length=16, choices=ScheduleFrequency.choices, default="", blank=True
    )
    schedule_format = models.CharField(
        _("format"), max_length=8, choices=ExportFormat.choices, default=ExportFormat.PDF
    )
    schedule_weekday = models.PositiveSmallIntegerField(_("weekday"), default=0)
    recipients = models.JSONField(_("recipients"), default=list, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DurationFact(models.Model):
    """One duration (seconds) per source row of a registered duration source (``series`` names
    the source and its group, e.g. ``flow.task:leave``): a narrow, indexed projection so that the
    percentiles of a period read an index range instead of scanning the source tables. Rebuilt by
    day range from the source's queryset (INSERT … SELECT on PostgreSQL)."""

    series = models.CharField(max_length=64)
    day = models.DateField()
    department = models.ForeignKey(
        "org.Department", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    seconds = models.FloatField()
    source_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "source_id"], name="reports_duration_unique")
        ]
        indexes = [models.Index(fields=["series", "day"], name="reports_duration_series_day")]

    def __str__(self) -> str:
        return f"{self.series} {self.day} {self.seconds}"
