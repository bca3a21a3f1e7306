"""The rule engine's pages: the decision list, the dmn-js editor with deploy, and its test panel.

Each view parses its input, checks permission, calls one service or selector and renders. The
editor talks JSON with its page (``deploy``, ``evaluate``); problems come back with their element
and line, evaluation errors with the decision and the rules concerned.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .dmn import MAX_XML_BYTES, DmnEvaluationError, DmnInvalid
from .errors import RulesError, RulesNotFound, RulesPermissionDenied

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
