from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CodeKind(models.TextChoices):
    DEPARTMENT = "department", _("department")
    WARD = "ward", _("ward")
    BED = "bed", _("bed")
    DOCTOR = "doctor", _("doctor")


class EncounterClass(models.TextChoices):
    INPATIENT = "inpatient", _("inpatient")
    OUTPATIENT = "outpatient", _("outpatient")
    EMERGENCY = "emergency", _("emergency")
    OTHER = "other", _("other")


class EncounterStatus(models.TextChoices):
    REGISTERED = "registered", _("registered")
    ADMITTED = "admitted", _("admitted")
    DISCHARGED = "discharged", _("discharged")
    CANCELLED = "cancelled", _("cancelled")


class MovementKind(models.TextChoices):
    ADMITTED = "admitted", _("admitted")
    TRANSFERRED = "transferred", _("transferred")
    DISCHARGED = "discharged", _("discharged")
    REGISTERED = "registered", _("registered")
    UPDATED = "updated", _("updated")
    ADMISSION_CANCELLED = "admission_cancelled", _("admission cancelled")
    DISCHARGE_CANCELLED = "discharge_cancelled", _("discharge cancelled")
