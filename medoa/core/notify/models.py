"""The notification centre's inbox (站内通知). Channels beyond in-app come with the rule engine."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
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

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

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
