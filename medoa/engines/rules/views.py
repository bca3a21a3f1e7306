"""The rule engine's pages: the decision list, the dmn-js editor with deploy, and its test panel;
the rule list, the rule editor (no script: action parameters re-render on "apply the type"), its
version history and dry-run panel, and the execution log.

Each view parses its input, checks permission, calls one service or selector and renders. The
editor talks JSON with its page (``deploy``, ``evaluate``); problems come back with their element
and line, evaluation errors with the decision and the rules concerned.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medoa.core.events.registry import event_types

from . import forms as rule_forms
from . import selectors, services
from .dmn import MAX_XML_BYTES, DmnEvaluationError, DmnInvalid
from .errors import RuleInvalid, RulesError, RulesInputError, RulesNotFound, RulesPermissionDenied
from .models import Rule, RuleExecution
from .registry import rule_actions

NEW_KEY = "new"


def _require_design(request: HttpRequest) -> None:
    if not selectors.may_design(request.user):
        raise PermissionDenied


def _json_body(request: HttpRequest, limit: int) -> dict[str, Any]:
    if len(request.body) > limit:
        raise _Refused(_("The request is too large."), status=413)
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _Refused(_("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise _Refused(_("The request body is not valid JSON."))
    return body


class _Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@login_required
@require_GET
def decision_list(request: HttpRequest) -> HttpResponse:
    if not selectors.may_evaluate(request.user):
        raise PermissionDenied
    context = {
        "decisions": selectors.decision_list(user=request.user),
        "may_design": selectors.may_design(request.user),
    }
    return render(request, "rules/decision_list.html", context)


@login_required
@require_GET
def decision_editor(request: HttpRequest, key: str) -> HttpResponse:
    """The dmn-js editor on the latest version of ``key`` (``new``: a new table)."""
    _require_design(request)
    definition = None
    if key != NEW_KEY:
        try:
            definition = selectors.decision_get(user=request.user, key=key)
        except RulesNotFound:
            raise Http404 from None
    testable = []
    if definition is not None and definition.latest_version is not None:
        meta = (
            definition.latest_version.metadata if isinstance(definition.latest_version.metadata, dict) else {}
        )
        keys = [definition.key, *meta.get("deployed_with", [])]
        found = {d.key: d for d in selectors.decision_list(user=request.user).filter(key__in=keys)}
        testable = [_testable(found[k]) for k in keys if k in found]
    context = {
        "key": key,
        "definition": definition,
        "is_new": definition is None,
        "definition_inputs": testable,
    }
    return render(request, "rules/decision_editor.html", context)


def _testable(definition: Any) -> dict[str, Any]:
    version = definition.latest_version
    meta = version.metadata if version is not None and isinstance(version.metadata, dict) else {}
    return {
        "key": definition.key,
        "name": definition.name,
        "version": version.version if version is not None else None,
        "inputs": meta.get("inputs", []),
        "evaluate_url": reverse("rules:decision_evaluate", args=[definition.key]),
    }


@login_required
@require_GET
def decision_xml(request: HttpRequest, key: str) -> HttpResponse:
    """The DMN XML the editor opens: the latest version's file, or a new table's template."""
    _require_design(request)
    xml: str
    if key == NEW_KEY:
        xml = render_to_string("rules/new_decision.dmn", {"name": _("New decision")})
    else:
        try:
            definition = selectors.decision_get(user=request.user, key=key)
        except RulesNotFound:
            raise Http404 from None
        if definition.latest_version is None:
            raise Http404
        xml = str(definition.latest_version.dmn_xml)
    return HttpResponse(xml, content_type="application/xml; charset=utf-8")


@login_required
@require_POST
def decision_deploy(request: HttpRequest) -> JsonResponse:
    """JSON ``{"xml"}`` → ``{"ok": true, "decisions": [{key, version, name, inputs}], "message"}`` or
    ``{"ok": false, "problems": [{message, element_type, element_id, line}]}``."""
    _require_design(request)
    try:
        body = _json_body(request, MAX_XML_BYTES * 2)
        xml = body.get("xml")
        if not isinstance(xml, str) or not xml.strip():
            raise _Refused(_("Send the DMN XML."))
        versions = services.decision_deploy(actor=request.user, xml=xml)
    except _Refused as exc:
        return JsonResponse({"ok": False, "problems": [{"message": exc.message}]}, status=exc.status)
    except DmnInvalid as exc:
        return JsonResponse({"ok": False, "problems": [p.as_dict() for p in exc.problems]}, status=400)
    except RulesPermissionDenied:
        raise PermissionDenied from None
    except RulesError as exc:
        return JsonResponse({"ok": False, "problems": [{"message": str(exc)}]}, status=400)
    decisions = [
        {
            "key": v.definition.key,
            "version": v.version,
            "name": v.name,
            "hit_policy": v.hit_policy,
            "inputs": v.metadata.get("inputs", []) if isinstance(v.metadata, dict) else [],
            "evaluate_url": reverse("rules:decision_evaluate", args=[v.definition.key]),
            "editor_url": reverse("rules:decision_editor", args=[v.definition.key]),
        }
        for v in versions
    ]
    names = "、".join(f"{d['name']} v{d['version']}" for d in decisions)
    return JsonResponse(
        {"ok": True, "decisions": decisions, "message": _("Deployed: %(names)s.") % {"names": names}}
    )


@login_required
@require_POST
def decision_evaluate(request: HttpRequest, key: str) -> JsonResponse:
    """JSON ``{"inputs": {…}}`` → the evaluation of the latest version (as the API answers it), or
    ``{"ok": false, "error"}``."""
    if not selectors.may_evaluate(request.user):
        raise PermissionDenied
    try:
        body = _json_body(request, 256 * 1024)
        inputs = body.get("inputs")
        if not isinstance(inputs, dict):
            raise _Refused(_("The inputs must be an object of names and values."))
        version, result = services.decision_evaluate(actor=request.user, key=key, inputs=inputs)
    except _Refused as exc:
        return JsonResponse({"ok": False, "error": exc.message}, status=exc.status)
    except DmnEvaluationError as exc:
        return JsonResponse(
            {"ok": False, "error": exc.message, "decision": exc.decision_id, "rule_ids": exc.rule_ids},
            status=422,
        )
    except RulesNotFound:
        raise Http404 from None
    except RulesPermissionDenied:
        raise PermissionDenied from None
    except RulesError as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=422)
    return JsonResponse(
        {"ok": True, "key": version.definition.key, "version": version.version, **result.as_dict()}
    )


# --- event-condition-action rules -----------------------------------------------------------------

EXECUTIONS_PER_PAGE = 50


def _require_rule_view(request: HttpRequest) -> None:
    if not selectors.may_view_rules(request.user):
        raise PermissionDenied


def _require_rule_design(request: HttpRequest) -> None:
    if not selectors.may_design_rules(request.user):
        raise PermissionDenied


@login_required
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    _require_rule_view(request)
    q = request.GET.get("q", "").strip()[:100]
    rules = list(selectors.rule_list(user=request.user, q=q))
    context = {
        "rules": rules,
        "q": q,
        "may_design": selectors.may_design_rules(request.user),
        "registered_types": {t.name for t in event_types},
    }
    return render(request, "rules/rule_list.html", context)


def _editor_context(
    request: HttpRequest, rule: Rule | None, data: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "rule": rule,
        "data": data,
        "errors": errors,
        "condition_error": errors.get("condition", ""),
        "blocks": rule_forms.action_blocks(list(data.get("actions") or []), errors),
        "action_types": list(rule_actions),
        "event_type_choices": [(t.name, str(t.label)) for t in event_types],
        "trigger_kinds": Rule.TriggerKind.choices,
        "may_design": selectors.may_design_rules(request.user),
        "dry_run": None,
    }


def _rule_data(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in services.RULE_FIELDS}


def _errors_by_field(exc: RuleInvalid) -> dict[str, str]:
    out: dict[str, str] = {}
    for error in exc.errors:
        field = str(error.get("field", ""))
        out[field] = f"{out[field]} {error['message']}" if field in out else str(error["message"])
    return out


@login_required
def rule_editor(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    """The editor: GET shows the rule (or an empty one), POST saves it (or, with ``_refresh``,
    re-renders with the chosen action types' parameters). Errors beside their fields."""
    _require_rule_view(request)
    rule = None
    if rule_id is not None:
        try:
            rule = selectors.rule_get(user=request.user, rule_id=rule_id)
        except RulesNotFound:
            raise Http404 from None
    if request.method == "POST":
        _require_rule_design(request)
        data = rule_forms.parse_rule(request.POST)
        if "_refresh" not in request.POST:
            try:
                if rule is None:
                    rule = services.rule_create(actor=request.user, data=data)
                else:
                    rule = services.rule_update(actor=request.user, rule_id=rule.pk, data=data)
            except RuleInvalid as exc:
                context = _editor_context(request, rule, data, _errors_by_field(exc))
                return render(request, "rules/rule_editor.html", context, status=422)
            except RulesPermissionDenied:
                raise PermissionDenied from None
            messages.success(request, _("Saved: version %(version)s.") % {"version": rule.version})
            return redirect("rules:rule_editor", rule_id=rule.pk)
        return render(request, "rules/rule_editor.html", _editor_context(request, rule, data, {}))
    if request.method != "GET":
        return HttpResponse(status=405)
    data = _rule_data(rule) if rule else {"trigger_kind": "event", "priority": 100, "actions": []}
    return render(request, "rules/rule_editor.html", _editor_context(request, rule, data, {}))


@login_required
@require_POST
def rule_dry_run(request: HttpRequest, rule_id: int) -> HttpResponse:
    """The dry-run panel: a pasted payload (JSON) or a past event's id; the editor with the result."""
    _require_rule_design(request)
    try:
        rule = selectors.rule_get(user=request.user, rule_id=rule_id)
    except RulesNotFound:
        raise Http404 from None
    context = _editor_context(request, rule, _rule_data(rule), {})
    raw_event = request.POST.get("event_id", "").strip()
    raw_payload = request.POST.get("payload", "").strip()
    context.update(dry_payload=raw_payload, dry_event=raw_event)
    status = 200
    try:
        if raw_event:
            if not raw_event.isdigit():
                raise RulesInputError(_("Give a past event's number."), field="event_id")
            result = services.rule_dry_run(actor=request.user, rule_id=rule.pk, event_id=int(raw_event))
        else:
            try:
                payload = json.loads(raw_payload or "null")
            except ValueError:
                raise RulesInputError(_("The payload is not valid JSON."), field="payload") from None
            result = services.rule_dry_run(actor=request.user, rule_id=rule.pk, payload=payload)
        context["dry_run"] = result
        context["dry_run_json"] = json.dumps(result, ensure_ascii=False, indent=2, default=str)
    except RuleInvalid as exc:
        context["dry_error"] = "；".join(f"{e['field']}: {e['message']}" for e in exc.errors)
        status = 422
    except RulesInputError as exc:
        context["dry_error"] = str(exc.message)
        status = 422
    return render(request, "rules/rule_editor.html", context, status=status)


@login_required
@require_GET
def rule_versions(request: HttpRequest, rule_id: int) -> HttpResponse:
    _require_rule_view(request)
    try:
        rule = selectors.rule_get(user=request.user, rule_id=rule_id)
    except RulesNotFound:
        raise Http404 from None
    versions = [
        (v, json.dumps(v.data, ensure_ascii=False, indent=2)) for v in selectors.rule_versions(rule=rule)
    ]
    return render(request, "rules/rule_versions.html", {"rule": rule, "versions": versions})


@login_required
@require_GET
def execution_list(request: HttpRequest) -> HttpResponse:
    _require_rule_view(request)
    get = request.GET

    def number(name: str) -> int | None:
        value = get.get(name, "").strip()
        return int(value) if value.isdigit() else None

    status = get.get("status", "")
    if status not in RuleExecution.Status.values:
        status = ""
    rows = selectors.execution_log(
        user=request.user,
        rule_id=number("rule"),
        status=status,
        event_id=number("event"),
        event_type=get.get("event_type", "").strip(),
    )
    page = Paginator(rows, EXECUTIONS_PER_PAGE).get_page(get.get("page"))
    context = {
        "page": page,
        "statuses": RuleExecution.Status.choices,
        "rules": selectors.rule_list(user=request.user).select_related(None).only("pk", "name"),
        "filters": {
            "rule": number("rule"),
            "status": status,
            "event": get.get("event", ""),
            "event_type": get.get("event_type", ""),
        },
    }
    return render(request, "rules/execution_list.html", context)
