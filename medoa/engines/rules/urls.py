"""The rule engine's pages: rules and DMN decision tables (mounted at /rules/)."""

from django.urls import URLPattern

app_name = "rules"

urlpatterns: list[URLPattern] = []
