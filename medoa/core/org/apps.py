from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrgConfig(AppConfig):
    name = "medoa.core.org"
    label = "org"

    def ready(self) -> None:
        from .roles import ensure_builtin_roles

        post_migrate.connect(ensure_builtin_roles, sender=self, dispatch_uid="org.ensure_builtin_roles")
