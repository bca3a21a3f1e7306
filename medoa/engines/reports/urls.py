from __future__ import annotations

from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.cockpit, name="cockpit"),
    path("builder/", views.builder, name="builder"),
    path("data/kpis/", views.data_kpis, name="data_kpis"),
    path("data/by-department/", views.data_by_department, name="data_by_department"),
    path("data/records/", views.data_records, name="data_records"),
    path("data/query/", views.data_query, name="data_query"),
    path("data/ward/", views.data_ward, name="data_ward"),
    path("data/saved/", views.data_saved, name="data_saved"),
    path("saved/<int:report_id>/export.<str:fmt>", views.saved_export, name="saved_export"),
    path("export/<str:fmt>/", views.export, name="export"),
]
