"""The inbox page (/notifications/) and the mark-read actions used by the page and the workbench card.

Every view works only on the signed-in user's own notifications: another user's id is a 404.
A mark-read POST from htmx answers with the refreshed workbench card and the top bar's badge
(out of band); a plain form POST redirects back to ``next`` (a path on this site) or the inbox.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from .cards import my_notifications_card
from .models import Notification
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
