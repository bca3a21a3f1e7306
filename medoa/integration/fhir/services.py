"""Receiving FHIR R4 resources and Bundles: store, validate, map, apply — and reprocess.

``receive`` is the whole pipeline behind ``POST /fhir/r4/<type>`` and ``POST /fhir/r4``. The
request is stored first (a ``Submission`` row, committed), so that nothing a system sent is lost,
then validated with the R4B models and processed in its own transaction:

* Patient, Practitioner, Location (and any other resource type inside a Bundle) are kept as
  ``StoredResource`` (the latest version per sending system and id) for the references of later
  resources; a Practitioner whose identifier is a staff member's employee number or username
  records that username.
* Encounter → ``EncounterFact`` → ``apply_encounter``; Observation → ``ResultFact`` →
  ``apply_result`` (critical: interpretation ``HH``, ``LL``, ``AA`` and ``MEDOA_CRITICAL_FLAGS``).
* A code the clinical services cannot map (``UnmappedCode``) parks the submission as
  ``unmapped`` (answer 202 with a warning); ``reprocess_due`` tries it again once a code mapping
  has changed, and an administrator may reprocess it at once.

A batch Bundle is processed entry by entry (each in its own savepoint, each answered in the
batch-response); a transaction Bundle is all or nothing: every entry is validated first, and one
entry refused or parked rolls back the others (the bundle is parked or refused as a whole).
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from medoa.core.access.models import SystemApiKey
from medoa.core.access.policy import has_perm
from medoa.core.access.system_keys import key_allows
from medoa.core.audit.services import audit_record
from medoa.core.clinical import services as clinical
from medoa.core.clinical.errors import ClinicalFactInvalid, ClinicalFactPending, UnmappedCode
from medoa.core.clinical.models import CodeMapping
from medoa.core.org.models import Staff

from . import mapping
from .models import StoredResource, Submission, SubmissionStatus
from .outcome import FhirProblem, Issue, info, outcome, problem, pydantic_issues

log = logging.getLogger("medoa.integration.fhir")

PERM_VIEW = "integration.message.view"
PERM_REPROCESS = "integration.message.manage"  # shared with the HL7 message store
MAPPED_TYPES: tuple[str, ...] = ("Encounter", "Observation", "Patient", "Practitioner", "Location")
STORED_TYPES: tuple[str, ...] = ("Patient", "Practitioner", "Location")
BUNDLE_TYPES: tuple[str, ...] = ("batch", "transaction")
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 5000
MAX_DEPTH = 64  # JSON nesting; real resources stay far below (extensions of extensions …)
REPROCESS_BATCH = 100
PENDING_ROUNDS = 20
# Which element carried a code of each kind (for the expression of an unmapped code's warning).
UNMAPPED_ELEMENT = {
    "Encounter": {
        "ward": "location",
        "bed": "location",
        "department": "serviceProvider",
        "doctor": "participant",
    },
    "Observation": {
        "ward": "encounter",
        "bed": "encounter",
        "department": "encounter",
        "doctor": "performer",
    },
}
# Resources before the ones that refer to them: an Encounter's Locations and Practitioners, an
# Observation's Patient and Encounter.
ORDER = {"Patient": 0, "Practitioner": 0, "Location": 0, "Encounter": 2, "Observation": 3}


def max_bytes() -> int:
    return int(getattr(settings, "MEDOA_FHIR_MAX_BYTES", DEFAULT_MAX_BYTES))


def critical_flags() -> set[str]:
    """The same list as HL7's: HH, LL, AA and ``MEDOA_HL7_CRITICAL_FLAGS`` (e.g. PL, PH)."""
    return clinical.critical_flags_default()


def facility_of(key: SystemApiKey | None) -> str:
    if key is None:
        return ""
    return (key.system or key.name or "")[:100]


@dataclass
class Answer:
    """What the view answers: an HTTP status and a FHIR JSON body."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Applied:
    """The outcome of processing one resource."""

    status: str
    http: int
    issues: list[Issue]
    reason: str = ""
    events: list[int] = field(default_factory=list)


class _Parked(Exception):
    """Raised inside a transaction Bundle to roll every entry back."""

    def __init__(self, index: int, applied: Applied) -> None:
        super().__init__(applied.reason)
        self.index = index
        self.applied = applied


# --- validation -----------------------------------------------------------------------------------


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise problem(400, "structure", f"The body is not UTF-8 (byte {exc.start}).") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise problem(
            400, "structure", f"The body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        data = None
    if data is None or _too_deep(data):
        raise problem(400, "structure", f"The JSON is nested more than {MAX_DEPTH} levels deep.")
    if not isinstance(data, dict):
        raise problem(400, "structure", "The body must be one JSON object (a FHIR resource).")
    rtype = data.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise problem(400, "required", "resourceType is missing.", "resourceType")
    return data


def _too_deep(data: Any) -> bool:
    """Whether ``data`` nests deeper than ``MAX_DEPTH`` (checked without recursion: the R4B models
    would recurse once per level)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return False


def validate_resource(data: dict[str, Any], *, path: str = "") -> None:
    """Validate against the R4B model of its type; ``FhirProblem`` (422, or 400 for an unknown
    resource type) naming each element at fault."""
    rtype = str(data.get("resourceType"))
    root = path or rtype
    try:
        model = get_fhir_model_class(rtype)
    except (ValueError, KeyError):
        raise problem(
            400, "not-supported", f"{rtype} is not an R4 resource type.", f"{root}.resourceType"
        ) from None
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise FhirProblem(422, pydantic_issues(exc.errors(include_url=False), root)) from None
    except (ValueError, TypeError) as exc:
        raise problem(422, "invalid", f"{root}: {exc}", root) from None


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _scope_problem(key: SystemApiKey, rtype: str, expression: str = "") -> FhirProblem | None:
    if key_allows(key, f"fhir:{rtype}"):
        return None
    return problem(403, "forbidden", f"This API key may not send fhir:{rtype}.", expression)


# --- references -----------------------------------------------------------------------------------


class Resolver:
    """Finds what a reference points to: an entry of the same Bundle (by ``fullUrl`` or
    ``Type/id``), else the latest version this sending system sent."""

    def __init__(self, facility: str, entries: Iterable[tuple[str, dict[str, Any]]] = ()) -> None:
        self.facility = facility
        self.local: dict[str, dict[str, Any]] = {}
        self.cache: dict[str, dict[str, Any] | None] = {}
        for full_url, resource in entries:
            if full_url:
                self.local[full_url] = resource
            if resource.get("id"):
                self.local[f"{resource['resourceType']}/{resource['id']}"] = resource

    def __call__(self, reference: str) -> dict[str, Any] | None:
        if reference in self.local:
            return self.local[reference]
        key = mapping.reference_key(reference)
        if key in self.local:
            return self.local[key]
        if key.startswith("urn:") or "/" not in key:
            return None
        if key not in self.cache:
            rtype, rid = key.split("/", 1)
            row = (
                StoredResource.objects.filter(facility=self.facility, resource_type=rtype, resource_id=rid)
                .exclude(digest="")
                .only("data")
                .first()
            )
            self.cache[key] = json.loads(row.data) if row is not None else None
        return self.cache[key]


def _store(
    data: dict[str, Any], *, facility: str, submission: Submission | None, code: str = "", state: Any = None
) -> bool:
    """Keep ``data`` as the latest version of its resource; ``False`` when it is unchanged."""
    rid = str(data.get("id") or "")
    if not rid:
        return True
    digest = _digest(data)
    row = (
        StoredResource.objects.select_for_update()
        .filter(facility=facility, resource_type=data["resourceType"], resource_id=rid[:64])
        .first()
    )
    if row is None:
        StoredResource.objects.create(
            facility=facility,
            resource_type=data["resourceType"],
            resource_id=rid[:64],
            code=code[:100],
            data=json.dumps(data, ensure_ascii=False),
            digest=digest,
            state=state or {},
            submission=submission,
        )
        return True
    if row.digest == digest and (state is None or row.state == state):
        return False
    if row.digest:  # not the placeholder of a first version (``_stored_state``)
        row.version += 1
    row.data = json.dumps(data, ensure_ascii=False)
    row.digest = digest
    row.code = code[:100]
    if state is not None:
        row.state = state
    row.submission = submission
    row.updated_at = timezone.now()
    row.save()
    return True


def _stored_state(facility: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The digest and state of the version MedOA last applied, locked until the caller's
    transaction ends, so that two versions of one resource are applied one after the other, each
    seeing what the other left. A resource never seen gets a placeholder row (digest ``""``) that
    holds the lock: a concurrent first version waits for this one, then sees it."""
    rid = str(data.get("id") or "")[:64]
    if not rid:
        return None
    keys = {"facility": facility, "resource_type": data["resourceType"], "resource_id": rid}
    row = StoredResource.objects.select_for_update().filter(**keys).values_list("digest", "state").first()
    if row is None:
        try:
            with transaction.atomic():
                StoredResource.objects.create(**keys, data="", digest="")
        except IntegrityError:  # a concurrent first version committed meanwhile
            row = (
                StoredResource.objects.select_for_update()
                .filter(**keys)
                .values_list("digest", "state")
                .first()
            )
    if row is None or not row[0]:
        return None
    return row[0], row[1]


def _staff_username(resource: dict[str, Any]) -> str:
    values = [str(i.get("value")) for i in resource.get("identifier") or () if i.get("value")]
    if not values:
        return ""
    staff = Staff.objects.filter(employee_no__in=values).select_related("user").first()
    if staff is not None and staff.user is not None:
        return str(staff.user.get_username())
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username__in=values).first()
    return str(user.get_username()) if user is not None else ""


# --- processing one resource ------------------------------------------------------------------------


def _apply(
    data: dict[str, Any], *, facility: str, source: str, resolve: Resolver, submission: Submission
) -> Applied:
    """Map and apply one validated resource (inside the caller's transaction). Raises
    ``UnmappedCode``, ``ClinicalFactPending``, ``ClinicalFactInvalid`` and ``MappingProblem``."""
    rtype = data["resourceType"]
    if rtype == "Patient":
        changed = _store(
            data, facility=facility, submission=submission, code=mapping.patient_identifier(data)
        )
        submission.patient_id = mapping.patient_identifier(data)
        note = "Patient stored." if changed else "Patient unchanged."
        return Applied(SubmissionStatus.PROCESSED, 201, info(note))
    if rtype == "Practitioner":
        username = _staff_username(data)
        state = {"username": username} if username else {}
        changed = _store(
            data, facility=facility, submission=submission, code=mapping.identifier_code(data), state=state
        )
        note = "Practitioner stored" + (f" (MedOA user {username})." if username else ".")
        return Applied(SubmissionStatus.PROCESSED, 201, info(note if changed else "Practitioner unchanged."))
    if rtype == "Location":
        changed = _store(data, facility=facility, submission=submission, code=mapping.identifier_code(data))
        return Applied(
            SubmissionStatus.PROCESSED, 201, info("Location stored." if changed else "Location unchanged.")
        )
    if rtype == "Encounter":
        known = _stored_state(facility, data)
        if known is not None and known[0] == _digest(data):
            return Applied(SubmissionStatus.PROCESSED, 201, info("Encounter unchanged: already applied."))
        before = mapping.EncounterState.from_json(known[1] if known else None)
        fact, enc_state = mapping.encounter_fact(
            data, resolve, before=before, source=source, facility=facility
        )
        submission.patient_id = (fact.patient.identifier if fact else submission.patient_id)[:100]
        events: list[int] = []
        if fact is not None:
            events = [e.pk for e in clinical.apply_encounter(fact)]
        _store(
            data,
            facility=facility,
            submission=submission,
            code=mapping.visit_number(data),
            state=enc_state.as_json(),
        )
        note = f"Encounter applied as {fact.kind}." if fact else "Encounter stored: nothing new to apply."
        return Applied(SubmissionStatus.PROCESSED, 201, info(note), events=events)
    if rtype == "Observation":
        known = _stored_state(facility, data)
        if known is not None and known[0] == _digest(data):
            return Applied(SubmissionStatus.PROCESSED, 201, info("Observation unchanged: already applied."))
        result = mapping.result_fact(data, resolve, source=source, facility=facility)
        submission.patient_id = result.patient.identifier[:100]
        events = [e.pk for e in clinical.apply_result(result, critical_flags=critical_flags())]
        _store(data, facility=facility, submission=submission, code=result.order_code)
        return Applied(
            SubmissionStatus.PROCESSED, 201, info("Observation applied as a result."), events=events
        )
    _store(data, facility=facility, submission=submission, code=mapping.identifier_code(data))
    return Applied(
        SubmissionStatus.STORED, 201, info(f"{rtype} stored for reference; MedOA maps no facts from it.")
    )


def _process(
    data: dict[str, Any],
    *,
    facility: str,
    resolve: Resolver,
    submission: Submission,
    expression_root: str = "",
) -> Applied:
    """``_apply`` in a savepoint, its refusals turned into outcomes."""
    source = f"fhir:{submission.pk}"
    root = expression_root
    try:
        try:
            with transaction.atomic():
                return _apply(data, facility=facility, source=source, resolve=resolve, submission=submission)
        except IntegrityError:
            # Another request stored the same resource (or the same visit) at the same moment: its
            # version is committed now; apply this one again on top of it.
            with transaction.atomic():
                return _apply(data, facility=facility, source=source, resolve=resolve, submission=submission)
    except UnmappedCode as exc:
        clinical.unmapped_code_note(exc, source=source)
        reason = f"{exc.key} — {exc}"
        element = UNMAPPED_ELEMENT.get(str(data["resourceType"]), {}).get(exc.kind, "")
        where = (root or str(data["resourceType"])) + (f".{element}" if element else "")
        return Applied(
            SubmissionStatus.UNMAPPED,
            202,
            [Issue("warning", "code-invalid", f"Accepted, waiting: {exc}", (where,))],
            reason=reason,
        )
    except ClinicalFactPending as exc:
        return Applied(
            SubmissionStatus.UNMAPPED,
            202,
            [Issue("warning", "processing", f"Accepted, waiting: {exc}", ())],
            reason=f"pending — {exc}",
        )
    except mapping.MappingProblem as exc:
        expr = exc.expression if not root else exc.expression.replace(data["resourceType"], root, 1)
        return Applied(
            SubmissionStatus.REJECTED, 422, [Issue("error", "processing", str(exc), (expr,))], reason=str(exc)
        )
    except ClinicalFactInvalid as exc:
        field_name = f".{exc.field}" if exc.field else ""
        expr = f"{root or data['resourceType']}{field_name}"
        return Applied(
            SubmissionStatus.REJECTED, 422, [Issue("error", "processing", str(exc), (expr,))], reason=str(exc)
        )
    except Exception:
        log.exception("fhir: processing submission #%s failed", submission.pk)
        return Applied(
            SubmissionStatus.ERROR,
            500,
            [Issue("error", "exception", "MedOA could not process this resource; it is stored for a retry.")],
            reason=traceback.format_exc()[-4000:],
        )


def _finish(submission: Submission, applied: Applied) -> None:
    submission.status = applied.status
    submission.reason = applied.reason
    submission.http_status = applied.http
    submission.outcome = outcome(applied.issues)
    submission.events = list(submission.events or []) + applied.events
    submission.attempts += 1
    submission.processed_at = timezone.now()
    submission.save(
        update_fields=[
            "status",
            "reason",
            "http_status",
            "outcome",
            "events",
            "attempts",
            "processed_at",
            "patient_id",
        ]
    )


def _reject(submission: Submission, exc: FhirProblem) -> Answer:
    submission.status = SubmissionStatus.REJECTED
    submission.reason = str(exc)[:4000]
    submission.http_status = exc.status
    submission.outcome = outcome(exc.issues)
    submission.attempts += 1
    submission.processed_at = timezone.now()
    submission.save(update_fields=["status", "reason", "http_status", "outcome", "attempts", "processed_at"])
    return Answer(exc.status, submission.outcome)


# --- the pipeline ---------------------------------------------------------------------------------


def _status_line(code: int) -> str:
    return {
        200: "200 OK",
        201: "201 Created",
        202: "202 Accepted",
        400: "400 Bad Request",
        403: "403 Forbidden",
        404: "404 Not Found",
        405: "405 Method Not Allowed",
        422: "422 Unprocessable Entity",
        500: "500 Internal Server Error",
    }.get(code, str(code))


def receive(*, key: SystemApiKey, body: bytes, path_type: str | None, peer: str = "") -> Answer:
    """Store, validate and process one POST (``path_type``: the type named in the URL, ``None``
    for the Bundle endpoint). The key has authenticated; its scopes are checked here."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    submission = Submission.objects.create(
        api_key=key if key.pk else None,
        facility=facility_of(key),
        peer=peer[:100],
        resource_type=(path_type or "Bundle")[:64],
        raw=text,
        size=len(body),
    )
    return _run(submission, body, key=key, path_type=path_type)


def _run(submission: Submission, body: bytes, *, key: SystemApiKey, path_type: str | None) -> Answer:
    """Validate and process a stored submission (a new one, or one a crash left ``received``)."""
    facility = submission.facility
    expected = path_type or "Bundle"
    try:
        if path_type is not None and path_type not in MAPPED_TYPES:
            raise problem(
                404,
                "not-supported",
                f"MedOA accepts {', '.join(MAPPED_TYPES)} (and Bundles at /fhir/r4); not {path_type}.",
            )
        scope = _scope_problem(key, expected)
        if scope is not None:
            raise scope
        data = parse_json(body)
        rtype = data["resourceType"]
        submission.resource_id = str(data.get("id") or "")[:64]
        if rtype != expected:
            raise problem(
                400,
                "invalid",
                f"This endpoint takes {expected} resources; the body is a {rtype}.",
                "resourceType",
            )
        submission.save(update_fields=["resource_id"])
        if rtype == "Bundle":
            return _receive_bundle(submission, data, key=key, facility=facility)
        validate_resource(data)
    except FhirProblem as exc:
        return _reject(submission, exc)
    with transaction.atomic():
        applied = _process(data, facility=facility, resolve=Resolver(facility), submission=submission)
        _finish(submission, applied)
    return Answer(applied.http, submission.outcome)


def _recover(submission: Submission) -> Submission:
    """Run the pipeline again for a submission a crash left ``received`` (its entries, if any,
    are made again; resources already applied are recognised as unchanged)."""
    Submission.objects.filter(bundle=submission).delete()
    key = submission.api_key
    if key is None:
        _reject(submission, problem(403, "forbidden", "The API key this was sent with no longer exists."))
        return submission
    path_type = None if submission.resource_type == "Bundle" else submission.resource_type
    _run(submission, submission.raw.encode("utf-8"), key=key, path_type=path_type)
    submission.refresh_from_db()
    return submission


def _entry_resource(entry: Any, index: int) -> tuple[str, dict[str, Any]]:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict):
        raise problem(400, "structure", f"{where} is not an object.", where)
    resource = entry.get("resource")
    if not isinstance(resource, dict) or not resource.get("resourceType"):
        raise problem(400, "required", f"{where}.resource is missing.", f"{where}.resource")
    request = entry.get("request") or {}
    method = str(request.get("method") or "POST").upper()
    if method not in ("POST", "PUT"):
        raise problem(
            422,
            "not-supported",
            f"{where}.request.method {method}: MedOA only receives (POST or PUT).",
            f"{where}.request.method",
        )
    return str(entry.get("fullUrl") or ""), resource


def _receive_bundle(bundle: Submission, data: dict[str, Any], *, key: SystemApiKey, facility: str) -> Answer:
    btype = data.get("type")
    if btype not in BUNDLE_TYPES:
        raise problem(
            422, "not-supported", f"Bundle.type must be batch or transaction, not {btype!r}.", "Bundle.type"
        )
    bundle.bundle_type = str(btype)
    bundle.save(update_fields=["bundle_type"])
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise problem(400, "structure", "Bundle.entry must be a list.", "Bundle.entry")
    if len(entries) > MAX_ENTRIES:
        raise problem(413, "too-costly", f"A Bundle may have at most {MAX_ENTRIES} entries.", "Bundle.entry")
    # The Bundle's own elements (not its entries' resources, which are validated one by one).
    shell = {k: v for k, v in data.items() if k != "entry"}
    validate_resource(shell)
    if btype == "transaction":
        return _transaction(bundle, entries, key=key, facility=facility)
    return _batch(bundle, entries, key=key, facility=facility)


def _new_entry(bundle: Submission, index: int, resource: dict[str, Any] | None, raw: Any) -> Submission:
    text = json.dumps(raw, ensure_ascii=False)
    return Submission(
        api_key=bundle.api_key,
        facility=bundle.facility,
        peer=bundle.peer,
        bundle=bundle,
        entry_index=index,
        bundle_type=bundle.bundle_type,
        resource_type=str((resource or {}).get("resourceType") or "")[:64],
        resource_id=str((resource or {}).get("id") or "")[:64],
        raw=text,
        size=len(text.encode()),
    )


def _check_entry(key: SystemApiKey, resource: dict[str, Any], index: int) -> None:
    where = f"Bundle.entry[{index}].resource"
    rtype = str(resource["resourceType"])
    if rtype == "Bundle":
        raise problem(422, "not-supported", f"{where}: a Bundle inside a Bundle is not accepted.", where)
    if rtype in MAPPED_TYPES:
        scope = _scope_problem(key, rtype, where)
        if scope is not None:
            raise scope
    validate_resource(resource, path=where)


def _ordered(items: list[tuple[int, str, dict[str, Any]]]) -> list[tuple[int, str, dict[str, Any]]]:
    return sorted(items, key=lambda t: (ORDER.get(str(t[2]["resourceType"]), 1), t[0]))


def _batch(bundle: Submission, entries: list[Any], *, key: SystemApiKey, facility: str) -> Answer:
    rows: list[Submission] = []
    ok: list[tuple[int, str, dict[str, Any]]] = []
    responses: dict[int, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        row = _new_entry(bundle, index, resource if isinstance(resource, dict) else None, entry)
        try:
            full_url, res = _entry_resource(entry, index)
            _check_entry(key, res, index)
        except FhirProblem as exc:
            row.status = SubmissionStatus.REJECTED
            row.reason = str(exc)[:4000]
            row.http_status = exc.status
            row.outcome = outcome(exc.issues)
            row.attempts = 1
            row.processed_at = timezone.now()
            responses[index] = {"response": {"status": _status_line(exc.status), "outcome": row.outcome}}
        else:
            row.raw = json.dumps(res, ensure_ascii=False)
            ok.append((index, full_url, res))
        rows.append(row)
    Submission.objects.bulk_create(rows)
    by_index = {row.entry_index: row for row in Submission.objects.filter(bundle=bundle)}
    resolve = Resolver(facility, [(u, r) for _i, u, r in ok])
    for index, _full_url, res in _ordered(ok):
        row = by_index[index]
        with transaction.atomic():
            applied = _process(
                res,
                facility=facility,
                resolve=resolve,
                submission=row,
                expression_root=f"Bundle.entry[{index}].resource",
            )
            _finish(row, applied)
        status = applied.http
        response: dict[str, Any] = {"status": _status_line(status), "outcome": row.outcome}
        if res.get("id") and status < 300:
            response["location"] = f"{res['resourceType']}/{res['id']}"
        responses[index] = {"response": response}
    counts: dict[str, int] = {}
    for row in by_index.values():
        counts[row.status] = counts.get(row.status, 0) + 1
    bundle.status = SubmissionStatus.PROCESSED
    bundle.reason = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    bundle.http_status = 200
    bundle.attempts += 1
    bundle.processed_at = timezone.now()
    body = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [responses[i] for i in range(len(entries))],
    }
    bundle.outcome = outcome(info(f"batch: {bundle.reason}"))
    bundle.save(update_fields=["status", "reason", "http_status", "outcome", "attempts", "processed_at"])
    return Answer(200, body)


def _transaction(bundle: Submission, entries: list[Any], *, key: SystemApiKey, facility: str) -> Answer:
    items: list[tuple[int, str, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        full_url, res = _entry_resource(entry, index)
        _check_entry(key, res, index)
        items.append((index, full_url, res))
    rows = [_new_entry(bundle, index, res, res) for index, _u, res in items]
    Submission.objects.bulk_create(rows)
    return _apply_transaction(bundle, items, facility=facility)


def _apply_transaction(
    bundle: Submission, items: list[tuple[int, str, dict[str, Any]]], *, facility: str
) -> Answer:
    by_index = {row.entry_index: row for row in Submission.objects.filter(bundle=bundle)}
    resolve = Resolver(facility, [(u, r) for _i, u, r in items])
    results: dict[int, Applied] = {}
    try:
        with transaction.atomic():
            for index, _u, res in _ordered(items):
                row = by_index[index]
                applied = _process(
                    res,
                    facility=facility,
                    resolve=resolve,
                    submission=row,
                    expression_root=f"Bundle.entry[{index}].resource",
                )
                if applied.status not in (SubmissionStatus.PROCESSED, SubmissionStatus.STORED):
                    raise _Parked(index, applied)
                results[index] = applied
                _finish(row, applied)
            bundle.status = SubmissionStatus.PROCESSED
            bundle.reason = f"transaction: {len(items)} entries applied"
            bundle.http_status = 200
            bundle.outcome = outcome(info(bundle.reason))
            bundle.events = [e for a in results.values() for e in a.events]
            bundle.attempts += 1
            bundle.processed_at = timezone.now()
            bundle.save()
    except _Parked as parked:
        failed = parked.applied
        where = f"entry {parked.index}"
        bundle.refresh_from_db()
        with transaction.atomic():
            bundle.status = failed.status
            bundle.reason = f"{where}: {failed.reason}"[:4000]
            bundle.http_status = failed.http
            bundle.outcome = outcome(
                [
                    *failed.issues,
                    Issue(
                        "information", "informational", "The transaction was not applied: no entry of it was."
                    ),
                ]
            )
            bundle.attempts += 1
            bundle.processed_at = timezone.now()
            bundle.save()
            Submission.objects.filter(bundle=bundle).update(
                status=failed.status,
                reason=f"the transaction waits on {where}",
                http_status=failed.http,
                processed_at=bundle.processed_at,
            )
        return Answer(failed.http, bundle.outcome)
    body = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {
                "response": {
                    "status": "201 Created",
                    "outcome": by_index[index].outcome,
                    **({"location": f"{res['resourceType']}/{res['id']}"} if res.get("id") else {}),
                }
            }
            for index, _u, res in items
        ],
    }
    return Answer(200, body)


# --- reprocessing ---------------------------------------------------------------------------------


def _reprocess_one(submission: Submission) -> Submission:
    """Process a stored submission again (an entry of a batch, a single resource, or a whole
    transaction Bundle; one a crash left ``received`` goes through the whole pipeline again)."""
    if submission.status == SubmissionStatus.RECEIVED:
        top = Submission.objects.get(pk=submission.bundle_id) if submission.bundle_id else submission
        return _recover(top)
    if submission.bundle_id is not None and submission.bundle_type == "transaction":
        submission = Submission.objects.get(pk=submission.bundle_id)
    data = json.loads(submission.raw)
    if submission.resource_type == "Bundle":
        items = [
            (row.entry_index or 0, "", json.loads(row.raw))
            for row in Submission.objects.filter(bundle=submission).order_by("entry_index")
        ]
        # fullUrls from the bundle as received, so urn:uuid references resolve again
        urls = {
            i: str(e.get("fullUrl") or "")
            for i, e in enumerate(data.get("entry") or [])
            if isinstance(e, dict)
        }
        items = [(i, urls.get(i, ""), res) for i, _u, res in items]
        _apply_transaction(submission, items, facility=submission.facility)
        submission.refresh_from_db()
        return submission
    resolve = Resolver(submission.facility)
    root = f"Bundle.entry[{submission.entry_index}].resource" if submission.bundle_id else ""
    if submission.bundle_id:
        bundle = Submission.objects.get(pk=submission.bundle_id)
        siblings = json.loads(bundle.raw).get("entry") or []
        resolve = Resolver(
            submission.facility,
            [
                (str(e.get("fullUrl") or ""), e["resource"])
                for e in siblings
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            ],
        )
    with transaction.atomic():
        applied = _process(
            data, facility=submission.facility, resolve=resolve, submission=submission, expression_root=root
        )
        _finish(submission, applied)
    return submission


REPROCESSABLE = (SubmissionStatus.UNMAPPED, SubmissionStatus.ERROR, SubmissionStatus.RECEIVED)
# A submission still ``received`` this long after it came was left by a crash (a request is
# processed within it): it is run again.
STALE_SECONDS = 300


def is_stale(submission: Submission) -> bool:
    return submission.received_at < timezone.now() - timedelta(seconds=STALE_SECONDS)


def submission_reprocess(*, actor: Any, submission: Submission) -> Submission:
    """An administrator's "process again" for an unmapped or failed submission (audited)."""
    if not has_perm(actor, PERM_REPROCESS):
        raise PermissionDenied
    if submission.status == SubmissionStatus.RECEIVED and not is_stale(submission):
        raise FhirProblem(409, [Issue("error", "conflict", "This submission is being processed.")])
    if submission.status not in REPROCESSABLE:
        raise FhirProblem(
            409,
            [
                Issue(
                    "error",
                    "conflict",
                    f"Only unmapped or failed submissions are processed again, not {submission.status}.",
                )
            ],
        )
    before = submission.status
    done = _reprocess_one(submission)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="integration.fhir.reprocessed",
            target=("fhir.submission", done.pk, str(done)),
            details={"before": before, "after": done.status, "reason": done.reason[:300]},
        )
    return done


def reprocess_due(limit: int = REPROCESS_BATCH) -> int:
    """The worker's job: unmapped submissions tried again once a code mapping changed after their
    last attempt (``pending`` ones every round, for a while), and submissions a crash left
    ``received`` run again; returns how many were tried."""
    changed = CodeMapping.objects.aggregate(at=Max("updated_at"))["at"]
    # A pending one (a cancel of what MedOA has not seen) is tried every round for a while, then
    # waits for a mapping change or an administrator.
    cond = Q(reason__startswith="pending", attempts__lt=PENDING_ROUNDS)
    if changed is not None:
        cond |= Q(processed_at__lt=changed)
    stale = Q(
        status=SubmissionStatus.RECEIVED,
        bundle__isnull=True,
        received_at__lt=timezone.now() - timedelta(seconds=STALE_SECONDS),
    )
    due = Submission.objects.filter(
        (Q(status=SubmissionStatus.UNMAPPED) & cond & ~Q(bundle_type="transaction", bundle__isnull=False))
        | stale
    )
    tried = 0
    for submission in due.order_by("id")[:limit]:
        try:
            _reprocess_one(submission)
        except Exception:
            log.exception("fhir: reprocessing #%s failed", submission.pk)
        tried += 1
    return tried
