"""Forms of the organisation pages. They parse input; the services decide what is valid, and
``apply_errors`` puts a service's ``ValidationError`` back onto the form's fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from .choices import (
    CertificateKind,
    DepartmentCategory,
    DepartmentKind,
    Gender,
    NursingLevel,
    StaffStatus,
    Title,
)
from .models import Department, Role, Staff

FIELD_ALIASES = {"delegator": "delegator", "parent": "parent"}


def apply_errors(form: forms.Form, exc: ValidationError) -> None:
    """Attach a service's errors to the matching fields (others become non-field errors)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, ValidationError(errors))
    else:
        form.add_error(None, exc)


class DepartmentChoiceField(forms.ModelChoiceField):
    """Departments in tree order, indented by depth."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{'　' * obj.depth}{obj.name} ({obj.code})"


class StaffChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.employee_no}) · {obj.department.name}"


def active_departments() -> QuerySet[Department]:
    return Department.objects.filter(status="active").order_by("path")


def active_staff() -> QuerySet[Staff]:
    return (
        Staff.objects.filter(status=StaffStatus.ACTIVE)
        .select_related("department")
        .order_by("department__path", "employee_no")
    )


class DepartmentForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=32)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=100)
    name_en = forms.CharField(label=_("Name (English)"), max_length=150, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=DepartmentKind.choices)
    category = forms.ChoiceField(
        label=_("Category"), choices=[("", "—"), *DepartmentCategory.choices], required=False
    )
    head = StaffChoiceField(label=_("Head"), queryset=Staff.objects.none(), required=False)
    sort_order = forms.IntegerField(label=_("Order"), min_value=0, max_value=1_000_000, initial=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["head"].queryset = active_staff()  # type: ignore[attr-defined]


class DepartmentMoveForm(forms.Form):
    parent = DepartmentChoiceField(label=_("New parent"), queryset=Department.objects.none())

    def __init__(self, *args: Any, department: Department, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = active_departments().exclude(  # type: ignore[attr-defined]
            path__startswith=department.path
        )


class StaffForm(forms.Form):
    employee_no = forms.CharField(label=_("Employee number"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=64)
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, initial=Gender.UNKNOWN)
    department = DepartmentChoiceField(label=_("Department"), queryset=Department.objects.none())
    title = forms.ChoiceField(label=_("Title"), choices=Title.choices)
    nursing_level = forms.ChoiceField(
        label=_("Nursing level"), choices=[("", "—"), *NursingLevel.choices], required=False
    )
    position = forms.CharField(label=_("Position"), max_length=64, required=False)
    office_phone = forms.CharField(label=_("Office phone"), max_length=32, required=False)
    email = forms.CharField(label=_("Email"), max_length=254, required=False)
    phone = forms.CharField(label=_("Mobile phone"), max_length=32, required=False)
    national_id = forms.CharField(label=_("National ID"), max_length=32, required=False)
    hire_date = forms.DateField(
        label=_("Hire date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": _("Enter the hire date as YYYY-MM-DD.")},
    )

    def __init__(self, *args: Any, departments: QuerySet[Department] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = (  # type: ignore[attr-defined]
            departments if departments is not None else active_departments()
        )


class StaffCreateForm(StaffForm):
    username = forms.CharField(label=_("Username"), max_length=150)
    initial_password = forms.CharField(
        label=_("Initial password"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("The person must change it at first sign-in."),
    )


class StaffDeactivateForm(forms.Form):
    status = forms.ChoiceField(
        label=_("New status"),
        choices=[
            (StaffStatus.LEFT, StaffStatus.LEFT.label),
            (StaffStatus.DISABLED, StaffStatus.DISABLED.label),
        ],
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class RoleAssignForm(forms.Form):
    role = forms.ModelChoiceField(label=_("Role"), queryset=Role.objects.order_by("scope", "code"))
    department = DepartmentChoiceField(
        label=_("For department"),
        queryset=Department.objects.none(),
        required=False,
        help_text=_("Department roles only; hospital-wide roles are held at the hospital root."),
    )
    include_children = forms.BooleanField(label=_("Includes sub-departments"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = active_departments()  # type: ignore[attr-defined]


class StaffFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    department = DepartmentChoiceField(
        label=_("Department"), queryset=Department.objects.none(), required=False
    )
    title = forms.ChoiceField(label=_("Title"), choices=[("", _("All")), *Title.choices], required=False)
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All")), *StaffStatus.choices], required=False
    )
    role = forms.ChoiceField(label=_("Role"), choices=[], required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.order_by("path")  # type: ignore[attr-defined]
        self.fields["role"].choices = [  # type: ignore[attr-defined]
            ("", _("All")),
            *((r.code, r.name) for r in Role.objects.order_by("code")),
        ]


class DirectoryFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    department = DepartmentChoiceField(
        label=_("Department"), queryset=Department.objects.none(), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = active_departments()  # type: ignore[attr-defined]


class DelegationForm(forms.Form):
    delegator = StaffChoiceField(label=_("Delegating person"), queryset=Staff.objects.none())
    delegate = StaffChoiceField(label=_("Delegate"), queryset=Staff.objects.none())
    starts_at = forms.DateTimeField(
        label=_("Starts"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    ends_at = forms.DateTimeField(
        label=_("Ends"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    process_keys = forms.CharField(
        label=_("Process types"),
        required=False,
        max_length=2000,
        help_text=_("Comma-separated process keys; empty means every process type."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def __init__(
        self, *args: Any, delegators: QuerySet[Staff], delegates: QuerySet[Staff], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["delegator"].queryset = delegators  # type: ignore[attr-defined]
        self.fields["delegate"].queryset = delegates  # type: ignore[attr-defined]

    def clean_process_keys(self) -> list[str]:
        text: str = self.cleaned_data.get("process_keys") or ""
        return [k.strip() for k in text.replace("，", ",").split(",") if k.strip()]


class StaffImportForm(forms.Form):
    file = forms.FileField(
        label=_("Staff file (.xlsx or .csv)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv"}),
    )


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class CertificateForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=CertificateKind.choices)
    name = forms.CharField(
        label=_("Certificate name"),
        max_length=100,
        required=False,
        help_text=_("Leave empty to use the kind's name."),
    )
    number = forms.CharField(label=_("Certificate number"), max_length=64, required=False)
    issued_on = forms.DateField(label=_("Issued on"), required=False, widget=_date_input())
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=_date_input(),
        help_text=_("Leave empty if it does not expire."),
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)
