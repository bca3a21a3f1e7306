from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    """Datasets, KPIs, the report builder, dashboards and exports."""

    name = "medoa.engines.reports"
    label = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from medoa.core.access.permissions import register
        from medoa.core.events.registry import Subscriber, subscribers
        from medoa.core.registries import MenuEntry, PeriodicJob, menu, periodic_jobs

        from .access import PERMISSIONS, VIEW
        from .facts import REFRESH_SECONDS, facts_refresh_job, on_clinical_event
        from .registry import discover

        for permission in PERMISSIONS:
            register(permission)
        for entry in (
            MenuEntry(
                "reports.cockpit", _("Cockpit"), "reports:cockpit", group="reports", order=10, permission=VIEW
            ),
            MenuEntry(
                "reports.builder",
                _("Report builder"),
                "reports:builder",
                group="reports",
                order=20,
                permission=VIEW,
            ),
        ):
            menu.register(entry.key, entry)
        periodic_jobs.register(
            "reports.facts",
            PeriodicJob(key="reports.facts", run=facts_refresh_job, every_seconds=REFRESH_SECONDS),
        )
        subscribers.register(
            Subscriber(
                "reports.mark_fact_days",
                ("clinical.patient.*",),
                on_clinical_event,
                label=_("Mark the days whose bed figures changed"),
            )
        )
        discover()
