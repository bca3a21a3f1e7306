"""HL7 v2: the message store and the MLLP sender allow-list.

``Message`` is written durably before the acknowledgement goes out (``receive``); the worker then
processes it (parse, map, events). The code mapping tables moved to ``core/clinical``
(``clinical.CodeMapping``); a message with an unknown code waits as ``unmapped`` until one is added.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MessageStatus(models.TextChoices):
    RECEIVED = "received", _("received")
    PROCESSED = "processed", _("processed")
    UNMAPPED = "unmapped", _("unmapped")
    ERROR = "error", _("error")
    DUPLICATE = "duplicate", _("duplicate")
    REJECTED = "rejected", _("rejected")


class Transport(models.TextChoices):
    MLLP = "mllp", _("MLLP")
    HTTP = "http", _("HTTP")


class Message(models.Model):
    """One received HL7 v2 message (or one message out of a batch/file envelope).

    ``raw`` is the decoded text with segments separated by ``\\r``; ``raw_bytes`` keeps what came on
    the wire when it could not be decoded. The header fields are copied out for search and for the
    duplicate check: (sending application, sending facility, control id) is unique among the
    messages that are not themselves marked duplicate or rejected.
    """

    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    transport = models.CharField(_("transport"), max_length=8, choices=Transport.choices)
    peer = models.CharField(_("client address"), max_length=100, blank=True)
    api_key = models.ForeignKey(
        "access.SystemApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("API key"),
    )
    # The envelope this message came in (BHS/FHS): the first message row of the envelope.
    batch = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("batch")
    )
    sending_application = models.CharField(_("sending application"), max_length=180, blank=True)
    sending_facility = models.CharField(_("sending facility"), max_length=180, blank=True)
    receiving_application = models.CharField(_("receiving application"), max_length=180, blank=True)
    receiving_facility = models.CharField(_("receiving facility"), max_length=180, blank=True)
    control_id = models.CharField(_("control ID"), max_length=199, blank=True)
    message_type = models.CharField(_("message type"), max_length=10, blank=True)  # MSH-9.1, e.g. ADT
    trigger_event = models.CharField(_("trigger event"), max_length=10, blank=True)  # MSH-9.2, e.g. A01
    version = models.CharField(_("version"), max_length=20, blank=True)  # MSH-12
    charset = models.CharField(_("character set"), max_length=40, blank=True)  # the codec used
    # PID-3's first identifier: the search key, and the ordering key (one patient's messages are
    # processed in arrival order).
    patient_id = models.CharField(_("patient identifier"), max_length=100, blank=True, db_index=True)
    raw = models.TextField(_("message"), blank=True)
    raw_bytes = models.BinaryField(_("bytes received"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=MessageStatus.choices, default=MessageStatus.RECEIVED
    )
    status_reason = models.TextField(_("reason"), blank=True)
    ack = models.TextField(_("acknowledgement"), blank=True)  # the ACK sent (and re-sent to a repeat)
    ack_code = models.CharField(_("ACK code"), max_length=2, blank=True)  # AA AE AR (CA CE CR)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("repeat of"),
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    # The events processing published (ids), for the store page.
    events = models.JSONField(_("events"), default=list, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("HL7 message")
        verbose_name_plural = _("HL7 messages")
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility", "control_id"],
                # A rejected message was never accepted: its corrected resend (same MSH-10) is new.
                condition=~Q(status__in=["duplicate", "rejected"]) & ~Q(control_id=""),
                name="hl7_message_unique_control_id",
            )
        ]
        indexes = [
            models.Index(fields=["status", "id"], name="hl7_message_status"),
            models.Index(fields=["sending_facility", "received_at"], name="hl7_message_sender"),
            models.Index(fields=["message_type", "trigger_event"], name="hl7_message_type"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.message_type}^{self.trigger_event} {self.control_id}"


class Sender(models.Model):
    """An MLLP client allowed to send: its address (an IP or CIDR network) and sending facility
    (MSH-4; ``*`` for any). No matching row: the message is rejected (AR) and stored as rejected."""

    name = models.CharField(_("name"), max_length=100)
    address = models.CharField(_("client address or network"), max_length=64)
    facility = models.CharField(_("sending facility"), max_length=180, default="*")
    scopes = models.JSONField(_("scopes"), default=list, blank=True)  # e.g. ["hl7:adt", "hl7:oru"]
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("MLLP sender")
        verbose_name_plural = _("MLLP senders")

    def __str__(self) -> str:
        return f"{self.name} ({self.address}, {self.facility})"
