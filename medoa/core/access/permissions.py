"""The permission registry. Apps register their permissions in ``AppConfig.ready()``::

    permissions.register(Permission(
        "org.staff.view_private", _("See national ID and personal phone"),
        defaults={"hr": DataScope.ALL},
    ))

``defaults`` are the role grants written on migrate (``sync_role_grants``); administrators may
change grants afterwards, the registry only seeds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medoa.core.registries import Registry

from .choices import DataScope


@dataclass(frozen=True)
class Permission:
    code: str
    label: Any
    defaults: dict[str, DataScope] = field(default_factory=dict)
    group: str = ""


permissions: Registry[Permission] = Registry("permissions")


def register(permission: Permission) -> Permission:
    return permissions.register(permission.code, permission)
