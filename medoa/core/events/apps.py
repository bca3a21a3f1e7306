from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, PeriodicJob, menu, periodic_jobs

ALL = DataScope.ALL

PERMISSIONS = (
    Permission(
        "events.publish",
        _("Publish events through the API"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="events",
    ),
    Permission(
        "events.view",
        _("See the event log (events, payloads, deliveries)"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="events",
    ),
    Permission(
        "events.redeliver",
        _("Redeliver failed and dead event deliveries"),
        defaults={"sys_admin": ALL},
        group="events",
    ),
)

# The dispatcher thread is (re)started by this job; the thread itself wakes on every publish.
DISPATCH_JOB_SECONDS = 1.0


class EventsConfig(AppConfig):
    name = "medoa.core.events"
    label = "events"
    verbose_name = _("Events")

    def ready(self) -> None:
        # Imported here because they need the app registry (models) to be ready.
        from django.core import checks

        from .checks import check_subscriptions
        from .dispatcher import dispatch_job

        for permission in PERMISSIONS:
            register(permission)
        menu.register(
            "events.log",
            MenuEntry(
                "events.log",
                _("Event log"),
                "events:event_list",
                icon="activity",
                group="admin",
                order=700,
                permission="events.view",
            ),
        )
        periodic_jobs.register(
            "events.dispatch",
            PeriodicJob(key="events.dispatch", run=dispatch_job, every_seconds=DISPATCH_JOB_SECONDS),
        )
        checks.register(check_subscriptions)
