from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from .choices import DeliveryStatus
from .registry import event_types


class EventFilterForm(forms.Form):
    type = forms.ChoiceField(label=gettext_lazy("Event type"), required=False)
    status = forms.ChoiceField(
        label=gettext_lazy("Delivery status"),
        choices=[("", gettext_lazy("Any status")), *DeliveryStatus.choices],
        required=False,
    )
    since = forms.DateTimeField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        label=gettext_lazy("Until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = [t.name for t in event_types]
        prefixes = sorted({n.split(".", 1)[0] + ".*" for n in names})
        choices: list[tuple[str, Any]] = [("", gettext_lazy("All types"))]
        choices += [(p, p) for p in prefixes]
        choices += [(t.name, f"{t.name} — {t.label}" if t.label else t.name) for t in event_types]
        field = self.fields["type"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", gettext_lazy("Must be later than the start."))
        return data
