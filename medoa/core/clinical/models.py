"""Clinical facts: the mirror of what HIS, LIS and EMR report — patients, their encounters (with
the history of their moves), results and observations — and the code mapping tables that turn a
sending system's department, ward, bed and doctor codes into MedOA's.

MedOA is not a HIS: these rows are written only by :mod:`medoa.core.clinical.services` from the
facts integration hands in, and read by the modules (bed board, critical-value loop) through the
events they publish. Patient names are encrypted at rest, searched through a blind index, and shown
on shared screens as initials only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.crypto import EncryptedTextField

from .choices import CodeKind, EncounterClass, EncounterStatus, MovementKind


class CodeMapping(models.Model):
    """A sending system's code (per sending facility; ``*`` for any) → MedOA's code.

    Department and ward codes map to a MedOA department code (``org.Department.code``); bed codes
    to a bed code string; doctor codes to a MedOA username.
    """

    kind = models.CharField(_("kind"), max_length=12, choices=CodeKind.choices)
    facility = models.CharField(_("sending facility"), max_length=180, default="*")
    external_code = models.CharField(_("their code"), max_length=100)
    internal_code = models.CharField(_("MedOA code"), max_length=100)
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["kind", "facility", "external_code"]
        verbose_name = _("code mapping")
        verbose_name_plural = _("code mappings")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "facility", "external_code"], name="clinical_codemapping_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.facility}:{self.external_code}→{self.internal_code}"


class UnmappedCode(models.Model):
    """A code a sender used that maps to nothing yet: what the mapping page suggests. Deleted when
    a mapping for it is saved."""

    kind = models.CharField(_("kind"), max_length=12, choices=CodeKind.choices)
    facility = models.CharField(_("sending facility"), max_length=180, blank=True)
    code = models.CharField(_("their code"), max_length=100)
    first_seen = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)
    occurrences = models.PositiveIntegerField(_("occurrences"), default=1)
    last_source = models.CharField(_("last source"), max_length=100, blank=True)

    class Meta:
        ordering = ["-last_seen"]
        verbose_name = _("unmapped code")
        verbose_name_plural = _("unmapped codes")
        constraints = [
            models.UniqueConstraint(fields=["kind", "facility", "code"], name="clinical_unmapped_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.facility}:{self.code}"


class Patient(models.Model):
    """A patient as a sending system identifies them: ``identifier`` (the MRN, PID-3) is unique
    per ``authority`` (PID-3.4, else the sending facility)."""

    authority = models.CharField(_("assigning authority"), max_length=180)
    identifier = models.CharField(_("patient identifier"), max_length=100)
    name = EncryptedTextField(_("name"), blank=True)
    name_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    initials = models.CharField(_("initials"), max_length=16, blank=True)
    sex = models.CharField(_("sex"), max_length=1, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["authority", "identifier"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.UniqueConstraint(fields=["authority", "identifier"], name="clinical_patient_unique")
        ]
        indexes = [models.Index(fields=["identifier"], name="clinical_patient_identifier")]

    def __str__(self) -> str:
        return f"{self.identifier} ({self.initials})"


class Encounter(models.Model):
    """A visit: admission to discharge for an inpatient, or a registration. Location and
    department hold MedOA codes (department and ward: ``org.Department.code``; room and bed: the
    bed codes issue 7's bed board uses)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="encounters")
    authority = models.CharField(_("assigning authority"), max_length=180)
    visit_number = models.CharField(_("visit number"), max_length=100, blank=True)
    encounter_class = models.CharField(
        _("class"), max_length=12, choices=EncounterClass.choices, default=EncounterClass.INPATIENT
    )
    status = models.CharField(_("status"), max_length=12, choices=EncounterStatus.choices)
    department_code = models.CharField(_("department"), max_length=32, blank=True)
    ward_code = models.CharField(_("ward"), max_length=32, blank=True)
    room_code = models.CharField(_("room"), max_length=100, blank=True)
    bed_code = models.CharField(_("bed"), max_length=100, blank=True)
    attending_doctor = models.CharField(_("attending doctor"), max_length=150, blank=True)
    attending_doctor_external = models.CharField(_("attending doctor (sender's)"), max_length=100, blank=True)
    admitted_at = models.DateTimeField(_("admitted at"), null=True, blank=True)
    discharged_at = models.DateTimeField(_("discharged at"), null=True, blank=True)
    source = models.CharField(_("last source"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("encounter")
        verbose_name_plural = _("encounters")
        constraints = [
            models.UniqueConstraint(
                fields=["authority", "visit_number"],
                condition=~Q(visit_number=""),
                name="clinical_encounter_visit_unique",
            )
        ]
        indexes = [
            models.Index(fields=["status", "ward_code"], name="clinical_encounter_ward"),
            models.Index(fields=["patient", "status"], name="clinical_encounter_patient"),
        ]

    def __str__(self) -> str:
        return f"{self.visit_number or self.pk} ({self.status})"


class EncounterMovement(models.Model):
    """One step of an encounter's history: admitted, transferred (from → to), discharged,
    cancelled … with where the patient was before and after."""

    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="movements")
    kind = models.CharField(_("kind"), max_length=24, choices=MovementKind.choices)
    from_department_code = models.CharField(max_length=32, blank=True)
    from_ward_code = models.CharField(max_length=32, blank=True)
    from_room_code = models.CharField(max_length=100, blank=True)
    from_bed_code = models.CharField(max_length=100, blank=True)
    department_code = models.CharField(max_length=32, blank=True)
    ward_code = models.CharField(max_length=32, blank=True)
    room_code = models.CharField(max_length=100, blank=True)
    bed_code = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=100, blank=True)

    class Meta:
        ordering = ["encounter", "id"]
        verbose_name = _("encounter movement")
        verbose_name_plural = _("encounter movements")

    def __str__(self) -> str:
        return f"{self.encounter_id} {self.kind}"


class Result(models.Model):
    """A result report (one order: OBR and its observations)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="results")
    encounter = models.ForeignKey(
        Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="results"
    )
    visit_number = models.CharField(_("visit number"), max_length=100, blank=True)
    order_code = models.CharField(_("test"), max_length=100, blank=True)
    order_name = models.CharField(_("test name"), max_length=200, blank=True)
    placer_number = models.CharField(max_length=100, blank=True)
    filler_number = models.CharField(max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=4, blank=True)
    ordering_doctor = models.CharField(_("ordering doctor"), max_length=150, blank=True)
    attending_doctor = models.CharField(_("attending doctor"), max_length=150, blank=True)
    department_code = models.CharField(_("department"), max_length=32, blank=True)
    ward_code = models.CharField(_("ward"), max_length=32, blank=True)
    bed_code = models.CharField(_("bed"), max_length=100, blank=True)
    occurred_at = models.DateTimeField(_("reported at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=100, blank=True)
    critical_count = models.PositiveSmallIntegerField(_("critical values"), default=0)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("result")
        verbose_name_plural = _("results")

    def __str__(self) -> str:
        return f"{self.order_code or self.pk} {self.occurred_at:%Y-%m-%d %H:%M}"


class Observation(models.Model):
    """One observation of a result (OBX), with its abnormal flags and whether it is critical."""

    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="observations")
    seq = models.PositiveSmallIntegerField(default=0)
    code = models.CharField(_("code"), max_length=100)
    name = models.CharField(_("name"), max_length=200, blank=True)
    value = models.TextField(_("value"), blank=True)
    value_type = models.CharField(max_length=4, blank=True)
    unit = models.CharField(_("unit"), max_length=60, blank=True)
    reference_range = models.CharField(_("reference range"), max_length=100, blank=True)
    flags = models.JSONField(_("flags"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=4, blank=True)
    observed_at = models.DateTimeField(_("observed at"), null=True, blank=True)
    critical = models.BooleanField(_("critical"), default=False)
    critical_flag = models.CharField(_("critical flag"), max_length=8, blank=True)

    class Meta:
        ordering = ["result", "seq"]
        verbose_name = _("observation")
        verbose_name_plural = _("observations")
        indexes = [models.Index(fields=["critical", "result"], name="clinical_obs_critical")]

    def __str__(self) -> str:
        return f"{self.code}={self.value}{self.unit}"
