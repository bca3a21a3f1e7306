"""The inbox pages, mounted at /notifications/ by medoa.web.urls."""

from django.urls import path

from . import views

app_name = "notify"

urlpatterns = [
    path("", views.notification_list, name="notification_list"),
    path("<int:notification_id>/read/", views.notification_read, name="notification_read"),
    path("read-all/", views.notification_read_all, name="notification_read_all"),
]
