"""Forms of the sign-in pages and the role-permission editor."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordChangeForm as DjangoPasswordChangeForm
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from .choices import DataScope

otp_validator = RegexValidator(r"^\d{6}$", _("Enter the 6-digit code from your authenticator app."))


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autofocus": True, "autocapitalize": "none"}
        ),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class OtpForm(forms.Form):
    otp = forms.CharField(
        label=_("Verification code"),
        min_length=6,
        max_length=6,
        validators=[otp_validator],
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9]{6}",
                "autofocus": True,
            }
        ),
    )

    def clean_otp(self) -> str:
        return str(self.cleaned_data["otp"]).strip()


class PasswordChangeForm(DjangoPasswordChangeForm):
    """Django's form (old password, new password twice, the policy's validators)."""


NO_GRANT = ""


class RoleGrantsForm(forms.Form):
    """One scope select per registered permission; the empty choice means "not granted"."""

    def __init__(
        self, *args: Any, permission_rows: list[Any], current: dict[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [(NO_GRANT, _("Not granted")), *DataScope.choices]
        for perm in permission_rows:
            self.fields[f"scope:{perm.code}"] = forms.ChoiceField(
                label=perm.label, choices=choices, required=False, initial=current.get(perm.code, NO_GRANT)
            )

    def scopes(self) -> dict[str, DataScope | None]:
        result: dict[str, DataScope | None] = {}
        for name, value in self.cleaned_data.items():
            code = name.removeprefix("scope:")
            result[code] = DataScope(value) if value else None
        return result
