"""The operating-room and equipment pages, in the ``resources`` namespace: ``resources/urls.py``
adds them with ``urlpatterns += urls_or.urlpatterns``."""

from __future__ import annotations

from django.urls import path

from . import views_or

urlpatterns = [
    path("or/", views_or.or_day, name="or_day"),
    path("or/book/", views_or.or_book, name="or_book"),
    path("or/check", views_or.or_check, name="or_check"),
    path("or/approvals/", views_or.or_approvals, name="or_approvals"),
    path("or/bookings/<int:pk>/", views_or.or_case, name="or_case"),
    path("or/bookings/<int:pk>/decide", views_or.or_decide, name="or_decide"),
    path("or/bookings/<int:pk>/coordinate/", views_or.or_coordinate, name="or_coordinate"),
    path("equipment/", views_or.equipment_day, name="equipment_day"),
    path("equipment/<str:code>/status", views_or.equipment_status, name="equipment_status"),
]
