from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FormsConfig(AppConfig):
    name = "medoa.engines.forms"
    label = "forms"
    verbose_name = _("Form engine")
