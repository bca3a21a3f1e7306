from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "medoa.core.audit"
    label = "audit"
