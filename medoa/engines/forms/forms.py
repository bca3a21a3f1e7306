"""The form engine's page inputs: a new form, the record list's filters, the import file, the
pickers' search text. Every 4xx of the pages starts here."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .choices import RecordStatus, ValueKind

KEY_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_]{0,63}")
PAGE_SIZES = (20, 50, 100)
MAX_IMPORT_BYTES = 10 * 1024 * 1024


class FormNewForm(forms.Form):
    key = forms.CharField(
        label=pgettext_lazy("forms", "Key"),
        max_length=64,
        help_text=_("Letters, digits, _ and -; it names the form in links and processes and cannot change."),
    )
    name = forms.CharField(label=pgettext_lazy("forms", "Name"), max_length=200)
    category = forms.CharField(label=_("Category"), max_length=64, required=False)

    def clean_key(self) -> str:
        key: str = self.cleaned_data["key"].strip()
        if not KEY_RE.fullmatch(key):
            raise forms.ValidationError(
                _("Use letters, digits, _ and - only, starting with a letter or digit.")
            )
        return key


class LookupForm(forms.Form):
    q = forms.CharField(max_length=50, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Spreadsheet (.xlsx)"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".xlsx"):
            raise forms.ValidationError(_("Choose an .xlsx file."))
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        return upload


class RecordFilterForm(forms.Form):
    """The record list's query string: search, sort, page, the record's own columns, and one or two
    inputs per reporting field (``f_<field>`` for text; ``f_<field>__gte``/``__lte`` for numbers and
    dates)."""

    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *RecordStatus.choices]
    )
    submitted_from = forms.DateField(
        label=_("Submitted from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    submitted_to = forms.DateField(
        label=_("Submitted to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(label=_("Sort"), required=False)
    page = forms.IntegerField(min_value=1, max_value=10**6, required=False)
    page_size = forms.TypedChoiceField(
        label=_("Per page"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(n, str(n)) for n in PAGE_SIZES],
    )

    def __init__(self, data: Any, *, fields: list[tuple[str, str, str]]) -> None:
        """``fields``: the reporting fields as ``(key, label, kind)``."""
        super().__init__(data)
        self.reporting = fields
        sorts: list[tuple[str, Any]] = [
            ("-submitted_at", _("Newest first")),
            ("submitted_at", _("Oldest first")),
            ("status", _("Status")),
        ]
        for key, label, kind in fields:
            sorts.append((key, _("%(label)s ascending") % {"label": label}))
            sorts.append((f"-{key}", _("%(label)s descending") % {"label": label}))
            if kind == ValueKind.TEXT:
                self.fields[f"f_{key}"] = forms.CharField(label=label, max_length=100, required=False)
            elif kind == ValueKind.NUMBER:
                self.fields[f"f_{key}__gte"] = forms.DecimalField(
                    label=_("%(label)s from") % {"label": label},
                    required=False,
                    max_digits=24,
                    decimal_places=6,
                )
                self.fields[f"f_{key}__lte"] = forms.DecimalField(
                    label=_("%(label)s to") % {"label": label},
                    required=False,
                    max_digits=24,
                    decimal_places=6,
                )
            else:
                for op, text in (("gte", _("%(label)s from")), ("lte", _("%(label)s to"))):
                    self.fields[f"f_{key}__{op}"] = forms.DateField(
                        label=text % {"label": label},
                        required=False,
                        widget=forms.DateInput(attrs={"type": "date"}),
                    )
        sort_field = self.fields["sort"]
        assert isinstance(sort_field, forms.ChoiceField)
        sort_field.choices = sorts

    def field_inputs(self) -> list[Any]:
        return [self[name] for name in self.fields if name.startswith("f_")]

    def filters(self) -> dict[str, Any]:
        """The selector's ``filters`` (a field's text filter is "contains")."""
        data: Mapping[str, Any] = self.cleaned_data
        out: dict[str, Any] = {}
        for name in ("status", "submitted_from", "submitted_to"):
            if data.get(name):
                value = data[name]
                out[name] = value.isoformat() if isinstance(value, datetime.date) else value
        kinds = {key: kind for key, _label, kind in self.reporting}
        for name, value in data.items():
            if not name.startswith("f_") or value in (None, ""):
                continue
            field = name[2:]
            if kinds.get(field) == ValueKind.TEXT:
                out[f"{field}__contains"] = value
            elif isinstance(value, datetime.date):
                out[field] = value.isoformat()
            else:
                out[field] = str(value)
        return out
