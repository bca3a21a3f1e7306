"""Reads of webhook subscriptions and their delivery log, for holders of
``integration.webhook.manage`` (the IT office manages every subscription; the owner is whom
failures are reported to)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from medoa.core.access.policy import has_perm

from .models import DeliveryAttempt, DeliveryStatus, Subscription, WebhookDelivery
from .services import PERM_MANAGE


def _require(user: Any) -> None:
    if not has_perm(user, PERM_MANAGE):
        raise PermissionDenied


def subscription_list(*, user: Any) -> QuerySet[Subscription]:
    _require(user)
    return (
        Subscription.objects.select_related("owner")
        .annotate(
            n_waiting=Count(
                "deliveries",
                filter=Q(deliveries__status__in=(DeliveryStatus.PENDING, DeliveryStatus.FAILED)),
            ),
            n_dead=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
        )
        .order_by("name", "id")
    )


def subscription_get(*, user: Any, subscription_id: int) -> Subscription:
    _require(user)
    sub = Subscription.objects.select_related("owner").filter(pk=subscription_id).first()
    if sub is None:
        raise Http404
    return sub


def attempt_list(*, user: Any, subscription: Subscription) -> QuerySet[DeliveryAttempt]:
    _require(user)
    return (
        DeliveryAttempt.objects.filter(subscription=subscription).select_related("delivery").order_by("-id")
    )


def delivery_list(*, user: Any, subscription: Subscription) -> QuerySet[WebhookDelivery]:
    _require(user)
    return WebhookDelivery.objects.filter(subscription=subscription).order_by("-id")
