from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, PeriodicJob, demo_loaders, menu, periodic_jobs

ALL = DataScope.ALL

PERMISSIONS = (
    Permission(
        "rules.decision.design",
        _("Design and deploy decision tables (DMN)"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="rules",
    ),
    # Evaluating computes an answer from the inputs the caller sends and changes nothing; every
    # role holds it by default, and an administrator may narrow it.
    Permission(
        "rules.decision.evaluate",
        _("Evaluate decision tables"),
        defaults={"*": ALL},
        group="rules",
    ),
    Permission(
        "rules.rule.design",
        _("Design rules (create, change, enable, dry-run)"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="rules",
    ),
    Permission(
        "rules.rule.view",
        _("See rules and their execution log"),
        defaults={"sys_admin": ALL, "it": ALL, "medical_affairs": ALL, "quality_office": ALL},
        group="rules",
    ),
)

MENU = (
    MenuEntry(
        "rules.decisions",
        _("Decision tables"),
        "rules:decision_list",
        group="design",
        order=40,
        permission="rules.decision.evaluate",
    ),
    MenuEntry(
        "rules.rules",
        _("Rules"),
        "rules:rule_list",
        group="design",
        order=45,
        permission="rules.rule.view",
    ),
)

CRON_JOB_SECONDS = 30.0


class RulesConfig(AppConfig):
    """The safe expression language, FEEL, DMN decision tables and event-condition-action rules."""

    name = "medoa.engines.rules"
    label = "rules"
    verbose_name = _("Rules")

    def ready(self) -> None:
        # Imported here because they need the app registry (models) to be ready.
        from medoa.core.events.registry import Subscriber, subscribers
        from medoa.core.notify.templating import message_templates

        from .actions import BUILTIN_ACTIONS
        from .demo import CERTIFICATE_TEMPLATE, DEMO_LOADER
        from .engine import cron_job, evaluate_event
        from .registry import rule_actions

        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        for action in BUILTIN_ACTIONS:
            rule_actions.register(action)
        subscribers.register(
            Subscriber("rules.evaluate", ("*",), evaluate_event, label=_("Evaluate the rules for this event"))
        )
        periodic_jobs.register(
            "rules.cron", PeriodicJob(key="rules.cron", run=cron_job, every_seconds=CRON_JOB_SECONDS)
        )
        message_templates.register(CERTIFICATE_TEMPLATE.key, CERTIFICATE_TEMPLATE)
        demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
