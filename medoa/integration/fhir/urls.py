"""FHIR R4 (mounted at /fhir/r4/): the machine endpoints and the submission pages.

``POST /fhir/r4`` without the trailing slash (how FHIR clients post a Bundle) needs one line in
the root urls: ``path("fhir/r4", fhir_views.receive)`` before the include.
"""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "fhir"

urlpatterns = [
    path("", views.receive, name="bundle"),
    path("metadata", views.metadata, name="metadata"),
    path("_submissions/", views.submission_list, name="submission_list"),
    path("_submissions/<int:pk>/", views.submission_detail, name="submission_detail"),
    path("_submissions/<int:pk>/reprocess/", views.submission_reprocess, name="submission_reprocess"),
    path("<str:resource_type>", views.receive, name="resource"),
]
