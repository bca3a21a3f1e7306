from __future__ import annotations

from django.urls import URLPattern, path

from . import urls_proc, views

app_name = "approvals"

urlpatterns: list[URLPattern] = [
    path("", views.centre, name="centre"),
    path("mine/", views.box, {"box": "mine"}, name="mine"),
    path("todo/", views.box, {"box": "todo"}, name="todo"),
    path("done/", views.box, {"box": "done"}, name="done"),
    path("cc/", views.box, {"box": "cc"}, name="cc"),
    path("new/<slug:type_key>/", views.request_new, name="request_new"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/files/<str:attachment_id>/", views.request_file, name="request_file"),
    path("requests/<int:pk>/decide/", views.request_decide, name="request_decide"),
    path("requests/<int:pk>/comment/", views.comment_add, name="comment_add"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request_withdraw"),
    path("requests/<int:pk>/resume/", views.leave_resume, name="leave_resume"),
    path("todo/batch/", views.batch_approve, name="batch_approve"),
    path("leave/balances/", views.balances, name="balances"),
    path("leave/adjust/", views.balance_adjust, name="balance_adjust"),
    path("people/", views.staff_lookup, name="staff_lookup"),
    path("leave/working-days/", views.working_days, name="working_days"),
    path("leave/delegation/", views.auto_delegation, name="auto_delegation"),
    path("calendar/", views.holiday_list, name="holiday_list"),
    path("install/", views.install, name="install"),
]

# PROC's pages: the approval sheet (PDF), statistics, official documents with read receipts.
urlpatterns += urls_proc.urlpatterns
