"""The event log pages (mounted at /events/)."""

from django.urls import path

from . import views

app_name = "events"

urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("<int:pk>/", views.event_detail, name="event_detail"),
    path("deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="delivery_redeliver"),
]
