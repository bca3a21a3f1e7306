"""Writes of the no-code apps (``App``): create, change, switch on and off — for holders of
``forms.definition.design``. Every problem of the input is named at once (``FormsInputError``
with one ``(field, message)`` per problem); nothing is written then. Audited as
``forms.app.created`` / ``updated`` / ``enabled`` / ``disabled``.

The process an app starts is named by key and checked against the process engine's catalog
(``medoa.core.registries.process_catalog``): the form engine never imports the process engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from medoa.core.access.cache import access_cache_forget_org_facts
from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record
from medoa.core.org.roles import BUILTIN_ROLE_CODES
from medoa.core.registries import process_catalog

from .apps import PERM_DESIGN
from .errors import FormsInputError, FormsNotFound, FormsPermissionDenied, fmt
from .models import App, FormDefinition
from .schema import Field, FormSchema
from .services import parsed_schema

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ICON_RE = re.compile(r"[a-z0-9-]{0,32}")
# paths under /forms/apps/ that a slug would shadow
RESERVED_SLUGS = frozenset({"new", "fields"})
MAX_COLUMNS = 12
MAX_DESCRIPTION = 2000
MAX_MENU_ORDER = 10000
NOT_A_COLUMN = frozenset({"medoa-attachment", "medoa-signature"})
RESOURCE_TYPES = frozenset({"textfield", "select", "radio"})
TIME_SUBTYPES = frozenset({"date", "datetime"})


@dataclass
class AppSpec:
    """What an app is made of, as the builder gives it (checked by ``app_create``/``app_update``)."""

    name: str
    form: str  # the form's key
    description: str = ""
    icon: str = ""
    process_key: str = ""
    list_columns: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    menu_order: int = 100
    enabled: bool = True
    conflict_resource: str = ""
    conflict_start: str = ""
    conflict_end: str = ""
    # everyone who sees the app sees all its records on its page (a booking calendar)
    shared_records: bool = False


# --- what a form offers --------------------------------------------------------------------------


def column_fields(schema: FormSchema) -> list[Field]:
    """The fields an app's list may show: every input outside a dynamic list, but files."""
    return [f for f in schema.input_fields() if "[" not in f.key and f.type not in NOT_A_COLUMN]


def resource_fields(schema: FormSchema) -> list[Field]:
    """Fields that may name a conflict rule's resource: top-level text, select or radio."""
    return [
        f for f in schema.input_fields() if "." not in f.key and "[" not in f.key and f.type in RESOURCE_TYPES
    ]


def time_fields(schema: FormSchema) -> list[Field]:
    """Fields that may bound a conflict rule's interval: top-level dates and datetimes."""
    return [
        f
        for f in schema.input_fields()
        if "." not in f.key
        and "[" not in f.key
        and f.type == "datetime"
        and (f.subtype or "date") in TIME_SUBTYPES
    ]


def processes() -> list[tuple[str, str]]:
    """``(key, name)`` of the processes an app may start (none without the process engine)."""
    if "flow" not in process_catalog:
        return []
    return list(process_catalog.get("flow").processes())


# --- checks --------------------------------------------------------------------------------------


def _text(value: Any, *, name: str, max_length: int, required: bool, errors: list[tuple[str, Any]]) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.append((name, _("Must be text.")))
        return ""
    value = value.strip()
    if "\x00" in value:
        errors.append((name, _("Must not contain NUL characters.")))
    elif required and not value:
        errors.append((name, _("This field is required.")))
    elif len(value) > max_length:
        errors.append((name, fmt(_("At most %(max)s characters."), {"max": max_length})))
    return value


def _keys(value: Any, *, name: str, errors: list[tuple[str, Any]]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors.append((name, _("Must be a list of texts.")))
        return []
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _published_form(
    key: str, errors: list[tuple[str, Any]]
) -> tuple[FormDefinition | None, FormSchema | None]:
    if not key:
        return None, None
    definition = FormDefinition.objects.select_related("latest_version").filter(key=key).first()
    if definition is None:
        errors.append(("form", fmt(_("There is no form “%(key)s”."), {"key": key[:64]})))
        return None, None
    if definition.latest_version is None or not definition.is_active:
        errors.append(("form", fmt(_("The form “%(key)s” has no published version."), {"key": key})))
        return None, None
    return definition, parsed_schema(definition.latest_version)


def _clean(spec: AppSpec) -> tuple[dict[str, Any], FormDefinition | None, list[tuple[str, Any]]]:
    """The app's columns, or every problem of ``spec``."""
    errors: list[tuple[str, Any]] = []
    out: dict[str, Any] = {
        "name": _text(spec.name, name="name", max_length=100, required=True, errors=errors),
        "description": _text(
            spec.description, name="description", max_length=MAX_DESCRIPTION, required=False, errors=errors
        ),
        "icon": _text(spec.icon, name="icon", max_length=32, required=False, errors=errors),
    }
    if out["icon"] and not ICON_RE.fullmatch(out["icon"]):
        errors.append(("icon", _("Use lower-case letters, digits and - only.")))
    form_key = _text(spec.form, name="form", max_length=64, required=True, errors=errors)
    definition, schema = _published_form(form_key, errors)

    process_key = _text(spec.process_key, name="process_key", max_length=64, required=False, errors=errors)
    if process_key and process_key not in dict(processes()):
        errors.append(
            ("process_key", fmt(_("There is no deployed, active process “%(key)s”."), {"key": process_key}))
        )
    out["process_key"] = process_key

    roles = _keys(spec.roles, name="roles", errors=errors)
    unknown = [r for r in roles if r not in BUILTIN_ROLE_CODES]
    if unknown:
        errors.append(("roles", fmt(_("Unknown role “%(role)s”."), {"role": unknown[0][:40]})))
    out["roles"] = sorted(roles)

    if isinstance(spec.menu_order, bool) or not isinstance(spec.menu_order, int):
        errors.append(("menu_order", _("Must be a whole number.")))
    elif not 0 <= spec.menu_order <= MAX_MENU_ORDER:
        errors.append(("menu_order", fmt(_("Must be between 0 and %(max)s."), {"max": MAX_MENU_ORDER})))
    out["menu_order"] = spec.menu_order
    out["enabled"] = bool(spec.enabled)
    out["shared_records"] = bool(spec.shared_records)

    columns = _keys(spec.list_columns, name="list_columns", errors=errors)
    if len(columns) > MAX_COLUMNS:
        errors.append(("list_columns", fmt(_("Choose at most %(max)s columns."), {"max": MAX_COLUMNS})))
    rule = {
        "conflict_resource": _text(
            spec.conflict_resource, name="conflict_resource", max_length=200, required=False, errors=errors
        ),
        "conflict_start": _text(
            spec.conflict_start, name="conflict_start", max_length=200, required=False, errors=errors
        ),
        "conflict_end": _text(
            spec.conflict_end, name="conflict_end", max_length=200, required=False, errors=errors
        ),
    }
    if schema is not None:
        offered = {f.key for f in column_fields(schema)}
        for key in columns:
            if key not in offered:
                errors.append(
                    (
                        "list_columns",
                        fmt(_("The form has no field “%(field)s” to show."), {"field": key[:80]}),
                    )
                )
        _check_rule(schema, rule, errors)
    out["list_columns"] = columns
    out.update(rule)
    return out, definition, errors


def _check_rule(schema: FormSchema, rule: dict[str, str], errors: list[tuple[str, Any]]) -> None:
    given = [name for name, value in rule.items() if value]
    if not given:
        return
    if len(given) < len(rule):
        for name, value in rule.items():
            if not value:
                errors.append((name, _("A conflict rule needs a resource, a start and an end field.")))
        return
    resources = {f.key for f in resource_fields(schema)}
    times = {f.key for f in time_fields(schema)}
    if rule["conflict_resource"] not in resources:
        errors.append(
            (
                "conflict_resource",
                fmt(
                    _("“%(field)s” is not a text, select or radio field of the form."),
                    {"field": rule["conflict_resource"][:80]},
                ),
            )
        )
    for name in ("conflict_start", "conflict_end"):
        if rule[name] not in times:
            errors.append(
                (
                    name,
                    fmt(
                        _("“%(field)s” is not a date or datetime field of the form."),
                        {"field": rule[name][:80]},
                    ),
                )
            )
    if rule["conflict_start"] and rule["conflict_start"] == rule["conflict_end"]:
        errors.append(("conflict_end", _("The start and the end must be two different fields.")))


def _require_designer(actor: Any) -> None:
    if not has_perm(actor, PERM_DESIGN):
        raise FormsPermissionDenied(_("You may not build apps."))


def _changed(app: App, values: dict[str, Any]) -> list[str]:
    return sorted(name for name, value in values.items() if getattr(app, name) != value)


# --- services ------------------------------------------------------------------------------------


@transaction.atomic
def app_create(*, actor: Any, slug: str, spec: AppSpec) -> App:
    """A new app. Every problem of ``slug`` and ``spec`` comes back at once; nothing is written."""
    _require_designer(actor)
    errors: list[tuple[str, Any]] = []
    slug = _text(slug, name="slug", max_length=64, required=True, errors=errors)
    if slug and not SLUG_RE.fullmatch(slug):
        errors.append(
            ("slug", _("Use lower-case letters, digits, _ and -, starting with a letter or digit."))
        )
    elif slug in RESERVED_SLUGS:
        errors.append(("slug", fmt(_("“%(key)s” is reserved; choose another key."), {"key": slug})))
    elif slug and App.objects.filter(slug=slug).exists():
        errors.append(("slug", fmt(_("There is already an app “%(slug)s”."), {"slug": slug})))
    values, definition, more = _clean(spec)
    errors.extend(more)
    if errors:
        raise FormsInputError(errors[0][1], field=errors[0][0], errors=errors)
    assert definition is not None
    app = App.objects.create(slug=slug, form=definition, created_by=actor, **values)
    audit_record(
        actor=actor,
        action="forms.app.created",
        target=app,
        details={
            "slug": slug,
            "form": definition.key,
            **{k: values[k] for k in ("process_key", "roles", "shared_records")},
        },
    )
    access_cache_forget_org_facts()
    return app


def _app_for_update(slug: Any) -> App:
    app = App.objects.select_for_update().filter(slug=slug).first() if isinstance(slug, str) else None
    if app is None:
        raise FormsNotFound(fmt(_("There is no app “%(slug)s”."), {"slug": str(slug)[:64]}), field="slug")
    return app


@transaction.atomic
def app_update(*, actor: Any, slug: str, spec: AppSpec) -> App:
    """Change an app (its slug stays). Every problem at once; nothing is written then."""
    _require_designer(actor)
    app = _app_for_update(slug)
    values, definition, errors = _clean(spec)
    if errors:
        raise FormsInputError(errors[0][1], field=errors[0][0], errors=errors)
    assert definition is not None
    values["form_id"] = definition.pk
    changed = _changed(app, values)
    if changed:
        for name in changed:
            setattr(app, name, values[name])
        app.save()
        audit_record(
            actor=actor,
            action="forms.app.updated",
            target=app,
            details={"slug": app.slug, "fields": changed, "form": definition.key},
        )
        access_cache_forget_org_facts()
    return app


@transaction.atomic
def app_enabled_set(*, actor: Any, slug: str, enabled: bool) -> App:
    """Switch an app on (its menu entry and page return) or off (both gone; records stay)."""
    _require_designer(actor)
    app = _app_for_update(slug)
    if app.enabled != enabled:
        app.enabled = enabled
        app.save(update_fields=["enabled", "updated_at"])
        audit_record(
            actor=actor,
            action="forms.app.enabled" if enabled else "forms.app.disabled",
            target=app,
            details={"slug": app.slug},
        )
        access_cache_forget_org_facts()
    return app


@transaction.atomic
def app_process_set(*, actor: Any, slug: str, process_key: str) -> App:
    """Link an app to a deployed process (or unlink it with ``""``): "New" then starts the
    process. The key is checked against the process engine's catalog."""
    _require_designer(actor)
    app = _app_for_update(slug)
    errors: list[tuple[str, Any]] = []
    key = _text(process_key, name="process_key", max_length=64, required=False, errors=errors)
    if key and key not in dict(processes()):
        errors.append(
            ("process_key", fmt(_("There is no deployed, active process “%(key)s”."), {"key": key}))
        )
    if errors:
        raise FormsInputError(errors[0][1], field=errors[0][0], errors=errors)
    if app.process_key != key:
        app.process_key = key
        app.save(update_fields=["process_key", "updated_at"])
        audit_record(
            actor=actor,
            action="forms.app.updated",
            target=app,
            details={"slug": app.slug, "fields": ["process_key"]},
        )
    return app
