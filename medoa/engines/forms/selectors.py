"""Reads of the form engine, narrowed to what the viewer may see.

* Forms: every signed-in person may read a published form (to fill it in); drafts and forms
  never published are for designers (``forms.definition.design``).
* Records: ``forms.record.view`` with its data scope over the record's department (the
  submitter's at the time) — everyone their own records, heads their department tree, the
  offices all. A record outside the scope answers "not found", never "forbidden". One exception:
  the page of a no-code app with ``shared_records`` lists all its form's records to everyone who
  sees the app (``app_selectors.app_record_list``); opening one still takes the scope.

``record_list`` filters on the fields a form marks for reporting through the side table
(``FormRecordValue``): ``filters`` maps ``"<field>"`` (equals) or ``"<field>__<op>"`` (``ne``,
``gt``, ``gte``, ``lt``, ``lte``, ``in`` (a list or comma-separated text), ``contains``) to a value;
and the record's own columns: ``status`` (one or several), ``submitter`` (staff id), ``department``
(code, the department and below it), ``submitted_from``/``submitted_to`` (dates, inclusive),
``subject``, ``version``, ``source``. ``search`` looks for text in the reporting values, the
subject and the submitter's name. ``sort`` is ``submitted_at``, ``updated_at``, ``id``, ``status``
or a reporting field, ``-`` first for descending.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.policy import has_perm, principal_memo, principal_of
from medoa.core.org.models import Department

from .apps import PERM_DESIGN, PERM_VIEW
from .choices import RecordSource, RecordStatus, ValueKind
from .errors import FormsInputError, FormsNotFound, fmt
from .models import FormAttachment, FormDefinition, FormRecord, FormRecordValue, FormVersion
from .permissions import without_paths

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
MAX_FILTER_VALUES = 100
MAX_SEARCH = 100
OPS = {
    "eq": "",
    "ne": "",
    "gt": "__gt",
    "gte": "__gte",
    "lt": "__lt",
    "lte": "__lte",
    "in": "__in",
    "contains": "",
}
RECORD_FILTERS = {
    "status",
    "submitter",
    "department",
    "submitted_from",
    "submitted_to",
    "subject",
    "version",
    "source",
}
RECORD_SORTS = {"submitted_at", "updated_at", "id", "status"}
RECORD_RELATED = ("definition", "version", "submitter", "department")


@dataclass
class RecordPage:
    items: list[FormRecord]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size)) if self.page_size else 1


# --- forms ----------------------------------------------------------------------------------------


def form_list(*, viewer: Any) -> QuerySet[FormDefinition]:
    """Published, active forms; designers see every form (drafts included)."""
    qs = FormDefinition.objects.select_related("latest_version", "department").order_by("category", "key")
    if has_perm(viewer, PERM_DESIGN):
        return qs
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return qs.none()
    return qs.filter(is_active=True, latest_version__isnull=False)


def form_get(*, viewer: Any, key: str) -> FormDefinition:
    definition = form_list(viewer=viewer).filter(key=key).first() if isinstance(key, str) else None
    if definition is None:
        raise FormsNotFound(fmt(_("There is no form “%(key)s”."), {"key": str(key)[:64]}), field="key")
    return definition


def form_version_get(*, key: str, version: int | None = None, viewer: Any = None) -> FormVersion:
    """A published version of ``key`` (the current one by default). With ``viewer``, only what
    they may see (an inactive form's versions: designers only)."""
    if viewer is not None:
        definition = form_get(viewer=viewer, key=key)
    else:
        found = FormDefinition.objects.filter(key=key).first() if isinstance(key, str) else None
        if found is None:
            raise FormsNotFound(fmt(_("There is no form “%(key)s”."), {"key": str(key)[:64]}), field="key")
        definition = found
    qs = FormVersion.objects.filter(definition=definition).select_related("definition")
    row = (
        qs.filter(pk=definition.latest_version_id or 0).first()
        if version is None
        else qs.filter(version=version).first()
    )
    if row is None:
        if version is None:
            message = fmt(_("The form “%(key)s” has no published version."), {"key": definition.key})
        else:
            message = fmt(
                _("The form “%(key)s” has no version %(version)s."),
                {"key": definition.key, "version": version},
            )
        raise FormsNotFound(message, field="version")
    return row


def form_versions(*, definition: FormDefinition) -> QuerySet[FormVersion]:
    return FormVersion.objects.filter(definition=definition).order_by("-version")


def reporting_fields_of(definition: FormDefinition) -> dict[str, dict[str, Any]]:
    """Every field any version marks for reporting → its entry (``kind``, ``many``; the latest
    version wins)."""
    fields: dict[str, dict[str, Any]] = {}
    for reporting in (
        FormVersion.objects.filter(definition=definition)
        .order_by("version")
        .values_list("reporting", flat=True)
    ):
        for item in reporting or []:
            fields[item["key"]] = item
    return fields


def reporting_kinds(definition: FormDefinition) -> dict[str, str]:
    """Every field any version marks for reporting → its column kind (the latest version wins)."""
    return {key: item["kind"] for key, item in reporting_fields_of(definition).items()}


# --- records --------------------------------------------------------------------------------------


def _department_ids(reaches: tuple[Any, ...]) -> frozenset[int]:
    ids: set[int] = set()
    for reach in reaches:
        if reach.scope in (DataScope.ALL, DataScope.SELF) or reach.department_id is None:
            continue
        if reach.subtree:
            ids.update(
                Department.objects.filter(path__startswith=reach.department_path).values_list("pk", flat=True)
            )
        else:
            ids.add(reach.department_id)
    return frozenset(ids)


def record_scope(viewer: Any) -> Q:
    """The records ``forms.record.view`` lets the viewer see, as a filter on the record's own
    columns: ``Q()`` for the whole hospital; otherwise the departments of their scope (the
    department tree resolved to ids once per cached principal, so the filter uses the record
    indexes instead of joining departments) and their own records."""
    principal = principal_of(viewer)
    reaches = principal.grants.get(PERM_VIEW) if principal is not None else None
    if principal is None or not reaches:
        return Q(pk__in=[])
    if any(r.scope == DataScope.ALL for r in reaches):
        return Q()
    q = Q(pk__in=[])
    if principal.staff is not None and any(r.scope == DataScope.SELF for r in reaches):
        q |= Q(submitter_id=principal.staff.pk)
    key = (
        "forms.record_scope",
        tuple((r.scope, r.department_id, r.department_path, r.subtree) for r in reaches),
    )
    departments = principal_memo(principal, key, lambda: _department_ids(tuple(reaches)))
    if departments:
        q |= Q(department_id__in=sorted(departments))
    return q


def record_visible(*, viewer: Any) -> QuerySet[FormRecord]:
    """Every record the viewer may see."""
    return FormRecord.objects.filter(record_scope(viewer))


def sees_hidden_fields(viewer: Any, record: FormRecord) -> bool:
    """Whether ``viewer`` may see the fields the record's process hides: its submitter (who filled
    them in) and form designers."""
    submitter = record.submitter
    if submitter is not None and submitter.user_id == getattr(viewer, "pk", None):
        return True
    return has_perm(viewer, PERM_DESIGN)


def for_viewer(viewer: Any, record: FormRecord) -> FormRecord:
    """``record`` as ``viewer`` may see it: without its hidden fields unless they may see them.
    The values are replaced in memory only (services re-read a record before they change it)."""
    if record.hidden_fields and not sees_hidden_fields(viewer, record):
        record.values = without_paths(record.values, set(record.hidden_fields))
    return record


def record_get(*, viewer: Any, record_id: Any) -> FormRecord:
    if isinstance(record_id, bool) or not isinstance(record_id, int) or not 0 < record_id < 2**63:
        raise FormsNotFound(_("There is no such record."))
    record = record_visible(viewer=viewer).select_related(*RECORD_RELATED).filter(pk=record_id).first()
    if record is None:
        raise FormsNotFound(_("There is no such record."))
    return for_viewer(viewer, record)


def _many(value: Any, field: str) -> list[Any]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    if not items or len(items) > MAX_FILTER_VALUES:
        raise FormsInputError(
            fmt(_("Give between 1 and %(max)s values."), {"max": MAX_FILTER_VALUES}), field=f"filters.{field}"
        )
    return items


def _typed(kind: str, value: Any, field: str) -> Any:
    if kind == ValueKind.NUMBER:
        if isinstance(value, bool):
            raise FormsInputError(_("Must be a number."), field=f"filters.{field}")
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise FormsInputError(_("Must be a number."), field=f"filters.{field}") from None
        if not number.is_finite() or abs(number) >= Decimal(10) ** 18:
            raise FormsInputError(_("Must be a number."), field=f"filters.{field}")
        return number
    if kind == ValueKind.DATE:
        try:
            return datetime.date.fromisoformat(str(value).strip())
        except ValueError:
            raise FormsInputError(_("Must be a date (YYYY-MM-DD)."), field=f"filters.{field}") from None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if "\x00" in text or len(text) > 255:
        raise FormsInputError(_("Must be text of at most 255 characters."), field=f"filters.{field}")
    return text


def _date(value: Any, field: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        raise FormsInputError(_("Must be a date (YYYY-MM-DD)."), field=f"filters.{field}") from None


def _int(value: Any, field: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise FormsInputError(_("Must be a whole number."), field=f"filters.{field}") from None
    if not 0 < number < 2**63:
        raise FormsInputError(_("Must be a whole number."), field=f"filters.{field}")
    return number


def _record_filter(qs: QuerySet[FormRecord], name: str, value: Any) -> QuerySet[FormRecord]:
    if name == "status":
        statuses = _many(value, name)
        bad = [s for s in statuses if s not in RecordStatus.values]
        if bad:
            raise FormsInputError(
                fmt(_("Unknown status “%(status)s”."), {"status": str(bad[0])[:40]}), field="filters.status"
            )
        return qs.filter(status__in=statuses)
    if name == "source":
        if value not in RecordSource.values:
            raise FormsInputError(_("Unknown source."), field="filters.source")
        return qs.filter(source=value)
    if name == "submitter":
        return qs.filter(submitter_id__in=[_int(v, name) for v in _many(value, name)])
    if name == "department":
        department = Department.objects.filter(code=str(value)[:32]).first()
        if department is None:
            raise FormsInputError(
                fmt(_("There is no department “%(code)s”."), {"code": str(value)[:32]}),
                field="filters.department",
            )
        return qs.filter(department__path__startswith=department.path)
    if name == "submitted_from":
        return qs.filter(submitted_at__date__gte=_date(value, name))
    if name == "submitted_to":
        return qs.filter(submitted_at__date__lte=_date(value, name))
    if name == "subject":
        return qs.filter(subject=str(value)[:200])
    if name == "version":
        return qs.filter(version__version=_int(value, name))
    raise AssertionError(name)


def _field_condition(kinds: Mapping[str, str], name: str, value: Any) -> tuple[str, str, Q]:
    """``(field, op, condition on the side table's value columns)`` of one filter."""
    field, _sep, op = name.partition("__")
    op = op or "eq"
    if field not in kinds:
        raise FormsInputError(
            fmt(
                _(
                    "“%(field)s” is not a field of this form marked for reporting; "
                    "only those can be filtered."
                ),
                {"field": field[:80]},
            ),
            field=f"filters.{name[:80]}",
        )
    if op not in OPS:
        raise FormsInputError(
            fmt(_("Unknown comparison “%(op)s”."), {"op": op[:20]}), field=f"filters.{name[:80]}"
        )
    kind = kinds[field]
    column = kind  # text | number | date
    if op == "contains":
        if kind != ValueKind.TEXT:
            raise FormsInputError(_("“contains” applies to text fields only."), field=f"filters.{name}")
        return field, op, Q(text__icontains=_typed(kind, value, name))
    if op == "in":
        return field, op, Q(**{f"{column}__in": [_typed(kind, v, name) for v in _many(value, name)]})
    if op in ("eq", "ne"):
        return field, op, Q(**{column: _typed(kind, value, name)})
    return field, op, Q(**{f"{column}{OPS[op]}": _typed(kind, value, name)})


def _field_filters(
    qs: QuerySet[FormRecord], definition: FormDefinition, kinds: Mapping[str, str], filters: Mapping[str, Any]
) -> tuple[QuerySet[FormRecord], list[tuple[str, QuerySet[FormRecordValue]]], bool]:
    """``qs`` narrowed by the reporting-field filters; the side-table rows matching each field's
    positive conditions (all of one field's conditions hold for the same value: ``amount__gte``
    and ``amount__lte`` make one range); whether a negative (``ne``) filter was among them."""
    positive: dict[str, Q] = {}
    negative = False
    for name, value in filters.items():
        field, op, condition = _field_condition(kinds, name, value)
        rows = FormRecordValue.objects.filter(definition_id=definition.pk, field=field)
        if op == "ne":
            qs = qs.exclude(pk__in=rows.filter(condition).values("record_id"))
            negative = True
        else:
            positive[field] = positive[field] & condition if field in positive else condition
    matches = []
    for field, condition in positive.items():
        rows = FormRecordValue.objects.filter(condition, definition_id=definition.pk, field=field)
        qs = qs.filter(pk__in=rows.values("record_id"))
        matches.append((field, rows))
    return qs, matches, negative


def _search(qs: QuerySet[FormRecord], definition: FormDefinition, search: str) -> QuerySet[FormRecord]:
    text = search.strip()[:MAX_SEARCH].replace("\x00", "")
    if not text:
        return qs
    in_values = FormRecordValue.objects.filter(
        record_id=OuterRef("pk"), definition_id=definition.pk, text__icontains=text
    )
    return qs.filter(Q(subject__icontains=text) | Q(submitter__name__icontains=text) | Exists(in_values))


def _sorted(
    qs: QuerySet[FormRecord], definition: FormDefinition, kinds: Mapping[str, str], sort: str
) -> QuerySet[FormRecord]:
    sort = (sort or "-submitted_at").strip()
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name in RECORD_SORTS:
        if name == "id":
            return qs.order_by(f"{'-' if descending else ''}id")
        return qs.order_by(f"{'-' if descending else ''}{name}", f"{'-' if descending else ''}id")
    if name in kinds:
        column = kinds[name]
        first = FormRecordValue.objects.filter(record_id=OuterRef("pk"), field=name).order_by(column)
        qs = qs.annotate(sort_value=Subquery(first.values(column)[:1]))
        order = F("sort_value").desc(nulls_last=True) if descending else F("sort_value").asc(nulls_last=True)
        return qs.order_by(order, "-id" if descending else "id")
    raise FormsInputError(
        fmt(_("Cannot sort by “%(sort)s”."), {"sort": name[:80]}),
        field="sort",
    )


@dataclass
class _Query:
    definition: FormDefinition
    records: QuerySet[FormRecord]  # filtered, searched, sorted; nothing joined
    # side-table rows of each positive field filter, and the fields they are on
    matches: list[tuple[str, QuerySet[FormRecordValue]]]
    # True when only the field filters narrow the records (everything in scope, nothing else)
    side_table_only: bool
    many: frozenset[str]
    # (field, column, descending) when sorted by a reporting field
    sort_field: tuple[str, str, bool] | None = None


def _query(
    *,
    viewer: Any,
    key: str,
    filters: Mapping[str, Any] | None,
    search: str,
    sort: str,
    whole_form: bool = False,
) -> _Query:
    definition = FormDefinition.objects.filter(key=key).first() if isinstance(key, str) else None
    if definition is None:
        raise FormsNotFound(fmt(_("There is no form “%(key)s”."), {"key": str(key)[:64]}), field="key")
    reporting = reporting_fields_of(definition)
    kinds = {k: item["kind"] for k, item in reporting.items()}
    scope = Q() if whole_form else record_scope(viewer)
    qs = FormRecord.objects.filter(scope).filter(definition=definition)
    side_table_only = scope == Q() and not search
    on_fields: dict[str, Any] = {}
    for name, value in (filters or {}).items():
        if value is None or value == "" or value == []:
            continue
        if name in RECORD_FILTERS:
            qs = _record_filter(qs, name, value)
            side_table_only = False
        else:
            on_fields[name] = value
    qs, matches, negative = _field_filters(qs, definition, kinds, on_fields)
    if negative:
        side_table_only = False
    if search:
        qs = _search(qs, definition, search)
    many = frozenset(k for k, item in reporting.items() if item.get("many", True))
    name = (sort or "-submitted_at").strip()
    sort_field = None
    if name.lstrip("-") in kinds and name.lstrip("-") not in RECORD_SORTS:
        sort_field = (name.lstrip("-"), kinds[name.lstrip("-")], name.startswith("-"))
    return _Query(
        definition, _sorted(qs, definition, kinds, sort), matches, side_table_only, many, sort_field
    )


def record_queryset(
    *,
    viewer: Any,
    key: str,
    filters: Mapping[str, Any] | None = None,
    search: str = "",
    sort: str = "-submitted_at",
) -> QuerySet[FormRecord]:
    """The records of ``key`` the viewer may see, filtered, searched and sorted (not paged)."""
    query = _query(viewer=viewer, key=key, filters=filters, search=search, sort=sort)
    return query.records.select_related(*RECORD_RELATED)


def _count(query: _Query) -> int:
    """How many records match. When only field filters narrow a hospital-wide view, the side
    table's indexes answer alone (no visit to the records)."""
    if query.side_table_only and query.matches:
        (field, rows), *others = query.matches
        for _field, other in others:
            rows = rows.filter(record_id__in=other.values("record_id"))
        ids = rows.values("record_id")
        if field in query.many:
            ids = ids.distinct()
        return ids.count()
    return query.records.order_by().count()


def _page_ids(query: _Query, offset: int, limit: int) -> list[int]:
    """The ids of one page. Sorted by a single-valued reporting field over a hospital-wide view,
    the field's own index is walked in order (each record checked against the filters) instead
    of looking the value up for every matching record; records without a value come last."""
    plan = query.sort_field
    if plan is None or not query.side_table_only or plan[0] in query.many:
        return list(query.records.values_list("pk", flat=True)[offset : offset + limit])
    field, column, descending = plan
    valued = FormRecordValue.objects.filter(
        definition_id=query.definition.pk, field=field, **{f"{column}__isnull": False}
    )
    for _name, rows in query.matches:
        valued = valued.filter(record_id__in=rows.values("record_id"))
    order = (f"-{column}", "-record_id") if descending else (column, "record_id")
    ids = list(valued.order_by(*order).values_list("record_id", flat=True)[offset : offset + limit])
    if len(ids) == limit:
        return ids
    with_value = offset + len(ids) if ids else valued.count()
    rest = query.records.exclude(pk__in=valued.values("record_id")).order_by("-id" if descending else "id")
    start = max(0, offset - with_value)
    return ids + list(rest.values_list("pk", flat=True)[start : start + limit - len(ids)])


def record_list(
    *,
    viewer: Any,
    key: str,
    filters: Mapping[str, Any] | None = None,
    search: str = "",
    sort: str = "-submitted_at",
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    whole_form: bool = False,
) -> RecordPage:
    """One page of ``record_queryset`` and the total count: the page's ids first (one narrow
    query), then its records with their submitter, department and version.

    ``whole_form=True`` lists every record of the form, whatever the viewer's data scope: only for
    a caller that has decided the viewer may see them all (``app_selectors.app_record_list``, for
    an app with ``shared_records``). The fields a process hides are left out all the same."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise FormsInputError(_("Must be a whole number of at least 1."), field="page")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise FormsInputError(
            fmt(_("Must be between 1 and %(max)s."), {"max": MAX_PAGE_SIZE}), field="page_size"
        )
    query = _query(viewer=viewer, key=key, filters=filters, search=search, sort=sort, whole_form=whole_form)
    total = _count(query)
    offset = (page - 1) * page_size
    items: list[FormRecord] = []
    if offset < total:
        ids = _page_ids(query, offset, page_size)
        rows = FormRecord.objects.filter(pk__in=ids).select_related(
            "version", "submitter__user", "department"
        )
        by_id = {r.pk: r for r in rows}
        items = [by_id[i] for i in ids if i in by_id]
        for item in items:
            item.definition = query.definition
            for_viewer(viewer, item)
    return RecordPage(items=items, total=total, page=page, page_size=page_size)


def record_list_for_subject(*, viewer: Any, subject: str) -> QuerySet[FormRecord]:
    return record_visible(viewer=viewer).filter(subject=subject).select_related(*RECORD_RELATED)


# --- attachments ----------------------------------------------------------------------------------


def attachment_get(*, viewer: Any, attachment_id: Any) -> FormAttachment:
    """An attachment the viewer may download: their own upload not yet bound to a record, or one
    of a record they may see. Anything else is "not found"."""
    if not isinstance(attachment_id, str) or not 0 < len(attachment_id) <= 64:
        raise FormsNotFound(_("There is no such attachment."))
    row = FormAttachment.objects.select_related("uploaded_by", "record").filter(pk=attachment_id).first()
    if row is None:
        raise FormsNotFound(_("There is no such attachment."))
    if row.record_id is None:
        principal = principal_of(viewer)
        staff = principal.staff if principal is not None else None
        if staff is None or staff.pk != row.uploaded_by_id:
            raise FormsNotFound(_("There is no such attachment."))
        return row
    record = record_visible(viewer=viewer).select_related("submitter").filter(pk=row.record_id).first()
    if record is None:
        raise FormsNotFound(_("There is no such attachment."))
    if record.hidden_fields and not sees_hidden_fields(viewer, record):
        # a file in a field hidden from this viewer is not theirs to download either
        shown = json.dumps(for_viewer(viewer, record).values, ensure_ascii=False)
        if json.dumps(row.pk) not in shown:
            raise FormsNotFound(_("There is no such attachment."))
    return row


def attachment_open(*, viewer: Any, attachment_id: Any) -> tuple[str, str, str]:
    """``(path on disk, the name to save it as, content type)`` of an attachment the viewer may
    see (``FormsNotFound`` otherwise)."""
    row = attachment_get(viewer=viewer, attachment_id=attachment_id)
    return row.file.path, row.name, row.content_type


def attachments_of(records: Iterable[FormRecord]) -> QuerySet[FormAttachment]:
    return FormAttachment.objects.filter(record__in=list(records)).order_by("uploaded_at")
