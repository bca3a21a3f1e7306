from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, WorkbenchCard, menu, workbench_cards

D, A = DataScope.DEPARTMENT, DataScope.ALL

PERMISSIONS = (
    Permission(
        "resources.beds.view",
        _("See the bed board"),
        defaults={
            "head_nurse": D,
            "nurse": D,
            "doctor": D,
            "dept_head": D,
            "nursing_dept": A,
            "medical_affairs": A,
            "housekeeping": A,
            "logistics": A,
            "it": A,
            "sys_admin": A,
        },
        group="resources",
    ),
    Permission(
        "resources.beds.patient",
        _("See who occupies a bed (MRN, visit number, attending doctor)"),
        defaults={
            "head_nurse": D,
            "nurse": D,
            "doctor": D,
            "dept_head": D,
            "nursing_dept": A,
            "medical_affairs": A,
        },
        group="resources",
    ),
    Permission(
        "resources.beds.reserve",
        _("Reserve beds and make them available again"),
        defaults={"head_nurse": D, "nursing_dept": A, "medical_affairs": A},
        group="resources",
    ),
    Permission(
        "resources.beds.maintain",
        _("Take beds out of service"),
        defaults={"head_nurse": D, "nursing_dept": A, "logistics": A},
        group="resources",
    ),
    Permission(
        "resources.beds.clean",
        _("Clean beds (start and finish cleanings)"),
        defaults={"housekeeping": A, "logistics": A},
        group="resources",
    ),
    Permission(
        "resources.beds.settings",
        _("Set up a ward's beds, cleaning time limit and housekeeping area"),
        defaults={"head_nurse": D, "nursing_dept": A, "logistics": A},
        group="resources",
    ),
    Permission(
        "resources.simulate",
        _("Send simulated HIS messages (demo)"),
        defaults={"it": A, "sys_admin": A},
        group="resources",
    ),
)

MENU = (
    MenuEntry(
        "resources.beds", _("Bed board"), "resources:bed_board", order=50, permission="resources.beds.view"
    ),
    MenuEntry(
        "resources.cleaning",
        _("My cleaning tasks"),
        "resources:cleaning_list",
        order=51,
        permission="resources.beds.clean",
    ),
    MenuEntry(
        "resources.simulate",
        _("HIS simulator"),
        "resources:simulate",
        order=90,
        permission="resources.simulate",
    ),
)


class ResourcesConfig(AppConfig):
    name = "medoa.modules.resources"
    label = "resources"
    verbose_name = _("Medical resources")

    def ready(self) -> None:
        # Imported here because they need the app registry (models) to be ready.
        from medoa.core.events.registry import subscribers
        from medoa.core.registries import demo_loaders
        from medoa.engines.flow.registry import service_functions

        from .beds_cards import cleaning_card
        from .beds_events import register_event_types
        from .beds_handlers import BED_SUBSCRIBER
        from .demo import DEMO_LOADER
        from .operating import register as register_or
        from .services import cleaning_done_step, cleaning_overdue_step

        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        register_event_types()
        subscribers.register(BED_SUBSCRIBER)
        service_functions.register("resources.cleaning_done", cleaning_done_step)
        service_functions.register("resources.cleaning_overdue", cleaning_overdue_step)
        demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
        workbench_cards.register(
            "resources.cleaning",
            WorkbenchCard(
                key="resources.cleaning",
                title=_("Beds to clean"),
                template="resources/card_cleaning.html",
                context=cleaning_card,
                order=30,
                roles=("housekeeping",),
            ),
        )
        register_or()  # operating rooms and equipment (role ORQ)
