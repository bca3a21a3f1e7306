from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, menu

VIEW_PERMISSION = "audit.entry.view"


class AuditConfig(AppConfig):
    name = "medoa.core.audit"
    label = "audit"
    verbose_name = _("Audit log")

    def ready(self) -> None:
        register(
            Permission(
                VIEW_PERMISSION,
                _("View and verify the audit log"),
                defaults={"audit_admin": DataScope.ALL},
                group="audit",
            )
        )
        menu.register(
            "audit",
            MenuEntry(
                key="audit",
                label=_("Audit log"),
                url_name="audit:entry_list",
                icon="shield",
                group="audit",
                order=100,
                permission=VIEW_PERMISSION,
            ),
        )
