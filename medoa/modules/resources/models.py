"""Medical resources: wards → rooms → beds, their history and the cleaning after a discharge.

A ward is an ``org.Department`` (kind ward, or a clinical department without wards); its bed codes
are the codes the clinical events carry (``ward`` = the department's code, ``bed`` = the bed code
after mapping), so an event finds its bed by (ward code, bed code). The occupant is held on the bed
as the events describe it (initials, MRN, visit number, attending username): the bed board never
reads patient names.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .beds_choices import BedStatus, BedType, CleaningStatus

DEFAULT_CLEANING_MINUTES = 60


class WardSettings(models.Model):
    """Per-ward settings of the bed board: the cleaning time limit and who cleans the ward."""

    ward = models.OneToOneField(
        "org.Department", on_delete=models.CASCADE, related_name="bed_settings", verbose_name=_("ward")
    )
    cleaning_minutes = models.PositiveSmallIntegerField(
        _("cleaning time limit (minutes)"), default=DEFAULT_CLEANING_MINUTES
    )
    housekeeping_area = models.ForeignKey(
        "org.Department",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("housekeeping area"),
        help_text=_("The housekeeping staff of this department (and below) clean the ward."),
    )

    class Meta:
        verbose_name = _("ward bed settings")
        verbose_name_plural = _("ward bed settings")

    def __str__(self) -> str:
        return f"{self.ward_id}: {self.cleaning_minutes} min"


class Room(models.Model):
    ward = models.ForeignKey(
        "org.Department", on_delete=models.CASCADE, related_name="bed_rooms", verbose_name=_("ward")
    )
    code = models.CharField(_("room"), max_length=32)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["ward", "sort_order", "code"]
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        constraints = [models.UniqueConstraint(fields=["ward", "code"], name="resources_room_unique")]

    def __str__(self) -> str:
        return self.code


class Bed(models.Model):
    """A bed: its code is unique within its ward (床号)."""

    ward = models.ForeignKey(
        "org.Department", on_delete=models.PROTECT, related_name="beds", verbose_name=_("ward")
    )
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="beds", verbose_name=_("room"))
    code = models.CharField(_("bed"), max_length=32)
    bed_type = models.CharField(_("type"), max_length=16, choices=BedType.choices, default=BedType.STANDARD)
    status = models.CharField(
        _("status"), max_length=16, choices=BedStatus.choices, default=BedStatus.AVAILABLE
    )
    status_since = models.DateTimeField(_("status since"), default=timezone.now)
    note = models.CharField(_("note"), max_length=200, blank=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    # the occupant, as the clinical events name them (never a name)
    encounter = models.ForeignKey(
        "clinical.Encounter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    patient_initials = models.CharField(_("patient"), max_length=16, blank=True)
    patient_mrn = models.CharField(_("MRN"), max_length=100, blank=True)
    visit_number = models.CharField(_("visit number"), max_length=100, blank=True)
    attending = models.CharField(_("attending doctor"), max_length=150, blank=True)
    occupied_since = models.DateTimeField(_("occupied since"), null=True, blank=True)
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["ward", "room__sort_order", "room__code", "sort_order", "code"]
        verbose_name = _("bed")
        verbose_name_plural = _("beds")
        constraints = [models.UniqueConstraint(fields=["ward", "code"], name="resources_bed_unique")]
        indexes = [
            models.Index(fields=["ward", "status"], name="resources_bed_ward_status"),
            models.Index(fields=["encounter"], name="resources_bed_encounter"),
        ]

    def __str__(self) -> str:
        return f"{self.code}"


class BedHistory(models.Model):
    """One status change of a bed (or a change of its occupant): who, what, when and why."""

    bed = models.ForeignKey(Bed, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(_("from"), max_length=16, choices=BedStatus.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=16, choices=BedStatus.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(_("by"), max_length=150, blank=True)
    source = models.CharField(_("source"), max_length=120, blank=True)
    event_id = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    patient_initials = models.CharField(_("patient"), max_length=16, blank=True)
    visit_number = models.CharField(_("visit number"), max_length=100, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("bed history")
        verbose_name_plural = _("bed history")
        indexes = [models.Index(fields=["bed", "-id"], name="resources_bedhistory_bed")]

    def __str__(self) -> str:
        return f"{self.bed_id}: {self.from_status}→{self.to_status}"


class BedCleaning(models.Model):
    """The cleaning after a discharge: from 待清洁 to 空闲, with its process and its times.

    ``turnaround_seconds`` (discharge → available) is the figure reports use."""

    bed = models.ForeignKey(Bed, on_delete=models.PROTECT, related_name="cleanings")
    ward = models.ForeignKey("org.Department", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=16, choices=CleaningStatus.choices, default=CleaningStatus.WAITING
    )
    event_id = models.BigIntegerField(null=True, blank=True, unique=True)
    encounter = models.ForeignKey(
        "clinical.Encounter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    visit_number = models.CharField(_("visit number"), max_length=100, blank=True)
    patient_initials = models.CharField(_("patient"), max_length=16, blank=True)
    patient_mrn = models.CharField(_("MRN"), max_length=100, blank=True)
    attending = models.CharField(_("attending doctor"), max_length=150, blank=True)
    discharged_at = models.DateTimeField(_("discharged at"))
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    time_limit_minutes = models.PositiveSmallIntegerField(
        _("time limit (minutes)"), default=DEFAULT_CLEANING_MINUTES
    )
    due_at = models.DateTimeField(_("due"))
    process_instance_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    finished_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    turnaround_seconds = models.PositiveIntegerField(_("turnaround (seconds)"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("bed cleaning")
        verbose_name_plural = _("bed cleanings")
        indexes = [
            models.Index(fields=["status", "ward"], name="resources_cleaning_open"),
            models.Index(fields=["bed", "status"], name="resources_cleaning_bed"),
            models.Index(fields=["finished_at"], name="resources_cleaning_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.bed_id} {self.status}"

    @property
    def business_key(self) -> str:
        return f"bed-cleaning:{self.pk}"


class HandledEvent(models.Model):
    """An event a bed-board subscriber has applied (idempotence by event id)."""

    event_id = models.BigIntegerField(primary_key=True)
    handled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("handled event")
        verbose_name_plural = _("handled events")

    def __str__(self) -> str:
        return str(self.event_id)


from .models_or import *  # noqa: E402, F403 — operating rooms and equipment (role ORQ), migrated here
