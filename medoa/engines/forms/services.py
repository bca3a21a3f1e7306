"""Every write of the form engine: definitions, drafts, publishing, records, attachments.

Each service owns its transaction: on any failure nothing is stored (a refused record leaves no
row, no reporting value and no bound attachment). Changes a person would question are audited
(``forms.definition.created``/``published``, ``forms.record.submitted``/``updated``/``status``/
``imported``). Services take the acting *user* (``actor``); a record belongs to that user's staff
record and its department (the data scope of ``forms.record.view``).

Data for a form is validated by ``validation.validate`` against the version it is for — the
latest published version for a new record (a client that filled in an older version gets a
409 naming the current one), the record's own version for an update. Validation errors raise
``ValidationFailed`` carrying its ``FieldError`` list.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record
from medoa.core.org.models import Department, Staff

from . import attachments as files
from .apps import PERM_DESIGN, PERM_SUBMIT
from .choices import RecordSource, RecordStatus, ValueKind
from .conflicts import conflict_check
from .errors import (
    FormsConflict,
    FormsInputError,
    FormsNotFound,
    FormsPermissionDenied,
    SchemaInvalid,
    ValidationFailed,
    fmt,
)
from .models import FormAttachment, FormDefinition, FormDraft, FormRecord, FormRecordValue, FormVersion
from .references import DatabaseReferences
from .schema import FormSchema, SchemaError, parse_schema
from .validation import FieldError, ValidationResult, validate

KEY_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_]{0,63}")
# paths of the API that a key would shadow
RESERVED_KEYS = frozenset({"attachments", "records"})
MAX_SCHEMA_BYTES = 1024 * 1024
MAX_DATA_BYTES = 1024 * 1024
MAX_DATA_DEPTH = 32
MAX_SUBJECT = 200
ATTACHMENT_TYPES = frozenset({"medoa-attachment", "medoa-signature"})
NUMBER_LIMIT = Decimal(10) ** 18
# record status → the statuses it may move to (and who: see ``record_status_set``)
TRANSITIONS: dict[str, set[str]] = {
    RecordStatus.DRAFT: {RecordStatus.SUBMITTED, RecordStatus.WITHDRAWN},
    RecordStatus.SUBMITTED: {RecordStatus.APPROVED, RecordStatus.REJECTED, RecordStatus.WITHDRAWN},
    RecordStatus.REJECTED: {RecordStatus.SUBMITTED},
    RecordStatus.APPROVED: set(),
    RecordStatus.WITHDRAWN: set(),
}


# --- helpers --------------------------------------------------------------------------------------


def staff_of(actor: Any) -> Staff | None:
    """The acting user's staff record (with its department), or None."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    cached = getattr(actor, "_state", None)
    staff = cached.fields_cache.get("staff") if cached is not None else None
    if isinstance(staff, Staff) and staff.department_id is not None:
        return staff
    return Staff.objects.select_related("department").filter(user_id=actor.pk).first()


def _require(actor: Any, permission: str, message: Any) -> None:
    if not has_perm(actor, permission):
        raise FormsPermissionDenied(message)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise FormsInputError(
            _(
                "The key must start with a letter or digit and hold only letters, digits, _ and - "
                "(at most 64)."
            ),
            field="key",
        )
    if key in RESERVED_KEYS:
        raise FormsInputError(fmt(_("“%(key)s” is reserved; choose another key."), {"key": key}), field="key")
    return key


def _clean_text(value: Any, *, field: str, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormsInputError(_("Must be text."), field=field)
    value = value.strip()
    if "\x00" in value:
        raise FormsInputError(_("Must not contain NUL characters."), field=field)
    if len(value) > max_length:
        raise FormsInputError(fmt(_("At most %(max)s characters."), {"max": max_length}), field=field)
    return value


def json_problem(value: Any, depth: int = 1) -> Any | None:
    """Why ``value`` cannot be kept as JSON in either database (None: it can)."""
    if depth > MAX_DATA_DEPTH:
        return _("Nested too deeply.")
    if isinstance(value, Mapping):
        for k, item in value.items():
            if not isinstance(k, str):
                return _("Object keys must be text.")
            if "\x00" in k:
                return _("Must not contain NUL characters.")
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
    elif isinstance(value, str):
        if "\x00" in value:
            return _("Must not contain NUL characters.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            return _("Numbers must be finite (no NaN or Infinity).")
    elif value is not None and not isinstance(value, bool | int):
        return _("Must be a JSON value.")
    return None


def _check_json_object(value: Any, *, field: str, max_bytes: int, what: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise FormsInputError(fmt(_("%(what)s must be a JSON object."), {"what": what}), field=field)
    problem = json_problem(value)
    if problem is not None:
        raise FormsInputError(problem, field=field)
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if size > max_bytes:
        raise FormsInputError(
            fmt(
                _("%(what)s is too large (at most %(max)s KB as JSON)."),
                {"what": what, "max": max_bytes // 1024},
            ),
            field=field,
        )
    return dict(value)


def _checksum(schema: Mapping[str, Any]) -> str:
    canonical = json.dumps(schema, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# parsed schemas by version id (a version's schema never changes)
_PARSED: OrderedDict[tuple[int, str], FormSchema] = OrderedDict()
_PARSED_LOCK = threading.Lock()
PARSED_CACHE_SIZE = 256


def parsed_schema(version: FormVersion) -> FormSchema:
    """The version's schema, parsed once per process."""
    key = (version.pk, version.checksum)
    with _PARSED_LOCK:
        hit = _PARSED.get(key)
        if hit is not None:
            _PARSED.move_to_end(key)
            return hit
    parsed = parse_schema(version.schema)
    with _PARSED_LOCK:
        _PARSED[key] = parsed
        while len(_PARSED) > PARSED_CACHE_SIZE:
            _PARSED.popitem(last=False)
    return parsed


def value_kind(field: Any) -> str:
    """The side-table column a field's values go to."""
    if field.type == "number":
        return ValueKind.NUMBER
    subtype = getattr(field, "subtype", "") or field.component.get("subtype") or "date"
    if field.type == "datetime" and subtype in ("date", "datetime"):
        return ValueKind.DATE
    return ValueKind.TEXT


MULTI_VALUE_TYPES = frozenset({"checklist", "taglist"})


def reporting_fields(schema: FormSchema) -> list[dict[str, Any]]:
    """The fields marked for reporting: key, side-table column, and whether a record may hold
    several values of it (a checklist, a multiple picker, a field inside a dynamic list)."""
    marked = set(schema.reporting)
    return [
        {
            "key": f.key,
            "kind": value_kind(f),
            "many": f.type in MULTI_VALUE_TYPES or bool(getattr(f, "multiple", False)) or "[]" in f.key,
        }
        for f in schema.input_fields()
        if f.key in marked
    ]


def values_at(data: Any, path: str) -> list[Any]:
    """The scalar values at ``path`` (dots between the parts) of ``data``: lists along the way (a
    dynamic list, a checklist) give one value per item."""
    flat: list[Any] = []
    for item in _raw_values_at(data, path):
        if isinstance(item, list):
            flat.extend(x for x in item if not isinstance(x, list | Mapping))
        elif not isinstance(item, Mapping):
            flat.append(item)
    return [v for v in flat if v is not None and v != ""]


def typed_value(kind: str, value: Any) -> dict[str, Any] | None:
    """The side-table columns for one value (None: it does not fit the column)."""
    if kind == ValueKind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            return None
        try:
            number = Decimal(str(value)).quantize(Decimal("0.000001"))
        except (InvalidOperation, ValueError):
            return None
        if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
            return None
        return {"number": number}
    if kind == ValueKind.DATE:
        if not isinstance(value, str):
            return None
        try:
            return {"date": datetime.date.fromisoformat(value[:10])}
        except ValueError:
            return None
    if isinstance(value, bool):
        return {"text": "true" if value else "false"}
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return {"text": str(value)[:255]}


def report_rows(
    record: FormRecord, reporting: Iterable[Mapping[str, str]], data: Any
) -> list[FormRecordValue]:
    rows = []
    for item in reporting:
        for value in values_at(data, item["key"]):
            columns = typed_value(item["kind"], value)
            if columns is not None:
                rows.append(
                    FormRecordValue(
                        record_id=record.pk, definition_id=record.definition_id, field=item["key"], **columns
                    )
                )
    return rows


def _write_report_values(record: FormRecord, version: FormVersion, *, replace: bool) -> None:
    if replace:
        FormRecordValue.objects.filter(record=record).delete()
    hidden = set(record.hidden_fields or ())
    reporting = [item for item in version.reporting if item["key"] not in hidden]
    rows = report_rows(record, reporting, record.values)
    if rows:
        FormRecordValue.objects.bulk_create(rows, batch_size=500)


def _attachment_tokens(schema: FormSchema, data: Mapping[str, Any]) -> set[str]:
    tokens: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, str):
            tokens.add(value)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, Mapping) and isinstance(value.get("id"), str):
            tokens.add(value["id"])

    for field in schema.input_fields():
        if field.type in ATTACHMENT_TYPES:
            for value in _raw_values_at(data, field.key):
                collect(value)
    return tokens


def _raw_values_at(data: Any, path: str) -> Iterator[Any]:
    """What stands at ``path`` (dots between the parts) of ``data``, lists along the way followed
    into each item; the values as they are (values_at flattens them)."""
    current: list[Any] = [data]
    for part in path.replace("[]", "").split("."):
        following: list[Any] = []
        for item in current:
            if isinstance(item, Mapping) and part in item:
                following.append(item[part])
            elif isinstance(item, list):
                following.extend(sub[part] for sub in item if isinstance(sub, Mapping) and part in sub)
        current = following
    yield from current


def _bind_attachments(record: FormRecord, schema: FormSchema, staff: Staff | None) -> None:
    tokens = _attachment_tokens(schema, record.values)
    if tokens:
        references = DatabaseReferences(staff=staff, record=record)
        usable = references.usable_attachments(tokens)
        FormAttachment.objects.filter(pk__in=usable, record__isnull=True).update(record=record)


def _definition_for_update(key: Any) -> FormDefinition:
    definition = FormDefinition.objects.select_for_update().filter(key=_check_key(key)).first()
    if definition is None:
        raise FormsNotFound(fmt(_("There is no form “%(key)s”."), {"key": key}), field="key")
    return definition


def _current_version(definition: FormDefinition) -> FormVersion:
    if definition.latest_version_id is None or not definition.is_active:
        raise FormsNotFound(
            fmt(_("The form “%(key)s” has no published version."), {"key": definition.key}), field="key"
        )
    version = definition.latest_version
    assert version is not None
    return version


def _validate(
    version: FormVersion,
    data: Mapping[str, Any],
    *,
    staff: Staff | None,
    record: FormRecord | None = None,
    permissions: Mapping[str, str] | None = None,
    previous: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> ValidationResult:
    return validate(
        parsed_schema(version),
        data,
        references=DatabaseReferences(staff=staff, record=record),
        permissions=permissions,
        previous=previous,
        context=context,
    )


def top_level_keys(schema: FormSchema) -> frozenset[str]:
    """The top-level data keys of a form (the first segment of each data field's path)."""
    return frozenset(f.key.split(".")[0].split("[")[0] for f in schema.input_fields())


def unknown_fields(schema: FormSchema, data: Mapping[str, Any], version: int) -> list[FieldError]:
    """One ``unknown_field`` error per top-level key of ``data`` that the form does not have —
    data meant for another version of the form (validation itself drops such keys)."""
    known = top_level_keys(schema)
    return [
        FieldError(
            key[:200],
            "unknown_field",
            fmt(_("This field is not on the form (version %(version)s)."), {"version": version}),
        )
        for key in data
        if key not in known
    ]


def _accept(result: ValidationResult, *, draft: bool, extra: Iterable[FieldError] = ()) -> dict[str, Any]:
    """The cleaned data, or ``ValidationFailed``. A draft may leave required fields empty."""
    errors: list[FieldError] = list(result.errors) + list(extra)
    if draft:
        errors = [e for e in errors if e.code != "required"]
    if errors:
        raise ValidationFailed(errors)
    return dict(result.data)


# --- definitions ----------------------------------------------------------------------------------


def _new_definition(
    *, actor: Any, key: str, name: Any, category: Any, department: Department | None
) -> FormDefinition:
    name = _clean_text(name, field="name", max_length=200) or key
    category = _clean_text(category, field="category", max_length=64)
    if FormDefinition.objects.filter(key=key).exists():
        raise FormsConflict(
            fmt(_("A form with the key “%(key)s” already exists."), {"key": key}), field="key"
        )
    if department is None:
        staff = staff_of(actor)
        department = staff.department if staff is not None else None
    return FormDefinition.objects.create(
        key=key, name=name, category=category, department=department, created_by=actor
    )


@transaction.atomic
def form_create(
    *,
    actor: Any,
    key: str,
    name: str,
    schema: dict[str, Any],
    category: str = "",
    department: Department | None = None,
) -> FormDefinition:
    """A new form with ``schema`` as its draft (not checked until it is published)."""
    _require(actor, PERM_DESIGN, _("You may not design forms."))
    key = _check_key(key)
    schema = _check_json_object(schema, field="schema", max_bytes=MAX_SCHEMA_BYTES, what=_("The schema"))
    definition = _new_definition(actor=actor, key=key, name=name, category=category, department=department)
    FormDraft.objects.create(definition=definition, schema=schema, updated_by=actor)
    audit_record(actor=actor, action="forms.definition.created", target=definition, details={"key": key})
    return definition


@transaction.atomic
def form_draft_save(*, actor: Any, key: str, schema: dict[str, Any], name: str | None = None) -> FormDraft:
    """Keep the designer's work in progress (any JSON object; checked at publish)."""
    _require(actor, PERM_DESIGN, _("You may not design forms."))
    definition = _definition_for_update(key)
    schema = _check_json_object(schema, field="schema", max_bytes=MAX_SCHEMA_BYTES, what=_("The schema"))
    if name is not None:
        new_name = _clean_text(name, field="name", max_length=200)
        if new_name and new_name != definition.name:
            definition.name = new_name
            definition.save(update_fields=["name"])
    draft, _created = FormDraft.objects.update_or_create(
        definition=definition, defaults={"schema": schema, "updated_by": actor}
    )
    return draft


def _publish(actor: Any, definition: FormDefinition, schema: dict[str, Any]) -> FormVersion:
    try:
        parsed = parse_schema(schema)
    except SchemaError as exc:
        raise SchemaInvalid(exc.problems) from None
    checksum = _checksum(schema)
    latest = definition.latest_version
    if latest is not None and latest.checksum == checksum:
        return latest  # unchanged: no new version
    number = (definition.versions.aggregate(top=Max("version"))["top"] or 0) + 1
    version = FormVersion.objects.create(
        definition=definition,
        version=number,
        schema=schema,
        checksum=checksum,
        reporting=reporting_fields(parsed),
        published_by=actor,
    )
    definition.latest_version = version
    definition.save(update_fields=["latest_version"])
    audit_record(
        actor=actor,
        action="forms.definition.published",
        target=definition,
        details={"key": definition.key, "version": number, "checksum": checksum},
    )
    return version


@transaction.atomic
def form_publish(*, actor: Any, key: str) -> FormVersion:
    """Publish the draft of ``key`` as its next version (the same version when the schema did not
    change). ``SchemaInvalid`` names every problem; nothing is written then."""
    _require(actor, PERM_DESIGN, _("You may not publish forms."))
    definition = _definition_for_update(key)
    draft = FormDraft.objects.filter(definition=definition).first()
    if draft is None:
        raise FormsInputError(_("There is no draft to publish."), field="schema")
    return _publish(actor, definition, dict(draft.schema))


@transaction.atomic
def form_schema_publish(
    *,
    actor: Any,
    schema: dict[str, Any],
    key: str | None = None,
    name: str | None = None,
    category: str | None = None,
) -> FormVersion:
    """Create (when new) and publish ``schema`` in one step — what ``POST /api/v1/forms`` does.

    The key is ``key`` when given, else the schema's ``"id"``. The draft is replaced by the
    schema. Nothing is written when the schema is refused."""
    _require(actor, PERM_DESIGN, _("You may not publish forms."))
    schema = _check_json_object(schema, field="schema", max_bytes=MAX_SCHEMA_BYTES, what=_("The schema"))
    if key is None or key == "":
        key = schema.get("id")
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise FormsInputError(
                _(
                    "Give the form a key: the schema's “id” (letters, digits, _ and -) or the “key” "
                    "parameter."
                ),
                field="key",
            )
    key = _check_key(key)
    definition = FormDefinition.objects.select_for_update().filter(key=key).first()
    if definition is None:
        definition = _new_definition(actor=actor, key=key, name=name, category=category, department=None)
        audit_record(actor=actor, action="forms.definition.created", target=definition, details={"key": key})
    else:
        changes = {}
        if name:
            changes["name"] = _clean_text(name, field="name", max_length=200)
        if category is not None:
            changes["category"] = _clean_text(category, field="category", max_length=64)
        for attr, value in changes.items():
            setattr(definition, attr, value)
        if changes:
            definition.save(update_fields=list(changes))
    version = _publish(actor, definition, schema)
    FormDraft.objects.update_or_create(
        definition=definition, defaults={"schema": schema, "updated_by": actor}
    )
    return version


# --- records --------------------------------------------------------------------------------------


def _submitter(actor: Any) -> Staff:
    staff = staff_of(actor)
    if staff is None or not staff.is_active:
        raise FormsPermissionDenied(_("Only active staff members can fill in forms."))
    return staff


def record_version_check(*, key: str, current: int, version: int) -> None:
    """``FormsConflict`` (409) when data filled in for ``version`` meets the ``current`` one."""
    if version != current:
        raise FormsConflict(
            fmt(
                _(
                    "The form “%(key)s” is now at version %(current)s; the data is for version "
                    "%(version)s. Reload the form."
                ),
                {"key": key, "current": current, "version": version},
            ),
            field="version",
        )


def _check_data(data: Any) -> dict[str, Any]:
    return _check_json_object(data, field="data", max_bytes=MAX_DATA_BYTES, what=_("The data"))


@transaction.atomic
def record_submit(
    *,
    actor: Any,
    key: str,
    data: Mapping[str, Any],
    version: int | None = None,
    permissions: Mapping[str, str] | None = None,
    previous: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    source: str = RecordSource.WEB,
    status: str = RecordStatus.SUBMITTED,
    subject: str = "",
    hidden_fields: Iterable[str] = (),
) -> FormRecord:
    """Validate ``data`` against the current version of ``key`` and keep it as a record.

    ``version`` (when given) is the version the client filled in: another than the current one is
    refused with ``FormsConflict`` (409) naming both. ``status`` is ``submitted`` or ``draft`` (a
    draft may leave required fields empty). ``hidden_fields``: paths the caller (a process) hides
    from some of its steps (see ``FormRecord.hidden_fields``). Raises ``ValidationFailed`` with
    every field error."""
    staff = _submitter(actor)
    _require(actor, PERM_SUBMIT, _("You may not fill in forms."))
    if source not in RecordSource.values:
        raise FormsInputError(_("Unknown source."), field="source")
    if status not in (RecordStatus.SUBMITTED, RecordStatus.DRAFT):
        raise FormsInputError(_("A new record is either a draft or submitted."), field="status")
    subject = _clean_text(subject, field="subject", max_length=MAX_SUBJECT)
    definition = FormDefinition.objects.filter(key=_check_key(key)).select_related("latest_version").first()
    if definition is None:
        raise FormsNotFound(fmt(_("There is no form “%(key)s”."), {"key": key}), field="key")
    current = _current_version(definition)
    if version is not None and version != current.version:
        record_version_check(key=definition.key, current=current.version, version=version)
    data = _check_data(data)
    result = _validate(
        current, data, staff=staff, permissions=permissions, previous=previous, context=context
    )
    extra = unknown_fields(parsed_schema(current), data, current.version)
    values = _accept(result, draft=status == RecordStatus.DRAFT, extra=extra)
    conflict_check(definition=definition, values=values, schema=parsed_schema(current))
    now = timezone.now()
    record = FormRecord.objects.create(
        definition=definition,
        version=current,
        submitter=staff,
        department_id=staff.department_id,
        status=status,
        source=source,
        subject=subject,
        values=values,
        hidden_fields=sorted({str(path) for path in hidden_fields}),
        submitted_at=now,
        updated_at=now,
    )
    _write_report_values(record, current, replace=False)
    _bind_attachments(record, parsed_schema(current), staff)
    audit_record(
        actor=actor,
        action="forms.record.submitted",
        target=record,
        details={"key": definition.key, "version": current.version, "status": status, "source": source},
    )
    return record


def record_validate(
    *, actor: Any, key: str, data: Mapping[str, Any], version: int | None = None
) -> ValidationResult:
    """Check ``data`` against the current version of ``key`` as ``record_submit`` would, storing
    nothing: the result's ``errors`` include the fields the form does not have."""
    staff = _submitter(actor)
    _require(actor, PERM_SUBMIT, _("You may not fill in forms."))
    definition = FormDefinition.objects.filter(key=_check_key(key)).select_related("latest_version").first()
    if definition is None:
        raise FormsNotFound(fmt(_("There is no form “%(key)s”."), {"key": key}), field="key")
    current = _current_version(definition)
    if version is not None:
        record_version_check(key=definition.key, current=current.version, version=version)
    data = _check_data(data)
    result = _validate(current, data, staff=staff)
    extra = unknown_fields(parsed_schema(current), data, current.version)
    if extra:
        result = ValidationResult(valid=False, data=result.data, errors=[*result.errors, *extra])
    return result


def _record_for_update(record: FormRecord | int) -> FormRecord:
    pk = record if isinstance(record, int) else record.pk
    locked = (
        FormRecord.objects.select_for_update(of=("self",))
        .filter(pk=pk)
        .select_related("definition", "version", "submitter")
        .first()
    )
    if locked is None:
        raise FormsNotFound(_("There is no such record."))
    return locked


def _may_edit_own(staff: Staff | None, record: FormRecord) -> bool:
    """A submitter may change their own record while it is a draft, or submitted and not tied to
    anything (a process edits its records through its own checks)."""
    if staff is None or record.submitter_id != staff.pk:
        return False
    if record.status == RecordStatus.DRAFT:
        return True
    return record.status == RecordStatus.SUBMITTED and not record.subject


@transaction.atomic
def record_update(
    *,
    actor: Any,
    record: FormRecord | int,
    data: Mapping[str, Any],
    permissions: Mapping[str, str] | None = None,
    context: Mapping[str, Any] | None = None,
    authorized: bool = False,
) -> FormRecord:
    """Change a record's values (validated against the record's own version, with ``previous`` =
    its current values, so read-only and hidden fields keep theirs and a crafted change is
    refused). The submitter may edit their own draft (or a submitted record not tied to a
    process); ``authorized=True`` says the caller — the process engine, for a task's assignee —
    has checked the actor may edit it."""
    staff = staff_of(actor)
    row = _record_for_update(record)
    if not authorized and not _may_edit_own(staff, row):
        raise FormsPermissionDenied(_("You may not change this record."))
    if row.status in (RecordStatus.APPROVED, RecordStatus.WITHDRAWN):
        raise FormsConflict(_("This record is closed and cannot be changed."), field="status")
    data = _check_data(data)
    result = _validate(
        row.version,
        data,
        staff=staff,
        record=row,
        permissions=permissions,
        previous=row.values,
        context=context,
    )
    extra = unknown_fields(parsed_schema(row.version), data, row.version.version)
    values = _accept(result, draft=row.status == RecordStatus.DRAFT, extra=extra)
    conflict_check(
        definition=row.definition,
        values=values,
        schema=parsed_schema(row.version),
        record=row,
        status=row.status,
    )
    changed = sorted(k for k in set(values) | set(row.values) if values.get(k) != row.values.get(k))
    row.values = values
    row.updated_at = timezone.now()
    row.save(update_fields=["values", "updated_at"])
    _write_report_values(row, row.version, replace=True)
    _bind_attachments(row, parsed_schema(row.version), staff)
    audit_record(
        actor=actor,
        action="forms.record.updated",
        target=row,
        details={"key": row.definition.key, "fields": changed[:100]},
    )
    return row


@transaction.atomic
def record_status_set(
    *, actor: Any, record: FormRecord | int, status: str, authorized: bool = False
) -> FormRecord:
    """Move a record on: a draft is submitted (validated in full) or withdrawn by its submitter;
    a submitted record is withdrawn by its submitter; approving, rejecting and resubmitting a
    rejected record are for callers that checked the actor (``authorized=True``: the process
    engine)."""
    staff = staff_of(actor)
    row = _record_for_update(record)
    if status not in TRANSITIONS.get(row.status, set()):
        raise FormsConflict(
            fmt(
                _("A record that is “%(from)s” cannot become “%(to)s”."),
                {"from": RecordStatus(row.status).label, "to": status},
            ),
            field="status",
        )
    own = staff is not None and row.submitter_id == staff.pk
    by_submitter = own and (
        status == RecordStatus.WITHDRAWN
        or (row.status == RecordStatus.DRAFT and status == RecordStatus.SUBMITTED)
    )
    if not (authorized or by_submitter):
        raise FormsPermissionDenied(_("You may not change this record."))
    if status == RecordStatus.SUBMITTED:
        result = _validate(row.version, row.values, staff=staff, record=row, previous=row.values)
        _accept(result, draft=False)
        if row.status in (RecordStatus.REJECTED, RecordStatus.WITHDRAWN):  # live again
            conflict_check(definition=row.definition, values=row.values, record=row)
    old = row.status
    row.status = status
    row.updated_at = timezone.now()
    fields = ["status", "updated_at"]
    if old == RecordStatus.DRAFT and status == RecordStatus.SUBMITTED:
        row.submitted_at = row.updated_at
        fields.append("submitted_at")
    row.save(update_fields=fields)
    audit_record(
        actor=actor,
        action="forms.record.status",
        target=row,
        details={"key": row.definition.key, "from": old, "to": status},
    )
    return row


# --- attachments ----------------------------------------------------------------------------------


@transaction.atomic
def attachment_upload(*, actor: Any, file: UploadedFile) -> FormAttachment:
    """Keep an uploaded file (size, extension and content checked) until a record names it; only
    its uploader may use it in a form until then."""
    staff = _submitter(actor)
    _require(actor, PERM_SUBMIT, _("You may not fill in forms."))
    name = files.clean_name(file.name)
    code, outcome = files.upload_problem(name, file.size or 0, file)
    if code:
        raise FormsInputError(outcome, field="file", errors=[("file", outcome)])
    extension = files.extension_of(name)
    row = FormAttachment(
        id=files.new_token(),
        name=name,
        size=file.size or 0,
        content_type=str(outcome),
        sha256=files.sha256_of(file),
        uploaded_by=staff,
    )
    file.seek(0)
    row.file.save(files.stored_name(extension), file, save=False)
    stored = row.file.name or ""
    try:
        row.save(force_insert=True)
    except Exception:
        row.file.storage.delete(stored)
        raise
    return row
