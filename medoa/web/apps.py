from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.registries import MenuEntry, menu


class WebConfig(AppConfig):
    name = "medoa.web"
    label = "web"
    verbose_name = _("Web shell")

    def ready(self) -> None:
        menu.register(
            "web.workbench",
            MenuEntry(
                key="web.workbench", label=_("Workbench"), url_name="web:workbench", group="main", order=0
            ),
        )
