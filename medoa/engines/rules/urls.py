"""The rule engine's pages: rules and DMN decision tables (mounted at /rules/)."""

from django.urls import path

from . import views

app_name = "rules"

urlpatterns = [
    path("", views.rule_list, name="rule_list"),
    path("new/", views.rule_editor, name="rule_new"),
    path("<int:rule_id>/", views.rule_editor, name="rule_editor"),
    path("<int:rule_id>/versions/", views.rule_versions, name="rule_versions"),
    path("<int:rule_id>/dry-run/", views.rule_dry_run, name="rule_dry_run"),
    path("executions/", views.execution_list, name="execution_list"),
    path("decisions/", views.decision_list, name="decision_list"),
    path("decisions/deploy/", views.decision_deploy, name="decision_deploy"),
    path("decisions/<str:key>/", views.decision_editor, name="decision_editor"),
    path("decisions/<str:key>/xml/", views.decision_xml, name="decision_xml"),
    path("decisions/<str:key>/evaluate/", views.decision_evaluate, name="decision_evaluate"),
]
