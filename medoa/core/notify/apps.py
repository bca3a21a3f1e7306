from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.registries import MenuEntry, PeriodicJob, WorkbenchCard, menu, periodic_jobs, workbench_cards


class NotifyConfig(AppConfig):
    name = "medoa.core.notify"
    label = "notify"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from .cards import my_notifications_card
        from .services import deliveries_send, notifications_dispatch, notifications_escalate
        from .templating import MessageTemplateSpec, message_templates

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
        # The worker hands new notifications to the outside channels, sends (and retries) them,
        # and escalates acknowledgements that did not come in time.
        periodic_jobs.register("notify.dispatch", PeriodicJob("notify.dispatch", notifications_dispatch, 1.0))
        periodic_jobs.register("notify.send", PeriodicJob("notify.send", deliveries_send, 1.0))
        periodic_jobs.register(
            "notify.escalate", PeriodicJob("notify.escalate", notifications_escalate, 15.0)
        )
        message_templates.register(
            "notify.escalation",
            MessageTemplateSpec(
                key="notify.escalation",
                kind="alert",
                title_zh="未确认：{title}",
                body_zh="{recipient} 未在 {ack_by} 前确认收到该通知。",
                title_en="Not acknowledged: {title}",
                body_en="{recipient} did not acknowledge this notification by {ack_by}.",
            ),
        )
