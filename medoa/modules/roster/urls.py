from __future__ import annotations

from django.urls import URLPattern, path

from . import views

app_name = "roster"

urlpatterns: list[URLPattern] = [
    path("", views.ward_list, name="ward_list"),
    path("ward/<int:ward_id>/settings/", views.ward_settings, name="ward_settings"),
    path("ward/<int:ward_id>/<str:month>/", views.roster_grid, name="roster_grid"),
    path("r/<int:roster_id>/cell/", views.cell_update, name="cell_update"),
    path("r/<int:roster_id>/generate/", views.roster_generate, name="roster_generate"),
    path("r/<int:roster_id>/progress/", views.roster_progress, name="roster_progress"),
    path("r/<int:roster_id>/publish/", views.roster_publish, name="roster_publish"),
    path("r/<int:roster_id>/replan/", views.roster_replan, name="roster_replan"),
    path("my/", views.my_shifts, name="my_shifts"),
    path("my/request/", views.my_request, name="my_request"),
    path("ical/<str:token>.ics", views.ical, name="ical"),
    path("swaps/", views.swap_list, name="swap_list"),
    path("swaps/new/", views.swap_new, name="swap_new"),
    path("swaps/<int:swap_id>/", views.swap_detail, name="swap_detail"),
    path("swaps/<int:swap_id>/decide/", views.swap_decide, name="swap_decide"),
]
