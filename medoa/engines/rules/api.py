"""The rule engine's REST API: /api/v1/rules and /api/v1/decisions.

Decisions (DMN)
    ``POST /decisions`` — deploy a DMN file: the XML as the raw request body
    (``Content-Type: application/xml`` or ``text/xml``, as for BPMN at /api/v1/flow/definitions) or
    as JSON ``{"xml": "<definitions …>"}``; needs ``rules.decision.design``. Answers 201 with
    ``{"key", "version", …}``, or with a list of them when the file has several decisions (a DRD).
    A file with a problem answers 400 with every problem under ``problems`` (``message``,
    ``message_en``, ``element_type``, ``element_id``, ``line``) and deploys nothing.
    ``GET /decisions``, ``GET /decisions/{key}`` — deployed decisions (inputs, outputs, versions).
    ``POST /decisions/{key}/evaluate`` — ``{"inputs": {…}, "version"?: n}`` → ``outputs``: an
    object for single-hit policies (UNIQUE, FIRST, PRIORITY, ANY) and literal expressions, a list
    of objects for COLLECT, RULE ORDER and OUTPUT ORDER, an object with the aggregate for COLLECT
    with SUM/MIN/MAX/COUNT; ``matched_rules`` and the required decisions' results come with it.
    A decision without an answer (two rules of a UNIQUE table match …) answers 422.

Rules (event-condition-action)
    ``GET /rules`` (``rules.rule.view``), ``POST /rules`` and ``PUT /rules/{id}`` (``rules.rule.design``)
    with ``{"name", "trigger_kind", "event_type" | "schedule", "condition", "actions": [{"type",
    "params"}], "priority", "enabled", "description"}`` — a refused rule answers 422 with every field
    at fault (a condition's syntax error with ``position``, ``line``, ``column``) and writes nothing.
    ``GET /rules/{id}`` (with its versions), ``POST /rules/{id}/dry-run`` with ``{"payload": {…}}`` or
    ``{"event_id": n}``, ``GET /rules/executions`` (filters ``rule``, ``status``, ``event``,
    ``event_type``), ``GET /rules/actions`` (the registered action types and their parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict
from pydantic import ValidationError as PydanticValidationError

from medoa.core.access.models import User
from medoa.core.apierrors import MESSAGES, in_both, translate_error

from . import selectors, services
from .dmn import MAX_XML_BYTES, DmnEvaluationError, DmnInvalid, DmnProblem
from .errors import RuleInvalid, RulesError, RulesInputError, RulesNotFound, RulesPermissionDenied
from .models import DecisionDefinition, DecisionVersion, Rule
from .registry import rule_actions

rules_router = Router(tags=["rules"])
decisions_router = Router(tags=["decisions"])

T = TypeVar("T")
MAX_EVALUATE_BYTES = 256 * 1024
XML_TYPES = ("application/xml", "text/xml", "application/dmn+xml")


# --- schemas --------------------------------------------------------------------------------------


class ErrorOut(Schema):
    detail: str
    detail_en: str


class FieldErrorOut(Schema):
    field: str
    message: str
    message_en: str
    type: str


class InvalidOut(ErrorOut):
    errors: list[FieldErrorOut] = []


class ProblemOut(Schema):
    message: str = Field(..., description="The problem, in Chinese where a translation exists")
    message_en: str
    element_type: str
    element_id: str
    line: int | None


class DeployInvalidOut(ErrorOut):
    problems: list[ProblemOut]


class DeployedOut(Schema):
    key: str
    version: int
    id: int
    name: str
    hit_policy: str
    requires: list[str]


class DeployIn(Schema):
    model_config = ConfigDict(extra="forbid")
    xml: str = Field(..., max_length=MAX_XML_BYTES, description="The DMN XML")


class EvaluateIn(Schema):
    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Input names and values (JSON)")
    version: int | None = Field(None, ge=1, description="A deployed version (default: the latest)")


class MatchedRuleOut(Schema):
    id: str
    number: int
    outputs: dict[str, Any]


class EvaluationOut(Schema):
    key: str
    version: int
    decision: str
    name: str
    hit_policy: str
    aggregation: str
    outputs: Any = Field(..., description="An object (single hit), a list of objects (multiple hits) or null")
    inputs: dict[str, Any]
    matched_rules: list[MatchedRuleOut]
    selected_rules: list[int]
    default_used: bool
    required: dict[str, Any]


class ClauseOut(Schema):
    id: str
    label: str
    type_ref: str
    expression: str | None = None
    name: str | None = None


class VersionOut(Schema):
    version: int
    name: str
    hit_policy: str
    aggregation: str
    checksum: str
    deployed_at: Any
    deployed_by: str | None


class DecisionOut(Schema):
    key: str
    name: str
    version: int | None
    hit_policy: str
    aggregation: str
    kind: str
    inputs: list[ClauseOut]
    outputs: list[ClauseOut]
    requires: list[str]
    deployed_at: Any


class DecisionDetailOut(DecisionOut):
    versions: list[VersionOut]
    deployed_with: list[str]


# --- errors ---------------------------------------------------------------------------------------


def _http_error(status: int, message: Any, **extra: Any) -> HttpError:
    error = HttpError(status, message)
    if extra:
        error.extra = extra  # type: ignore[attr-defined]
    return error


def _field_error(field: str, message: Any, *, kind: str = "invalid") -> dict[str, str]:
    zh, en = in_both(message)
    return {"field": field, "message": zh, "message_en": en, "type": kind}


def _problems_error(problems: list[DmnProblem]) -> HttpError:
    rows = []
    for problem in problems:
        zh, _en = in_both(problem.msgid, dict(problem.params))
        rows.append(
            {
                "message": zh,
                "message_en": problem.message_en,
                "element_type": problem.element_type,
                "element_id": problem.element_id,
                "line": problem.line,
            }
        )
    return _http_error(400, _("The DMN file cannot be deployed; nothing was changed."), problems=rows)


def _evaluation_error(exc: DmnEvaluationError) -> HttpError:
    zh, _en = in_both(exc.msgid, exc.params)
    row = {"field": "inputs", "message": zh, "message_en": exc.message_en, "type": "decision"}
    return _http_error(
        422,
        _("The decision has no answer for these inputs."),
        errors=[row],
        decision=exc.decision_id,
        rule_ids=exc.rule_ids,
    )


def _call(fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        return fn(**kwargs)
    except RulesPermissionDenied as exc:
        raise _http_error(403, exc.message) from None
    except RulesNotFound as exc:
        raise _http_error(404, exc.message) from None
    except RuleInvalid as exc:
        raise _http_error(422, exc.message, errors=exc.errors) from None
    except RulesInputError as exc:
        raise _http_error(422, exc.message, errors=[_field_error(exc.field or "", exc.message)]) from None
    except RulesError as exc:
        raise _http_error(422, exc.message) from None
    except DmnInvalid as exc:
        raise _problems_error(exc.problems) from None
    except DmnEvaluationError as exc:
        raise _evaluation_error(exc) from None


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise _http_error(401, _("Authentication required: send a valid bearer token."))
    return user


def _content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except (TypeError, ValueError):
        return 0


def _json_body(request: HttpRequest, schema: type[Schema], limit: int) -> Any:
    if _content_length(request) > limit or len(request.body) > limit:
        raise _http_error(413, _("The request is too large."))
    raw = request.body
    try:
        return schema.model_validate_json(raw if raw.strip() else b"{}")
    except PydanticValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            errors = [translate_error({"type": "json_invalid", "loc": ("body",)})]
            raise _http_error(400, MESSAGES["json_invalid"], errors=errors) from None
        errors = [
            translate_error(
                {**err, "loc": ("body", "payload", *err["loc"])}, (err.get("ctx") or {}).get("error")
            )
            for err in exc.errors(include_url=False)
        ]
        raise _http_error(422, _("The request is not valid."), errors=errors) from None


def _read_dmn(request: HttpRequest) -> bytes | str:
    content_type = (request.content_type or "").lower()
    if content_type in XML_TYPES:
        if _content_length(request) > MAX_XML_BYTES or len(request.body) > MAX_XML_BYTES:
            raise _http_error(413, _("The DMN file is too large (at most 2 MB)."))
        return request.body
    if content_type == "application/json":
        body = _json_body(request, DeployIn, MAX_XML_BYTES * 2)
        return str(body.xml)
    message = _('Send the DMN XML as the request body (Content-Type: application/xml) or as JSON {"xml": …}.')
    raise _http_error(415, message, errors=[_field_error("body", message, kind="content_type")])


# --- shaping --------------------------------------------------------------------------------------


def _clauses(rows: Any) -> list[dict[str, Any]]:
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _decision_out(definition: DecisionDefinition) -> dict[str, Any]:
    latest = definition.latest_version
    meta = latest.metadata if latest is not None and isinstance(latest.metadata, dict) else {}
    return {
        "key": definition.key,
        "name": definition.name,
        "version": latest.version if latest else None,
        "hit_policy": latest.hit_policy if latest else "",
        "aggregation": latest.aggregation if latest else "",
        "kind": meta.get("kind", ""),
        "inputs": _clauses(meta.get("inputs")),
        "outputs": _clauses(meta.get("outputs")),
        "requires": list(meta.get("requires") or []),
        "deployed_at": latest.deployed_at if latest else None,
    }


def _version_out(version: DecisionVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "name": version.name,
        "hit_policy": version.hit_policy,
        "aggregation": version.aggregation,
        "checksum": version.checksum,
        "deployed_at": version.deployed_at,
        "deployed_by": version.deployed_by.get_username() if version.deployed_by else None,
    }


def _deployed_out(version: DecisionVersion) -> dict[str, Any]:
    meta = version.metadata if isinstance(version.metadata, dict) else {}
    return {
        "key": version.definition.key,
        "version": version.version,
        "id": version.pk,
        "name": version.name,
        "hit_policy": version.hit_policy,
        "requires": list(meta.get("requires") or []),
    }


# --- decisions ------------------------------------------------------------------------------------

DEPLOY_BODY = {
    "requestBody": {
        "content": {
            "application/xml": {"schema": {"type": "string", "description": "DMN 1.1–1.5 XML"}},
            "application/json": {
                "schema": {"type": "object", "required": ["xml"], "properties": {"xml": {"type": "string"}}}
            },
        }
    }
}


@decisions_router.post(
    "",
    response={
        201: DeployedOut | list[DeployedOut],
        400: DeployInvalidOut | InvalidOut,
        401: ErrorOut,
        403: ErrorOut,
        413: ErrorOut,
        415: InvalidOut,
        422: InvalidOut,
    },
    summary="Deploy a DMN file (a new version of each decision in it)",
    description="Send DMN 1.1–1.5 XML as the request body (`Content-Type: application/xml`) or as JSON "
    '`{"xml": "…"}`. The key of a decision is its DMN id. One decision answers `{"key", "version", …}`; '
    "a file with several decisions (a DRD) deploys them all and answers a list. A file with problems "
    "answers 400 with every problem under `problems` (`message`, `element_type`, `element_id`, `line`).",
    openapi_extra=DEPLOY_BODY,
)
def decisions_deploy(request: HttpRequest) -> Any:
    user = _user(request)
    if not selectors.may_design(user):
        raise _http_error(403, _("You may not deploy decision tables."))
    xml = _read_dmn(request)
    versions = _call(services.decision_deploy, actor=user, xml=xml)
    rows = [_deployed_out(v) for v in versions]
    return Status(201, rows[0] if len(rows) == 1 else rows)


@decisions_router.get(
    "",
    response={200: list[DecisionOut], 401: ErrorOut},
    summary="Deployed decisions (empty without the permission to evaluate them)",
)
def decisions_list(request: HttpRequest) -> Any:
    user = _user(request)
    return [_decision_out(d) for d in selectors.decision_list(user=user)]


@decisions_router.get(
    "/{key}",
    response={200: DecisionDetailOut, 401: ErrorOut, 404: ErrorOut},
    summary="One decision: inputs, outputs, the decisions it requires, every version",
)
def decisions_get(request: HttpRequest, key: str) -> Any:
    user = _user(request)
    definition = _call(selectors.decision_get, user=user, key=key)
    out = _decision_out(definition)
    latest = definition.latest_version
    meta = latest.metadata if latest is not None and isinstance(latest.metadata, dict) else {}
    out["deployed_with"] = list(meta.get("deployed_with") or [])
    out["versions"] = [_version_out(v) for v in selectors.decision_versions(definition=definition)]
    return out


@decisions_router.post(
    "/{key}/evaluate",
    response={
        200: EvaluationOut,
        400: InvalidOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        413: ErrorOut,
        422: InvalidOut,
    },
    summary="Evaluate a decision with inputs",
    description='Send `{"inputs": {name: value, …}, "version": n?}`. `outputs` is an object for the '
    "single-hit policies (UNIQUE, FIRST, PRIORITY, ANY) and literal expressions (null when no rule "
    "matched and no output has a default), a list of objects for COLLECT, RULE ORDER and OUTPUT ORDER, "
    "an object with the aggregate for COLLECT with SUM, MIN, MAX or COUNT. The decisions it requires are "
    "evaluated first (their results under `required`). No answer (two rules of a UNIQUE table match, "
    "ANY rules disagree …) is a 422 naming the decision and the rules.",
)
def decisions_evaluate(request: HttpRequest, key: str) -> Any:
    user = _user(request)
    if not selectors.may_evaluate(user):
        raise _http_error(403, _("You may not evaluate decisions."))
    body = _json_body(request, EvaluateIn, MAX_EVALUATE_BYTES)
    version, result = _call(
        services.decision_evaluate, actor=user, key=key, inputs=body.inputs, version=body.version
    )
    return {"key": version.definition.key, "version": version.version, **result.as_dict()}


# --- rules ----------------------------------------------------------------------------------------

MAX_RULE_BYTES = 256 * 1024


class RuleActionIn(Schema):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(..., max_length=100, description="a registered action type (GET /rules/actions)")
    params: dict[str, Any] = Field(default_factory=dict)


class RuleIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., max_length=200)
    description: str = Field("", max_length=4000)
    trigger_kind: str = Field("event", description="event or schedule")
    event_type: str = Field("", max_length=100, description="the triggering event type (trigger_kind event)")
    schedule: str = Field(
        "", max_length=100, description="five-field cron, local time (trigger_kind schedule)"
    )
    condition: str = Field("", max_length=2000, description="a safe expression over event and payload")
    actions: list[RuleActionIn] = Field(..., max_length=20)
    priority: int = Field(100, description="lower runs first")
    enabled: bool = False


class RuleVersionOut(Schema):
    version: int
    data: dict[str, Any]
    saved_at: Any
    saved_by: str | None


class RuleOut(Schema):
    id: int
    name: str
    description: str
    trigger_kind: str
    event_type: str
    schedule: str
    condition: str
    actions: list[dict[str, Any]]
    priority: int
    enabled: bool
    version: int
    next_run_at: Any
    updated_at: Any
    updated_by: str | None


class RuleDetailOut(RuleOut):
    versions: list[RuleVersionOut]


class DryRunIn(Schema):
    model_config = ConfigDict(extra="forbid")
    payload: dict[str, Any] | None = Field(None, description="a pasted payload of the rule's event type")
    event_id: int | None = Field(None, ge=1, description="a past event")


class ExecutionOut(Schema):
    id: int | None = Field(description="the RuleExecution's id; null for a not-matched evaluation")
    evaluation: int | None = Field(description="the event's RuleEvaluation summary, for a not-matched one")
    rule: int
    rule_name: str
    rule_version: int
    event: int | None
    event_type: str
    scheduled_for: Any
    status: str
    matched: bool
    actions: list[dict[str, Any]]
    error: str
    duration_ms: float | None
    created_at: Any


class ActionTypeOut(Schema):
    type: str
    label: str
    description: str
    publishes: list[str]
    params_schema: dict[str, Any]


def _rule_out(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        **{name: getattr(rule, name) for name in services.RULE_FIELDS},
        "version": rule.version,
        "next_run_at": rule.next_run_at,
        "updated_at": rule.updated_at,
        "updated_by": rule.updated_by.get_username() if rule.updated_by else None,
    }


def _execution_out(row: selectors.LogEntry) -> dict[str, Any]:
    return {
        "id": row.execution,
        "evaluation": row.evaluation,
        "rule": row.rule_id,
        "rule_name": row.rule_name,
        "rule_version": row.rule_version,
        "event": row.event_id,
        "event_type": row.event_type,
        "scheduled_for": row.scheduled_for,
        "status": row.status,
        "matched": row.matched,
        "actions": row.actions,
        "error": row.error,
        "duration_ms": row.duration_ms,
        "created_at": row.created_at,
    }


def _may_view(user: User) -> None:
    if not selectors.may_view_rules(user):
        raise _http_error(403, _("You may not see rules."))


def _may_design(user: User) -> None:
    if not selectors.may_design_rules(user):
        raise _http_error(403, _("You may not design rules."))


@rules_router.get(
    "",
    response={200: list[RuleOut], 401: ErrorOut, 403: ErrorOut},
    summary="Rules, by priority (filters: q, enabled, event_type)",
)
def rules_list(request: HttpRequest, q: str = "", enabled: bool | None = None, event_type: str = "") -> Any:
    user = _user(request)
    _may_view(user)
    rules = selectors.rule_list(user=user, q=q, enabled=enabled, event_type=event_type)
    return [_rule_out(r) for r in rules[:500]]


@rules_router.post(
    "",
    response={201: RuleOut, 400: InvalidOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: InvalidOut},
    summary="Create a rule",
    description="A refused rule answers 422 with every field at fault under `errors` (`field` like "
    "`condition` or `actions.0.params.title`; a condition's syntax error also has `position`, `line`, "
    "`column`). Nothing is written then.",
)
def rules_create(request: HttpRequest) -> Any:
    user = _user(request)
    _may_design(user)
    body = _json_body(request, RuleIn, MAX_RULE_BYTES)
    rule = _call(services.rule_create, actor=user, data=body.model_dump())
    return Status(201, _rule_out(rule))


@rules_router.get(
    "/actions",
    response={200: list[ActionTypeOut], 401: ErrorOut, 403: ErrorOut},
    summary="The registered action types and the JSON schema of their parameters",
)
def rules_action_types(request: HttpRequest) -> Any:
    user = _user(request)
    _may_view(user)
    return [
        {
            "type": a.key,
            "label": str(a.label),
            "description": str(a.description),
            "publishes": list(a.publishes),
            "params_schema": a.params.model_json_schema(),
        }
        for a in rule_actions
    ]


@rules_router.get(
    "/executions",
    response={200: list[ExecutionOut], 401: ErrorOut, 403: ErrorOut},
    summary="The execution log, newest first (filters: rule, status, event, event_type; 200 a page)",
    description="The rules that matched (with their actions), raised or were stopped, and the rules "
    "evaluated whose condition did not hold (`status` `not_matched`, `id` null, `evaluation` the "
    "event's summary): was rule R evaluated for event E, and did it match? `?rule=R&event=E`.",
)
def rules_executions(
    request: HttpRequest,
    rule: int | None = None,
    status: str = "",
    event: int | None = None,
    event_type: str = "",
    page: int = Query(1, ge=1, le=1000),
) -> Any:
    user = _user(request)
    _may_view(user)
    entries = selectors.execution_log(
        user=user, rule_id=rule, status=status, event_id=event, event_type=event_type
    )
    return [_execution_out(r) for r in entries[(page - 1) * 200 : page * 200]]


@rules_router.get(
    "/{rule_id}",
    response={200: RuleDetailOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="One rule with its version history",
)
def rules_get(request: HttpRequest, rule_id: int) -> Any:
    user = _user(request)
    _may_view(user)
    rule = _call(selectors.rule_get, user=user, rule_id=rule_id)
    out = _rule_out(rule)
    out["versions"] = [
        {
            "version": v.version,
            "data": v.data,
            "saved_at": v.saved_at,
            "saved_by": v.saved_by.get_username() if v.saved_by else None,
        }
        for v in selectors.rule_versions(rule=rule)
    ]
    return out


@rules_router.put(
    "/{rule_id}",
    response={
        200: RuleOut,
        400: InvalidOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        413: ErrorOut,
        422: InvalidOut,
    },
    summary="Replace a rule's content (the next version)",
)
def rules_update(request: HttpRequest, rule_id: int) -> Any:
    user = _user(request)
    _may_design(user)
    body = _json_body(request, RuleIn, MAX_RULE_BYTES)
    rule = _call(services.rule_update, actor=user, rule_id=rule_id, data=body.model_dump())
    return _rule_out(rule)


@rules_router.post(
    "/{rule_id}/dry-run",
    response={
        200: dict[str, Any],
        400: InvalidOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        422: InvalidOut,
    },
    summary="What the rule would do for a pasted payload or a past event (nothing is executed)",
)
def rules_dry_run(request: HttpRequest, rule_id: int) -> Any:
    user = _user(request)
    _may_design(user)
    body = _json_body(request, DryRunIn, MAX_RULE_BYTES)
    return _call(
        services.rule_dry_run, actor=user, rule_id=rule_id, payload=body.payload, event_id=body.event_id
    )


__all__ = ["decisions_router", "rules_router"]
