"""The built-in roles. Their codes are a stable contract (other teams' tests use them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .choices import RoleScope
from .models import Role

D = RoleScope.DEPARTMENT
H = RoleScope.HOSPITAL

# code, Chinese name, English name, scope
BUILTIN_ROLES: list[tuple[str, str, str, RoleScope]] = [
    ("sys_admin", "系统管理员", "System administrator", H),
    ("sec_admin", "安全管理员", "Security administrator", H),
    ("audit_admin", "审计管理员", "Audit administrator", H),
    ("dean", "院长", "Dean", H),
    ("vice_dean", "分管副院长", "Vice dean", H),
    ("dept_head", "科主任", "Department head", D),
    ("head_nurse", "护士长", "Head nurse", D),
    ("doctor", "医生", "Doctor", D),
    ("nurse", "护士", "Nurse", D),
    ("medical_affairs", "医务处", "Medical affairs office", H),
    ("nursing_dept", "护理部", "Nursing department", H),
    ("quality_office", "质控办", "Quality control office", H),
    ("education_office", "科教处", "Education and research office", H),
    ("hr", "人事处", "Human resources", H),
    ("finance", "财务处", "Finance office", H),
    ("equipment", "设备科", "Equipment office", H),
    ("logistics", "后勤保障处", "Logistics", H),
    ("housekeeping", "保洁", "Housekeeping", H),
    ("it", "信息中心", "IT centre", H),
]
BUILTIN_ROLE_CODES = frozenset(code for code, *_ in BUILTIN_ROLES)
DEPARTMENT_ROLE_CODES = frozenset(code for code, _zh, _en, scope in BUILTIN_ROLES if scope == D)


def migrated_model_ready(apps: Any, app_label: str, model_name: str, fields: Iterable[str]) -> bool:
    """Does the migration state ``apps`` (post_migrate's ``apps`` argument) hold the model with
    these fields? ``migrate <one app>`` sends post_migrate to every app, also while other apps'
    tables do not exist yet (or lack later columns): a hook then skips instead of failing. Without
    a state (a direct call) the tables are assumed to be there."""
    if apps is None:
        return True
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        return False
    return set(fields) <= {field.name for field in model._meta.get_fields()}


ROLE_FIELDS = ("code", "name_zh", "name_en", "scope", "builtin")


def ensure_builtin_roles(**kwargs: Any) -> None:
    """post_migrate hook: create missing built-in roles; never overwrite an administrator's names.
    Skips while the role table is not migrated yet (see ``migrated_model_ready``)."""
    if not migrated_model_ready(kwargs.get("apps"), "org", "Role", ROLE_FIELDS):
        return
    existing = set(Role.objects.filter(code__in=BUILTIN_ROLE_CODES).values_list("code", flat=True))
    Role.objects.bulk_create(
        [
            Role(code=code, name_zh=zh, name_en=en, scope=scope, builtin=True)
            for code, zh, en, scope in BUILTIN_ROLES
            if code not in existing
        ]
    )
