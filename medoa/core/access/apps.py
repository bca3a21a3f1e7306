from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "medoa.core.access"
    label = "access"
