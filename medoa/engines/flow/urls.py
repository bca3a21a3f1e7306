"""The process engine's pages (mounted at /flow/)."""

from django.urls import path

from . import views

app_name = "flow"

urlpatterns = [
    path("definitions/", views.definition_list, name="definition_list"),
    path("definitions/<slug:key>/versions/", views.definition_versions, name="definition_versions"),
    path("definitions/<slug:key>/xml/", views.definition_xml, name="definition_xml"),
    path("designer/new/", views.designer_new, name="designer_new"),
    path("designer/save/", views.designer_save, name="designer_save"),
    path("designer/deploy/", views.designer_deploy, name="designer_deploy"),
    path("designer/<slug:key>/", views.designer, name="designer"),
    path("designer/<slug:key>/xml/", views.designer_xml, name="designer_xml"),
    path("start/<slug:key>/", views.instance_start, name="instance_start"),
    path("start-row/", views.start_variable_row, name="start_variable_row"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/batch-approve/", views.task_batch_approve, name="task_batch_approve"),
    path("tasks/<int:pk>/", views.task_detail, name="task_detail"),
    path("tasks/<int:pk>/act/", views.task_act, name="task_act"),
    path("people/", views.staff_search, name="staff_search"),
    path("instances/<int:pk>/", views.instance_detail, name="instance_detail"),
    path("instances/<int:pk>/cancel/", views.instance_cancel, name="instance_cancel"),
    path("instances/<int:pk>/diagram/", views.instance_diagram, name="instance_diagram"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("admin/instances/", views.admin_instance_list, name="admin_instance_list"),
    path("admin/instances/<int:pk>/action/", views.admin_instance_action, name="admin_instance_action"),
    path("admin/incidents/<int:pk>/retry/", views.admin_incident_retry, name="admin_incident_retry"),
]
