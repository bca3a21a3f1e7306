"""The inbox page (/notifications/) and the mark-read actions used by the page and the workbench card.

Every view works only on the signed-in user's own notifications: another user's id is a 404.
A mark-read POST from htmx answers with the refreshed workbench card and the top bar's badge
(out of band); a plain form POST redirects back to ``next`` (a path on this site) or the inbox.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from . import conf, push, services
from .cards import my_notifications_card
from .models import Notification, NotificationPreference
from .selectors import notification_get_for_user, notification_list_for_user
from .services import notification_mark_read

PAGE_SIZE = 20
SHOW_CHOICES = ("all", "unread")


def _back(request: HttpRequest) -> HttpResponse:
    """After a mark-read: the refreshed card for htmx, else a redirect to a safe ``next``."""
    if request.headers.get("HX-Request") == "true":
        context = my_notifications_card(request)
        return render(request, "notify/_card_notifications_refresh.html", context)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("notify:notification_list")
    return HttpResponseRedirect(target)


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "all")
    if show not in SHOW_CHOICES:
        show = "all"
    qs = notification_list_for_user(user=request.user, unread_only=show == "unread")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notify/notification_list.html", {"page": page, "show": show})


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    try:
        notification = notification_get_for_user(user=request.user, notification_id=notification_id)
    except Notification.DoesNotExist:
        raise Http404 from None
    notification_mark_read(user=request.user, ids=[notification.pk])
    return _back(request)


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    notification_mark_read(user=request.user)
    return _back(request)


@login_required
@require_POST
def notification_ack(request: HttpRequest, notification_id: int) -> HttpResponse:
    try:
        notification = notification_get_for_user(user=request.user, notification_id=notification_id)
        services.notification_ack(user=request.user, notification=notification)
    except Notification.DoesNotExist:
        raise Http404 from None
    except services.AckRefused:
        return HttpResponseBadRequest(_("This notification does not ask for an acknowledgement."))
    return _back(request)


@require_GET
def notification_stream(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Server-sent events for the signed-in user's new notifications (``static/notify/push.js``).

    A signed-out browser gets 204, which tells EventSource to stop. Waiting on the stream does not
    count as activity: the session's idle clock is not moved by it.
    """
    if not request.user.is_authenticated:
        return HttpResponse(status=204)
    request.session.modified = False  # a stream is not the person doing something
    last = request.headers.get("Last-Event-ID") or request.GET.get("last", "")
    last_id = int(last) if last.isdigit() else None
    user_id = request.user.pk
    if isinstance(request, ASGIRequest):
        content: Any = push.stream_async(user_id, last_id)
    elif push.hub().take_slot():
        content = push.stream_sync(user_id, last_id, conf.number("MEDOA_NOTIFY_STREAM_HOLD", 25))
    else:  # every thread we may hold is holding a stream: this browser polls
        head, _top = push.opening(user_id, last_id)
        content = [
            head.replace(f"retry: {push.RECONNECT_MS}".encode(), f"retry: {push.POLL_FALLBACK_MS}".encode())
        ]
    response = StreamingHttpResponse(content, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


KIND_CHOICES = ("*", "task", "reminder", "warning", "alert", "critical", "info", "success")


def _kind_label(kind: str) -> str:
    labels = {
        "*": _("Everything else"),
        "task": _("Tasks"),
        "reminder": _("Reminders"),
        "warning": _("Attention"),
        "alert": _("Alerts"),
        "critical": _("Critical values"),
        "info": _("Information"),
        "success": _("Done"),
    }
    return str(labels[kind])


def _parse_time(text: str) -> datetime.time | None:
    text = text.strip()
    if not text:
        return None
    return datetime.time.fromisoformat(text)


@login_required
def notification_preferences(request: HttpRequest) -> HttpResponse:
    offered = conf.enabled_channels()
    pref = NotificationPreference.objects.filter(user_id=int(request.user.pk or 0)).first()
    errors: dict[str, Any] = {}
    if request.method == "POST":
        channels = {kind: request.POST.getlist(f"ch_{kind}") for kind in KIND_CHOICES}
        quiet: dict[str, datetime.time | None] = {}
        for name in ("quiet_start", "quiet_end"):
            try:
                quiet[name] = _parse_time(request.POST.get(name, ""))
            except ValueError:
                errors[name] = _("Enter a time such as 22:00.")
        language = request.POST.get("language", "")
        if language not in dict(settings.LANGUAGES):
            errors["language"] = _("Choose a language.")
        if not errors and (quiet["quiet_start"] is None) != (quiet["quiet_end"] is None):
            errors["quiet_end"] = _("Give both ends of the quiet hours, or neither.")
        if not errors:
            services.preference_update(
                user=request.user,
                channels=channels,
                quiet_start=quiet["quiet_start"],
                quiet_end=quiet["quiet_end"],
                language=language,
            )
            messages.success(request, _("Your notification preferences are saved."))
            return HttpResponseRedirect(reverse("notify:notification_preferences"))
    chosen = pref.channels if pref is not None else {}
    rows = [
        {
            "kind": kind,
            "label": _kind_label(kind),
            "channels": [(c, c in (chosen.get(kind) or [])) for c in offered],
        }
        for kind in KIND_CHOICES
    ]
    status = 400 if errors else 200
    return render(
        request,
        "notify/preferences.html",
        {
            "rows": rows,
            "offered": [(c, CHANNEL_LABELS[c]) for c in offered],
            "pref": pref,
            "errors": errors,
            "form": request.POST if request.method == "POST" else None,
            "language": (request.POST.get("language") if request.method == "POST" else None)
            or (pref.language if pref else settings.LANGUAGE_CODE),
        },
        status=status,
    )


CHANNEL_LABELS = {"email": _("E-mail"), "sms": _("SMS"), "im": _("Instant messaging")}
