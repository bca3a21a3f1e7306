"""Writes and evaluations of DMN decisions.

* :func:`decision_deploy` — parse, check and deploy a DMN file: a new version of every decision in
  it (a DRD deploys them all), audited; nothing is written when the file has a problem.
* :func:`decision_evaluate` — evaluate a deployed decision for a person (permission checked).
* :func:`decision_run` — the same for the engines (a BPMN business-rule task, a rule's action):
  no person, no permission check; the caller answers for what it evaluates.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from medoa.core.audit.services import audit_record
from medoa.core.events.errors import EventPayloadInvalid, UnknownEventType
from medoa.core.events.models import Event
from medoa.core.events.registry import event_types

from . import engine
from .dmn import (
    MAX_XML_BYTES,
    DecisionResult,
    DmnInvalid,
    DmnModel,
    DmnProblem,
    evaluate_decision,
    parse_dmn,
)
from .errors import RuleInvalid, RulesInputError, RulesNotFound, RulesPermissionDenied
from .models import DecisionDefinition, DecisionVersion, Rule, RuleVersion
from .selectors import may_design, may_design_rules, may_evaluate

__all__ = [
    "KEY_RE",
    "MAX_INPUT_NAMES",
    "decision_deploy",
    "decision_evaluate",
    "decision_model",
    "decision_run",
    "rule_create",
    "rule_dry_run",
    "rule_update",
]

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")
MAX_INPUT_NAMES = 500
_CACHE_SIZE = 256
_models: OrderedDict[str, DmnModel] = OrderedDict()
_models_lock = threading.Lock()


def decision_model(version: DecisionVersion) -> DmnModel:
    """The compiled model of ``version``'s file (cached by checksum: versions never change)."""
    with _models_lock:
        model = _models.get(version.checksum)
        if model is not None:
            _models.move_to_end(version.checksum)
            return model
    model = parse_dmn(version.dmn_xml)
    with _models_lock:
        _models[version.checksum] = model
        while len(_models) > _CACHE_SIZE:
            _models.popitem(last=False)
    return model


def _text_of(xml: bytes | str) -> str:
    if isinstance(xml, bytes):
        if len(xml) > MAX_XML_BYTES:
            raise DmnInvalid(
                [
                    DmnProblem(
                        gettext_noop("the DMN file is larger than %(max)s MB"),
                        {"max": MAX_XML_BYTES // 2**20},
                    )
                ]
            )
        try:
            return xml.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DmnInvalid([DmnProblem(gettext_noop("the DMN file is not UTF-8 text"))]) from None
    if not isinstance(xml, str):
        raise RulesInputError(_("Send the DMN XML as text."), field="xml")
    if "\x00" in xml:
        raise DmnInvalid([DmnProblem(gettext_noop("the DMN file contains NUL characters"))])
    return xml


def _metadata(model: DmnModel, decision_id: str) -> dict[str, Any]:
    decision = model.decisions[decision_id]
    meta: dict[str, Any] = {
        "kind": decision.kind,
        "requires": list(decision.required),
        "deployed_with": [d for d in model.decisions if d != decision_id],
        "dmn_version": model.dmn_version,
        "definitions_id": model.id,
    }
    if decision.table is not None:
        meta["inputs"] = [
            {"id": i.id, "label": i.label, "expression": i.expression, "type_ref": i.type_ref}
            for i in decision.table.inputs
        ]
        meta["outputs"] = [
            {"id": o.id, "name": o.name, "label": o.label, "type_ref": o.type_ref}
            for o in decision.table.outputs
        ]
        meta["rules"] = len(decision.table.rules)
    else:
        assert decision.literal is not None
        meta["inputs"] = []
        meta["outputs"] = [
            {"id": decision.literal.id, "name": decision.variable, "label": decision.name, "type_ref": ""}
        ]
        meta["expression"] = decision.literal.text
    return meta


@transaction.atomic
def decision_deploy(*, actor: Any, xml: bytes | str) -> list[DecisionVersion]:
    """Deploy every decision of a DMN file as the next version of its key (the decision's id).

    Raises ``DmnInvalid`` listing every problem (nothing is written then), ``RulesPermissionDenied``
    without ``rules.decision.design``. Returns the new versions in the file's order."""
    if not may_design(actor):
        raise RulesPermissionDenied(_("You may not deploy decision tables."))
    text = _text_of(xml)
    model = parse_dmn(text)
    bad = [
        DmnProblem(
            gettext_noop(
                "the decision id “%(id)s” cannot be a key (letters, digits, _ . and -, at most 128)"
            ),
            {"id": did[:140]},
            element_type="decision",
            element_id=did,
            line=decision.line,
        )
        for did, decision in model.decisions.items()
        if not KEY_RE.fullmatch(did)
    ]
    if bad:
        raise DmnInvalid(bad)
    checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
    keys = list(model.decisions)
    existing = {d.key: d for d in DecisionDefinition.objects.select_for_update().filter(key__in=keys)}
    versions: list[DecisionVersion] = []
    for did in keys:
        decision = model.decisions[did]
        definition = existing.get(did)
        if definition is None:
            definition = DecisionDefinition.objects.create(
                key=did, name=decision.name[:200], created_by=actor
            )
        number = (definition.versions.aggregate(top=Max("version"))["top"] or 0) + 1
        version = DecisionVersion.objects.create(
            definition=definition,
            version=number,
            name=decision.name[:200],
            hit_policy=decision.hit_policy,
            aggregation=decision.aggregation,
            dmn_xml=text,
            checksum=checksum,
            metadata=_metadata(model, did),
            deployed_by=actor,
        )
        definition.latest_version = version
        definition.name = decision.name[:200]
        definition.save(update_fields=["latest_version", "name"])
        audit_record(
            actor=actor,
            action="rules.decision.deployed",
            target=version,
            details={"key": did, "version": number, "checksum": checksum, "deployed_with": keys},
        )
        versions.append(version)
    with _models_lock:
        _models[checksum] = model
    return versions


def _version_for(key: str, version: int | None) -> DecisionVersion:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise RulesNotFound(_("There is no such decision."))
    qs = DecisionVersion.objects.select_related("definition")
    if version is None:
        found = qs.filter(definition__key=key, definition__latest_version=F("pk")).first()
    else:
        found = qs.filter(definition__key=key, version=version).first()
    if found is None:
        raise RulesNotFound(
            _("There is no such decision.") if version is None else _("This decision has no such version.")
        )
    return found


def _check_inputs(inputs: Any) -> Mapping[str, Any]:
    if not isinstance(inputs, Mapping):
        raise RulesInputError(_("The inputs must be an object of names and values."), field="inputs")
    if len(inputs) > MAX_INPUT_NAMES:
        raise RulesInputError(_("Too many inputs (at most 500 names)."), field="inputs")
    return inputs


def decision_run(*, key: str, inputs: Mapping[str, Any], version: int | None = None) -> DecisionResult:
    """Evaluate the deployed decision ``key`` (its latest version, or ``version``) for an engine.

    Raises ``RulesNotFound``, ``RulesInputError`` (inputs not a mapping) and
    ``dmn.DmnEvaluationError`` (the decision has no answer: read its ``message``)."""
    inputs = _check_inputs(inputs)
    found = _version_for(key, version)
    return evaluate_decision(decision_model(found), found.definition.key, inputs)


def decision_evaluate(
    *, actor: Any, key: str, inputs: Mapping[str, Any], version: int | None = None
) -> tuple[DecisionVersion, DecisionResult]:
    """Evaluate the deployed decision ``key`` for a person with ``rules.decision.evaluate`` (or the
    designer's permission); returns the version used and the result."""
    if not may_evaluate(actor):
        raise RulesPermissionDenied(_("You may not evaluate decisions."))
    inputs = _check_inputs(inputs)
    found = _version_for(key, version)
    return found, evaluate_decision(decision_model(found), found.definition.key, inputs)


# --- event-condition-action rules -----------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "description",
    "trigger_kind",
    "event_type",
    "schedule",
    "condition",
    "actions",
    "priority",
    "enabled",
)


def _rule_snapshot(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_FIELDS}


def _save_version(rule: Rule, actor: Any) -> None:
    RuleVersion.objects.create(rule=rule, version=rule.version, data=_rule_snapshot(rule), saved_by=actor)


def _schedule_next(rule: Rule) -> None:
    if rule.enabled and rule.trigger_kind == Rule.TriggerKind.SCHEDULE:
        rule.next_run_at = engine.next_run(rule.schedule)
    else:
        rule.next_run_at = None


@transaction.atomic
def rule_create(*, actor: Any, data: Mapping[str, Any], template_key: str = "") -> Rule:
    """A new rule (version 1) from ``data``; ``RuleInvalid`` names every field at fault and nothing
    is written. Needs ``rules.rule.design``."""
    if not may_design_rules(actor):
        raise RulesPermissionDenied(_("You may not design rules."))
    clean = engine.rule_check(data)
    rule = Rule(**clean, version=1, created_by=actor, updated_by=actor, template_key=template_key)
    _schedule_next(rule)
    rule.save()
    _save_version(rule, actor)
    audit_record(actor=actor, action="rules.rule.created", target=rule, details=_rule_snapshot(rule))
    return rule


@transaction.atomic
def rule_update(*, actor: Any, rule_id: int, data: Mapping[str, Any]) -> Rule:
    """Replace the rule's content with ``data`` (all fields; the same checks as ``rule_create``):
    the next version, kept in its history. Saving unchanged content writes no version."""
    if not may_design_rules(actor):
        raise RulesPermissionDenied(_("You may not design rules."))
    rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise RulesNotFound(_("There is no such rule."))
    clean = engine.rule_check(data)
    before = _rule_snapshot(rule)
    if clean == before:
        return rule
    for name, value in clean.items():
        setattr(rule, name, value)
    rule.version += 1
    rule.updated_by = actor
    _schedule_next(rule)
    rule.save()
    _save_version(rule, actor)
    changed = {k: clean[k] for k in RULE_FIELDS if clean[k] != before[k]}
    audit_record(
        actor=actor,
        action="rules.rule.updated",
        target=rule,
        details={"version": rule.version, "changed": changed},
    )
    return rule


def rule_dry_run(
    *, actor: Any, rule_id: int, payload: Any = None, event_id: int | None = None
) -> dict[str, Any]:
    """What the rule would do for a past event or a pasted payload (validated against the rule's
    event type). Writes nothing, sends nothing. Needs ``rules.rule.design``."""
    if not may_design_rules(actor):
        raise RulesPermissionDenied(_("You may not dry-run rules."))
    rule = Rule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise RulesNotFound(_("There is no such rule."))
    if event_id is not None:
        event = Event.objects.filter(pk=event_id).select_related("actor").first()
        if event is None:
            raise RulesInputError(_("There is no event with this id."), field="event_id")
        with transaction.atomic():
            result = engine.dry_run(rule, event=event)
            transaction.set_rollback(True)  # nothing an action's preview may have touched survives
        return result
    if not isinstance(payload, Mapping):
        raise RulesInputError(
            _("Paste a payload (a JSON object) or give a past event's id."), field="payload"
        )
    if rule.trigger_kind == Rule.TriggerKind.EVENT:
        try:
            payload = event_types.get(rule.event_type).validate(payload)
        except EventPayloadInvalid as exc:
            raise RuleInvalid(exc.errors, _("The payload does not match the rule's event type.")) from None
        except UnknownEventType:
            raise RulesInputError(
                _("The rule's event type is no longer registered."), field="payload"
            ) from None
    with transaction.atomic():
        result = engine.dry_run(rule, payload=dict(payload))
        transaction.set_rollback(True)  # nothing an action's preview may have touched survives
    return result
