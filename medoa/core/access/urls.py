from django.urls import path

from . import views

app_name = "access"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("login/verify/", views.totp_verify, name="totp_verify"),
    path("logout/", views.logout, name="logout"),
    path("totp/", views.totp_setup, name="totp_setup"),
    path("password/", views.password_change_view, name="password_change"),
    path("grants/", views.rolegrant_list, name="rolegrant_list"),
    path("grants/<slug:role_code>/", views.rolegrant_edit, name="rolegrant_edit"),
    path("sessions/", views.usersession_list_view, name="usersession_list"),
    path("sessions/<int:user_id>/end/", views.usersession_end, name="usersession_end"),
]

# System API keys (issue 6).
from . import system_key_views  # noqa: E402

urlpatterns += [
    path("system-keys/", system_key_views.systemkey_list, name="systemkey_list"),
    path("system-keys/new/", system_key_views.systemkey_create, name="systemkey_create"),
    path("system-keys/<int:key_id>/revoke/", system_key_views.systemkey_revoke, name="systemkey_revoke"),
    path("system-keys/<int:key_id>/scopes/", system_key_views.systemkey_scopes, name="systemkey_scopes"),
]
