from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, PeriodicJob, menu, periodic_jobs

ALL = DataScope.ALL

PERMISSIONS = (
    Permission(
        "integration.webhook.manage",
        _("Manage outbound webhooks (subscriptions, test sends, delivery log)"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="integration",
    ),
)

MENU = (
    MenuEntry(
        "webhooks.subscriptions",
        _("Webhooks"),
        "webhooks:subscription_list",
        group="admin",
        order=64,
        permission="integration.webhook.manage",
    ),
)


class WebhooksConfig(AppConfig):
    """Outbound webhooks: signed POSTs of events to subscribed URLs, with retries and a log."""

    name = "medoa.integration.webhooks"
    label = "webhooks"
    verbose_name = _("Outbound webhooks")

    def ready(self) -> None:
        from medoa.core.events.registry import Subscriber, subscribers

        from .services import fan_out
        from .worker import send_job

        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        subscribers.register(
            Subscriber(
                "webhooks.fan_out",
                ("*",),
                fan_out,
                label=_("Queue the event for the webhook subscriptions that want it"),
            )
        )
        periodic_jobs.register(
            "webhooks.send", PeriodicJob(key="webhooks.send", run=send_job, every_seconds=5.0)
        )
