"""The form engine's pages (mounted at /forms/)."""

from django.urls import URLPattern

app_name = "forms"

urlpatterns: list[URLPattern] = []
