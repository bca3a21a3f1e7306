from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "medoa.core.access"
    label = "access"
    verbose_name = _("Access")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from medoa.core.registries import MenuEntry, menu

        from .choices import DataScope
        from .grants import sync_role_grants_after_migrate
        from .permissions import Permission, register
        from .sessions import session_record_login

        register(
            Permission(
                "access.grant.manage",
                _("Manage role permissions"),
                defaults={"sec_admin": DataScope.ALL},
                group="access",
            )
        )
        register(
            Permission(
                "access.session.manage",
                _("View and end users' sessions"),
                defaults={"sec_admin": DataScope.ALL},
                group="access",
            )
        )
        menu.register(
            "access.grants",
            MenuEntry(
                key="access.grants",
                label=_("Role permissions"),
                url_name="access:rolegrant_list",
                icon="shield",
                group="security",
                order=510,
                permission="access.grant.manage",
            ),
        )
        menu.register(
            "access.sessions",
            MenuEntry(
                key="access.sessions",
                label=_("Sessions"),
                url_name="access:usersession_list",
                icon="monitor",
                group="security",
                order=520,
                permission="access.session.manage",
            ),
        )
        for key, label, url_name, icon, order in (
            ("access.password", _("Change password"), "access:password_change", "key", 900),
            ("access.totp", _("Two-step verification"), "access:totp_setup", "shield", 910),
        ):
            menu.register(
                key, MenuEntry(key=key, label=label, url_name=url_name, icon=icon, group="main", order=order)
            )
        # After org's hook (org precedes access in INSTALLED_APPS, and the hook ensures the
        # built-in roles itself as well).
        post_migrate.connect(
            sync_role_grants_after_migrate, sender=self, dispatch_uid="access.sync_role_grants"
        )
        user_logged_in.connect(session_record_login, dispatch_uid="access.session_record_login")
        # System API keys (issue 6): the permission access.system_key.manage and the menu entry.
        from .system_keys import register_system_key_extensions

        register_system_key_extensions()
