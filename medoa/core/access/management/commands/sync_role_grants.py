"""``medoa manage sync_role_grants``: write the permission registry's missing default grants."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from medoa.core.access.grants import sync_role_grants
from medoa.core.org.roles import ensure_builtin_roles


class Command(BaseCommand):
    help = "Create the default role grants of every registered permission that are missing."

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_builtin_roles()
        created = sync_role_grants()
        self.stdout.write(f"created {created} role grant(s)")
