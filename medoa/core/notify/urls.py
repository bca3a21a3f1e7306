"""The inbox pages, mounted at /notifications/ by medoa.web.urls."""

from django.urls import path

from . import views

app_name = "notify"

urlpatterns = [
    path("", views.notification_list, name="notification_list"),
    path("stream/", views.notification_stream, name="notification_stream"),
    path("preferences/", views.notification_preferences, name="notification_preferences"),
    path("<int:notification_id>/read/", views.notification_read, name="notification_read"),
    path("<int:notification_id>/ack/", views.notification_ack, name="notification_ack"),
    path("read-all/", views.notification_read_all, name="notification_read_all"),
]
