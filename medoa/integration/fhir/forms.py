from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import SubmissionStatus
from .services import MAPPED_TYPES


class SubmissionFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *SubmissionStatus.choices]
    )
    resource_type = forms.ChoiceField(
        label=_("Resource type"),
        required=False,
        choices=[("", _("All")), *[(t, t) for t in ("Bundle", *MAPPED_TYPES)]],
    )
    patient_id = forms.CharField(label=_("Patient identifier"), required=False, max_length=100)
    facility = forms.CharField(label=_("Sending system"), required=False, max_length=100)
    entries = forms.BooleanField(
        label=_("Bundle entries too"),
        required=False,
        help_text=_("Filtering by status or patient always includes them."),
    )
