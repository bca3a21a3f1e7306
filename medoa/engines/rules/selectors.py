"""Reads of the rule engine, narrowed by permission."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, overload

from django.db import connection
from django.db.models import QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm

from .errors import RulesNotFound
from .models import DecisionDefinition, DecisionVersion, Rule, RuleEvaluation, RuleExecution, RuleVersion

PERM_DESIGN = "rules.decision.design"
PERM_EVALUATE = "rules.decision.evaluate"
PERM_RULE_DESIGN = "rules.rule.design"
PERM_RULE_VIEW = "rules.rule.view"


def may_design(user: Any) -> bool:
    return has_perm(user, PERM_DESIGN)


def may_evaluate(user: Any) -> bool:
    return has_perm(user, PERM_EVALUATE) or has_perm(user, PERM_DESIGN)


def decision_list(*, user: Any) -> QuerySet[DecisionDefinition]:
    """Deployed decisions: every one for those who may evaluate or design them, none otherwise."""
    qs = DecisionDefinition.objects.select_related("latest_version", "latest_version__deployed_by")
    if not may_evaluate(user):
        return qs.none()
    return qs.order_by("key")


def decision_get(*, user: Any, key: str) -> DecisionDefinition:
    definition = decision_list(user=user).filter(key=key).first()
    if definition is None:
        raise RulesNotFound(_("There is no such decision."))
    return definition


def decision_versions(*, definition: DecisionDefinition) -> list[DecisionVersion]:
    return list(definition.versions.select_related("deployed_by").order_by("-version"))


# --- rules ----------------------------------------------------------------------------------------


def may_design_rules(user: Any) -> bool:
    return has_perm(user, PERM_RULE_DESIGN)


def may_view_rules(user: Any) -> bool:
    return has_perm(user, PERM_RULE_VIEW) or has_perm(user, PERM_RULE_DESIGN)


def rule_list(*, user: Any, q: str = "", enabled: bool | None = None, event_type: str = "") -> QuerySet[Rule]:
    """The rules (every one for those who may see rules, none otherwise), by priority."""
    if not may_view_rules(user):
        return Rule.objects.none()
    qs = Rule.objects.select_related("updated_by").order_by("priority", "id")
    if q:
        qs = qs.filter(name__icontains=q[:100])
    if enabled is not None:
        qs = qs.filter(enabled=enabled)
    if event_type:
        qs = qs.filter(event_type=event_type[:100])
    return qs


def rule_get(*, user: Any, rule_id: int) -> Rule:
    rule = rule_list(user=user).filter(pk=rule_id).first()
    if rule is None:
        raise RulesNotFound(_("There is no such rule."))
    return rule


def rule_versions(*, rule: Rule) -> list[RuleVersion]:
    return list(rule.versions.select_related("saved_by").order_by("-version"))


def execution_list(
    *,
    user: Any,
    rule_id: int | None = None,
    status: str = "",
    event_id: int | None = None,
    event_type: str = "",
) -> QuerySet[RuleExecution]:
    """The execution log, newest first, narrowed by the filters given."""
    if not may_view_rules(user):
        return RuleExecution.objects.none()
    qs = RuleExecution.objects.select_related("rule").order_by("-id")
    if rule_id is not None:
        qs = qs.filter(rule_id=rule_id)
    if status:
        qs = qs.filter(status=status)
    if event_id is not None:
        qs = qs.filter(event_id=event_id)
    if event_type:
        qs = qs.filter(event_type=event_type[:100])
    return qs


def evaluation_list(
    *, user: Any, rule_id: int | None = None, event_id: int | None = None, event_type: str = ""
) -> QuerySet[RuleEvaluation]:
    """The per-event evaluation summaries, newest first; with ``rule_id`` only those in which that
    rule was evaluated and its condition did not hold."""
    if not may_view_rules(user):
        return RuleEvaluation.objects.none()
    qs = RuleEvaluation.objects.order_by("-created_at", "-id")
    if rule_id is not None:
        if connection.vendor == "postgresql":
            qs = qs.filter(not_matched__contains=[rule_id])  # jsonb @>, one GIN-able test
        else:  # SQLite has no JSON containment: look through the array (the table name is ours)
            table = RuleEvaluation._meta.db_table
            sql = f"SELECT e.id FROM {table} e, json_each(e.not_matched) j WHERE j.value = %s"  # noqa: S608
            qs = qs.filter(pk__in=RawSQL(sql, (rule_id,)))  # noqa: S611
    if event_id is not None:
        qs = qs.filter(event_id=event_id)
    if event_type:
        qs = qs.filter(event_type=event_type[:100])
    return qs


@dataclass
class LogEntry:
    """One line of the execution log: a ``RuleExecution`` (``execution`` set), or a rule whose
    condition did not hold for an event, read off that event's ``RuleEvaluation``."""

    rule_id: int
    rule_name: str
    rule_version: int
    event_id: int | None
    event_type: str
    scheduled_for: dt.datetime | None
    status: str
    matched: bool
    created_at: dt.datetime
    actions: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    duration_ms: float | None = None
    execution: int | None = None
    evaluation: int | None = None

    @property
    def status_display(self) -> str:
        return str(RuleExecution.Status(self.status).label)


def _entry(row: RuleExecution) -> LogEntry:
    return LogEntry(
        rule_id=row.rule_id,
        rule_name=row.rule.name,
        rule_version=row.rule_version,
        event_id=row.event_id,
        event_type=row.event_type,
        scheduled_for=row.scheduled_for,
        status=row.status,
        matched=row.matched,
        created_at=row.created_at,
        actions=row.actions,
        error=row.error,
        duration_ms=row.duration_ms,
        execution=row.pk,
    )


class ExecutionLog:
    """The execution log as one sequence, newest first: the executions and, unless the status asked
    for is another, the not-matched evaluations of the summaries (one entry per rule; with a rule
    filter, one per summary). ``len`` and slices are what ``Paginator`` needs; a page merges the
    newest ``stop`` rows of each table, so deep pages cost more."""

    def __init__(
        self,
        executions: QuerySet[RuleExecution],
        evaluations: QuerySet[RuleEvaluation] | None,
        *,
        rule_id: int | None,
        names: dict[int, str],
    ) -> None:
        self.executions = executions.order_by("-created_at", "-id")
        self.evaluations = evaluations
        self.rule_id = rule_id
        self.names = names

    def count(self) -> int:
        total = self.executions.count()
        if self.evaluations is not None:
            if self.rule_id is not None:
                total += self.evaluations.count()
            else:
                total += self.evaluations.aggregate(n=Sum("not_matched_count"))["n"] or 0
        return total

    def __len__(self) -> int:
        return self.count()

    def _not_matched(self, summary: RuleEvaluation) -> list[LogEntry]:
        versions: dict[int, int] = dict(summary.evaluated)
        ids = [self.rule_id] if self.rule_id is not None else summary.not_matched
        return [
            LogEntry(
                rule_id=rule_id,
                rule_name=self.names.get(rule_id, f"#{rule_id}"),
                rule_version=versions.get(rule_id, 0),
                event_id=summary.event_id,
                event_type=summary.event_type,
                scheduled_for=None,
                status=RuleExecution.Status.NOT_MATCHED,
                matched=False,
                created_at=summary.created_at,
                evaluation=summary.pk,
            )
            for rule_id in ids
        ]

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self[0 : self.count()])

    @overload
    def __getitem__(self, index: int) -> LogEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[LogEntry]: ...

    def __getitem__(self, index: int | slice) -> LogEntry | list[LogEntry]:
        if isinstance(index, int):
            if index < 0:
                raise IndexError("the log is read from its newest entry")
            found = self[index : index + 1]
            if not found:
                raise IndexError(index)
            return found[0]
        if index.step not in (None, 1) or (index.start or 0) < 0 or (index.stop or 0) < 0:
            raise ValueError("the log is read in forward slices")
        start, stop = index.start or 0, index.stop
        if stop is None:
            stop = self.count()
        if stop <= start:
            return []
        entries = [_entry(r) for r in self.executions.select_related("rule")[:stop]]
        if self.evaluations is not None:
            for summary in self.evaluations.only(
                "pk", "event_id", "event_type", "evaluated", "not_matched", "created_at"
            )[:stop]:
                entries.extend(self._not_matched(summary))
        entries.sort(key=lambda e: (e.created_at, e.execution is not None), reverse=True)
        return entries[start:stop]


def execution_log(
    *,
    user: Any,
    rule_id: int | None = None,
    status: str = "",
    event_id: int | None = None,
    event_type: str = "",
) -> ExecutionLog:
    """Was rule R evaluated for event E, and did it match? The executions (``execution_list``) and
    the not-matched evaluations of the per-event summaries, merged newest first."""
    executions = execution_list(
        user=user, rule_id=rule_id, status=status, event_id=event_id, event_type=event_type
    )
    evaluations = None
    if status in ("", RuleExecution.Status.NOT_MATCHED):
        evaluations = evaluation_list(user=user, rule_id=rule_id, event_id=event_id, event_type=event_type)
        evaluations = evaluations.exclude(not_matched_count=0)
    names = dict(rule_list(user=user).select_related(None).values_list("pk", "name"))
    return ExecutionLog(executions, evaluations, rule_id=rule_id, names=names)
