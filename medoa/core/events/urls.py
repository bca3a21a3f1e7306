"""The event log pages (mounted at /events/)."""

from django.urls import URLPattern

app_name = "events"

urlpatterns: list[URLPattern] = []
