"""Who may do what, and over which data: the one place permission checks are answered.

A user's *principal* — their staff record, their role assignments (role, department, with or
without children) and the grants of those roles — is loaded with three queries, kept on the user
object for the request, and kept per process for ``MEDOA_ACCESS_CACHE_SECONDS`` (see
``medoa.core.access.cache``: changes made through the services invalidate it at once in their own
process; other processes see them within that many seconds). ``has_perm`` answers object checks;
``scope_q`` narrows querysets.

Scopes, for a grant reached through an assignment of a role for department D:

* ``all`` — everything;
* ``department_tree`` — D and every department below it;
* ``department`` — D itself (and below it when the assignment includes sub-departments);
* ``self`` — only records that belong to the user.

Grants whose role code is ``*`` in the registry's defaults apply to every active staff member;
their department is the person's own department.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from django.db.models import Q

from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Department, RoleAssignment, Staff

from . import cache
from .choices import SCOPE_RANK, DataScope
from .models import RoleGrant
from .permissions import permissions

T = TypeVar("T")
EVERYONE = "*"
DEPARTMENT_CHAIN = "department_chain"
# Set on a user object whose ``staff`` and ``staff.department`` were loaded with it.
STAFF_JOINED = "_medoa_staff_joined"


@dataclass(frozen=True)
class Reach:
    """One way a permission reaches data: a scope anchored at a department."""

    scope: DataScope
    department_id: int | None
    department_path: str
    subtree: bool

    def covers(self, department: Department | None, *, owner_is_self: bool) -> bool:
        if self.scope == DataScope.ALL:
            return True
        if self.scope == DataScope.SELF:
            return owner_is_self
        if department is None or self.department_id is None:
            return False
        if department.pk == self.department_id:
            return True
        return self.subtree and department.path.startswith(self.department_path)


@dataclass
class Principal:
    """What a user may do. Shared by the requests of a process while cached: treat it as
    read-only (``principal_of`` hands each request its own copy of ``staff``)."""

    user_id: int
    staff: Staff | None
    roles: list[tuple[str, int, str, bool]] = field(default_factory=list)
    grants: dict[str, list[Reach]] = field(default_factory=dict)
    assignments: list[RoleAssignment] = field(default_factory=list)
    # Loaded on first use and shared with the copies: see ``department_chain``.
    lazy: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def role_codes(self) -> set[str]:
        return {code for code, *_ in self.roles}

    @property
    def permission_codes(self) -> set[str]:
        return set(self.grants)


def _staff_of(user: Any) -> Staff | None:
    """The user's staff record with its department: one query, unless the query that loaded the
    user already joined them and said so (the bearer-token lookup does, see ``tokens``)."""
    if getattr(user, STAFF_JOINED, False):
        staff: Staff | None = user._state.fields_cache.get("staff")
        return staff
    return Staff.objects.select_related("department").filter(user_id=user.pk).first()


def _load_principal(user: Any) -> Principal:
    staff = _staff_of(user)
    principal = Principal(user_id=user.pk, staff=staff)
    if staff is None or staff.status != StaffStatus.ACTIVE or not user.is_active:
        return principal

    assignments = list(
        RoleAssignment.objects.filter(staff=staff).select_related("role", "department").order_by("id")
    )
    principal.assignments = assignments
    principal.roles = [
        (a.role.code, a.department_id, a.department.path, a.include_children) for a in assignments
    ]
    by_role: dict[int, list[RoleAssignment]] = {}
    for a in assignments:
        by_role.setdefault(a.role_id, []).append(a)

    def add(code: str, scope: DataScope, dept_id: int | None, path: str, children: bool) -> None:
        subtree = scope == DataScope.DEPARTMENT_TREE or (scope == DataScope.DEPARTMENT and children)
        principal.grants.setdefault(code, []).append(Reach(DataScope(scope), dept_id, path, subtree))

    if by_role:
        grants = RoleGrant.objects.filter(role_id__in=by_role, enabled=True).only(
            "role_id", "permission", "scope"
        )
        for grant in grants:
            for a in by_role[grant.role_id]:
                add(
                    grant.permission,
                    DataScope(grant.scope),
                    a.department_id,
                    a.department.path,
                    a.include_children,
                )
    for perm in permissions:
        scope = perm.defaults.get(EVERYONE)
        if scope is not None:
            add(perm.code, scope, staff.department_id, staff.department.path, False)
    return principal


def _for_request(principal: Principal, staff: Staff | None = None) -> Principal:
    """A copy for one request: its own ``staff`` (and department) object — ``staff`` when given
    — which callers may change or save without touching the shared one; the rest is shared and
    read-only."""
    shared = principal.staff
    if shared is None:
        return replace(principal)
    if staff is None or staff.pk != shared.pk:
        staff = cache.model_copy(shared)
        department = shared._state.fields_cache.get("department")
        if department is not None:
            staff._state.fields_cache["department"] = cache.model_copy(department)
    return replace(principal, staff=staff)


def _principal_for(user: Any) -> Principal:
    if not user.is_active:
        return _load_principal(user)
    hit = cache.principals.get(user.pk)
    if isinstance(hit, Principal):
        # A bearer-token user already carries its own copy of the staff record: use it.
        joined = user._state.fields_cache.get("staff") if getattr(user, STAFF_JOINED, False) else None
        return _for_request(hit, joined)
    generation = cache.principals.generation()
    principal = _load_principal(user)
    # The loaded staff object may be the request's own (``user.staff``): the cache keeps a copy.
    cache.principals.set(user.pk, _for_request(principal), generation=generation)
    return principal


def principal_of(user: Any) -> Principal | None:
    """The principal of ``user`` (``None`` for anonymous users): loaded once per request and
    cached per process for ``MEDOA_ACCESS_CACHE_SECONDS``."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    cached: Principal | None = getattr(user, "_medoa_principal", None)
    if cached is None:
        cached = _principal_for(user)
        user._medoa_principal = cached
    return cached


def forget_principal(user: Any) -> None:
    """Drop the cached principal after the user's roles, grants, staff record or account
    changed: on the user object, and everything this process caches about the user."""
    if hasattr(user, "_medoa_principal"):
        del user._medoa_principal
    cache.access_cache_forget_user(user)


def department_chain(principal: Principal) -> list[Department]:
    """The principal's department and its ancestors, hospital first: one query the first time,
    then kept with the (cached) principal. Empty without a staff record."""
    chain: list[Department] | None = principal.lazy.get(DEPARTMENT_CHAIN)
    if chain is None:
        staff = principal.staff
        if staff is None:
            chain = []
        else:
            ids = staff.department.ancestor_ids
            found = {d.pk: d for d in Department.objects.filter(pk__in=ids)}
            chain = [found[i] for i in ids if i in found] or [cache.model_copy(staff.department)]
        principal.lazy[DEPARTMENT_CHAIN] = chain
    return chain


def principal_memo(principal: Principal, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s answer, kept with the principal: computed once per principal (so once per
    ``MEDOA_ACCESS_CACHE_SECONDS`` while it is cached, and dropped with it when it is
    invalidated). For answers that depend only on what the principal holds and on ``key``."""
    try:
        value: T = principal.lazy[key]
    except KeyError:
        value = principal.lazy[key] = load()
    return value


def has_role(user: Any, code: str) -> bool:
    principal = principal_of(user)
    return principal is not None and code in principal.role_codes


def has_perm(
    user: Any, code: str, *, department: Department | None = None, owner: Staff | None = None
) -> bool:
    """May ``user`` use permission ``code``, on an object in ``department`` owned by ``owner``?

    Without ``department`` and ``owner`` the question is "does the user hold it at all".
    """
    principal = principal_of(user)
    if principal is None:
        return False
    reaches = principal.grants.get(code)
    if not reaches:
        return False
    if department is None and owner is None:
        return True
    owner_is_self = owner is not None and principal.staff is not None and owner.pk == principal.staff.pk
    return any(r.covers(department, owner_is_self=owner_is_self) for r in reaches)


def widest_scope(user: Any, code: str) -> DataScope | None:
    principal = principal_of(user)
    reaches = principal.grants.get(code) if principal else None
    if not reaches:
        return None
    return max((r.scope for r in reaches), key=lambda s: SCOPE_RANK[s])


def scope_q(
    user: Any, code: str, *, department_field: str | None = "department", owner_field: str | None = None
) -> Q:
    """A filter for the rows of a queryset that ``user`` may see under permission ``code``.

    ``department_field`` names the row's department relation, ``owner_field`` its owning staff
    relation. A user without the permission gets a filter that matches nothing.
    """
    nothing = Q(pk__in=[])
    principal = principal_of(user)
    reaches = principal.grants.get(code) if principal else None
    if not reaches or principal is None:
        return nothing
    q = nothing
    for r in reaches:
        if r.scope == DataScope.ALL:
            return Q()
        if r.scope == DataScope.SELF:
            if owner_field and principal.staff is not None:
                q |= Q(**{owner_field: principal.staff.pk})
            continue
        if department_field is None or r.department_id is None:
            continue
        if r.subtree:
            q |= Q(**{f"{department_field}__path__startswith": r.department_path})
        else:
            q |= Q(**{department_field: r.department_id})
    return q
