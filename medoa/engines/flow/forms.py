"""Forms of the process pages. They parse and check the shape of input (every 4xx comes from
here, with a message per field); the services decide what the process allows."""

from __future__ import annotations

import datetime
import json
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from .choices import InstanceStatus, SignerPosition

MAX_XML_BYTES = 5 * 1024 * 1024
MAX_COMMENT = 2000
MAX_VARIABLES = 50
MAX_FORM_JSON = 1024 * 1024 + 1024  # the form engine's 1 MB of data, as JSON text
INBOX_PAGE_SIZE = 20

ACTIONS = (
    "approve",
    "reject",
    "complete",
    "return",
    "withdraw",
    "transfer",
    "add_signer",
    "claim",
    "unclaim",
    "urge",
    "cc",
)

BOXES = ("todo", "done", "initiated", "cc")
SORTS = {
    "newest": gettext_lazy("Newest first"),
    "oldest": gettext_lazy("Oldest first"),
    "due": gettext_lazy("Due soonest"),
}

VARIABLE_TYPES = {
    "string": gettext_lazy("Text"),
    "number": gettext_lazy("Number"),
    "boolean": gettext_lazy("Yes/no"),
    "date": gettext_lazy("Date"),
    "list": gettext_lazy("List (comma-separated)"),
}
# the separators of a list value: the ASCII comma and the full-width one a Chinese keyboard types
LIST_SEPARATOR = re.compile(r"[,，]")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
TRUE_WORDS = {"true", "yes", "1", "是", "y"}
FALSE_WORDS = {"false", "no", "0", "否", "n"}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Several files in one input. Only collected here: the service checks each one (count, size,
    extension and content) and names every file it refuses."""

    widget = MultipleFileInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        return [f for f in (data if isinstance(data, (list, tuple)) else [data]) if f]


# --- definitions and the designer ------------------------------------------------------------------


class DesignerNewForm(forms.Form):
    key = forms.SlugField(
        label=pgettext_lazy("flow", "Key"),
        max_length=64,
        help_text=gettext_lazy("Letters, digits, - and _; the process is started and referenced by it."),
    )
    name = forms.CharField(label=pgettext_lazy("flow", "Name"), max_length=200)
    category = forms.CharField(label=gettext_lazy("Category"), max_length=64, required=False)

    def clean_key(self) -> str:
        key: str = self.cleaned_data["key"]
        if not re.match(r"^[A-Za-z_]", key):
            raise ValidationError(_("The key must start with a letter or _."))
        return key


class DiagramForm(forms.Form):
    """What the designer posts to save a draft or deploy: the key, names and the XML."""

    key = forms.SlugField(label=pgettext_lazy("flow", "Key"), max_length=64)
    name = forms.CharField(label=pgettext_lazy("flow", "Name"), max_length=200, required=False)
    category = forms.CharField(label=gettext_lazy("Category"), max_length=64, required=False)
    xml = forms.CharField(label=gettext_lazy("BPMN XML"), strip=False)

    def clean_xml(self) -> str:
        xml: str = self.cleaned_data["xml"]
        if len(xml.encode("utf-8")) > MAX_XML_BYTES:
            raise ValidationError(_("The BPMN file is larger than 5 MB."))
        if "\x00" in xml:
            raise ValidationError(_("The BPMN file contains NUL characters."))
        return xml


def process_id_for(key: str) -> str:
    """A BPMN process id (an XML NCName) derived from a definition key."""
    ident = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    return ident if re.match(r"^[A-Za-z_]", ident) else f"p_{ident}"


# --- starting a process ----------------------------------------------------------------------------


@dataclass
class VariableRow:
    name: str = ""
    type: str = "string"
    value: str = ""
    errors: list[str] = field(default_factory=list)


class StartForm(forms.Form):
    """Title, business key and a free list of variables (name, type, value) posted as the
    parallel lists ``var_name``, ``var_type`` and ``var_value``; rows without a name are skipped."""

    title = forms.CharField(label=pgettext_lazy("flow", "Title"), max_length=300, required=False)
    business_key = forms.CharField(label=gettext_lazy("Business key"), max_length=200, required=False)

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.rows: list[VariableRow] = []
        self.variables: dict[str, Any] = {}
        if data is not None:
            names = data.getlist("var_name")
            types = data.getlist("var_type")
            values = data.getlist("var_value")
            count = max(len(names), len(types), len(values))
            for i in range(count):
                self.rows.append(
                    VariableRow(
                        name=(names[i] if i < len(names) else "").strip(),
                        type=(types[i] if i < len(types) else "string"),
                        value=(values[i] if i < len(values) else ""),
                    )
                )
        if not self.rows:
            self.rows = [VariableRow() for _i in range(3)]

    @property
    def row_errors(self) -> bool:
        return any(row.errors for row in self.rows)

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound:
            return
        seen: set[str] = set()
        filled = [row for row in self.rows if row.name or row.value.strip()]
        if len(filled) > MAX_VARIABLES:
            self.add_error(None, _("At most %(count)d variables.") % {"count": MAX_VARIABLES})
            return
        for row in filled:
            if not row.name:
                row.errors.append(_("Give the variable a name."))
                continue
            if not NAME_RE.match(row.name) or keyword.iskeyword(row.name):
                row.errors.append(
                    _("%(name)s is not a valid name: use letters, digits and _, starting with a letter.")
                    % {"name": row.name}
                )
                continue
            if row.name in seen:
                row.errors.append(_("%(name)s is given twice.") % {"name": row.name})
                continue
            seen.add(row.name)
            if row.type not in VARIABLE_TYPES:
                row.errors.append(_("Choose a type."))
                continue
            try:
                self.variables[row.name] = convert_value(row.type, row.value)
            except ValueError as exc:
                row.errors.append(str(exc))
        if self.row_errors:
            self.add_error(None, _("Correct the variables marked below."))


def convert_value(kind: str, raw: str) -> Any:
    """The typed value of a variable row (``ValueError`` with a message to show)."""
    text = raw.strip()
    if kind == "string":
        if len(raw) > 2000:
            raise ValueError(_("Text values are at most 2000 characters."))
        return raw
    if kind == "list":
        if len(raw) > 2000:
            raise ValueError(_("Text values are at most 2000 characters."))
        items = [item.strip() for item in LIST_SEPARATOR.split(raw)]
        values = [item for item in items if item]
        if not values:
            raise ValueError(_("Give at least one value, separated by commas."))
        return values
    if kind == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(_("%(value)s is not a number.") % {"value": text or "''"}) from None
        if not number.is_finite() or abs(number) > Decimal("1e15"):
            raise ValueError(_("%(value)s is not a number.") % {"value": text})
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "boolean":
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise ValueError(_("Write true or false."))
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(_("Write the date as YYYY-MM-DD.")) from None


# --- inboxes and tasks -----------------------------------------------------------------------------


class InboxFilterForm(forms.Form):
    box = forms.ChoiceField(choices=[(b, b) for b in BOXES], required=False)
    q = forms.CharField(label=gettext_lazy("Search"), max_length=100, required=False)
    process = forms.CharField(label=gettext_lazy("Process"), max_length=64, required=False)
    sort = forms.ChoiceField(label=gettext_lazy("Sort"), choices=list(SORTS.items()), required=False)

    def __init__(self, *args: Any, processes: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["process"] = forms.ChoiceField(
            label=gettext_lazy("Process"), choices=[("", _("All processes")), *processes], required=False
        )

    def clean_box(self) -> str:
        return self.cleaned_data.get("box") or "todo"

    def clean_sort(self) -> str:
        return self.cleaned_data.get("sort") or "newest"


class BatchApproveForm(forms.Form):
    task_ids = forms.TypedMultipleChoiceField(coerce=int, choices=[], label=gettext_lazy("Tasks"))
    comment = forms.CharField(label=gettext_lazy("Comment"), max_length=MAX_COMMENT, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # any positive id is accepted here; the service answers per task whether it may be approved
        field = self.fields["task_ids"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.valid_value = lambda value: str(value).isdigit() and 0 < int(value) < 2**31  # type: ignore[method-assign]
        field.error_messages["required"] = _("Select at least one task.")

    def clean_task_ids(self) -> list[int]:
        ids: list[int] = self.cleaned_data["task_ids"]
        if len(ids) > 100:
            raise ValidationError(_("Approve at most 100 tasks at once."))
        return list(dict.fromkeys(ids))


class TaskActionForm(forms.Form):
    """One operation on a task; which fields it needs depends on the action."""

    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    comment = forms.CharField(
        label=gettext_lazy("Comment"),
        max_length=MAX_COMMENT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    to_user = forms.CharField(label=gettext_lazy("Person"), max_length=150, required=False)
    to_step = forms.CharField(label=gettext_lazy("Return to"), max_length=200, required=False)
    position = forms.ChoiceField(
        label=pgettext_lazy("flow", "Position"), choices=[("", "—"), *SignerPosition.choices], required=False
    )
    attachments = AttachmentsField(label=gettext_lazy("Attachments"))
    # the step's form data as JSON (filled in by static/flow/form.js when the step has a form)
    form_data = forms.CharField(required=False, max_length=MAX_FORM_JSON, widget=forms.HiddenInput)

    def clean_form_data(self) -> dict[str, Any] | None:
        return _json_object(self.cleaned_data.get("form_data") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action in ("transfer", "add_signer", "cc") and not data.get("to_user"):
            self.add_error("to_user", _("Choose a person."))
        if action == "add_signer" and not data.get("position"):
            self.add_error("position", _("Choose where the new signer goes."))
        if action == "reject" and not (data.get("comment") or "").strip():
            self.add_error("comment", _("Give a reason for the rejection."))
        return data


def _json_object(text: str) -> dict[str, Any] | None:
    """A JSON object sent as text ("" → None)."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise ValidationError(_("The form data is not valid JSON."), code="invalid") from None
    if not isinstance(value, dict):
        raise ValidationError(_("The form data must be a JSON object."), code="invalid")
    return value


class FormStartForm(forms.Form):
    """Starting a process whose start event has a MedOA form: the page posts JSON with the title,
    the business key, the form's data and the form version it showed."""

    title = forms.CharField(max_length=300, required=False)
    business_key = forms.CharField(max_length=200, required=False)
    version = forms.IntegerField(min_value=1, required=False)

    def __init__(self, body: dict[str, Any]) -> None:
        fields = {k: body.get(k) for k in ("title", "business_key", "version") if body.get(k) is not None}
        super().__init__(fields)
        self.form_data = body.get("data")


class StaffSearchForm(forms.Form):
    q = forms.CharField(max_length=50, required=False)


# --- administration ---------------------------------------------------------------------------------


class AdminFilterForm(forms.Form):
    definition = forms.CharField(label=gettext_lazy("Process"), max_length=64, required=False)
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        choices=[("", gettext_lazy("Any status")), *InstanceStatus.choices],
        required=False,
    )
    incident = forms.ChoiceField(
        label=gettext_lazy("Incidents"),
        choices=[
            ("", gettext_lazy("With or without")),
            ("yes", gettext_lazy("With an open incident")),
            ("no", gettext_lazy("None")),
        ],
        required=False,
    )

    def __init__(self, *args: Any, processes: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["definition"] = forms.ChoiceField(
            label=gettext_lazy("Process"), choices=[("", _("All processes")), *processes], required=False
        )


class AdminActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("cancel", "cancel"), ("suspend", "suspend"), ("resume", "resume"), ("migrate", "migrate")]
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=MAX_COMMENT, required=False)
    version = forms.IntegerField(
        label=gettext_lazy("Version"), required=False, min_value=1, max_value=1_000_000
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "migrate" and not data.get("version"):
            self.add_error("version", _("Choose the version to migrate to."))
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=MAX_COMMENT, required=False)
