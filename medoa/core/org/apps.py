from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "medoa.core.org"
    label = "org"
