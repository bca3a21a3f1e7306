"""What the process engine asks of the form engine (flow imports this; forms never imports flow).

A process binds a form with ``camunda:formKey="medoa:form:<key>"``; the process engine keeps one
record per form and instance, tied to the instance by ``FormRecord.subject`` (the engine chooses
the subject text, e.g. ``"flow:instance:42"``). Records are written through ``services``
(``record_submit`` with ``source="process"``, ``record_update`` with ``authorized=True``); this
module holds the reads the engine needs and the two small writes ``services`` has no use for:
tying a new record to its subject, and settling the records when the process ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record

from . import services
from .apps import PERM_SUBMIT
from .choices import RecordStatus
from .errors import FormsConflict, FormsNotFound, FormsPermissionDenied, fmt
from .models import FormDefinition, FormRecord, FormVersion
from .permissions import data_for_step, schema_for_step
from .schema import FormSchema
from .services import parsed_schema, top_level_keys

__all__ = [
    "FormState",
    "StepView",
    "field_keys",
    "form_state",
    "record_check",
    "record_for_subject",
    "records_settle",
    "step_view",
]


@dataclass(frozen=True)
class FormState:
    """What a process may bind: ``exists`` (a form with this key), ``version`` (its published,
    active version; None when it has none or the form is switched off)."""

    key: str
    exists: bool
    active: bool
    version: FormVersion | None


def form_state(key: str) -> FormState:
    definition = (
        FormDefinition.objects.select_related("latest_version").filter(key=key).first()
        if isinstance(key, str) and 0 < len(key) <= 64
        else None
    )
    if definition is None:
        return FormState(key=key, exists=False, active=False, version=None)
    version = definition.latest_version if definition.is_active else None
    return FormState(key=key, exists=True, active=definition.is_active, version=version)


def field_keys(version: FormVersion) -> frozenset[str]:
    """Every key a field permission may name: fields, dynamic lists, groups with a path, and
    columns of dynamic lists (``items[].amount``)."""
    return frozenset(f.key for f in parsed_schema(version).walk() if f.key)


def variable_keys(version: FormVersion) -> frozenset[str]:
    """The top-level data keys of the version (what becomes process variables)."""
    return top_level_keys(parsed_schema(version))


def schema_of(version: FormVersion) -> FormSchema:
    return parsed_schema(version)


def record_for_subject(*, subject: str, key: str) -> FormRecord | None:
    """The newest record of form ``key`` about ``subject`` (None when there is none)."""
    return (
        FormRecord.objects.filter(subject=subject, definition__key=key)
        .select_related("definition", "version")
        .order_by("-pk")
        .first()
    )


def record_check(
    *,
    actor: Any,
    key: str,
    data: Any,
    record: FormRecord | None = None,
    permissions: Mapping[str, str] | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """The values ``services.record_submit`` (no ``record``: a new record of the current version
    of ``key``) or ``services.record_update`` (``record``, whose editing the caller has checked)
    would keep for ``data`` — or the error they would raise (``ValidationFailed`` with every field
    error, ``FormsConflict`` for another version or a closed record …). Nothing is written, so
    the process engine checks the data before its step and stores the record after it."""
    if record is None:
        staff: Any = services._submitter(actor)
        if not has_perm(actor, PERM_SUBMIT):
            raise FormsPermissionDenied(_("You may not fill in forms."))
        state = form_state(key)
        if not state.exists:
            raise FormsNotFound(fmt(_("There is no form “%(key)s”."), {"key": key}), field="key")
        if state.version is None:
            raise FormsNotFound(
                fmt(_("The form “%(key)s” has no published version."), {"key": key}), field="key"
            )
        target, previous = state.version, None
        if version is not None:
            services.record_version_check(key=key, current=target.version, version=version)
    else:
        staff = services.staff_of(actor)
        if record.status in (RecordStatus.APPROVED, RecordStatus.WITHDRAWN):
            raise FormsConflict(_("This record is closed and cannot be changed."), field="status")
        target, previous = record.version, record.values
    clean = services._check_data(data)
    result = services._validate(
        target, clean, staff=staff, record=record, permissions=permissions, previous=previous
    )
    extra = services.unknown_fields(parsed_schema(target), clean, target.version)
    return services._accept(result, draft=False, extra=extra)


@dataclass(frozen=True)
class StepView:
    """A form as one step of a process shows it: the schema and data for the browser (hidden
    fields removed from both, read-only ones marked) and where they come from."""

    key: str
    version: FormVersion
    record: FormRecord | None
    permissions: Mapping[str, str]
    schema: dict[str, Any]
    data: dict[str, Any]


def step_view(
    *,
    key: str,
    version: FormVersion,
    record: FormRecord | None,
    values: Mapping[str, Any] | None,
    permissions: Mapping[str, str],
) -> StepView:
    parsed = parsed_schema(version)
    return StepView(
        key=key,
        version=version,
        record=record,
        permissions=dict(permissions),
        schema=schema_for_step(parsed, permissions),
        data=data_for_step(parsed, values or {}, permissions),
    )


SETTLED_FROM = (RecordStatus.SUBMITTED, RecordStatus.DRAFT)


@transaction.atomic
def records_settle(*, subject: str, status: str) -> list[FormRecord]:
    """The process about ``subject`` ended: its submitted records become ``status`` (approved,
    rejected or withdrawn). Audited as the process engine's change (``forms.record.status``)."""
    if status not in (RecordStatus.APPROVED, RecordStatus.REJECTED, RecordStatus.WITHDRAWN):
        raise ValueError(f"a process settles records as approved, rejected or withdrawn, not {status!r}")
    rows = list(
        FormRecord.objects.select_for_update(of=("self",))
        .filter(subject=subject, status__in=SETTLED_FROM)
        .select_related("definition")
        .order_by("pk")
    )
    now = timezone.now()
    for row in rows:
        old = row.status
        row.status = status
        row.updated_at = now
        row.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=None,
            actor_name="flow",
            action="forms.record.status",
            target=row,
            details={"key": row.definition.key, "from": old, "to": status, "subject": subject},
        )
    return rows
