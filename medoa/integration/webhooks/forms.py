from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SubscriptionForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    event_types = forms.CharField(
        label=_("Event types"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line or separated by commas: a type, a prefix such as clinical.*, or *."),
    )
    url = forms.CharField(
        label=_("URL"), max_length=500, help_text=_("http:// or https://, a public address")
    )
    secret = forms.CharField(
        label=_("Secret"),
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to generate one (new subscription) or keep the current one (change)."),
    )

    def patterns(self) -> list[str]:
        raw = self.cleaned_data.get("event_types", "")
        return [p.strip() for p in raw.replace(",", "\n").splitlines() if p.strip()]
