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


class Rule(models.Model):
    """An event-condition-action rule: when ``trigger`` happens (an event type, or a cron schedule)
    and ``condition`` holds, run ``actions`` (a list of ``{"type", "params"}``) in order. Every save
    writes a ``RuleVersion``; executions name the version they ran."""

    class TriggerKind(models.TextChoices):
        EVENT = "event", _("Event")
        SCHEDULE = "schedule", _("Schedule")

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    trigger_kind = models.CharField(
        _("trigger"), max_length=10, choices=TriggerKind.choices, default=TriggerKind.EVENT
    )
    event_type = models.CharField(_("event type"), max_length=100, blank=True, db_index=True)
    schedule = models.CharField(_("schedule (cron)"), max_length=100, blank=True)
    condition = models.TextField(_("condition"), blank=True)
    actions = models.JSONField(_("actions"), default=list)
    priority = models.IntegerField(_("priority"), default=100)
    enabled = models.BooleanField(_("enabled"), default=False)
    version = models.PositiveIntegerField(_("version"), default=1)
    # The next due time of a scheduled rule (the worker's job looks these up).
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True, db_index=True)
    template_key = models.CharField(max_length=100, blank=True)  # the demo template it came from
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        indexes = [models.Index(fields=["enabled", "event_type", "priority"], name="rules_rule_enabled_type")]

    def __str__(self) -> str:
        return self.name


class RuleVersion(models.Model):
    """The rule as it was saved, once per save."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    data = models.JSONField(_("content"))
    saved_at = models.DateTimeField(_("saved at"), auto_now_add=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["rule", "-version"]
        verbose_name = _("rule version")
        verbose_name_plural = _("rule versions")
        constraints = [models.UniqueConstraint(fields=["rule", "version"], name="rules_rule_version_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.version}"


class RuleExecution(models.Model):
    """One rule whose condition held (or raised, or that was stopped) for one event, or one due time
    of a schedule (matched or not): what each action did. Unique per (event, rule) and per (rule,
    scheduled time), so a retried delivery or a second worker never runs a rule twice. The rules
    an event did not match are named in its ``RuleEvaluation``."""

    class Status(models.TextChoices):
        DONE = "done", _("Done")
        NOT_MATCHED = "not_matched", _("Condition not met")
        PARTIAL = "partial", _("Some actions failed")
        FAILED = "failed", _("Failed")
        STOPPED = "stopped", _("Stopped (loop)")

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="executions")
    rule_version = models.PositiveIntegerField(_("version"))
    event = models.ForeignKey(
        "events.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event_type = models.CharField(_("event type"), max_length=100, blank=True)
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    matched = models.BooleanField(_("matched"), default=False)
    # [{"type", "ok", "outcome" | "error"}] in the rule's order.
    actions = models.JSONField(_("actions"), default=list)
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.FloatField(_("duration (ms)"), default=0)
    created_at = models.DateTimeField(_("run at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("rule execution")
        verbose_name_plural = _("rule executions")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "rule"], name="rules_execution_once", condition=models.Q(event__isnull=False)
            ),
            models.UniqueConstraint(
                fields=["rule", "scheduled_for"],
                name="rules_execution_once_scheduled",
                condition=models.Q(scheduled_for__isnull=False),
            ),
        ]
        indexes = [models.Index(fields=["rule", "-id"], name="rules_execution_rule")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} × event {self.event_id} ({self.status})"


class RuleEvaluation(models.Model):
    """One event's evaluation by the rules of its type, in one row: every rule evaluated (with the
    version), the ids of those whose condition held (each also has its ``RuleExecution``), those
    whose condition did not hold (nothing else is written for them), those stopped by the loop
    guard. Unique per event: a redelivery adds the rules it evaluates for the first time (a rule
    enabled since) to the same row."""

    event = models.OneToOneField("events.Event", on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(_("event type"), max_length=100, db_index=True)
    # [[rule id, version], ...] in the order evaluated.
    evaluated = models.JSONField(_("evaluated"), default=list)
    matched = models.JSONField(_("matched"), default=list)  # rule ids
    not_matched = models.JSONField(_("condition not met"), default=list)  # rule ids
    not_matched_count = models.PositiveIntegerField(default=0)  # len(not_matched), for the log's count
    stopped = models.JSONField(_("stopped"), default=list)  # rule ids
    duration_ms = models.FloatField(_("duration (ms)"), default=0)
    created_at = models.DateTimeField(_("evaluated at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("rule evaluation")
        verbose_name_plural = _("rule evaluations")

    def __str__(self) -> str:
        return f"event {self.event_id}: {len(self.evaluated)} rules, {len(self.matched)} matched"
