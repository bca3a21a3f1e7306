from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    """The safe expression language (no models). Installed so that Django loads its Chinese
    catalog: ``ExpressionError.translated()`` and the process engine render its messages."""

    name = "medoa.engines.rules"
    label = "rules"
    verbose_name = _("Rules")
