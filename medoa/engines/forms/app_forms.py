"""The app builder's input: what the page offers (published forms, deployed processes, the chosen
form's fields, the built-in roles) and its parsing. The services check everything again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from medoa.core.org.roles import BUILTIN_ROLES

from . import app_services
from .choices import RecordStatus
from .models import App, FormDefinition
from .schema import Field
from .services import parsed_schema


def _label(field: Field) -> str:
    label = field.label or field.component.get("dateLabel") or field.component.get("timeLabel") or ""
    return f"{label} ({field.key})" if label else field.key


def role_choices() -> list[tuple[str, str]]:
    chinese = (get_language() or "").lower().startswith("zh")
    return [(code, zh if chinese else en) for code, zh, en, _scope in BUILTIN_ROLES]


def published_forms() -> list[FormDefinition]:
    return list(
        FormDefinition.objects.filter(is_active=True, latest_version__isnull=False)
        .select_related("latest_version")
        .order_by("category", "key")
    )


class AppForm(forms.Form):
    slug = forms.CharField(
        label=_("Short name"),
        max_length=64,
        help_text=_("Lower-case letters, digits, _ and -; it names the app in its link and cannot change."),
    )
    name = forms.CharField(label=pgettext_lazy("forms", "Name"), max_length=100)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    icon = forms.CharField(label=_("Icon"), max_length=32, required=False)
    form = forms.ChoiceField(label=_("Form"))
    process_key = forms.ChoiceField(label=_("Process"), required=False)
    list_columns = forms.MultipleChoiceField(
        label=_("List columns"), required=False, widget=forms.CheckboxSelectMultiple
    )
    roles = forms.MultipleChoiceField(
        label=_("Roles that see it"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: everyone."),
    )
    menu_order = forms.IntegerField(label=_("Menu order"), min_value=0, max_value=10000, initial=100)
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    shared_records = forms.BooleanField(
        label=_("Everyone who sees the app sees all its records"),
        required=False,
        help_text=_(
            "For bookings or a shared register, so people see what is taken. "
            "Off: each person sees only the records their data scope reaches."
        ),
    )
    conflict_resource = forms.ChoiceField(label=_("Conflict check: resource"), required=False)
    conflict_start = forms.ChoiceField(label=_("Conflict check: start"), required=False)
    conflict_end = forms.ChoiceField(label=_("Conflict check: end"), required=False)

    FIELD_NAMES = ("list_columns", "conflict_resource", "conflict_start", "conflict_end")

    def __init__(self, data: Any = None, *, app: App | None = None, form_key: str = "") -> None:
        initial: dict[str, Any] = {}
        if app is not None:
            initial = {
                "slug": app.slug,
                "name": app.name,
                "description": app.description,
                "icon": app.icon,
                "form": app.form.key,
                "process_key": app.process_key,
                "list_columns": app.list_columns,
                "roles": app.roles,
                "menu_order": app.menu_order,
                "enabled": app.enabled,
                "shared_records": app.shared_records,
                "conflict_resource": app.conflict_resource,
                "conflict_start": app.conflict_start,
                "conflict_end": app.conflict_end,
            }
        super().__init__(data, initial=initial)
        self.app = app
        if app is not None:
            self.fields["slug"].disabled = True
        definitions = published_forms()
        self.choice(self.fields["form"], [("", "—")] + [(d.key, f"{d.name} ({d.key})") for d in definitions])
        processes = app_services.processes()
        self.choice(
            self.fields["process_key"],
            [("", _("None: records only"))] + [(k, f"{n} ({k})") for k, n in processes],
        )
        self.choice(self.fields["roles"], role_choices())
        chosen = form_key or (data.get("form", "") if data is not None else "") or initial.get("form", "")
        self.definition = next((d for d in definitions if d.key == chosen), None)
        self.offer_fields(self.definition)

    @staticmethod
    def choice(field: forms.Field, choices: list[tuple[str, Any]]) -> None:
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def offer_fields(self, definition: FormDefinition | None) -> None:
        """The chosen form's fields as the columns and the conflict rule's choices."""
        columns: list[tuple[str, str]] = []
        resources: list[tuple[str, str]] = []
        times: list[tuple[str, str]] = []
        if definition is not None and definition.latest_version is not None:
            schema = parsed_schema(definition.latest_version)
            columns = [(f.key, _label(f)) for f in app_services.column_fields(schema)]
            resources = [(f.key, _label(f)) for f in app_services.resource_fields(schema)]
            times = [(f.key, _label(f)) for f in app_services.time_fields(schema)]
        none = [("", "—")]
        self.choice(self.fields["list_columns"], columns)
        self.choice(self.fields["conflict_resource"], none + resources)
        self.choice(self.fields["conflict_start"], none + times)
        self.choice(self.fields["conflict_end"], none + times)
        self.has_form_fields = bool(columns)

    def spec(self) -> app_services.AppSpec:
        data = self.cleaned_data
        return app_services.AppSpec(
            name=data["name"],
            form=data["form"],
            description=data["description"],
            icon=data["icon"],
            process_key=data["process_key"] or "",
            list_columns=list(data["list_columns"]),
            roles=list(data["roles"]),
            menu_order=data["menu_order"],
            enabled=data["enabled"],
            shared_records=data["shared_records"],
            conflict_resource=data["conflict_resource"] or "",
            conflict_start=data["conflict_start"] or "",
            conflict_end=data["conflict_end"] or "",
        )

    def field_inputs(self) -> list[Any]:
        return [self[name] for name in self.FIELD_NAMES]


class AppRecordQuery(forms.Form):
    """The app page's query string: search, status, page."""

    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *RecordStatus.choices]
    )
    page = forms.IntegerField(min_value=1, max_value=10**6, required=False)
