"""The notification centre: the inbox (站内通知), per-user preferences, outside-channel deliveries
and message templates."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def is_site_path(link: str) -> bool:
    """Whether ``link`` is a path on this site (``/org/staff/12/``), never a scheme or another host.

    Notification links are rendered as ``href``; anything else (``javascript:``, ``//evil``,
    ``https://…``) is not shown, so a notification can never send a reader off-site.
    """
    return (
        link.startswith("/")
        and not link.startswith("//")
        and "\\" not in link
        and not any(ch.isspace() or ord(ch) < 32 for ch in link)
    )


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("kind"), max_length=64, default="info")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("message"), blank=True)
    link = models.CharField(_("link"), max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("sent"), auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    # Urgent notifications go out on the outside channels even in the recipient's quiet hours.
    urgent = models.BooleanField(_("urgent"), default=False)
    # 确认收到: the recipient must acknowledge before ``ack_by``; otherwise the escalation job
    # notifies ``escalate_to`` ({"users": [ids], "role": code, "department": id}) once.
    requires_ack = models.BooleanField(_("acknowledgement required"), default=False)
    ack_by = models.DateTimeField(_("acknowledge by"), null=True, blank=True)
    acked_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    escalate_to = models.JSONField(default=dict, blank=True)
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    # True while the worker has still to hand this notification to the outside channels
    # (set only when the deployment enables one); the worker clears it.
    dispatch_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"]),
            models.Index(fields=["recipient", "id"], name="notify_recipient_id_idx"),
            models.Index(
                fields=["id"], name="notify_dispatch_pending_idx", condition=Q(dispatch_pending=True)
            ),
            models.Index(
                fields=["ack_by"],
                name="notify_ack_overdue_idx",
                condition=Q(requires_ack=True, acked_at__isnull=True, escalated_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    @property
    def awaiting_ack(self) -> bool:
        return self.requires_ack and self.acked_at is None

    @property
    def safe_link(self) -> str:
        """The link when it points into this site, else an empty string."""
        return self.link if is_site_path(self.link) else ""

    @property
    def kind_badge(self) -> tuple[str, Any] | None:
        """(badge class, label) for kinds that deserve a marker; ``None`` for plain information."""
        return KIND_BADGES.get(self.kind)


# Kinds that get a marker in the inbox and on the workbench card; any other kind shows none.
KIND_BADGES: dict[str, tuple[str, Any]] = {
    "success": ("badge-success", _("Done")),
    "reminder": ("badge-warning", _("Reminder")),
    "warning": ("badge-warning", _("Attention")),
    "alert": ("badge-danger", _("Alert")),
    "critical": ("badge-danger", _("Critical")),
}


class NotificationPreference(models.Model):
    """One user's choices: the outside channels per kind (``{"critical": ["sms", "im"], "*": []}``,
    ``"*"`` for every other kind; in-app is always on), quiet hours (local time; may wrap past
    midnight) and the language of templated messages."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    channels = models.JSONField(_("channels per kind"), default=dict, blank=True)
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return str(self.user)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class NotificationDelivery(models.Model):
    """One notification on one outside channel: sent by the worker, retried with backoff."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(_("channel"), max_length=16)
    status = models.CharField(
        _("status"), max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="notify_delivery_once")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="notify_delivery_due_idx", condition=Q(status="pending")
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_id}/{self.channel}"


class MessageTemplate(models.Model):
    """A message with ``{variables}`` in Chinese and English; a row here overrides the template
    of the same key registered in code (``medoa.core.notify.templating.message_templates``)."""

    key = models.CharField(_("key"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=64, default="info")
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    body_zh = models.TextField(_("message (Chinese)"), blank=True)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    body_en = models.TextField(_("message (English)"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")

    def __str__(self) -> str:
        return self.key
