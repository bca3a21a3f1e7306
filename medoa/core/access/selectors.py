"""Reads of access, narrowed by the caller's permissions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from medoa.core.org.models import Department, Role, Staff

from .choices import SCOPE_RANK, DataScope
from .models import ApiToken, RoleGrant, UserSession
from .permissions import Permission, permissions
from .policy import department_chain, has_perm, principal_of, scope_q

GRANT_MANAGE = "access.grant.manage"
SESSION_MANAGE = "access.session.manage"


def permission_list() -> list[Permission]:
    """Every registered permission, grouped and in code order."""
    return sorted(permissions, key=lambda p: (p.group or p.code.split(".")[0], p.code))


def role_list_with_grants(*, user: Any) -> QuerySet[Role]:
    if not has_perm(user, GRANT_MANAGE):
        return Role.objects.none()
    return Role.objects.annotate(grant_count=Count("grants", filter=Q(grants__enabled=True))).order_by(
        "-builtin", "code"
    )


def role_grants_get(*, user: Any, role: Role) -> dict[str, str]:
    """``{permission code: scope}`` of the enabled grants of ``role``."""
    if not has_perm(user, GRANT_MANAGE):
        return {}
    return dict(RoleGrant.objects.filter(role=role, enabled=True).values_list("permission", "scope"))


def usersession_list(*, user: Any, username: str = "") -> QuerySet[UserSession]:
    """Live sessions the caller may see: by the department of the session's owner."""
    q = scope_q(user, SESSION_MANAGE, department_field="user__staff__department", owner_field="user__staff")
    sessions = (
        UserSession.objects.filter(q)
        .select_related("user", "user__staff", "user__staff__department")
        .order_by("-created_at")
    )
    if username:
        sessions = sessions.filter(
            Q(user__username__icontains=username) | Q(user__staff__name__icontains=username)
        )
    return sessions


def api_token_list_own(*, user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


@dataclass
class Me:
    """What ``GET /api/v1/me`` answers."""

    user: Any
    staff: Staff | None
    department_path: list[Department] = field(default_factory=list)
    roles: list[Any] = field(default_factory=list)
    permissions: list[tuple[str, DataScope]] = field(default_factory=list)


def me_get(*, user: Any) -> Me:
    """The caller's own record: staff, department chain, role assignments, permissions.

    Built on the cached principal; with a bearer token the whole answer costs four queries (token
    with user and staff, assignments, grants, department chain), none while the access caches
    are warm.
    """
    principal = principal_of(user)
    staff = principal.staff if principal else None
    me = Me(user=user, staff=staff)
    if principal is None or staff is None:
        return me
    me.department_path = department_chain(principal)
    me.roles = list(principal.assignments)
    me.permissions = sorted(
        (code, max((r.scope for r in reaches), key=lambda s: SCOPE_RANK[s]))
        for code, reaches in principal.grants.items()
        if reaches
    )
    return me
