"""Event-condition-action rules: checking a rule before it is saved, compiling it (cached per rule
version), evaluating it for an event or a due schedule, and the dry run.

* ``rule_check(data)`` — the cleaned rule or ``RuleInvalid`` naming every field at fault: an unknown
  event type, a schedule that does not parse, a condition that does not parse (with its position)
  or reads a name other than ``event`` and ``payload``, an unknown action type, parameters the
  action refuses, an action that may publish the very event that triggers the rule.
* ``evaluate_event(event)`` — the subscriber ``rules.evaluate`` (every event type): the enabled
  rules for the event's type in priority order; each one's condition; the actions of those that
  match, each in a savepoint (a failure is recorded, never raised, so the other actions and rules
  still run and a retry of the delivery does not repeat them); one ``RuleExecution`` per rule that
  matched (or raised, or was stopped) and one ``RuleEvaluation`` per event naming every rule
  evaluated, those that matched and those that did not. A rule already evaluated for this event (a
  redelivery) is skipped. A matching rule is stopped
  (logged ``stopped``) when an event up the causation chain already ran it, or when the chain is
  deeper than ``MAX_CHAIN_DEPTH``.
* ``cron_job()`` — the periodic job: fires each scheduled rule whose next run is due, once per due
  time (unique (rule, scheduled time)); missed times while the worker was down fold into one run.
* ``dry_run(rule, payload=, event=)`` — what the rule would do: the condition's value (and the value
  of each part of a top-level ``and``/``or``), each action's resolved parameters; nothing runs
  except decision evaluations (they change nothing and later actions may use their outputs).
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from medoa.core.apierrors import in_both, translate_error
from medoa.core.events.models import Event
from medoa.core.events.registry import NAME_RE, event_types

from . import expressions
from .cron import CronError, parse_cron
from .errors import RuleInvalid
from .models import Rule, RuleEvaluation, RuleExecution
from .registry import ActionContext, ActionFailed, RuleAction, pattern_matches, rule_actions

log = logging.getLogger("medoa.rules")

CONDITION_NAMES = frozenset({"event", "payload"})
MAX_ACTIONS = 20
MAX_CHAIN_DEPTH = 8
MAX_ERROR = 2000
CRON_BATCH = 50
_CACHE_SIZE = 2048


def _err(field: str, message: Any, params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    zh, en = in_both(message, params)
    return {"field": field, "message": zh, "message_en": en, "type": "invalid", **extra}


def _condition_errors(source: str) -> list[dict[str, Any]]:
    problems = expressions.check(source)
    if not problems:
        unknown = sorted(expressions.free_names(source) - CONDITION_NAMES)
        if unknown:
            problems = [
                expressions.ExpressionError(
                    "name '%(name)s' is not defined", {"name": unknown[0]}, position=source.find(unknown[0])
                ).locate(source)
            ]
    rows = []
    for problem in problems:
        where = {"position": problem.position, "line": problem.line, "column": problem.column}
        zh, en = in_both(problem.msgid, problem.params)  # the expression module's msgid, translated
        if problem.line is not None:
            message = _("Line %(line)s, column %(column)s: %(problem)s")
            at = {"line": problem.line, "column": problem.column}
            zh = in_both(message, {**at, "problem": zh})[0]
            en = in_both(message, {**at, "problem": en})[1]
        rows.append({"field": "condition", "message": zh, "message_en": en, "type": "invalid", **where})
    return rows


def _params_errors(index: int, exc: PydanticValidationError) -> list[dict[str, Any]]:
    rows = []
    for detail in exc.errors(include_url=False):
        err: dict[str, Any] = {**detail, "loc": ("actions", index, "params", *detail["loc"])}
        rows.append(translate_error(err, (err.get("ctx") or {}).get("error")))
    return rows


def rule_check(data: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's fields cleaned, or ``RuleInvalid`` listing every problem."""
    errors: list[dict[str, Any]] = []
    name = str(data.get("name") or "").strip()
    if not name:
        errors.append(_err("name", _("Give the rule a name.")))
    elif len(name) > 200:
        errors.append(_err("name", _("Must have at most %(max_length)s characters."), {"max_length": 200}))
    # A disabled rule is a draft: its syntax and parameters are checked, its references (the event
    # type, a template, a process, roles, people) only when it is enabled.
    enabled = bool(data.get("enabled", False))
    kind = data.get("trigger_kind") or Rule.TriggerKind.EVENT
    event_type = str(data.get("event_type") or "").strip()
    schedule = " ".join(str(data.get("schedule") or "").split())
    if kind not in Rule.TriggerKind.values:
        errors.append(_err("trigger_kind", _("Choose an event or a schedule.")))
    elif kind == Rule.TriggerKind.EVENT:
        schedule = ""
        if not event_type:
            errors.append(_err("event_type", _("Choose the event type that triggers the rule.")))
        elif (
            len(event_type) > 100
            or not NAME_RE.fullmatch(event_type)
            or (enabled and event_type not in event_types)
        ):
            errors.append(_err("event_type", _("Unknown event type: %(type)s."), {"type": event_type[:100]}))
    else:
        event_type = ""
        try:
            parse_cron(schedule)
        except CronError as exc:
            errors.append(
                _err("schedule", _("The schedule does not parse: %(problem)s"), {"problem": str(exc)})
            )
    condition = str(data.get("condition") or "").strip()
    if condition:
        errors.extend(_condition_errors(condition))
    try:
        priority = int(data.get("priority", 100))
        if not -10000 <= priority <= 10000:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(_err("priority", _("The priority is a whole number from -10000 to 10000.")))
        priority = 100
    actions_in = data.get("actions")
    actions: list[dict[str, Any]] = []
    if not isinstance(actions_in, list) or not actions_in:
        errors.append(_err("actions", _("Add at least one action.")))
        actions_in = []
    elif len(actions_in) > MAX_ACTIONS:
        errors.append(_err("actions", _("At most %(max)s actions."), {"max": MAX_ACTIONS}))
        actions_in = []
    for index, item in enumerate(actions_in):
        if not isinstance(item, Mapping):
            errors.append(_err(f"actions.{index}", _("An action is an object with a type and params.")))
            continue
        key = item.get("type")
        action = rule_actions.get(key) if isinstance(key, str) else None
        if action is None:
            errors.append(
                _err(f"actions.{index}.type", _("Unknown action type: %(type)s."), {"type": str(key)[:100]})
            )
            continue
        try:
            params = action.params.model_validate(item.get("params") or {})
        except PydanticValidationError as exc:
            errors.extend(_params_errors(index, exc))
            continue
        if enabled and action.check is not None:
            try:
                action.check(params)
            except ActionFailed as exc:
                errors.append(_err(f"actions.{index}.params", exc.message))
                continue
        if event_type and any(pattern_matches(p, event_type) for p in action.may_publish(params)):
            errors.append(
                _err(
                    f"actions.{index}.type",
                    _(
                        "This action may publish %(type)s, the event that triggers the rule: "
                        "it would trigger itself."
                    ),
                    {"type": event_type},
                )
            )
            continue
        actions.append({"type": action.key, "params": params.model_dump(mode="json")})
    if errors:
        raise RuleInvalid(errors)
    return {
        "name": name,
        "description": str(data.get("description") or "").strip(),
        "trigger_kind": kind,
        "event_type": event_type,
        "schedule": schedule,
        "condition": condition,
        "actions": actions,
        "priority": priority,
        "enabled": enabled,
    }


# --- compiled rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    condition: expressions.Expression | None
    actions: tuple[tuple[RuleAction | None, str, Any], ...]  # (action, key, params model or error)


_compiled: OrderedDict[tuple[int, int, Any], CompiledRule] = OrderedDict()
_compiled_lock = threading.Lock()


def compiled(rule: Rule) -> CompiledRule:
    """The rule's parsed condition and validated action parameters, cached per (rule, version):
    a version never changes. An action whose type is no longer registered, or whose parameters its
    action now refuses, is kept as an error (recorded when it would run)."""
    cache_key = (rule.pk, rule.version, rule.updated_at)  # updated_at: a recreated database reuses ids
    with _compiled_lock:
        found = _compiled.get(cache_key)
        if found is not None:
            _compiled.move_to_end(cache_key)
            return found
    condition = expressions.parse(rule.condition) if rule.condition.strip() else None
    actions: list[tuple[RuleAction | None, str, Any]] = []
    for item in rule.actions or []:
        key = str(item.get("type", "")) if isinstance(item, Mapping) else ""
        action = rule_actions.get(key)
        if action is None:
            actions.append((None, key, f"unknown action type {key!r}"))
            continue
        try:
            actions.append((action, key, action.params.model_validate(item.get("params") or {})))
        except PydanticValidationError as exc:
            actions.append((None, key, f"parameters refused: {exc.errors(include_url=False)}"[:MAX_ERROR]))
    result = CompiledRule(condition, tuple(actions))
    with _compiled_lock:
        _compiled[cache_key] = result
        while len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
    return result


def event_variables(event: Event | None, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"type": event_type}
    if event is not None:
        info.update(
            id=event.pk,
            key=event.key or "",
            created_at=event.created_at,
            depth=event.depth,
            actor=event.actor.get_username() if event.actor_id and event.actor else event.actor_name,
        )
    return {"event": info, "payload": payload}


def _context(
    rule: Rule,
    event: Event | None,
    event_type: str,
    payload: dict[str, Any],
    *,
    scheduled_for: dt.datetime | None = None,
    dry_run: bool = False,
) -> ActionContext:
    template_vars: dict[str, Any] = {k: v for k, v in payload.items() if isinstance(k, str)}
    template_vars.update(
        event_id=event.pk if event is not None else "", event_type=event_type, rule=rule.name
    )
    if scheduled_for is not None:
        template_vars["scheduled_for"] = timezone.localtime(scheduled_for).strftime("%Y-%m-%d %H:%M")
    return ActionContext(
        event=event,
        event_type=event_type,
        payload=payload,
        rule=rule,
        version=rule.version,
        variables=event_variables(event, event_type, payload),
        template_variables=template_vars,
        scheduled_for=scheduled_for,
        dry_run=dry_run,
    )


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ActionFailed):
        return in_both(exc.message)[1][:MAX_ERROR]
    if isinstance(exc, expressions.ExpressionError):
        return str(exc)[:MAX_ERROR]
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]


def _run_actions(ctx: ActionContext, rule_compiled: CompiledRule) -> list[dict[str, Any]]:
    outcomes: list[dict[str, Any]] = []
    for index, (action, key, params) in enumerate(rule_compiled.actions):
        ctx.action_index = index
        if action is None:
            outcomes.append({"type": key, "ok": False, "error": str(params)})
            continue
        try:
            with transaction.atomic():
                outcome = action.run(ctx, params)
        except Exception as exc:  # recorded in the log; the other actions still run
            log.warning("rule %s action %s failed: %s", ctx.rule.pk, key, exc)
            outcomes.append({"type": key, "ok": False, "error": _error_text(exc)})
            continue
        outcomes.append({"type": key, "ok": True, "outcome": dict(outcome or {})})
    return outcomes


def _chain(event: Event) -> list[int]:
    """The ids of the events up ``event``'s causation chain (nearest first, at most the limit)."""
    ids: list[int] = []
    cause = event.cause_id
    while cause is not None and len(ids) <= MAX_CHAIN_DEPTH:
        ids.append(cause)
        cause = Event.objects.filter(pk=cause).values_list("cause_id", flat=True).first()
    return ids


@dataclass
class ExecutionRow:
    """An execution before it is written (``insert_executions``)."""

    rule_id: int
    rule_version: int
    event_id: int | None
    event_type: str
    scheduled_for: dt.datetime | None
    status: str = RuleExecution.Status.NOT_MATCHED
    matched: bool = False
    actions: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    duration_ms: float = 0.0


def _execute(
    rule: Rule,
    variables: dict[str, Any],
    make_context: Callable[[], ActionContext],
    *,
    event_id: int | None = None,
    event_type: str = "",
    scheduled_for: dt.datetime | None = None,
    loop_check: Callable[[Rule], str | None] | None = None,
) -> ExecutionRow:
    """Evaluate one rule's condition over ``variables`` and, when it holds, run its actions in the
    context ``make_context()`` builds (only then: most rules do not match most events)."""
    started = time.perf_counter()
    row = ExecutionRow(rule.pk, rule.version, event_id, event_type, scheduled_for)
    try:
        rule_compiled = compiled(rule)
        matched = (
            True if rule_compiled.condition is None else bool(rule_compiled.condition.evaluate(variables))
        )
    except expressions.ExpressionError as exc:
        row.status, row.error = RuleExecution.Status.FAILED, f"condition: {exc}"[:MAX_ERROR]
        row.duration_ms = (time.perf_counter() - started) * 1000
        return row
    row.matched = matched
    if matched:
        stopped = loop_check(rule) if loop_check is not None else None
        if stopped:
            row.status, row.error = RuleExecution.Status.STOPPED, stopped
        else:
            row.actions = _run_actions(make_context(), rule_compiled)
            failed = sum(1 for a in row.actions if not a["ok"])
            row.status = (
                RuleExecution.Status.DONE
                if not failed
                else RuleExecution.Status.FAILED
                if failed == len(row.actions)
                else RuleExecution.Status.PARTIAL
            )
    row.duration_ms = (time.perf_counter() - started) * 1000
    return row


def evaluate_event(event: Event) -> None:
    """The ``rules.evaluate`` subscriber: every enabled rule for this event's type, once.

    Logged: one ``RuleExecution`` per rule whose condition held (with its actions' outcomes; it is
    also what keeps a redelivery from running the actions again), raised or was stopped, and one
    ``RuleEvaluation`` for the event naming every rule evaluated and those that did not match."""
    rules = rules_for(event.type)
    if not rules:
        return
    started = time.perf_counter()
    # One query: the rules executed for this event, and 0 (no rule's id) when it has a summary,
    # which is read only then (a redelivery).
    has_summary = (
        RuleEvaluation.objects.filter(event=event).order_by().annotate(none=Value(0)).values_list("none")
    )
    done = {
        rule_id
        for (rule_id,) in RuleExecution.objects.filter(event=event)
        .order_by()
        .values_list("rule_id")
        .union(has_summary, all=True)
    }
    summary = None
    if 0 in done:
        summary = (
            RuleEvaluation.objects.filter(event=event)
            .values("pk", "evaluated", "matched", "not_matched", "stopped", "duration_ms")
            .first()
        )
        if summary is not None:
            done.update(rule_id for rule_id, _version in summary["evaluated"])
    chain: list[int] | None = None
    ran_before: set[int] = set()

    def loop_check(rule: Rule) -> str | None:
        nonlocal chain, ran_before
        if event.depth > MAX_CHAIN_DEPTH:
            return (
                f"stopped: the chain of events caused by one another is {event.depth} deep "
                f"(at most {MAX_CHAIN_DEPTH})"
            )
        if event.cause_id is None:
            return None
        if chain is None:
            chain = _chain(event)
            ran_before = set(
                RuleExecution.objects.filter(event_id__in=chain, matched=True).values_list(
                    "rule_id", flat=True
                )
            )
        if rule.pk in ran_before:
            return "stopped: this rule already ran for an event that caused this one (a loop)"
        return None

    payload = dict(event.payload or {})
    variables = event_variables(event, event.type, payload)  # shared: conditions cannot change it
    rows = []
    for rule in rules:
        if rule.pk in done:
            continue
        rows.append(
            _execute(
                rule,
                variables,
                functools.partial(_context, rule, event, event.type, payload),
                event_id=event.pk,
                event_type=event.type,
                loop_check=loop_check,
            )
        )
    if not rows:
        return
    now = timezone.now()
    insert_executions([r for r in rows if r.status != RuleExecution.Status.NOT_MATCHED], now=now)
    evaluated = [[r.rule_id, r.rule_version] for r in rows]
    matched = [r.rule_id for r in rows if r.matched]
    not_matched = [r.rule_id for r in rows if r.status == RuleExecution.Status.NOT_MATCHED]
    stopped = [r.rule_id for r in rows if r.status == RuleExecution.Status.STOPPED]
    duration = (time.perf_counter() - started) * 1000
    if summary is None:
        RuleEvaluation.objects.bulk_create(
            [
                RuleEvaluation(
                    event_id=event.pk,
                    event_type=event.type,
                    evaluated=evaluated,
                    matched=matched,
                    not_matched=not_matched,
                    not_matched_count=len(not_matched),
                    stopped=stopped,
                    duration_ms=duration,
                )
            ]
        )
    else:  # a redelivery that evaluated rules enabled since the first delivery
        not_matched = summary["not_matched"] + not_matched
        RuleEvaluation.objects.filter(pk=summary["pk"]).update(
            evaluated=summary["evaluated"] + evaluated,
            matched=summary["matched"] + matched,
            not_matched=not_matched,
            not_matched_count=len(not_matched),
            stopped=summary["stopped"] + stopped,
            duration_ms=summary["duration_ms"] + duration,
        )


# The enabled rules of an event type, cached in this process while the database says they have not
# changed: one small aggregate query per event instead of loading every rule (the count catches a
# rule deleted, the latest ``updated_at`` one changed, enabled or disabled).
_by_type: dict[str, tuple[tuple[int, Any], list[Rule]]] = {}
_by_type_lock = threading.Lock()


def rules_for(event_type: str) -> list[Rule]:
    qs = Rule.objects.filter(enabled=True, trigger_kind=Rule.TriggerKind.EVENT, event_type=event_type)
    stamp = qs.aggregate(n=Count("id"), last=Max("updated_at"))
    key = (stamp["n"], stamp["last"])
    with _by_type_lock:
        cached = _by_type.get(event_type)
    if cached is not None and cached[0] == key:
        return cached[1]
    if not key[0]:
        rules: list[Rule] = []
    else:
        rules = list(qs.order_by("priority", "id"))
    with _by_type_lock:
        _by_type[event_type] = (key, rules)
    return rules


def insert_executions(rows: list[ExecutionRow], *, now: dt.datetime | None = None) -> None:
    """The rows inserted without the ORM's per-field work (several rules may match one event); the
    unique (event, rule) constraint still guards against a second run."""
    if not rows:
        return
    now = now or timezone.now()
    table = RuleExecution._meta.db_table
    columns = (
        "rule_id",
        "rule_version",
        "event_id",
        "event_type",
        "scheduled_for",
        "status",
        "matched",
        "actions",
        "error",
        "duration_ms",
        "created_at",
    )
    ops = connection.ops
    created = ops.adapt_datetimefield_value(now)
    values = [
        (
            r.rule_id,
            r.rule_version,
            r.event_id,
            r.event_type,
            ops.adapt_datetimefield_value(r.scheduled_for),
            r.status,
            r.matched,
            json.dumps(r.actions, ensure_ascii=False, default=str),
            r.error,
            r.duration_ms,
            created,
        )
        for r in rows
    ]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # Table and column names are our own constants; every value is a parameter. ``executemany``
    # sends the rows in one pipeline on PostgreSQL (psycopg 3) and one prepared loop on SQLite.
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {placeholders}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


# --- schedules ------------------------------------------------------------------------------------


def next_run(schedule: str, after: dt.datetime | None = None) -> dt.datetime:
    return parse_cron(schedule).next_after(after or timezone.now())


def _same(ctx: ActionContext) -> ActionContext:
    return ctx


def cron_job() -> int:
    """Fire the scheduled rules that are due (the worker's periodic job ``rules.cron``)."""
    now = timezone.now()
    due = list(
        Rule.objects.filter(enabled=True, trigger_kind=Rule.TriggerKind.SCHEDULE, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("pk", flat=True)[:CRON_BATCH]
    )
    fired = 0
    for pk in due:
        try:
            with transaction.atomic():
                rule = (
                    Rule.objects.select_for_update(skip_locked=True)
                    .filter(pk=pk, enabled=True, next_run_at__lte=now)
                    .first()
                )
                if rule is None or rule.next_run_at is None:
                    continue
                scheduled = rule.next_run_at
                try:
                    rule.next_run_at = next_run(rule.schedule, now)
                except CronError:
                    rule.next_run_at = None
                rule.save(update_fields=["next_run_at"])
                if RuleExecution.objects.filter(rule=rule, scheduled_for=scheduled).exists():
                    continue  # fired already (a worker that read the old due time)
                ctx = _context(rule, None, "", {}, scheduled_for=scheduled)
                ctx.variables["event"].update(scheduled_for=scheduled, type="schedule")
                row = _execute(rule, ctx.variables, functools.partial(_same, ctx), scheduled_for=scheduled)
                insert_executions([row])
        except IntegrityError:  # another worker fired this due time at the same moment: all undone
            continue
        fired += 1
    return fired


# --- dry run --------------------------------------------------------------------------------------


def _condition_parts(expr: expressions.Expression) -> list[str]:
    """The operands of a top-level ``and``/``or`` as source text (of the translated expression)."""
    try:
        tree = ast.parse(expr.python, mode="eval")
    except SyntaxError:
        return []
    body = tree.body
    if not isinstance(body, ast.BoolOp):
        return []
    parts = [ast.get_source_segment(expr.python, value) for value in body.values]
    return [p for p in parts if p]


def dry_run(
    rule: Rule, *, payload: dict[str, Any] | None = None, event: Event | None = None
) -> dict[str, Any]:
    """What ``rule`` would do for ``event`` (a past event) or a pasted ``payload``: nothing is
    written, no one is notified."""
    if event is not None:
        event_type, data = event.type, dict(event.payload or {})
    else:
        event_type, data = rule.event_type, dict(payload or {})
    ctx = _context(rule, event, event_type, data, dry_run=True)
    result: dict[str, Any] = {"rule": rule.pk, "version": rule.version, "event": event.pk if event else None}
    rule_compiled = compiled(rule)
    parts_out: list[dict[str, Any]] = []
    value: Any = True
    error = ""
    if rule_compiled.condition is not None:
        for part in _condition_parts(rule_compiled.condition):
            try:
                parts_out.append({"source": part, "value": bool(expressions.evaluate(part, ctx.variables))})
            except expressions.ExpressionError as exc:
                parts_out.append({"source": part, "value": None, "error": str(exc)})
        try:
            value = bool(rule_compiled.condition.evaluate(ctx.variables))
        except expressions.ExpressionError as exc:
            value, error = None, str(exc)
    result["condition"] = {
        "source": rule.condition,
        "value": value,
        "error": error,
        "parts": parts_out,
    }
    result["matched"] = value is True
    actions_out = []
    for index, (action, key, params) in enumerate(rule_compiled.actions):
        ctx.action_index = index
        row: dict[str, Any] = {"type": key, "label": str(action.label) if action else key}
        if action is None:
            row.update(would_run=False, error=str(params))
        else:
            row["params"] = params.model_dump(mode="json") if isinstance(params, BaseModel) else {}
            row["would_run"] = result["matched"]
            try:
                row["preview"] = dict(action.preview(ctx, params)) if action.preview else row["params"]
            except Exception as exc:
                row["error"] = _error_text(exc)
        actions_out.append(row)
    result["actions"] = actions_out
    return result
