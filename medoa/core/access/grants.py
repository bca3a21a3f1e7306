"""Seeding role grants from the permission registry.

Each registered permission names default scopes per role code; ``sync_role_grants`` writes the
missing ``(role, permission)`` rows for roles that exist. It never changes a row that is already
there, so an administrator's scope change — or removal, which disables the row — survives every
upgrade. It runs after every ``migrate`` (and ``flush``) and as ``medoa manage sync_role_grants``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from medoa.core.org.models import Role
from medoa.core.org.roles import ROLE_FIELDS, ensure_builtin_roles, migrated_model_ready

from .models import RoleGrant
from .permissions import permissions
from .policy import EVERYONE


@transaction.atomic
def sync_role_grants() -> int:
    """Create the registry's default grants that are missing; return how many were created."""
    wanted: dict[tuple[str, str], str] = {}
    for perm in permissions:
        for role_code, scope in perm.defaults.items():
            if role_code != EVERYONE:
                wanted[(role_code, perm.code)] = str(scope)
    if not wanted:
        return 0
    roles = dict(Role.objects.filter(code__in={code for code, _ in wanted}).values_list("code", "pk"))
    existing = set(RoleGrant.objects.filter(role_id__in=roles.values()).values_list("role_id", "permission"))
    missing = [
        RoleGrant(role_id=roles[role_code], permission=perm_code, scope=scope)
        for (role_code, perm_code), scope in sorted(wanted.items())
        if role_code in roles and (roles[role_code], perm_code) not in existing
    ]
    RoleGrant.objects.bulk_create(missing)
    return len(missing)


def sync_role_grants_after_migrate(**kwargs: Any) -> None:
    """post_migrate hook. The built-in roles come first (org's own hook creates them too; calling
    it here makes the order independent of signal dispatch). Skips while ``migrate <one app>`` has
    not reached the role and grant tables yet."""
    apps = kwargs.get("apps")
    if not (
        migrated_model_ready(apps, "org", "Role", ROLE_FIELDS)
        and migrated_model_ready(apps, "access", "RoleGrant", ("role", "permission", "scope", "enabled"))
    ):
        return
    ensure_builtin_roles()
    sync_role_grants()
