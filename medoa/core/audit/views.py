"""The audit viewer (audit_admin only): list with filters, one entry, and "verify the chain"."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from .forms import EntryFilterForm
from .selectors import audit_entry_neighbours, audit_log_visible_to
from .services import audit_chain_check, audit_entry_open, audit_log_access_denied, audit_log_browse


def _check(request: HttpRequest) -> None:
    if not audit_log_visible_to(request.user):
        audit_log_access_denied(user=request.user, path=request.path)
        raise PermissionDenied


@login_required
@require_GET
def entry_list(request: HttpRequest) -> HttpResponse:
    _check(request)
    form = EntryFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/entry_list.html", {"form": form, "page": None}, status=400)
    page = audit_log_browse(
        viewer=request.user,
        filters=form.entry_filter(),
        before=form.cleaned_data.get("before"),
        after=form.cleaned_data.get("after"),
    )
    query = request.GET.copy()
    query.pop("before", None)
    query.pop("after", None)
    return render(
        request,
        "audit/entry_list.html",
        {"form": form, "page": page, "filter_query": query.urlencode()},
    )


@login_required
@require_GET
def entry_detail(request: HttpRequest, seq: int) -> HttpResponse:
    _check(request)
    entry = audit_entry_open(viewer=request.user, seq=seq)
    if entry is None:
        raise Http404
    previous, following = audit_entry_neighbours(user=request.user, seq=seq)
    return render(
        request,
        "audit/entry_detail.html",
        {
            "entry": entry,
            "details_json": json.dumps(entry.details, indent=2, ensure_ascii=False, sort_keys=True),
            "previous_seq": previous,
            "next_seq": following,
        },
    )


@login_required
@require_POST
def chain_verify(request: HttpRequest) -> HttpResponse:
    _check(request)
    result = audit_chain_check(viewer=request.user)
    template = "audit/_chain_verify.html" if request.headers.get("HX-Request") else "audit/chain_verify.html"
    return render(request, template, {"result": result})
