"""The rule engine's tables.

* ``DecisionDefinition`` — one row per DMN decision id (its key); ``DecisionVersion`` — one row
  per deploy. A DRD (a file with several decisions) deploys a version of each of its decisions;
  every version keeps the whole file, so that evaluating it evaluates the decisions it requires as
  they were deployed with it (the compiled model lives in an in-process cache keyed by checksum).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DecisionDefinition(models.Model):
    key = models.CharField(_("key"), max_length=128, unique=True)  # the DMN decision id
    name = models.CharField(_("name"), max_length=200)
    latest_version = models.ForeignKey(
        "DecisionVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("decision definition")
        verbose_name_plural = _("decision definitions")

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class DecisionVersion(models.Model):
    definition = models.ForeignKey(DecisionDefinition, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=200)
    hit_policy = models.CharField(_("hit policy"), max_length=16, blank=True)  # "" for a literal expression
    aggregation = models.CharField(_("aggregation"), max_length=8, blank=True)
    dmn_xml = models.TextField(_("DMN XML"))
    checksum = models.CharField(max_length=64, db_index=True)
    # Facts read off the model at deploy: inputs, outputs, the decisions it requires, the other
    # decisions deployed with it.
    metadata = models.JSONField(default=dict, blank=True)
    deployed_at = models.DateTimeField(auto_now_add=True)
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["definition", "-version"]
        verbose_name = _("decision version")
        verbose_name_plural = _("decision versions")
        constraints = [
            models.UniqueConstraint(fields=["definition", "version"], name="rules_decision_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.definition.key} v{self.version}"
