from django.urls import path

from . import views

app_name = "org"

urlpatterns = [
    path("departments/", views.department_tree, name="department_tree"),
    path("departments/new/", views.department_create, name="department_create"),
    path("departments/<int:pk>/edit/", views.department_edit, name="department_edit"),
    path("departments/<int:pk>/move/", views.department_move, name="department_move"),
    path("departments/<int:pk>/deactivate/", views.department_deactivate, name="department_deactivate"),
    path("departments/<int:pk>/reactivate/", views.department_reactivate, name="department_reactivate"),
    path("staff/", views.staff_list_view, name="staff_list"),
    path("staff/new/", views.staff_create, name="staff_create"),
    path("staff/import/", views.staff_import, name="staff_import"),
    path("staff/import/template/", views.staff_import_template, name="staff_import_template"),
    path("staff/<int:pk>/", views.staff_detail, name="staff_detail"),
    path("staff/<int:pk>/edit/", views.staff_edit, name="staff_edit"),
    path("staff/<int:pk>/deactivate/", views.staff_deactivate, name="staff_deactivate"),
    path("staff/<int:pk>/reactivate/", views.staff_reactivate, name="staff_reactivate"),
    path("staff/<int:pk>/roles/", views.staff_role_assign, name="staff_role_assign"),
    path("staff/<int:pk>/certificates/new/", views.certificate_add, name="certificate_add"),
    path("certificates/<int:pk>/edit/", views.certificate_edit, name="certificate_edit"),
    path("certificates/<int:pk>/remove/", views.certificate_remove, name="certificate_remove"),
    path("roles/", views.role_list, name="role_list"),
    path("roles/<int:pk>/revoke/", views.role_revoke, name="role_revoke"),
    path("directory/", views.directory, name="directory"),
    path("delegations/", views.delegation_list, name="delegation_list"),
    path("delegations/<int:pk>/revoke/", views.delegation_revoke, name="delegation_revoke"),
]
