"""Quality and safety: the critical-value loop (危急值闭环).

``CriticalAlert`` is one critical observation and everything that happened to it, each step in a
column of its own (received → notified → acknowledged → closed, and the escalations), so that
reports (危急值处置及时率) query plain columns. ``CriticalAlertRecipient`` says who was told and
why; those people (and administrators) may act on the alert. ``CriticalValueLimit`` holds the
acknowledgement limits per department and/or test.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medoa.core.org.models import Department


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Awaiting acknowledgement")
    ESCALATED = "escalated", _("Escalated")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    CLOSED = "closed", _("Closed")


class RoutedTo(models.TextChoices):
    ATTENDING = "attending", _("Attending doctor")
    ORDERING = "ordering", _("Ordering doctor")
    FALLBACK = "fallback", _("Head nurse and department head (no known doctor)")


class RecipientReason(models.TextChoices):
    RESPONSIBLE = "responsible", _("Responsible doctor")
    FALLBACK = "fallback", _("No known doctor")
    LEVEL_1 = "escalation_1", _("Escalation to the department head")
    LEVEL_2 = "escalation_2", _("Escalation to the medical affairs office")


class CriticalValueLimit(models.Model):
    """How long the responsible doctor has to acknowledge (``ack_minutes``) and how long after the
    escalation to the department head 医务处 is told (``escalate_minutes``), for a department
    and/or a test code. The most specific row wins: department + test, then test, then
    department, then the settings ``MEDOA_CRITICAL_ACK_MINUTES`` / ``MEDOA_CRITICAL_ESCALATE_MINUTES``."""

    department = models.ForeignKey(
        Department,
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    test_code = models.CharField(_("test code"), max_length=64, blank=True)
    ack_minutes = models.PositiveIntegerField(_("minutes to acknowledge"))
    escalate_minutes = models.PositiveIntegerField(_("minutes until the medical affairs office"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("critical-value time limit")
        constraints = [
            models.UniqueConstraint(
                fields=["department", "test_code"], name="quality_limit_dept_test_unique"
            ),
            models.UniqueConstraint(
                fields=["test_code"],
                condition=models.Q(department__isnull=True),
                name="quality_limit_test_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department or '*'} / {self.test_code or '*'}: {self.ack_minutes} min"


class CriticalAlert(models.Model):
    # what: the observation (no patient name: identifier and initials only)
    observation_id = models.BigIntegerField(_("observation"), unique=True)
    result_id = models.BigIntegerField(_("result"))
    event_id = models.BigIntegerField(_("event"), null=True, blank=True)
    patient_id = models.CharField(_("patient ID"), max_length=64)
    patient_initials = models.CharField(_("patient initials"), max_length=32, blank=True)
    encounter_id = models.BigIntegerField(null=True, blank=True)
    visit_number = models.CharField(_("visit number"), max_length=64, blank=True)
    department_code = models.CharField(max_length=32, blank=True)
    ward_code = models.CharField(max_length=32, blank=True)
    department = models.ForeignKey(
        Department,
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    ward = models.ForeignKey(
        Department, verbose_name=_("ward"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    room = models.CharField(max_length=32, blank=True)
    bed = models.CharField(_("bed"), max_length=32, blank=True)
    test_code = models.CharField(_("test code"), max_length=64)
    test_name = models.CharField(_("test"), max_length=200, blank=True)
    value = models.CharField(_("value"), max_length=200, blank=True)
    unit = models.CharField(_("unit"), max_length=64, blank=True)
    flag = models.CharField(_("flag"), max_length=16)
    reference_range = models.CharField(_("reference range"), max_length=100, blank=True)
    observed_at = models.DateTimeField(_("observed at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"))
    source = models.CharField(_("source"), max_length=100, blank=True)
    attending_doctor = models.CharField(max_length=150, blank=True)
    ordering_doctor = models.CharField(max_length=150, blank=True)

    # who
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible doctor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    routed_to = models.CharField(_("routed to"), max_length=16, choices=RoutedTo.choices)

    # the loop, one column per step
    status = models.CharField(
        _("status"), max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN, db_index=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    # The limits that applied when the alert was created, in seconds (a later change of the
    # settings does not move a running clock).
    ack_limit_seconds = models.PositiveIntegerField(_("seconds to acknowledge"))
    escalate_limit_seconds = models.PositiveIntegerField(_("seconds until the medical affairs office"))
    ack_due_at = models.DateTimeField(_("acknowledge by"))
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    escalated_1_at = models.DateTimeField(_("escalated to the department head at"), null=True, blank=True)
    escalated_2_at = models.DateTimeField(
        _("escalated to the medical affairs office at"), null=True, blank=True
    )
    # The escalation job's work list: when the next escalation is due (NULL: none is).
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    ack_seconds = models.PositiveIntegerField(_("seconds to acknowledge"), null=True, blank=True)
    # Acknowledged within the limit? NULL while not acknowledged.
    timely = models.BooleanField(_("acknowledged in time"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action_taken = models.TextField(_("action taken"), blank=True)

    # Display names the pages fill in (not stored).
    responsible_name = ""
    acknowledged_by_name = ""
    closed_by_name = ""

    class Meta:
        verbose_name = _("critical value")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["department", "received_at"], name="quality_alert_dept_recv"),
            models.Index(fields=["received_at"], name="quality_alert_received"),
        ]

    def __str__(self) -> str:
        return f"{self.test_name or self.test_code} {self.value} {self.flag} ({self.patient_initials})"

    @property
    def is_active(self) -> bool:
        return self.status in (AlertStatus.OPEN, AlertStatus.ESCALATED)


class CriticalAlertRecipient(models.Model):
    """Someone the alert was sent to, and why; they may acknowledge and close it."""

    alert = models.ForeignKey(CriticalAlert, on_delete=models.CASCADE, related_name="recipients")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=16, choices=RecipientReason.choices)
    notification_id = models.BigIntegerField(null=True, blank=True)
    notified_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "user", "reason"], name="quality_recipient_unique")
        ]
        indexes = [models.Index(fields=["user", "alert"], name="quality_recipient_user")]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.user_id} ({self.reason})"
