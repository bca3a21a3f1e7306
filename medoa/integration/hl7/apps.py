from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Hl7Config(AppConfig):
    name = "medoa.integration.hl7"
    label = "hl7"
    verbose_name = _("HL7 v2")
