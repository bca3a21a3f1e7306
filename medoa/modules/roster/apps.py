from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, WorkbenchCard, demo_loaders, menu, workbench_cards

PERMISSIONS = (
    Permission(
        "roster.view",
        _("See ward rosters"),
        defaults={
            "head_nurse": DataScope.DEPARTMENT,
            "dept_head": DataScope.DEPARTMENT,
            "nursing_dept": DataScope.ALL,
        },
        group="roster",
    ),
    Permission(
        "roster.manage",
        _("Plan ward rosters (generate, edit, publish, approve swaps)"),
        defaults={"head_nurse": DataScope.DEPARTMENT, "nursing_dept": DataScope.ALL},
        group="roster",
    ),
    Permission(
        "roster.own",
        _("See my shifts and ask for swaps"),
        defaults={"*": DataScope.SELF},
        group="roster",
    ),
)

MENU = (
    MenuEntry("roster.my", _("My shifts"), "roster:my_shifts", order=40, permission="roster.own"),
    MenuEntry("roster.swaps", _("Shift swaps"), "roster:swap_list", order=41, permission="roster.own"),
    MenuEntry("roster.wards", _("Ward rosters"), "roster:ward_list", order=42, permission="roster.view"),
)


class RosterConfig(AppConfig):
    name = "medoa.modules.roster"
    label = "roster"
    verbose_name = _("Rosters")

    def ready(self) -> None:
        # Imported here because they need the app registry (models) to be ready.
        from medoa.core.events.registry import Subscriber, subscribers

        from .cards import my_next_shifts_card
        from .demo import DEMO_LOADER
        from .events import register_event_types
        from .handlers import block_leave_days

        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        register_event_types()
        subscribers.register(
            Subscriber(
                "roster.block_leave_days",
                ("approvals.leave.approved",),
                block_leave_days,
                label=_("Block the approved leave days in the roster"),
            )
        )
        workbench_cards.register(
            "roster.my_next_shifts",
            WorkbenchCard(
                key="roster.my_next_shifts",
                title=_("My next shifts"),
                template="roster/card_next_shifts.html",
                context=my_next_shifts_card,
                order=35,
                permission="roster.own",
            ),
        )
        demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
