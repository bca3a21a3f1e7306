"""The event log pages: the list with filters, one event with its payload and deliveries, and
redelivery of a failed or dead delivery."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medoa.core.access.policy import has_perm

from . import selectors, services
from .errors import EventError
from .forms import EventFilterForm
from .registry import event_types, subscribers


def _require(request: HttpRequest, code: str) -> None:
    if not has_perm(request.user, code):
        raise PermissionDenied


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    _require(request, services.PERM_VIEW)
    form = EventFilterForm(request.GET)
    page = None
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.EventFilter(
            type=data["type"], status=data["status"], since=data["since"], until=data["until"]
        )
        page = Paginator(selectors.event_list(user=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
    context = {"form": form, "page": page}
    return render(request, "events/event_list.html", context, status=200 if page is not None else 400)


@login_required
@require_GET
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, services.PERM_VIEW)
    event = selectors.event_get(user=request.user, event_id=pk)
    event_type = event_types.get(event.type) if event.type in event_types else None
    deliveries = list(event.deliveries.all())
    for d in deliveries:
        sub = subscribers.get(d.subscriber)
        d.subscriber_label = sub.label if sub is not None and sub.label else ""  # type: ignore[attr-defined]
    context = {
        "event": event,
        "event_type": event_type,
        "payload_json": json.dumps(event.payload, ensure_ascii=False, indent=2, sort_keys=True),
        "deliveries": deliveries,
        "may_redeliver": has_perm(request.user, services.PERM_REDELIVER),
    }
    return render(request, "events/event_detail.html", context)


@login_required
@require_POST
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, services.PERM_REDELIVER)
    delivery = selectors.delivery_get(user=request.user, delivery_id=pk)
    try:
        services.delivery_redeliver(actor=request.user, delivery=delivery)
    except EventError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Delivery to %(subscriber)s queued again.") % {"subscriber": delivery.subscriber},
        )
    return redirect("events:event_detail", pk=delivery.event_id)
