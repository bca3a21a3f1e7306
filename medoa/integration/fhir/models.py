"""FHIR R4: what was received (``Submission``) and the resources kept to resolve references
(``StoredResource``).

Every POST that authenticates is stored as a ``Submission`` before it is processed, so that
nothing is lost and a failure is visible: a single resource is one row; a Bundle is one row for
the bundle and one row per entry (``bundle`` points to the bundle's row). ``raw`` holds the JSON as
received, encrypted at rest (resources name patients).

``StoredResource`` is the latest version of every resource a system sent, per sending system
(``facility``) and logical id: an Encounter's ``location`` or ``participant`` and an
Observation's ``subject`` are references to them. An Encounter's row also keeps ``state`` (status,
class, ward, bed) so that the next version of the same encounter can be told apart (admitted,
transferred, discharged …).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.crypto import EncryptedTextField


class SubmissionStatus(models.TextChoices):
    RECEIVED = "received", _("received")
    PROCESSED = "processed", _("processed")
    STORED = "stored", _("stored, nothing to map")
    UNMAPPED = "unmapped", _("unmapped")
    ERROR = "error", _("error")
    REJECTED = "rejected", _("rejected")


class Submission(models.Model):
    """One resource or Bundle a system POSTed (or one entry of a Bundle)."""

    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    api_key = models.ForeignKey(
        "access.SystemApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("API key"),
    )
    facility = models.CharField(_("sending system"), max_length=100, blank=True)
    peer = models.CharField(_("client address"), max_length=100, blank=True)
    bundle = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="entries",
        verbose_name=_("bundle"),
    )
    entry_index = models.PositiveIntegerField(_("entry"), null=True, blank=True)
    bundle_type = models.CharField(_("bundle type"), max_length=20, blank=True)
    resource_type = models.CharField(_("resource type"), max_length=64, blank=True)
    resource_id = models.CharField(_("resource id"), max_length=64, blank=True)
    patient_id = models.CharField(_("patient identifier"), max_length=100, blank=True, db_index=True)
    raw = EncryptedTextField(_("resource"), blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    status = models.CharField(
        _("status"), max_length=12, choices=SubmissionStatus.choices, default=SubmissionStatus.RECEIVED
    )
    reason = models.TextField(_("reason"), blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    outcome = models.JSONField(_("answer"), default=dict, blank=True)
    events = models.JSONField(_("events"), default=list, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("FHIR submission")
        verbose_name_plural = _("FHIR submissions")
        indexes = [
            models.Index(fields=["status", "id"], name="fhir_submission_status"),
            models.Index(fields=["resource_type", "received_at"], name="fhir_submission_type"),
        ]

    def __str__(self) -> str:
        ident = f"/{self.resource_id}" if self.resource_id else ""
        return f"#{self.pk} {self.resource_type or '?'}{ident} ({self.status})"


class StoredResource(models.Model):
    """The latest version of one resource a system sent (any type: Bundles carry Organizations,
    Specimens … that references point to)."""

    facility = models.CharField(_("sending system"), max_length=100, blank=True)
    resource_type = models.CharField(_("resource type"), max_length=64)
    resource_id = models.CharField(_("resource id"), max_length=64)
    # The code MedOA knows it by: a Location's or Practitioner's identifier, a Patient's MRN.
    code = models.CharField(_("code"), max_length=100, blank=True)
    data = EncryptedTextField(_("resource"))
    digest = models.CharField(max_length=64)
    state = models.JSONField(_("state"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["resource_type", "resource_id"]
        verbose_name = _("FHIR resource")
        verbose_name_plural = _("FHIR resources")
        constraints = [
            models.UniqueConstraint(
                fields=["facility", "resource_type", "resource_id"], name="fhir_resource_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.resource_id} v{self.version}"
