"""The conflict rule of a no-code app (``App.conflict_*``): no two live records of its form — neither
rejected nor withdrawn — may overlap in time on the same resource (a meeting room, a device …).

``conflict_check`` is called by ``services`` whenever a record's values become live: a new record
(``record_submit``, which the process engine's start also goes through), a changed one
(``record_update``) and a rejected one submitted again (``record_status_set``). It locks the rule's
app row, so two bookings of one app are checked one after the other, and refuses with
``ValidationFailed`` carrying one ``FieldError`` on the start field that names the booking it
clashes with (on the end field when the end is not after the start).

Intervals are half-open: a booking that ends at 10:00 and one that starts at 10:00 do not clash.
A date-only field (``subtype: date``) covers whole days, its end day included. A record that lacks
the resource, the start or the end is not checked (whether they are required is the form's
business). Values without a time zone are local time (``TIME_ZONE``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Q, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import RecordStatus
from .errors import ValidationFailed, fmt
from .models import App, FormDefinition, FormRecord
from .schema import FormSchema
from .validation import FieldError

# statuses whose records hold nothing
NOT_LIVE = (RecordStatus.REJECTED, RecordStatus.WITHDRAWN)
# how far a value's date part may be from its instant (time zone offsets): a safe text pre-filter
MARGIN = datetime.timedelta(days=2)
MAX_CANDIDATES = 2000


def moment_of(value: Any, *, end: bool) -> datetime.datetime | None:
    """The instant a form-js date or datetime value stands for (a date: the start of that day, or
    for an end the start of the next day); None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        if "T" not in text:
            day = datetime.date.fromisoformat(text)
            moment = datetime.datetime.combine(day, datetime.time())
            if end:
                moment += datetime.timedelta(days=1)
        else:
            moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def _shown(value: Any, moment: datetime.datetime) -> str:
    """How a value reads in a message: a date as it is, a datetime in local time."""
    if isinstance(value, str) and "T" not in value:
        return value.strip()
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _resource_label(schema: FormSchema | None, key: str, value: Any) -> str:
    """The option's label when the resource field is a select or radio, else the value."""
    if schema is not None:
        try:
            field = schema.field(key)
        except KeyError:
            field = None
        if field is not None:
            for option in field.component.get("values") or []:
                if isinstance(option, Mapping) and option.get("value") == value:
                    return str(option.get("label") or value)
    return str(value)


def rules_for(definition_id: int, *, lock: bool) -> list[App]:
    """The enabled apps of a form that carry a conflict rule (locked: checks queue behind)."""
    qs = App.objects.filter(form_id=definition_id, enabled=True).exclude(conflict_resource="")
    if lock:
        qs = qs.select_for_update()
    return list(qs.order_by("pk"))


def clash(
    app: App, values: Mapping[str, Any], *, exclude: int | None = None, schema: FormSchema | None = None
) -> FieldError | None:
    """The error of ``values`` under ``app``'s rule (None: no clash)."""
    resource = values.get(app.conflict_resource)
    start_value, end_value = values.get(app.conflict_start), values.get(app.conflict_end)
    start = moment_of(start_value, end=False)
    end = moment_of(end_value, end=True)
    if resource is None or resource == "" or start is None or end is None:
        return None
    if end <= start:
        return FieldError(app.conflict_end, "end_before_start", _("The end must be after the start."))
    candidates = (
        FormRecord.objects.filter(definition_id=app.form_id)
        .filter(Q(**{f"values__{app.conflict_resource}": resource}))
        .exclude(status__in=NOT_LIVE)
        .annotate(
            _start=Cast(KT(f"values__{app.conflict_start}"), TextField()),
            _end=Cast(KT(f"values__{app.conflict_end}"), TextField()),
        )
        # a text pre-filter on the ISO values' date parts, a day or two wide; exact below
        .filter(_start__lt=(end + MARGIN).date().isoformat(), _end__gte=(start - MARGIN).date().isoformat())
        .order_by("_start", "pk")
        .values_list("pk", "values")
    )
    if exclude is not None:
        candidates = candidates.exclude(pk=exclude)
    for pk, other in candidates[:MAX_CANDIDATES]:
        other_start_value, other_end_value = other.get(app.conflict_start), other.get(app.conflict_end)
        other_start = moment_of(other_start_value, end=False)
        other_end = moment_of(other_end_value, end=True)
        if other_start is None or other_end is None:
            continue
        if other_start < end and start < other_end:
            return FieldError(
                app.conflict_start,
                "conflict",
                fmt(
                    _("“%(resource)s” is already booked from %(start)s to %(end)s (record %(record)s)."),
                    {
                        "resource": _resource_label(schema, app.conflict_resource, resource),
                        "start": _shown(other_start_value, other_start),
                        "end": _shown(other_end_value, other_end),
                        "record": pk,
                    },
                ),
            )
    return None


def conflict_check(
    *,
    definition: FormDefinition,
    values: Mapping[str, Any],
    schema: FormSchema | None = None,
    record: FormRecord | None = None,
    status: str = RecordStatus.SUBMITTED,
) -> None:
    """Refuse (``ValidationFailed``) ``values`` — of a new record, or of ``record`` — that clash
    with another live record under a conflict rule of the form's apps. Records that are not live
    (``status`` rejected or withdrawn) are not checked."""
    if status in NOT_LIVE:
        return
    errors = [
        error
        for app in rules_for(definition.pk, lock=True)
        if (error := clash(app, values, exclude=record.pk if record else None, schema=schema)) is not None
    ]
    if errors:
        raise ValidationFailed(errors)


def import_clashes(
    *, definition: FormDefinition, rows: Sequence[tuple[int, Mapping[str, Any]]], schema: FormSchema | None
) -> list[tuple[int, FieldError]]:
    """The conflict errors of rows imported together (``(row number, values)``): each row against
    the stored records and against the rows above it in the file, which win."""
    found: list[tuple[int, FieldError]] = []
    for app in rules_for(definition.pk, lock=True):
        kept: list[tuple[int, Mapping[str, Any]]] = []
        for number, values in rows:
            error = clash(app, values, schema=schema) or _clash_in_file(app, values, kept, schema)
            if error is None:
                kept.append((number, values))
            else:
                found.append((number, error))
    return found


def _clash_in_file(
    app: App,
    values: Mapping[str, Any],
    kept: Sequence[tuple[int, Mapping[str, Any]]],
    schema: FormSchema | None,
) -> FieldError | None:
    resource = values.get(app.conflict_resource)
    start = moment_of(values.get(app.conflict_start), end=False)
    end = moment_of(values.get(app.conflict_end), end=True)
    if resource is None or resource == "" or start is None or end is None:
        return None
    for number, other in kept:
        if other.get(app.conflict_resource) != resource:
            continue
        other_start = moment_of(other.get(app.conflict_start), end=False)
        other_end = moment_of(other.get(app.conflict_end), end=True)
        if other_start is not None and other_end is not None and other_start < end and start < other_end:
            return FieldError(
                app.conflict_start,
                "conflict",
                fmt(
                    _("“%(resource)s” is booked at an overlapping time in row %(row)s of this file."),
                    {"resource": _resource_label(schema, app.conflict_resource, resource), "row": number},
                ),
            )
    return None
