"""The audit viewer's filter form (the web page and the API share it, and so its messages)."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .choices import Outcome
from .selectors import EntryFilter

MIN_YEAR = 1970
MAX_YEAR = 9998
DATETIME_HELP = _("YYYY-MM-DD or YYYY-MM-DD HH:MM")
BAD_DATETIME = _("Enter a date as YYYY-MM-DD or a date and time as YYYY-MM-DD HH:MM.")


class _DateTimeBound(forms.DateTimeField):
    """A point in time typed as a date or a date and time, in the hospital's time zone."""

    widget = forms.DateTimeInput(attrs={"placeholder": "YYYY-MM-DD HH:MM"})
    default_error_messages = {"invalid": BAD_DATETIME}

    def to_python(self, value: Any) -> datetime.datetime | None:
        result = super().to_python(value)
        if result is not None and not MIN_YEAR <= result.year <= MAX_YEAR:
            raise forms.ValidationError(
                _("Enter a date between %(min)s and %(max)s."),
                code="out_of_range",
                params={"min": MIN_YEAR, "max": MAX_YEAR},
            )
        return result


def _is_date_only(raw: Any) -> bool:
    return ":" not in str(raw or "")


class EntryFilterForm(forms.Form):
    actor = forms.CharField(label=_("User name"), max_length=150, required=False)
    action = forms.CharField(
        label=_("Action"), max_length=100, required=False, help_text=_("Matches actions starting with this.")
    )
    target_type = forms.CharField(label=_("Target type"), max_length=100, required=False)
    target_id = forms.CharField(label=_("Target id"), max_length=64, required=False)
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", _("Any")), *Outcome.choices], required=False
    )
    time_from = _DateTimeBound(label=_("From"), required=False, help_text=DATETIME_HELP)
    time_to = _DateTimeBound(
        label=_("To"), required=False, help_text=_("A date alone includes that whole day.")
    )
    before = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)
    after = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        time_to = data.get("time_to")
        if time_to is not None and _is_date_only(self.data.get("time_to")):
            time_to = time_to + datetime.timedelta(days=1)  # up to the end of that day
        data["time_before"] = time_to
        time_from = data.get("time_from")
        if time_from is not None and time_to is not None and time_to <= time_from:
            self.add_error("time_to", _("The end must be after the start."))
        if data.get("before") and data.get("after"):
            self.add_error("after", _("Give either an older or a newer page, not both."))
        return data

    def entry_filter(self) -> EntryFilter:
        """The cleaned filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        return EntryFilter(
            actor=data.get("actor") or "",
            action=data.get("action") or "",
            target_type=data.get("target_type") or "",
            target_id=data.get("target_id") or "",
            outcome=data.get("outcome") or "",
            time_from=data.get("time_from"),
            time_before=data.get("time_before"),
        )
