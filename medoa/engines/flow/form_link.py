"""Forms in processes: how a BPMN model binds a MedOA form and sets its field permissions per step.

* ``camunda:formKey="medoa:form:<key>"`` on a start event or a user task binds the published form
  ``<key>`` (deploy refuses a key without a published version). Other form keys (Camunda's
  ``embedded:…``, ``camunda-forms:…``, a bare name) are kept as opaque text: they carry no MedOA
  form, and the task page shows the generic decision form.
* On a user task, ``camunda:properties`` set the field permissions of that step:
  ``medoa:readonly`` and ``medoa:hidden`` each list field keys, comma-separated (every other field
  is editable). A key named in both is hidden. Deploy checks every key names a field of the form.
* The instance's record of a form is the one whose subject is :func:`instance_subject`.

This module holds the reads the pages, the API and the services share; the writes live in
``services`` (``instance_start`` and ``task_act`` take the form data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext_noop

from medoa.engines.forms import process_link as forms_link
from medoa.engines.forms.models import FormRecord, FormVersion
from medoa.engines.forms.permissions import HIDDEN, READONLY, without_paths

from .spiff import Msg, ParsedDefinition

PREFIX = "medoa:form:"
READONLY_PROPERTY = "medoa:readonly"
HIDDEN_PROPERTY = "medoa:hidden"
PERMISSION_PROPERTIES = {READONLY_PROPERTY: READONLY, HIDDEN_PROPERTY: HIDDEN}

StepView = forms_link.StepView


def medoa_form_key(form_key: str | None) -> str | None:
    """The MedOA form a ``camunda:formKey`` binds (None for another kind of key, or none)."""
    text = (form_key or "").strip()
    if not text.startswith(PREFIX):
        return None
    return text[len(PREFIX) :].strip()


def instance_subject(instance_id: int) -> str:
    """The subject of an instance's form records."""
    return f"flow:instance:{instance_id}"


def _names(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def step_permissions(properties: Mapping[str, str]) -> dict[str, str]:
    """``{field key: "readonly" | "hidden"}`` from a user task's ``camunda:properties``."""
    permissions: dict[str, str] = {}
    for name in _names(properties.get(READONLY_PROPERTY, "")):
        permissions[name] = READONLY
    for name in _names(properties.get(HIDDEN_PROPERTY, "")):
        permissions[name] = HIDDEN
    return permissions


def deploy_form_check(form_key: str, properties: Mapping[str, str], kind: str) -> list[Msg]:
    """The problems of one start event's or user task's form binding (see the module doc)."""
    problems: list[Msg] = []
    named = {prop: _names(properties.get(prop, "")) for prop in PERMISSION_PROPERTIES}
    has_permissions = any(named.values())
    key = medoa_form_key(form_key)
    if key is None:
        if has_permissions:
            problems.append(
                Msg(
                    gettext_noop(
                        "%(property)s names form fields, but the step binds no MedOA form: set "
                        'camunda:formKey="medoa:form:<key>"'
                    ),
                    {"property": next(p for p, names in named.items() if names)},
                )
            )
        return problems
    if not key:
        problems.append(Msg(gettext_noop('camunda:formKey "%(value)s" names no form'), {"value": form_key}))
        return problems
    state = forms_link.form_state(key)
    if not state.exists:
        problems.append(Msg(gettext_noop("form '%(key)s' does not exist"), {"key": key}))
        return problems
    if not state.active:
        problems.append(Msg(gettext_noop("form '%(key)s' is switched off"), {"key": key}))
        return problems
    if state.version is None:
        problems.append(
            Msg(gettext_noop("form '%(key)s' has no published version: publish it first"), {"key": key})
        )
        return problems
    if kind != "userTask":
        if has_permissions:
            problems.append(
                Msg(
                    gettext_noop(
                        "field permissions (medoa:readonly, medoa:hidden) apply to user tasks; "
                        "the initiator fills in the whole start form"
                    )
                )
            )
        return problems
    keys = forms_link.field_keys(state.version)
    for prop, names in named.items():
        for name in names:
            if name not in keys:
                problems.append(
                    Msg(
                        gettext_noop(
                            "%(property)s: form '%(key)s' (version %(version)s) has no field '%(field)s'"
                        ),
                        {"property": prop, "key": key, "version": state.version.version, "field": name},
                    )
                )
    return problems


def start_form_key(parsed: ParsedDefinition) -> str | None:
    return medoa_form_key(parsed.start_form_key)


def task_form_key(parsed: ParsedDefinition, step_id: str) -> str | None:
    info = parsed.user_tasks.get(step_id)
    return medoa_form_key(info.form_key) if info is not None else None


def task_permissions(parsed: ParsedDefinition, step_id: str) -> dict[str, str]:
    info = parsed.user_tasks.get(step_id)
    return step_permissions(info.properties) if info is not None else {}


def uses_forms(parsed: ParsedDefinition) -> bool:
    """Whether any step of the definition binds a MedOA form."""
    return start_form_key(parsed) is not None or any(
        medoa_form_key(info.form_key) for info in parsed.user_tasks.values()
    )


def start_view(parsed: ParsedDefinition) -> StepView | None:
    """The start form of a definition (its current published version, empty), or None."""
    key = start_form_key(parsed)
    if key is None:
        return None
    state = forms_link.form_state(key)
    if state.version is None:
        return None
    return forms_link.step_view(key=key, version=state.version, record=None, values={}, permissions={})


def task_view(
    *, parsed: ParsedDefinition, step_id: str, instance_id: int, variables: Mapping[str, Any]
) -> StepView | None:
    """The form of a user task as its step shows it: the instance's record of the form (or, before
    there is one, the instance's variables of the same names) with the step's permissions."""
    key = task_form_key(parsed, step_id)
    if key is None:
        return None
    record = forms_link.record_for_subject(subject=instance_subject(instance_id), key=key)
    version: FormVersion | None
    if record is not None:
        version, values = record.version, record.values
    else:
        version = forms_link.form_state(key).version
        if version is None:
            return None
        names = forms_link.variable_keys(version)
        values = {k: v for k, v in variables.items() if k in names}
    return forms_link.step_view(
        key=key,
        version=version,
        record=record,
        values=values,
        permissions=task_permissions(parsed, step_id),
    )


def task_record(*, parsed: ParsedDefinition, step_id: str, instance_id: int) -> FormRecord | None:
    key = task_form_key(parsed, step_id)
    if key is None:
        return None
    return forms_link.record_for_subject(subject=instance_subject(instance_id), key=key)


# --- keeping hidden fields out of what a page or the API shows ------------------------------------


def hidden_paths(parsed: ParsedDefinition, step_ids: Sequence[str] | None = None) -> set[str]:
    """The field keys hidden at ``step_ids`` (all user tasks when None)."""
    paths: set[str] = set()
    for step_id, info in parsed.user_tasks.items():
        if step_ids is not None and step_id not in step_ids:
            continue
        if medoa_form_key(info.form_key) is None:
            continue
        paths |= {k for k, level in step_permissions(info.properties).items() if level == HIDDEN}
    return paths


def visible_variables(
    *,
    parsed: ParsedDefinition,
    variables: Mapping[str, Any],
    step_id: str | None = None,
    sees_all: bool = False,
) -> dict[str, Any]:
    """The variables a page or the API may show. On a task (``step_id``): without the fields
    hidden at that step. Elsewhere: without the fields hidden at any step, unless the viewer
    ``sees_all`` (the initiator, who filled them in, and instance administrators)."""
    if step_id is not None:
        paths = hidden_paths(parsed, [step_id])
    elif sees_all:
        paths = set()
    else:
        paths = hidden_paths(parsed)
    return without_paths(variables, paths) if paths else dict(variables)
