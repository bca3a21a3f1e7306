"""Outbound webhooks: who wants which events where (``Subscription``), each event to send to each
subscription (``WebhookDelivery``, one row per pair: at least once, never twice on purpose), and
every attempt made (``DeliveryAttempt``: status code, duration, error)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.crypto import EncryptedTextField


class Subscription(models.Model):
    """Events of the types ``event_types`` names (full names, ``prefix.*`` or ``*``) POSTed to
    ``url``, signed with ``secret`` (HMAC-SHA256). Disabled after ``MEDOA_WEBHOOKS_MAX_FAILURES``
    consecutive failed attempts; its owner is notified."""

    name = models.CharField(_("name"), max_length=100)
    event_types = models.JSONField(_("event types"), default=list)
    url = models.URLField(_("URL"), max_length=500)
    secret = EncryptedTextField(_("secret"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    failure_count = models.PositiveIntegerField(_("consecutive failures"), default=0)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed, will retry")
    DEAD = "dead", _("gave up")


class WebhookDelivery(models.Model):
    """One event for one subscription, sent by the webhook sender until delivered or given up."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhooks_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhooks_delivery_due",
                condition=Q(status__in=["pending", "failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"event #{self.event_id} → {self.subscription_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP request made: for a delivery, or a test send (``delivery`` empty)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="attempts")
    delivery = models.ForeignKey(
        WebhookDelivery, null=True, blank=True, on_delete=models.CASCADE, related_name="attempt_log"
    )
    event_id_sent = models.CharField(_("event id"), max_length=40, blank=True)
    attempted_at = models.DateTimeField(_("attempted at"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    ok = models.BooleanField(_("succeeded"), default=False)
    error = models.TextField(_("error"), blank=True)
    test = models.BooleanField(_("test send"), default=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        indexes = [models.Index(fields=["subscription", "-id"], name="webhooks_attempt_sub")]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.attempted_at:%H:%M:%S} {self.status_code or self.error[:20]}"
