"""Operating rooms, their bookings (手术排程), and the expensive equipment (CT, MRI, ventilators,
ultrasound …) booked on its own or for a case.

Imported at the end of ``models.py`` (``from .models_or import *``) so the app's migrations hold
these models too. Times are stored as aware datetimes (UTC); ``planned_end`` is stored (not
computed) so overlap queries are one indexed range comparison. The actual times of a case
(``in_room_at``, ``incision_at``, ``ended_at``) are clean columns for the OR utilisation report.

A room belongs to an OR department (``department``: the 手术室 unit — in the demo ``ANES-OR``);
the holders of role ``head_nurse`` there approve its bookings. Its ``anaesthesia_department``
(blank: the OR department's parent, in the demo 麻醉科 ``ANES``) is told when a case overruns.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

__all__ = [
    "DEFAULT_TURNOVER_MINUTES",
    "EquipmentBooking",
    "EquipmentBookingStatus",
    "EquipmentKind",
    "EquipmentStatus",
    "MedicalEquipment",
    "ORBooking",
    "ORBookingStatus",
    "OperatingRoom",
]

DEFAULT_TURNOVER_MINUTES = 30


class ORBookingStatus(models.TextChoices):
    REQUESTED = "requested", pgettext_lazy("OR booking", "Requested")  # 待审批
    APPROVED = "approved", pgettext_lazy("OR booking", "Approved")  # 已批准
    REJECTED = "rejected", pgettext_lazy("OR booking", "Rejected")  # 已驳回
    IN_ROOM = "in_room", pgettext_lazy("OR booking", "In room")  # 入室
    INCISION = "incision", pgettext_lazy("OR booking", "Incision")  # 切皮/手术中
    ENDED = "ended", pgettext_lazy("OR booking", "Ended")  # 结束
    CANCELLED = "cancelled", pgettext_lazy("OR booking", "Cancelled")  # 已取消


# Bookings that hold their room, team and equipment (the ones conflicts are checked against).
OR_ACTIVE = (
    ORBookingStatus.REQUESTED,
    ORBookingStatus.APPROVED,
    ORBookingStatus.IN_ROOM,
    ORBookingStatus.INCISION,
)
OR_RUNNING = (ORBookingStatus.IN_ROOM, ORBookingStatus.INCISION)


class EquipmentKind(models.TextChoices):
    CT = "ct", pgettext_lazy("equipment kind", "CT")
    MRI = "mri", pgettext_lazy("equipment kind", "MRI")
    VENTILATOR = "ventilator", pgettext_lazy("equipment kind", "Ventilator")  # 呼吸机
    ULTRASOUND = "ultrasound", pgettext_lazy("equipment kind", "Ultrasound")  # 超声
    DSA = "dsa", pgettext_lazy("equipment kind", "DSA")
    C_ARM = "c_arm", pgettext_lazy("equipment kind", "C-arm")  # C臂
    OTHER = "other", pgettext_lazy("equipment kind", "Other")


class EquipmentStatus(models.TextChoices):
    AVAILABLE = "available", pgettext_lazy("equipment status", "Available")  # 可用
    IN_USE = "in_use", pgettext_lazy("equipment status", "In use")  # 使用中
    MAINTENANCE = "maintenance", pgettext_lazy("equipment status", "Maintenance")  # 维护中


class EquipmentBookingStatus(models.TextChoices):
    BOOKED = "booked", pgettext_lazy("equipment booking", "Booked")  # 已预约
    IN_USE = "in_use", pgettext_lazy("equipment booking", "In use")  # 使用中
    DONE = "done", pgettext_lazy("equipment booking", "Done")  # 已完成
    CANCELLED = "cancelled", pgettext_lazy("equipment booking", "Cancelled")  # 已取消


EQUIPMENT_ACTIVE = (EquipmentBookingStatus.BOOKED, EquipmentBookingStatus.IN_USE)


class OperatingRoom(models.Model):
    """One operating room (手术间) of an OR department."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    department = models.ForeignKey(
        "org.Department",
        on_delete=models.PROTECT,
        related_name="operating_rooms",
        verbose_name=_("OR department"),
    )
    anaesthesia_department = models.ForeignKey(
        "org.Department",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("anaesthesia department"),
        help_text=_("Told when a case overruns; blank: the OR department's parent."),
    )
    turnover_minutes = models.PositiveSmallIntegerField(
        _("turnover buffer (minutes)"), default=DEFAULT_TURNOVER_MINUTES
    )
    opens_at = models.TimeField(_("opens at"), default=dt.time(8, 0))
    closes_at = models.TimeField(_("closes at"), default=dt.time(18, 0))
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("operating room")
        verbose_name_plural = _("operating rooms")

    def __str__(self) -> str:
        return self.name or self.code


class ORBooking(models.Model):
    """A case booked in an operating room: requested → approved/rejected → in room → incision →
    ended, or cancelled. The patient is held as the clinical events name them (MRN, initials,
    visit number, and the encounter when known) — never a name."""

    room = models.ForeignKey(
        OperatingRoom, on_delete=models.PROTECT, related_name="bookings", verbose_name=_("operating room")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ORBookingStatus.choices, default=ORBookingStatus.REQUESTED
    )
    patient_mrn = models.CharField(_("MRN"), max_length=100)
    patient_initials = models.CharField(_("patient"), max_length=16, blank=True)
    visit_number = models.CharField(_("visit number"), max_length=100, blank=True)
    encounter = models.ForeignKey(
        "clinical.Encounter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    procedure = models.CharField(_("procedure"), max_length=200)
    surgeon = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, related_name="or_cases_as_surgeon", verbose_name=_("surgeon")
    )
    anaesthetist = models.ForeignKey(
        "org.Staff",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="or_cases_as_anaesthetist",
        verbose_name=_("anaesthetist"),
    )
    planned_start = models.DateTimeField(_("planned start"))
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"))
    planned_end = models.DateTimeField(_("planned end"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=300, blank=True)
    in_room_at = models.DateTimeField(_("in room at"), null=True, blank=True)
    incision_at = models.DateTimeField(_("incision at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    overrun_at = models.DateTimeField(_("overrun reported at"), null=True, blank=True)
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["planned_start", "id"]
        verbose_name = _("OR booking")
        verbose_name_plural = _("OR bookings")
        indexes = [
            models.Index(fields=["room", "planned_start"], name="resources_orb_room_start"),
            models.Index(fields=["status", "planned_end"], name="resources_orb_status_end"),
            models.Index(fields=["surgeon", "planned_start"], name="resources_orb_surgeon"),
            models.Index(fields=["anaesthetist", "planned_start"], name="resources_orb_anaes"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.procedure}"


class MedicalEquipment(models.Model):
    """An expensive device booked by time (CT, MRI, ventilator, ultrasound …)."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=EquipmentKind.choices)
    department = models.ForeignKey(
        "org.Department",
        on_delete=models.PROTECT,
        related_name="medical_equipment",
        verbose_name=_("department"),
    )
    location = models.CharField(_("location"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=EquipmentStatus.choices, default=EquipmentStatus.AVAILABLE
    )
    status_since = models.DateTimeField(_("status since"), default=timezone.now)
    status_note = models.CharField(_("note"), max_length=200, blank=True)
    available_from = models.TimeField(_("available from"), default=dt.time(8, 0))
    available_to = models.TimeField(_("available to"), default=dt.time(20, 0))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["kind", "code"]
        verbose_name = _("medical equipment")
        verbose_name_plural = _("medical equipment")

    def __str__(self) -> str:
        return self.name or self.code


class EquipmentBooking(models.Model):
    """A device booked from ``start`` to ``end`` — on its own, or for an OR case (``or_booking``)."""

    equipment = models.ForeignKey(
        MedicalEquipment, on_delete=models.PROTECT, related_name="bookings", verbose_name=_("equipment")
    )
    or_booking = models.ForeignKey(
        ORBooking, null=True, blank=True, on_delete=models.CASCADE, related_name="equipment_bookings"
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=EquipmentBookingStatus.choices,
        default=EquipmentBookingStatus.BOOKED,
    )
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)
    patient_mrn = models.CharField(_("MRN"), max_length=100, blank=True)
    patient_initials = models.CharField(_("patient"), max_length=16, blank=True)
    department = models.ForeignKey(
        "org.Department",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requesting department"),
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    booked_at = models.DateTimeField(_("booked at"), default=timezone.now)
    used_from = models.DateTimeField(_("used from"), null=True, blank=True)
    used_to = models.DateTimeField(_("used to"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        ordering = ["start", "id"]
        verbose_name = _("equipment booking")
        verbose_name_plural = _("equipment bookings")
        indexes = [
            models.Index(fields=["equipment", "start"], name="resources_eqb_start"),
            models.Index(fields=["status", "end"], name="resources_eqb_status_end"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.equipment_id}"
