from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import (
    MenuEntry,
    PeriodicJob,
    WorkbenchCard,
    menu,
    periodic_jobs,
    process_catalog,
    workbench_cards,
)
from medoa.engines.rules.registry import rule_actions

ALL = DataScope.ALL
TREE = DataScope.DEPARTMENT_TREE

PERMISSIONS = (
    Permission(
        "flow.definition.design",
        _("Design and deploy process definitions"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="flow",
    ),
    Permission(
        "flow.instance.admin",
        _("Administer process instances (cancel, suspend, migrate, retry incidents)"),
        defaults={"sys_admin": ALL},
        group="flow",
    ),
    Permission(
        "flow.instance.view",
        _("See process instances started in one's scope"),
        defaults={
            "medical_affairs": ALL,
            "quality_office": ALL,
            "dean": ALL,
            "vice_dean": ALL,
            "dept_head": TREE,
        },
        group="flow",
    ),
    Permission(
        "flow.start",
        _("Start processes"),
        defaults={"*": ALL},
        group="flow",
    ),
    Permission(
        "flow.message.send",
        _("Send messages to processes (correlate by name and business key)"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="flow",
    ),
)

TICK_SECONDS = 5.0

MENU = (
    MenuEntry("flow.tasks", _("My tasks"), "flow:task_list", group="main", order=10),
    MenuEntry("flow.definitions", _("Processes"), "flow:definition_list", group="main", order=20),
    MenuEntry(
        "flow.admin",
        _("Process instances"),
        "flow:admin_instance_list",
        group="admin",
        order=30,
        permission="flow.instance.admin",
    ),
)


class FlowConfig(AppConfig):
    name = "medoa.engines.flow"
    label = "flow"
    verbose_name = _("Process engine")

    def ready(self) -> None:
        # Imported here because they need the app registry (models) to be ready.
        from medoa.core.registries import demo_loaders

        from .catalog import PROCESS_CATALOG
        from .demo import DEMO_LOADER
        from .demo_apps import DEMO_APPS_LOADER
        from .rule_actions import START_PROCESS
        from .selectors import todo_card_context
        from .tasks import flow_tick_job

        demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
        demo_loaders.register(DEMO_APPS_LOADER.key, DEMO_APPS_LOADER)
        process_catalog.register("flow", PROCESS_CATALOG)
        rule_actions.register(START_PROCESS)

        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        periodic_jobs.register(
            "flow.tick", PeriodicJob(key="flow.tick", run=flow_tick_job, every_seconds=TICK_SECONDS)
        )
        workbench_cards.register(
            "flow.todo",
            WorkbenchCard(
                key="flow.todo",
                title=_("My to-do"),
                template="flow/cards/todo.html",
                context=todo_card_context,
                order=5,
            ),
        )
        # 新员工入职 (issue 6): started by hr.employee.hired; its service function and demo loader.
        from .onboarding import register_onboarding

        register_onboarding()
