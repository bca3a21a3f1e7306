from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, menu

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
)


class RulesConfig(AppConfig):
    """The safe expression language, FEEL, DMN decision tables (and, later, event-condition-action
    rules)."""

    name = "medoa.engines.rules"
    label = "rules"
    verbose_name = _("Rules")

    def ready(self) -> None:
        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
