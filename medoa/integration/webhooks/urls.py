"""Webhook pages (mounted at /integration/webhooks/)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="subscription_list"),
    path("new/", views.subscription_create, name="subscription_create"),
    path("<int:pk>/", views.subscription_detail, name="subscription_detail"),
    path("<int:pk>/edit/", views.subscription_edit, name="subscription_edit"),
    path("<int:pk>/enabled/", views.subscription_toggle, name="subscription_toggle"),
    path("<int:pk>/test/", views.subscription_test, name="subscription_test"),
]
