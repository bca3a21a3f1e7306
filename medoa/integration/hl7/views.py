"""The HL7 pages (mounted at /integration/hl7/): the message store (search, counters per sender,
one message with its segments and fields highlighted, reprocess), the code mapping tables (with
the codes parked messages wait for) and the MLLP allow-list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medoa.core.access.policy import has_perm
from medoa.core.clinical.choices import CodeKind
from medoa.core.errors import ServiceError

from . import selectors, services
from .models import MessageStatus
from .selectors import PERM_MANAGE, PERM_MAPPING, PERM_VIEW

MAX_RENDER_CHARS = 200_000
MAX_RENDER_SEGMENTS = 2_000


def _require(request: HttpRequest, code: str) -> None:
    if not has_perm(request.user, code):
        raise PermissionDenied


# --- forms -----------------------------------------------------------------------------------------


class MessageFilterForm(forms.Form):
    type = forms.CharField(
        label=gettext_lazy("Message type"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"placeholder": "ADT^A01"}),
    )
    sender = forms.CharField(label=gettext_lazy("Sender"), required=False, max_length=180)
    patient_id = forms.CharField(label=gettext_lazy("Patient identifier"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        choices=[("", gettext_lazy("Any status")), *MessageStatus.choices],
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

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", gettext_lazy("Must be later than the start."))
        return data


class CodeMappingForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=CodeKind.choices)
    facility = forms.CharField(
        label=gettext_lazy("Sending facility"),
        max_length=180,
        initial="*",
        help_text=gettext_lazy("MSH-4 of the sending system; * for every facility."),
    )
    external_code = forms.CharField(label=gettext_lazy("Their code"), max_length=100)
    internal_code = forms.CharField(
        label=gettext_lazy("MedOA code"),
        max_length=100,
        help_text=gettext_lazy(
            "Department and ward: a MedOA department code; bed: the bed code; doctor: a username."
        ),
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)


class SenderForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    address = forms.CharField(
        label=gettext_lazy("Client address or network"),
        max_length=64,
        help_text=gettext_lazy("An IP address (10.1.2.3) or a network (10.1.0.0/16)."),
    )
    facility = forms.CharField(
        label=gettext_lazy("Sending facility"),
        max_length=180,
        initial="*",
        help_text=gettext_lazy("MSH-4 of the sending system; * for every facility."),
    )
    scopes = forms.CharField(
        label=gettext_lazy("Scopes"),
        max_length=500,
        initial="hl7:adt, hl7:oru",
        help_text=gettext_lazy(
            "The message types it may send, comma-separated: hl7:adt, hl7:oru, hl7:mfn or hl7:*."
        ),
    )
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)


def _form_errors(form: forms.Form, exc: ServiceError) -> None:
    pairs: list[tuple[str | None, Any]] = list(exc.errors) or [(None, exc.message)]
    for name, message in pairs:
        form.add_error(name if name in form.fields else None, str(message))


# --- the raw message, highlighted --------------------------------------------------------------------


@dataclass
class Part:
    text: str
    label: str  # e.g. PID-3.1
    sep: str = ""  # the separator shown before it


@dataclass
class FieldView:
    number: int
    label: str  # e.g. PID-3
    sep: str
    parts: list[Part] = field(default_factory=list)


@dataclass
class SegmentView:
    name: str
    fields: list[FieldView]


def render_segments(raw: str) -> tuple[list[SegmentView], bool]:
    """Segments → fields → components, each labelled (``PID-3``, ``PID-3.1``) for the page. MSH-1
    is the field separator itself and MSH-2 the encoding characters. Returns (segments, truncated)."""
    truncated = len(raw) > MAX_RENDER_CHARS
    text = raw[:MAX_RENDER_CHARS]
    fs, comp, rep = "|", "^", "~"
    if text.startswith(("MSH", "BHS", "FHS")) and len(text) > 8:
        fs = text[3]
        enc = text[4:8]
        comp = enc[0] if len(enc) > 0 else "^"
        rep = enc[1] if len(enc) > 1 else "~"
    out: list[SegmentView] = []
    segs = [s for s in text.split("\r") if s]
    if len(segs) > MAX_RENDER_SEGMENTS:
        segs, truncated = segs[:MAX_RENDER_SEGMENTS], True
    for seg in segs:
        pieces = seg.split(fs)
        name = pieces[0][:3]
        fields: list[FieldView] = []
        if name in ("MSH", "BHS", "FHS"):
            fields.append(FieldView(1, f"{name}-1", "", [Part(fs, f"{name}-1")]))
            if len(pieces) > 1:
                fields.append(FieldView(2, f"{name}-2", "", [Part(pieces[1], f"{name}-2")]))
            rest, start = pieces[2:], 3
        else:
            rest, start = pieces[1:], 1
        for offset, value in enumerate(rest):
            number = start + offset
            label = f"{name}-{number}"
            fv = FieldView(number, label, fs)
            for r, repetition in enumerate(value.split(rep)):
                comps = repetition.split(comp)
                for c, component in enumerate(comps, start=1):
                    sep = (rep if r and c == 1 else "") or (comp if c > 1 else "")
                    sub = f"{label}.{c}" if len(comps) > 1 else label
                    if r:
                        sub += f" ({_('repetition')} {r + 1})"
                    fv.parts.append(Part(component, sub, sep))
            fields.append(fv)
        out.append(SegmentView(name, fields))
    return out, truncated


# --- the message store -------------------------------------------------------------------------------


@login_required
@require_GET
def message_list(request: HttpRequest) -> HttpResponse:
    _require(request, PERM_VIEW)
    form = MessageFilterForm(request.GET)
    page = None
    if form.is_valid():
        d = form.cleaned_data
        filters = selectors.MessageFilter(
            type=d["type"],
            sender=d["sender"],
            patient_id=d["patient_id"],
            status=d["status"],
            since=d["since"],
            until=d["until"],
        )
        page = Paginator(selectors.message_list(user=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
    context = {
        "form": form,
        "page": page,
        "counters": selectors.sender_counters(user=request.user),
        "status_counts": selectors.status_counts(user=request.user),
        "may_manage": has_perm(request.user, PERM_MANAGE),
    }
    return render(request, "hl7/message_list.html", context, status=200 if page is not None else 400)


@login_required
@require_GET
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, PERM_VIEW)
    message = selectors.message_get(user=request.user, message_id=pk)
    segments, truncated = render_segments(message.raw or "")
    reason_lines = (message.status_reason or "").split("\n", 1)
    context = {
        "message": message,
        "segments": segments,
        "truncated": truncated,
        "reason_key": reason_lines[0] if len(reason_lines) > 1 else "",
        "reason_text": reason_lines[-1],
        "may_reprocess": has_perm(request.user, PERM_MANAGE) and message.status in services.REPROCESSABLE,
        "may_map": has_perm(request.user, PERM_MAPPING),
        "unmapped": _unmapped_key(message.status_reason or ""),
    }
    return render(request, "hl7/message_detail.html", context)


def _unmapped_key(reason: str) -> dict[str, str] | None:
    head = reason.split("\n", 1)[0]
    if not head.startswith("unmapped:"):
        return None
    parts = head[len("unmapped:") :].split(":", 2)
    if len(parts) != 3:
        return None
    return {"kind": parts[0], "facility": parts[1], "code": parts[2]}


@login_required
@require_POST
def message_reprocess(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, PERM_MANAGE)
    message = selectors.message_get(user=request.user, message_id=pk)
    try:
        services.message_reprocess(actor=request.user, message=message)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Message #%(id)s is queued for processing again.") % {"id": pk})
    return redirect("hl7:message_detail", pk=pk)


@login_required
@require_POST
def message_reprocess_unmapped(request: HttpRequest) -> HttpResponse:
    _require(request, PERM_MANAGE)
    count = services.messages_reprocess_unmapped(actor=request.user)
    messages.success(
        request, _("%(count)s unmapped messages are queued for processing again.") % {"count": count}
    )
    return redirect("hl7:message_list")


# --- code mappings -----------------------------------------------------------------------------------


@login_required
@require_GET
def mapping_list(request: HttpRequest) -> HttpResponse:
    _require(request, PERM_MAPPING)
    kind = request.GET.get("kind", "")
    if kind not in CodeKind.values:
        kind = ""
    q = request.GET.get("q", "")[:100]
    page = Paginator(selectors.mapping_list(user=request.user, kind=kind, q=q), 100).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "kind": kind,
        "q": q,
        "kinds": CodeKind.choices,
        "suggestions": selectors.unmapped_suggestions(user=request.user),
    }
    return render(request, "hl7/mapping_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def mapping_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    _require(request, PERM_MAPPING)
    mapping = selectors.mapping_get(user=request.user, mapping_id=pk) if pk is not None else None
    if request.method == "POST":
        form = CodeMappingForm(request.POST)
        if form.is_valid():
            try:
                _saved, requeued = services.code_mapping_save(
                    actor=request.user, mapping=mapping, **form.cleaned_data
                )
            except ServiceError as exc:
                _form_errors(form, exc)
            else:
                text = _("Mapping saved.")
                if requeued:
                    text += " " + _("%(count)s waiting messages are queued for processing again.") % {
                        "count": requeued
                    }
                messages.success(request, text)
                return redirect("hl7:mapping_list")
        status = 400
    else:
        if mapping is not None:
            initial = {
                "kind": mapping.kind,
                "facility": mapping.facility,
                "external_code": mapping.external_code,
                "internal_code": mapping.internal_code,
                "note": mapping.note,
            }
        else:
            initial = {k: request.GET.get(k, "")[:180] for k in ("kind", "facility", "external_code")}
            initial["facility"] = initial["facility"] or "*"
        form = CodeMappingForm(initial=initial)
        status = 200
    return render(request, "hl7/mapping_form.html", {"form": form, "mapping": mapping}, status=status)


@login_required
@require_POST
def mapping_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, PERM_MAPPING)
    mapping = selectors.mapping_get(user=request.user, mapping_id=pk)
    services.code_mapping_delete(actor=request.user, mapping=mapping)
    messages.success(request, _("Mapping deleted."))
    return redirect("hl7:mapping_list")


# --- MLLP senders ------------------------------------------------------------------------------------


@login_required
@require_GET
def sender_list(request: HttpRequest) -> HttpResponse:
    _require(request, PERM_MANAGE)
    return render(request, "hl7/sender_list.html", {"senders": selectors.sender_list(user=request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def sender_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    _require(request, PERM_MANAGE)
    sender = selectors.sender_get(user=request.user, sender_id=pk) if pk is not None else None
    if request.method == "POST":
        form = SenderForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.sender_save(
                    actor=request.user,
                    sender=sender,
                    name=d["name"],
                    address=d["address"],
                    facility=d["facility"],
                    scopes=d["scopes"].replace(";", ",").split(","),
                    enabled=d["enabled"],
                )
            except ServiceError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Sender saved."))
                return redirect("hl7:sender_list")
        status = 400
    else:
        initial: dict[str, Any] = {}
        if sender is not None:
            initial = {
                "name": sender.name,
                "address": sender.address,
                "facility": sender.facility,
                "scopes": ", ".join(sender.scopes or []),
                "enabled": sender.enabled,
            }
        form = SenderForm(initial=initial) if initial else SenderForm()
        status = 200
    return render(request, "hl7/sender_form.html", {"form": form, "sender": sender}, status=status)


@login_required
@require_POST
def sender_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, PERM_MANAGE)
    sender = selectors.sender_get(user=request.user, sender_id=pk)
    services.sender_delete(actor=request.user, sender=sender)
    messages.success(request, _("Sender deleted."))
    return redirect("hl7:sender_list")
