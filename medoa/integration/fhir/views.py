"""The FHIR R4 endpoints (machine-facing, CSRF-exempt, API-key authenticated) and the
administrators' submission pages.

``POST /fhir/r4/<Encounter|Observation|Patient|Practitioner|Location>`` and ``POST /fhir/r4``
(a batch or transaction Bundle) take FHIR JSON (``application/fhir+json`` or
``application/json``); ``GET /fhir/r4/metadata`` answers the CapabilityStatement. Every refusal is
an OperationOutcome: 401 without a live system key, 403 when its scopes do not name the resource
(``fhir:<type>``), 413 above ``MEDOA_FHIR_MAX_BYTES``, 415 for another content type, 400/422 for
what the resource says.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from medoa.core.access.policy import has_perm
from medoa.core.access.system_keys import system_key_from_request
from medoa.core.context import client_address_of

from . import selectors, services
from .capability import capability_statement
from .forms import SubmissionFilterForm
from .outcome import FHIR_JSON, FhirProblem, outcome, problem

ACCEPTED_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


def fhir_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type=f"{FHIR_JSON}; charset=utf-8"
    )
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _problem_response(exc: FhirProblem) -> HttpResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="medoa-fhir"'} if exc.status == 401 else None
    return fhir_response(exc.status, outcome(exc.issues), headers)


def _read_body(request: HttpRequest) -> bytes:
    """The body, at most ``MEDOA_FHIR_MAX_BYTES`` (413 beyond, before reading it when the length
    is declared)."""
    limit = services.max_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise problem(413, "too-costly", f"The body is {declared} bytes; MedOA takes at most {limit}.")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise problem(413, "too-costly", f"The body is larger than {limit} bytes.")
    return body


def _content_type_ok(request: HttpRequest) -> bool:
    content_type = (request.META.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    return content_type in ACCEPTED_TYPES


@csrf_exempt
def receive(request: HttpRequest, resource_type: str | None = None) -> HttpResponse:
    """``POST /fhir/r4/<type>`` and ``POST /fhir/r4``."""
    try:
        if request.method != "POST":
            raise problem(405, "not-supported", "MedOA receives resources by POST only.")
        key = system_key_from_request(request)
        if key is None:
            raise problem(
                401, "login", "A system API key is required (Authorization: Bearer msk_… or X-API-Key)."
            )
        if not _content_type_ok(request):
            raise problem(
                415,
                "not-supported",
                "Send FHIR JSON: Content-Type application/fhir+json or application/json.",
            )
        body = _read_body(request)
    except FhirProblem as exc:
        response = _problem_response(exc)
        if exc.status == 405:
            response["Allow"] = "POST"
        return response
    answer = services.receive(
        key=key, body=body, path_type=resource_type, peer=client_address_of(request) or ""
    )
    return fhir_response(answer.status, answer.body, answer.headers)


@csrf_exempt
def metadata(request: HttpRequest) -> HttpResponse:
    """``GET /fhir/r4/metadata``: open to anyone, as FHIR servers do."""
    if request.method not in ("GET", "HEAD"):
        response = _problem_response(problem(405, "not-supported", "GET only."))
        response["Allow"] = "GET"
        return response
    return fhir_response(200, capability_statement(base=request.build_absolute_uri("/fhir/r4")))


# --- the administrators' pages ---------------------------------------------------------------------


def _require(request: HttpRequest, code: str) -> None:
    if not has_perm(request.user, code):
        raise PermissionDenied


@login_required
@require_GET
def submission_list(request: HttpRequest) -> HttpResponse:
    _require(request, services.PERM_VIEW)
    form = SubmissionFilterForm(request.GET)
    page = None
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.SubmissionFilter(
            status=data["status"],
            resource_type=data["resource_type"],
            patient_id=data["patient_id"],
            facility=data["facility"],
            top_level=not (data["entries"] or data["status"] or data["patient_id"]),
        )
        page = Paginator(selectors.submission_list(user=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
    context = {
        "form": form,
        "page": page,
        "counts": selectors.submission_counts(user=request.user),
        "senders": selectors.sender_counts(user=request.user),
    }
    response = render(request, "fhir/submission_list.html", context, status=200 if page is not None else 400)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, services.PERM_VIEW)
    submission = selectors.submission_get(user=request.user, submission_id=pk)
    try:
        pretty = json.dumps(json.loads(submission.raw), ensure_ascii=False, indent=2)
    except ValueError:
        pretty = submission.raw
    context = {
        "submission": submission,
        "raw_json": pretty,
        "outcome_json": json.dumps(submission.outcome, ensure_ascii=False, indent=2),
        "entries": list(submission.entries.order_by("entry_index")[:500]),
        "may_reprocess": has_perm(request.user, services.PERM_REPROCESS)
        and submission.status in services.REPROCESSABLE
        and (submission.status != "received" or services.is_stale(submission)),
    }
    response = render(request, "fhir/submission_detail.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def submission_reprocess(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, services.PERM_REPROCESS)
    submission = selectors.submission_get(user=request.user, submission_id=pk)
    try:
        done = services.submission_reprocess(actor=request.user, submission=submission)
    except FhirProblem as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Processed again: %(status)s.") % {"status": done.get_status_display()})
    return redirect("fhir:submission_detail", pk=pk)
