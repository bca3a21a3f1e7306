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
        from medoa.core.registries import (
            MenuEntry,
            PeriodicJob,
            WorkbenchCard,
            demo_loaders,
            menu,
            periodic_jobs,
            workbench_cards,
        )

        from .access import PERMISSIONS, VIEW
        from .cards import key_figures_card
        from .facts import REFRESH_SECONDS, facts_refresh_job, on_clinical_event
        from .registry import discover
        from .services import scheduled_reports_job

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
        periodic_jobs.register(
            "reports.scheduled",
            PeriodicJob(key="reports.scheduled", run=scheduled_reports_job, every_seconds=600.0),
        )
        workbench_cards.register(
            "reports.key_figures",
            WorkbenchCard(
                key="reports.key_figures",
                title=_("Key figures"),
                template="reports/card_figures.html",
                context=key_figures_card,
                order=15,
                roles=(
                    "dean",
                    "vice_dean",
                    "dept_head",
                    "head_nurse",
                    "medical_affairs",
                    "nursing_dept",
                    "quality_office",
                ),
                permission=VIEW,
            ),
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
        from .demo import DEMO_LOADER

        demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
