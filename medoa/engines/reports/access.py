"""Row-level access for reports, through ``medoa.core.access`` data scopes.

``reports.data.view`` reaches the whole hospital for the dean, the vice deans and the offices, the
department tree for a department head, the ward for a head nurse. A KPI request for a department
outside the user's reach is refused (403), and every dataset query is narrowed before any filter.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission
from medoa.core.access.policy import principal_of
from medoa.core.org.models import Department

from .registry import Dataset

VIEW = "reports.data.view"
DESIGN = "reports.report.design"
ALL = DataScope.ALL
TREE = DataScope.DEPARTMENT_TREE

# who sees and who builds the figures: the leadership and the offices hospital-wide, heads within
# their department's tree
ROLES = {
    "dean": ALL,
    "vice_dean": ALL,
    "medical_affairs": ALL,
    "nursing_dept": ALL,
    "quality_office": ALL,
    "sys_admin": ALL,
    "dept_head": TREE,
    "head_nurse": TREE,
}

PERMISSIONS = (
    Permission(
        VIEW,
        _("See hospital figures and reports (within the data scope)"),
        defaults=ROLES,
        group="reports",
    ),
    Permission(
        DESIGN,
        _("Build, save and schedule reports"),
        defaults=ROLES,
        group="reports",
    ),
)


class Forbidden(Exception):
    pass


def allowed_department_ids(user: Any, code: str = VIEW) -> frozenset[int] | None:
    """``None``: the whole hospital; otherwise the departments (with their subtrees) the user's
    grants of ``code`` reach — possibly empty."""
    principal = principal_of(user)
    reaches = principal.grants.get(code) if principal else None
    if not reaches:
        return frozenset()
    q = Q(pk__in=[])
    for r in reaches:
        if r.scope == DataScope.ALL:
            return None
        if r.department_id is None:
            continue
        if r.subtree:
            q |= Q(path__startswith=r.department_path)
        else:
            q |= Q(pk=r.department_id)
    return frozenset(Department.objects.filter(q).values_list("pk", flat=True))


def may_view(user: Any) -> bool:
    ids = allowed_department_ids(user)
    return ids is None or bool(ids)


def subtree_ids(department: Department) -> frozenset[int]:
    return frozenset(Department.objects.filter(path__startswith=department.path).values_list("pk", flat=True))


def kpi_departments(user: Any, department: Department | None) -> frozenset[int] | None:
    """The departments a KPI request covers; raises :class:`Forbidden` when ``department`` is
    outside the user's reach (or the user may see nothing)."""
    allowed = allowed_department_ids(user)
    if allowed is not None and not allowed:
        raise Forbidden("no reports access")
    if department is None:
        return allowed
    if allowed is not None and department.pk not in allowed:
        raise Forbidden(department.code)
    tree = subtree_ids(department)
    return tree if allowed is None else tree & allowed


def dataset_rows_q(ds: Dataset, user: Any) -> Q:
    """The rows of ``ds`` that ``user`` may see under the dataset's permission: the row's
    department id (``ds.department_path``) must be one the user's scope reaches."""
    allowed = allowed_department_ids(user, ds.permission)
    if allowed is None:
        return Q()
    if not allowed or not ds.department_path:
        return Q(pk__in=[])
    return Q(**{f"{ds.department_path}__in": sorted(allowed)})
