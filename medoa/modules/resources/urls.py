from __future__ import annotations

from django.urls import path

from . import views, views_admin
from .urls_or import urlpatterns as or_urlpatterns

app_name = "resources"

urlpatterns = [
    path("beds/", views.bed_board, name="bed_board"),
    path("wards/beds/", views_admin.ward_beds_pick, name="ward_beds_pick"),
    path("wards/<str:code>/beds/", views_admin.ward_beds, name="ward_beds"),
    path("beds/state", views.bed_board_state, name="bed_board_state"),
    path("beds/<int:pk>/history", views.bed_history, name="bed_history"),
    path("beds/<int:pk>/status", views.bed_status, name="bed_status"),
    path("beds/<int:pk>/qr", views.bed_qr, name="bed_qr"),
    path("beds/<int:pk>/clean", views.bed_clean, name="bed_clean"),
    path("cleaning/", views.cleaning_list, name="cleaning_list"),
    path("simulate/", views.simulate_page, name="simulate"),
]

urlpatterns += or_urlpatterns  # operating rooms and equipment (role ORQ)
