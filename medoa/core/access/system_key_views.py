"""The system API key pages (信息中心 and the system administrator): list, create, revoke.

The raw key is rendered once, on the page that answers the creating POST (never cached, never
stored); after that only its prefix is shown.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .policy import has_perm
from .system_keys import (
    KNOWN_SCOPES,
    SYSTEM_KEY_MANAGE,
    SystemKeyError,
    create_system_key,
    normalise_scopes,
    revoke_system_key,
    system_key_get,
    system_key_list,
    update_system_key_scopes,
)

_SPLIT = re.compile(r"[\s,;，；]+")


class SystemKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Key name"),
        max_length=100,
        help_text=gettext_lazy("How people will recognise the key, e.g. “HIS production”."),
    )
    system = forms.CharField(
        label=gettext_lazy("System"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("The sending system and vendor, e.g. “Neusoft HIS 5.0”."),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[],
    )
    extra_scopes = forms.CharField(
        label=gettext_lazy("Other scopes"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "One per line; * and ? match any text, e.g. fhir:* or events:publish:hr.employee.*"
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scopes = self.fields["scopes"]
        assert isinstance(scopes, forms.MultipleChoiceField)
        scopes.choices = [(code, f"{code} — {label}") for code, label in KNOWN_SCOPES.items()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        extra = [s for s in _SPLIT.split(data.get("extra_scopes") or "") if s]
        try:
            data["all_scopes"] = normalise_scopes([*(data.get("scopes") or []), *extra])
        except SystemKeyError as exc:
            self.add_error("extra_scopes" if extra else "scopes", str(exc.message) % exc.params)
        return data


class SystemKeyScopesForm(SystemKeyForm):
    """The scopes of an existing key (name and system stay as they are)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["name"]
        del self.fields["system"]


def _split_known(scopes: list[str]) -> dict[str, Any]:
    """A key's scopes as the form's initial data: known ones ticked, the others as text."""
    known = [s for s in scopes if s in KNOWN_SCOPES]
    return {"scopes": known, "extra_scopes": "\n".join(s for s in scopes if s not in KNOWN_SCOPES)}


def _require_manage(request: HttpRequest) -> None:
    if not has_perm(request.user, SYSTEM_KEY_MANAGE):
        raise PermissionDenied


@never_cache
@login_required
def systemkey_list(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    keys = list(system_key_list(user=request.user))
    return render(request, "access/systemkey_list.html", {"keys": keys})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def systemkey_create(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    form = SystemKeyForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        actor: Any = request.user
        try:
            key, raw = create_system_key(
                actor=actor,
                name=form.cleaned_data["name"],
                system=form.cleaned_data.get("system", ""),
                scopes=form.cleaned_data["all_scopes"],
            )
        except SystemKeyError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc.message) % exc.params)
        else:
            response = render(request, "access/systemkey_created.html", {"key": key, "raw": raw})
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "access/systemkey_form.html", {"form": form})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def systemkey_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    _require_manage(request)
    key = system_key_get(user=request.user, key_id=key_id)
    if request.method == "POST":
        if key.revoked_at is None:
            actor: Any = request.user
            revoke_system_key(actor=actor, key=key)
            messages.success(request, _("Key “%(name)s” revoked.") % {"name": key.name})
        return redirect("access:systemkey_list")
    return render(request, "access/systemkey_revoke.html", {"key": key})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def systemkey_scopes(request: HttpRequest, key_id: int) -> HttpResponse:
    _require_manage(request)
    key = system_key_get(user=request.user, key_id=key_id)
    if key.revoked_at is not None:
        messages.error(request, _("This key has been revoked."))
        return redirect("access:systemkey_list")
    if request.method == "POST":
        form = SystemKeyScopesForm(request.POST)
        if form.is_valid():
            actor: Any = request.user
            try:
                update_system_key_scopes(actor=actor, key=key, scopes=form.cleaned_data["all_scopes"])
            except SystemKeyError as exc:
                form.add_error("scopes", str(exc.message) % exc.params)
            else:
                messages.success(request, _("Scopes of “%(name)s” saved.") % {"name": key.name})
                return redirect("access:systemkey_list")
    else:
        form = SystemKeyScopesForm(initial=_split_known(list(key.scopes)))
    return render(request, "access/systemkey_scopes.html", {"form": form, "key": key})
