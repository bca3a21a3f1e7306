"""The outbox: one ``Event`` row per published event, one ``Delivery`` row per (event, subscriber)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import DUE_STATUSES, DeliveryStatus


class Event(models.Model):
    """Something that happened, written in the transaction of the change it reports.

    ``key`` (optional, unique) makes publishing idempotent: the same key gives back the same event.
    """

    type = models.CharField(_("event type"), max_length=100)
    payload = models.JSONField(_("payload"), default=dict)
    key = models.CharField(_("idempotency key"), max_length=200, null=True, blank=True, unique=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("published by"),
    )
    actor_name = models.CharField(_("published by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("published at"), default=timezone.now)
    # The event whose handler published this one (set by ``publish`` from the dispatcher's context),
    # and how many such steps lead here from an event nobody's reaction caused (0).
    cause = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("caused by"),
    )
    depth = models.PositiveSmallIntegerField(_("depth"), default=0)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["type", "created_at"], name="events_event_type_created"),
            models.Index(fields=["created_at"], name="events_event_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type}"


class Delivery(models.Model):
    """One event for one subscriber: run by the worker until delivered or dead.

    A worker claims a due delivery by setting ``claimed_by`` and ``claimed_until`` (its lease); a
    worker that dies leaves the claim to run out, and the delivery is due again after it.
    """

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(_("subscriber"), max_length=100)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["event_id", "id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="events_delivery_once"),
        ]
        indexes = [
            # The dispatcher's claim: due deliveries by time (a partial index stays small).
            models.Index(
                fields=["next_attempt_at"],
                name="events_delivery_due",
                condition=Q(status__in=[s.value for s in DUE_STATUSES]),
            ),
            models.Index(fields=["status", "event"], name="events_delivery_status"),
        ]

    def __str__(self) -> str:
        return f"event #{self.event_id} → {self.subscriber} ({self.status})"
