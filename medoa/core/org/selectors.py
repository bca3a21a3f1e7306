"""Reads of the organisation: the tree queries the engines need and permission-narrowed lists.

Tree queries (``department_chain``, ``role_holders``, ``leader_above``, ``role_members``,
``active_delegate_for``) answer questions about the organisation itself and are not narrowed by
the caller: the process engine asks them on behalf of the system. The ``*_list``/``*_get``
selectors take the asking ``user`` and narrow by ``medoa.core.access.policy``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from medoa.core.access.policy import has_perm, principal_of, scope_q
from medoa.core.crypto import blind_index

from .choices import ActiveStatus, StaffStatus
from .models import Delegation, Department, RoleAssignment, Staff, StaffCertificate
from .validators import NATIONAL_ID_INDEX, PHONE_INDEX

DIRECTORY_FIELDS = (
    "id",
    "name",
    "title",
    "office_phone",
    "department__id",
    "department__name_zh",
    "department__name_en",
    "department__code",
)
STAFF_LIST_PERMISSIONS = frozenset({"org.staff.view", "org.role.assign"})
HEAD_ROLE = "dept_head"
DEAN_ROLE = "dean"


# --- the tree -------------------------------------------------------------------------------------


def department_chain(department: Department) -> list[Department]:
    """``department`` and its ancestors, nearest first: ``[department, parent, …, root]``.

    One query (the ids come from the materialised path); ``head`` is loaded with each.
    """
    ids = department.ancestor_ids
    by_id = Department.objects.select_related("head__user").in_bulk(ids)
    return [by_id[pk] for pk in reversed(ids) if pk in by_id]


def department_descendants(
    department: Department, *, include_self: bool = False, active_only: bool = False
) -> QuerySet[Department]:
    """Every department below ``department`` (at any depth), in path order; one query."""
    qs = Department.objects.filter(path__startswith=department.path)
    if not include_self:
        qs = qs.exclude(pk=department.pk)
    if active_only:
        qs = qs.filter(status=ActiveStatus.ACTIVE)
    return qs


def department_root() -> Department | None:
    """The hospital root (the department without a parent)."""
    return Department.objects.filter(parent__isnull=True).order_by("sort_order", "pk").first()


@dataclass(frozen=True)
class TreeRow:
    department: Department
    depth: int
    has_children: bool


def department_tree_rows(departments: Iterable[Department]) -> list[TreeRow]:
    """Depth-first order of ``departments``, siblings by (sort order, code); a department whose
    parent is not among ``departments`` starts a new top-level branch."""
    items = list(departments)
    ids = {d.pk for d in items}
    children: dict[int | None, list[Department]] = {}
    for d in items:
        key = d.parent_id if d.parent_id in ids else None
        children.setdefault(key, []).append(d)
    for siblings in children.values():
        siblings.sort(key=lambda d: (d.sort_order, d.code))
    rows: list[TreeRow] = []
    stack: list[tuple[Department, int]] = [(d, 0) for d in reversed(children.get(None, []))]
    while stack:
        dept, depth = stack.pop()
        kids = children.get(dept.pk, [])
        rows.append(TreeRow(dept, depth, bool(kids)))
        stack.extend((k, depth + 1) for k in reversed(kids))
    return rows


@dataclass
class TreeNode:
    department: Department
    children: list[TreeNode]


def department_tree_nodes(departments: Iterable[Department]) -> list[TreeNode]:
    """The same order as ``department_tree_rows``, nested: one node per department."""
    roots: list[TreeNode] = []
    stack: list[tuple[int, TreeNode]] = []
    for row in department_tree_rows(departments):
        node = TreeNode(row.department, [])
        while stack and stack[-1][0] >= row.depth:
            stack.pop()
        (stack[-1][1].children if stack else roots).append(node)
        stack.append((row.depth, node))
    return roots


def department_list(
    *,
    user: Any,
    status: str = "",
    kind: str = "",
    category: str = "",
    under: Department | None = None,
    search: str = "",
) -> QuerySet[Department]:
    """Departments for anyone who may see the directory, filtered; one query, path order."""
    if not has_perm(user, "org.directory.view"):
        return Department.objects.none()
    qs = Department.objects.select_related("head")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if category:
        qs = qs.filter(category=category)
    if under is not None:
        qs = qs.filter(path__startswith=under.path)
    if search:
        qs = qs.filter(Q(name_zh__icontains=search) | Q(name_en__icontains=search) | Q(code__iexact=search))
    return qs.order_by("path")


def department_get(*, user: Any, pk: int) -> Department | None:
    return department_list(user=user).filter(pk=pk).first()


def _either(*filters: Q) -> Q:
    """OR of permission filters. ``scope_q`` gives an empty ``Q()`` for "everything", which an
    OR would silently drop (``Q() | Q(pk=1)`` is ``Q(pk=1)``), so an empty one wins outright."""
    if any(not f for f in filters):
        return Q()
    combined = filters[0]
    for f in filters[1:]:
        combined |= f
    return combined


def _active_staff_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}status": StaffStatus.ACTIVE, f"{prefix}user__is_active": True})


def role_holders(role_code: str, department: Department) -> list[Staff]:
    """The holders of role ``role_code`` *for* ``department`` (employed, active accounts only).

    Looks along the chain ``department, parent, …, root`` and returns the holders found at the
    best rank, ordered by employee number:

    1. assignments that *cover* ``department``: held at ``department`` itself, or held at an
       ancestor with ``include_children`` — the nearest such level wins;
    2. when nothing covers it, walk up: the nearest ancestor holding the role at all (an
       assignment without ``include_children``, held only for that ancestor).

    So an ``include_children`` assignment on the grandparent counts before a parent-only
    assignment on the parent. Empty when nobody on the chain holds the role. One query.
    """
    chain_ids = department.ancestor_ids
    distance = {pk: len(chain_ids) - 1 - i for i, pk in enumerate(chain_ids)}
    best: tuple[int, int] | None = None
    holders: dict[int, Staff] = {}
    assignments = RoleAssignment.objects.filter(
        _active_staff_q("staff__"), role__code=role_code, department_id__in=chain_ids
    ).select_related("staff__department", "staff__user")
    for a in assignments:
        d = distance[a.department_id]
        rank = (0 if d == 0 or a.include_children else 1, d)
        if best is None or rank < best:
            best, holders = rank, {}
        if rank == best:
            holders[a.staff.pk] = a.staff
    return sorted(holders.values(), key=lambda s: s.employee_no)


def _is_active(staff: Staff | None) -> bool:
    return staff is not None and staff.status == StaffStatus.ACTIVE and staff.user.is_active


def leader_above(staff: Staff, levels: int = 1) -> Staff | None:
    """ "The leader N levels up" of ``staff`` (``levels`` ≥ 1), or ``None`` when there is none.

    The *heads* of a department L are, in this order of preference:
    (a) the employed holders of ``dept_head`` assigned at L itself (lowest employee number first),
    (b) else ``L.head`` if employed,
    (c) else, at the hospital root only, the holders of ``dean`` there.

    Walk the chain from the person's own department upward. A level with no heads is passed
    over; a level where the person (or a leader already found) is among the heads is passed over
    too. Level 1 is the first head found this way — the head of the person's own department,
    or of the nearest department above it when the person is that head (or it has none). Level
    2 continues the walk from the parent of the department where level 1 was found, and so on.
    Three queries whatever the depth.
    """
    if levels < 1:
        raise ValueError("levels must be 1 or more")
    chain = department_chain(staff.department)
    head_assignments = RoleAssignment.objects.filter(
        _active_staff_q("staff__"),
        role__code__in=(HEAD_ROLE, DEAN_ROLE),
        department_id__in=[d.pk for d in chain],
    ).select_related("staff__user", "role")
    by_level: dict[tuple[int, str], list[Staff]] = {}
    for a in head_assignments:
        by_level.setdefault((a.department_id, a.role.code), []).append(a.staff)

    def heads_at(dept: Department) -> list[Staff]:
        heads = by_level.get((dept.pk, HEAD_ROLE))
        if heads:
            return sorted(heads, key=lambda s: s.employee_no)
        if dept.head is not None and _is_active(dept.head):
            return [dept.head]
        if dept.parent_id is None:
            return sorted(by_level.get((dept.pk, DEAN_ROLE), []), key=lambda s: s.employee_no)
        return []

    seen = {staff.pk}
    leader: Staff | None = None
    index = 0
    for _level in range(levels):
        leader = None
        while index < len(chain):
            heads = heads_at(chain[index])
            index += 1
            if heads and not any(h.pk in seen for h in heads):
                leader = heads[0]
                seen.add(leader.pk)
                break
        if leader is None:
            return None
    return leader


def role_members(role_code: str, department: Department, include_children: bool = True) -> QuerySet[Staff]:
    """Employed staff holding ``role_code`` through an assignment at ``department`` (and, with
    ``include_children``, at any department below it). One query; ordered by employee number."""
    where = Q(department__path__startswith=department.path) if include_children else Q(department=department)
    held = RoleAssignment.objects.filter(where, staff=OuterRef("pk"), role__code=role_code)
    return (
        Staff.objects.filter(_active_staff_q(), Exists(held))
        .select_related("department", "user")
        .order_by("employee_no")
    )


def active_delegation_for(
    staff: Staff, process_key: str | None = None, at: datetime.datetime | None = None
) -> Delegation | None:
    """The delegation in force for ``staff``'s tasks of process ``process_key`` at ``at`` (now).

    In force: not revoked, ``starts_at <= at < ends_at``, the delegate employed, and either the
    delegation covers every process type or it names ``process_key``. With ``process_key=None``
    only delegations covering every process type apply. The newest wins if several do.
    """
    at = at or timezone.now()
    candidates = (
        Delegation.objects.filter(
            _active_staff_q("delegate__"),
            delegator=staff,
            revoked_at__isnull=True,
            starts_at__lte=at,
            ends_at__gt=at,
        )
        .select_related("delegate__department", "delegate__user")
        .order_by("-created_at", "-pk")
    )
    for delegation in candidates:
        keys = delegation.process_keys
        if not keys or (process_key is not None and process_key in keys):
            return delegation
    return None


def active_delegate_for(
    staff: Staff, process_key: str | None = None, at: datetime.datetime | None = None
) -> Staff | None:
    """Who receives ``staff``'s tasks of ``process_key`` at ``at`` (see ``active_delegation_for``);
    ``None`` when no delegation is in force. One query. Delegations are not followed further: a
    delegate's own delegation does not pass on tasks they received."""
    delegation = active_delegation_for(staff, process_key, at)
    return delegation.delegate if delegation is not None else None


# --- people, narrowed by the caller's permissions -------------------------------------------------


def _search_q(user: Any, search: str) -> Q:
    q = Q(name__icontains=search) | Q(employee_no__iexact=search) | Q(user__username__iexact=search)
    if has_perm(user, "org.staff.view_private"):
        private = Q(phone_index=blind_index(PHONE_INDEX, search)) | Q(
            national_id_index=blind_index(NATIONAL_ID_INDEX, search)
        )
        q |= private & scope_q(user, "org.staff.view_private")
    return q


def staff_list(
    *,
    user: Any,
    search: str = "",
    department: Department | None = None,
    title: str = "",
    status: str = "",
    role: str = "",
    scope_permission: str = "org.staff.view",
) -> QuerySet[Staff]:
    """Staff records ``user`` may see under ``org.staff.view`` (by data scope), filtered.

    ``scope_permission`` may instead be ``org.role.assign``: whoever assigns roles over a scope
    may list the people in it (without their private fields).

    ``search`` matches part of the name, or the exact employee number or username — and, for
    holders of ``org.staff.view_private``, the exact mobile phone or national ID (through the
    blind indexes). ``department`` includes its sub-departments; ``role`` is a role code.
    One query, with department and account loaded.
    """
    if scope_permission not in STAFF_LIST_PERMISSIONS:
        raise ValueError(f"staff_list is not narrowed by {scope_permission!r}")
    qs = Staff.objects.filter(scope_q(user, scope_permission)).select_related("department", "user")
    search = search.strip()
    if search:
        qs = qs.filter(_search_q(user, search))
    if department is not None:
        qs = qs.filter(department__path__startswith=department.path)
    if title:
        qs = qs.filter(title=title)
    if status:
        qs = qs.filter(status=status)
    if role:
        qs = qs.filter(Exists(RoleAssignment.objects.filter(staff=OuterRef("pk"), role__code=role)))
    return qs.order_by("department__path", "employee_no")


def staff_get(*, user: Any, pk: int) -> Staff | None:
    """The full record of staff ``pk`` if ``user`` may see it: within their ``org.staff.view``
    scope, or their own record."""
    principal = principal_of(user)
    if principal is None:
        return None
    own = Q(pk=principal.staff.pk) if principal.staff is not None else Q(pk__in=[])
    return (
        Staff.objects.filter(_either(scope_q(user, "org.staff.view"), own))
        .select_related("department", "user")
        .filter(pk=pk)
        .first()
    )


def staff_directory(*, user: Any, search: str = "", department: Department | None = None) -> QuerySet[Staff]:
    """通讯录: employed staff with name, department, title and office phone only — visible to
    every employed staff member (``org.directory.view``). One query."""
    if not has_perm(user, "org.directory.view"):
        return Staff.objects.none()
    qs = Staff.objects.filter(status=StaffStatus.ACTIVE).select_related("department").only(*DIRECTORY_FIELDS)
    search = search.strip()
    if search:
        qs = qs.filter(
            Q(name__icontains=search)
            | Q(office_phone__icontains=search)
            | Q(department__name_zh__icontains=search)
        )
    if department is not None:
        qs = qs.filter(department__path__startswith=department.path)
    return qs.order_by("department__path", "name", "pk")


def staff_directory_get(*, user: Any, pk: int) -> Staff | None:
    return staff_directory(user=user).filter(pk=pk).first()


def can_view_private(user: Any, staff: Staff) -> bool:
    """National ID and personal phone: holders of ``org.staff.view_private`` over the person's
    department, and the person themself."""
    if getattr(user, "pk", None) is not None and staff.user_id == user.pk:
        return True
    return has_perm(user, "org.staff.view_private", department=staff.department)


def can_manage_staff(user: Any, staff: Staff) -> bool:
    return has_perm(user, "org.staff.manage", department=staff.department)


# --- delegations ----------------------------------------------------------------------------------


def delegation_state(delegation: Delegation, now: datetime.datetime | None = None) -> str:
    """``revoked``, ``upcoming``, ``active`` or ``ended``."""
    now = now or timezone.now()
    if delegation.revoked_at is not None:
        return "revoked"
    if delegation.starts_at > now:
        return "upcoming"
    if delegation.ends_at > now:
        return "active"
    return "ended"


def _state_q(state: str, now: datetime.datetime) -> Q:
    if state == "revoked":
        return Q(revoked_at__isnull=False)
    if state == "upcoming":
        return Q(revoked_at__isnull=True, starts_at__gt=now)
    if state == "active":
        return Q(revoked_at__isnull=True, starts_at__lte=now, ends_at__gt=now)
    if state == "ended":
        return Q(revoked_at__isnull=True, ends_at__lte=now)
    if state == "current":
        return Q(revoked_at__isnull=True, ends_at__gt=now)
    return Q()


def delegation_list_for_user(*, user: Any, state: str = "") -> QuerySet[Delegation]:
    """Delegations the user gave, received or created for someone else. ``state`` is one of
    ``revoked``, ``upcoming``, ``active``, ``ended`` or ``current`` (active or upcoming)."""
    principal = principal_of(user)
    if principal is None or principal.staff is None:
        return Delegation.objects.none()
    me = principal.staff.pk
    return (
        Delegation.objects.filter(Q(delegator=me) | Q(delegate=me) | Q(created_by=me))
        .filter(_state_q(state, timezone.now()))
        .select_related("delegator__department", "delegate__department", "created_by")
        .order_by("-starts_at", "-pk")
    )


def delegation_get(*, user: Any, pk: int) -> Delegation | None:
    """A delegation ``user`` may see: a party to it, its creator, or a holder of
    ``org.delegation.manage`` over the delegator's department."""
    delegation = (
        Delegation.objects.select_related("delegator__department", "delegate__department", "created_by")
        .filter(pk=pk)
        .first()
    )
    if delegation is None:
        return None
    principal = principal_of(user)
    if principal is None:
        return None
    me = principal.staff.pk if principal.staff is not None else None
    if me in (delegation.delegator_id, delegation.delegate_id, delegation.created_by_id):
        return delegation
    if has_perm(user, "org.delegation.manage", department=delegation.delegator.department):
        return delegation
    return None


def delegations_current(*, staff: Staff) -> tuple[list[Delegation], list[Delegation]]:
    """(given, received): ``staff``'s delegations that are active or upcoming. One query."""
    now = timezone.now()
    rows = list(
        Delegation.objects.filter(Q(delegator=staff) | Q(delegate=staff), _state_q("current", now))
        .select_related("delegator", "delegate")
        .order_by("starts_at", "pk")
    )
    given = [d for d in rows if d.delegator_id == staff.pk]
    received = [d for d in rows if d.delegate_id == staff.pk]
    return given, received


def staff_for_delegation_choice(*, user: Any) -> QuerySet[Staff]:
    """Employed staff who can be chosen as a delegate."""
    return (
        Staff.objects.filter(_active_staff_q())
        .select_related("department")
        .only("id", "name", "employee_no", "department__name_zh", "department__name_en")
        .order_by("department__path", "employee_no")
    )


def delegators_for_user(*, user: Any) -> QuerySet[Staff]:
    """People whose delegations ``user`` may manage: themself, plus everyone in the scope of
    their ``org.delegation.manage``."""
    principal = principal_of(user)
    own = Q(pk=principal.staff.pk) if principal is not None and principal.staff is not None else Q(pk__in=[])
    return (
        Staff.objects.filter(_active_staff_q())
        .filter(_either(scope_q(user, "org.delegation.manage"), own))
        .select_related("department")
        .order_by("department__path", "employee_no")
    )


# --- staff certificates ---------------------------------------------------------------------------


def can_view_certificates(user: Any, staff: Staff) -> bool:
    """A person's certificates: the person themself, whoever sees their staff record
    (``org.staff.view`` over their department) and 人事处 (``org.certificate.manage``)."""
    if getattr(user, "pk", None) is not None and staff.user_id == user.pk:
        return True
    return has_perm(user, "org.staff.view", department=staff.department) or has_perm(
        user, "org.certificate.manage", department=staff.department
    )


def can_manage_certificates(user: Any, staff: Staff) -> bool:
    return has_perm(user, "org.certificate.manage", department=staff.department)


def certificate_list_for_staff(*, user: Any, staff: Staff) -> list[StaffCertificate]:
    """``staff``'s certificates, soonest to expire first (no expiry last), if ``user`` may see
    them; one query."""
    if not can_view_certificates(user, staff):
        return []
    return sorted(
        StaffCertificate.objects.filter(staff=staff),
        key=lambda c: (c.expires_on is None, c.expires_on or datetime.date.min, c.pk),
    )


def certificate_get_for_manage(*, user: Any, pk: int) -> StaffCertificate | None:
    """Certificate ``pk`` if ``user`` may change it (``org.certificate.manage`` over its holder's
    department); ``None`` otherwise, so ids of other departments reveal nothing."""
    certificate = (
        StaffCertificate.objects.filter(pk=pk).select_related("staff__department", "staff__user").first()
    )
    if certificate is None or not can_manage_certificates(user, certificate.staff):
        return None
    return certificate
