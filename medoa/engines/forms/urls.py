"""The form engine's pages (mounted at /forms/)."""

from django.urls import path

from . import app_views, views

app_name = "forms"

urlpatterns = [
    path("", views.form_list, name="form_list"),
    path("new/", views.form_new, name="form_new"),
    path("apps/", app_views.app_list, name="app_list"),
    path("apps/new/", app_views.app_new, name="app_new"),
    path("apps/fields/", app_views.app_fields, name="app_fields"),
    path("apps/<slug:slug>/", app_views.app_home, name="app_home"),
    path("apps/<slug:slug>/edit/", app_views.app_edit, name="app_edit"),
    path("apps/<slug:slug>/enabled/", app_views.app_toggle, name="app_toggle"),
    path("records/", views.record_index, name="record_index"),
    path("records/<int:pk>/", views.record_detail, name="record_detail"),
    path("lookup/staff/", views.staff_lookup, name="staff_lookup"),
    path("lookup/departments/", views.department_lookup, name="department_lookup"),
    path("attachments/", views.attachment_upload, name="attachment_upload"),
    path("attachments/<str:token>/", views.attachment_download, name="attachment_download"),
    path("<slug:key>/design/", views.designer, name="designer"),
    path("<slug:key>/design/schema/", views.designer_schema, name="designer_schema"),
    path("<slug:key>/design/save/", views.designer_save, name="designer_save"),
    path("<slug:key>/design/publish/", views.designer_publish, name="designer_publish"),
    path("<slug:key>/versions/", views.form_versions, name="form_versions"),
    path("<slug:key>/schema/", views.form_schema, name="form_schema"),
    path("<slug:key>/fill/", views.form_fill, name="form_fill"),
    path("<slug:key>/records/", views.record_list, name="record_list"),
    path("<slug:key>/records/export/", views.record_export, name="record_export"),
]
