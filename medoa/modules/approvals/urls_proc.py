"""PROC's pages of the approval centre; ``urls.py`` appends them (``urlpatterns += urls_proc.urlpatterns``)
inside the ``approvals`` namespace."""

from __future__ import annotations

from django.urls import URLPattern, path

from . import views_document, views_sheet, views_stats

urlpatterns: list[URLPattern] = [
    path("requests/<int:pk>/sheet.pdf", views_sheet.request_sheet, name="request_sheet"),
    path(
        "requests/<int:pk>/contract/<int:number>/",
        views_sheet.contract_revision_file,
        name="contract_revision_file",
    ),
    path("stats/", views_stats.stats_page, name="stats"),
    path("documents/", views_document.document_list, name="document_list"),
    path("documents/<int:pk>/", views_document.document_read, name="document_read"),
    path("documents/<int:pk>/read/", views_document.document_mark_read, name="document_read_mark"),
    path(
        "documents/<int:pk>/files/<str:attachment_id>/",
        views_document.document_attachment,
        name="document_attachment",
    ),
]
