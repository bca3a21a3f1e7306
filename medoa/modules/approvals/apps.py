from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, PeriodicJob, WorkbenchCard, menu, periodic_jobs, workbench_cards

ALL = DataScope.ALL
TREE = DataScope.DEPARTMENT_TREE

PERMISSIONS = (
    Permission(
        "approvals.request.view",
        _("See approval requests started in one's scope"),
        defaults={"hr": ALL, "dean": ALL, "vice_dean": ALL, "dept_head": TREE, "head_nurse": TREE},
        group="approvals",
    ),
    Permission(
        "approvals.calendar.manage",
        _("Manage the holiday calendar"),
        defaults={"hr": ALL, "sys_admin": ALL},
        group="approvals",
    ),
    Permission(
        "approvals.balance.manage",
        _("Manage leave balances"),
        defaults={"hr": ALL},
        group="approvals",
    ),
)

MENU = (
    MenuEntry("approvals.centre", _("Approval centre"), "approvals:centre", group="main", order=12),
    MenuEntry(
        "approvals.documents", _("Documents to read"), "approvals:document_list", group="main", order=13
    ),
    MenuEntry(
        "approvals.stats",
        _("Approval statistics"),
        "approvals:stats",
        group="main",
        order=13,
        permission="approvals.stats.view",
    ),
    MenuEntry(
        "approvals.balance_adjust",
        _("Adjust leave balances"),
        "approvals:balance_adjust",
        group="admin",
        order=61,
        permission="approvals.balance.manage",
    ),
    MenuEntry(
        "approvals.calendar",
        _("Holiday calendar"),
        "approvals:holiday_list",
        group="admin",
        order=60,
        permission="approvals.calendar.manage",
    ),
)

SYNC_SECONDS = 30.0


class ApprovalsConfig(AppConfig):
    name = "medoa.modules.approvals"
    label = "approvals"
    verbose_name = _("Approval centre")

    def ready(self) -> None:
        # Imported here: they need the app registry (models) to be ready.
        from medoa.core.registries import demo_loaders
        from medoa.engines.flow.registry import service_functions

        from . import types
        from .catalog import request_types
        from .demo import DEMO_LOADER
        from .events import register_event_types
        from .selectors import card_context
        from .services import finish_function
        from .tasks import sync_job

        for request_type in types.ALL:
            request_types.register(request_type.key, request_type)
        service_functions.register("approvals.finish", finish_function)
        types.register_more()  # the script steps of the types' models, the statistics' permissions
        register_event_types()
        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
        periodic_jobs.register(
            "approvals.sync", PeriodicJob(key="approvals.sync", run=sync_job, every_seconds=SYNC_SECONDS)
        )
        workbench_cards.register(
            "approvals.pending",
            WorkbenchCard(
                key="approvals.pending",
                title=_("Approvals"),
                template="approvals/cards/pending.html",
                context=card_context,
                order=6,
            ),
        )
