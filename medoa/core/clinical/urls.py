"""The clinical pages (mounted at /clinical/)."""

from django.urls import path

from . import views

app_name = "clinical"

urlpatterns = [
    path("inpatients/", views.inpatient_list, name="inpatient_list"),
]
