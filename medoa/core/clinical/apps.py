from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClinicalConfig(AppConfig):
    name = "medoa.core.clinical"
    label = "clinical"
    verbose_name = _("Clinical facts")
