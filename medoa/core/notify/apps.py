from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.registries import MenuEntry, WorkbenchCard, menu, workbench_cards


class NotifyConfig(AppConfig):
    name = "medoa.core.notify"
    label = "notify"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from .cards import my_notifications_card

        menu.register(
            "notify.inbox",
            MenuEntry(
                key="notify.inbox",
                label=_("Notifications"),
                url_name="notify:notification_list",
                group="main",
                order=20,
            ),
        )
        workbench_cards.register(
            "notify.my_notifications",
            WorkbenchCard(
                key="notify.my_notifications",
                title=_("My notifications"),
                template="notify/card_notifications.html",
                context=my_notifications_card,
                order=10,
            ),
        )
