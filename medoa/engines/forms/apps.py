from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, demo_loaders, menu, menu_providers

ALL = DataScope.ALL
TREE = DataScope.DEPARTMENT_TREE
SELF = DataScope.SELF

PERM_DESIGN = "forms.definition.design"
PERM_VIEW = "forms.record.view"
PERM_SUBMIT = "forms.record.submit"

PERMISSIONS = (
    Permission(
        PERM_DESIGN,
        _("Design and publish forms"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="forms",
    ),
    Permission(
        PERM_VIEW,
        _("See form records submitted in one's scope"),
        defaults={
            # everyone sees their own records; heads their department tree; the offices all
            "*": SELF,
            "dept_head": TREE,
            "head_nurse": TREE,
            "medical_affairs": ALL,
            "nursing_dept": ALL,
            "quality_office": ALL,
            "dean": ALL,
            "vice_dean": ALL,
        },
        group="forms",
    ),
    Permission(
        PERM_SUBMIT,
        _("Fill in and submit forms"),
        defaults={"*": ALL},
        group="forms",
    ),
)

MENU = (
    MenuEntry("forms.forms", _("Forms"), "forms:form_list", group="main", order=30),
    MenuEntry(
        "forms.records",
        _("Form records"),
        "forms:record_index",
        group="main",
        order=31,
        permission=PERM_VIEW,
    ),
    MenuEntry(
        "forms.apps", _("App builder"), "forms:app_list", group="design", order=35, permission=PERM_DESIGN
    ),
)


class FormsConfig(AppConfig):
    name = "medoa.engines.forms"
    label = "forms"
    verbose_name = _("Form engine")

    def ready(self) -> None:
        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        # no-code apps: a menu entry per app for the roles that see it; the demo's three apps
        from .app_selectors import app_menu_links
        from .demo import DEMO_LOADER

        menu_providers.register("forms.apps", app_menu_links)
        demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
