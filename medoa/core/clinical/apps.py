from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, menu

ALL = DataScope.ALL
TREE = DataScope.DEPARTMENT_TREE

PERMISSIONS = (
    Permission(
        "clinical.code_mapping.manage",
        _("Manage the code mapping tables of clinical systems"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="clinical",
    ),
    Permission(
        "clinical.patient.view",
        _("See current inpatients by ward (initials only)"),
        defaults={"sys_admin": ALL, "it": ALL, "medical_affairs": ALL, "head_nurse": TREE, "dept_head": TREE},
        group="clinical",
    ),
)


class ClinicalConfig(AppConfig):
    name = "medoa.core.clinical"
    label = "clinical"
    verbose_name = _("Clinical facts")

    def ready(self) -> None:
        from .events import register_event_types

        for permission in PERMISSIONS:
            register(permission)
        register_event_types()
        menu.register(
            "clinical.inpatients",
            MenuEntry(
                "clinical.inpatients",
                _("Inpatients"),
                "clinical:inpatient_list",
                order=70,
                permission="clinical.patient.view",
            ),
        )
