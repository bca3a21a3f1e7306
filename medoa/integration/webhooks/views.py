"""Webhook pages (mounted at /integration/webhooks/): list, create, change, enable/disable, test
send, and one subscription with its delivery log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medoa.core.access.policy import has_perm

from . import selectors, services
from .forms import SubscriptionForm
from .models import Subscription


def _require(request: HttpRequest) -> None:
    if not has_perm(request.user, services.PERM_MANAGE):
        raise PermissionDenied


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def subscription_list(request: HttpRequest) -> HttpResponse:
    _require(request)
    subs = list(selectors.subscription_list(user=request.user))
    return _no_store(render(request, "webhooks/subscription_list.html", {"subscriptions": subs}))


def _apply_errors(form: SubscriptionForm, exc: services.WebhookError) -> None:
    if not exc.errors:
        form.add_error(None, str(exc.message))
    for field, message in exc.errors:
        form.add_error(field if field in form.fields else None, str(message))


@login_required
@require_http_methods(["GET", "POST"])
def subscription_create(request: HttpRequest) -> HttpResponse:
    _require(request)
    form = SubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sub, secret = services.subscription_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                event_types=form.patterns(),
                url=form.cleaned_data["url"],
                secret=form.cleaned_data["secret"] or None,
            )
        except services.WebhookError as exc:
            _apply_errors(form, exc)
        else:
            context = {"subscription": sub, "secret": secret}
            return _no_store(render(request, "webhooks/subscription_created.html", context, status=201))
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "subscription": None}
    return render(request, "webhooks/subscription_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def subscription_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request)
    sub = selectors.subscription_get(user=request.user, subscription_id=pk)
    initial = {"name": sub.name, "event_types": "\n".join(sub.event_types), "url": sub.url}
    form = SubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.subscription_update(
                actor=request.user,
                subscription=sub,
                name=form.cleaned_data["name"],
                event_types=form.patterns(),
                url=form.cleaned_data["url"],
                secret=form.cleaned_data["secret"] or None,
            )
        except services.WebhookError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Webhook saved."))
            return redirect("webhooks:subscription_detail", pk=sub.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "webhooks/subscription_form.html", {"form": form, "subscription": sub}, status=status
    )


@login_required
@require_GET
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request)
    sub = selectors.subscription_get(user=request.user, subscription_id=pk)
    attempts = Paginator(selectors.attempt_list(user=request.user, subscription=sub), 50).get_page(
        request.GET.get("page")
    )
    deliveries = list(selectors.delivery_list(user=request.user, subscription=sub)[:20])
    context = {"subscription": sub, "page": attempts, "deliveries": deliveries}
    return _no_store(render(request, "webhooks/subscription_detail.html", context))


@login_required
@require_POST
def subscription_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request)
    sub: Subscription = selectors.subscription_get(user=request.user, subscription_id=pk)
    enable = request.POST.get("enabled") == "1"
    services.subscription_set_enabled(actor=request.user, subscription=sub, enabled=enable)
    messages.success(request, _("Webhook enabled.") if enable else _("Webhook disabled."))
    return redirect("webhooks:subscription_detail", pk=pk)


@login_required
@require_POST
def subscription_test(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request)
    sub = selectors.subscription_get(user=request.user, subscription_id=pk)
    attempt = services.subscription_test_send(actor=request.user, subscription=sub)
    if attempt.ok:
        messages.success(request, _("Test sent: HTTP %(status)s.") % {"status": attempt.status_code})
    else:
        messages.error(request, _("The test failed: %(error)s") % {"error": attempt.error[:200]})
    return redirect("webhooks:subscription_detail", pk=pk)
