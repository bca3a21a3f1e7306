"""The append-only, hash-chained audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import Outcome


class AuditEntry(models.Model):
    """One thing a person (or system) did. ``entry_hash`` = HMAC(key, previous hash ‖ this entry).

    Never updated or deleted: the services only insert, and database triggers (``guard.py``, on
    PostgreSQL and SQLite) refuse UPDATE and DELETE on this table.
    """

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(_("actor"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    target_type = models.CharField(_("target type"), max_length=100, blank=True, db_index=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_repr = models.CharField(_("target"), max_length=200, blank=True)
    client_address = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    details = models.JSONField(_("details"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["actor", "at"]),
            models.Index(fields=["actor_name", "seq"], name="audit_entry_actor_name_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name or '-'}"


class AuditChainHead(models.Model):
    """A single row locked while appending, so concurrent writers extend the chain one at a time."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"head #{self.last_seq}"
