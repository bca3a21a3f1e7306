"""The quality module's pages (mounted at /quality/)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "quality"

urlpatterns = [
    path("critical-values/", views.critical_list, name="critical_list"),
    path("critical-values/<int:pk>/", views.critical_detail, name="critical_detail"),
    path("critical-values/<int:pk>/ack/", views.critical_ack, name="critical_ack"),
    path("critical-values/<int:pk>/close/", views.critical_close, name="critical_close"),
    path("critical-limits/", views.limit_list, name="limit_list"),
    path("critical-limits/<int:pk>/delete/", views.limit_delete, name="limit_delete"),
]
