"""Write use cases of the organisation: departments, staff, role assignments, delegations and
staff certificates (with the daily check of those about to expire).

Every function owns its transaction, takes keyword-only arguments, raises
``django.core.exceptions.ValidationError`` (with per-field messages where a field is to blame) for
bad input and ``PermissionDenied`` where a business rule says who may act, and writes an audit
entry in the same transaction. Nothing is half-written: a refusal leaves the database unchanged.

Staff audit entries name the fields that changed, never the values of the national ID or the
personal phone.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Concat, Substr
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override
from django.utils.translation import gettext_lazy as _

from medoa.core.access.cache import access_cache_clear
from medoa.core.access.models import User
from medoa.core.access.policy import forget_principal, has_perm, principal_of
from medoa.core.access.services import user_sessions_end
from medoa.core.audit.services import audit_record
from medoa.core.crypto import blind_index
from medoa.core.events import publish
from medoa.core.events.errors import EventKeyConflict, EventPayloadInvalid
from medoa.core.events.models import Event
from medoa.core.notify.services import notification_send

from .cards import certificates_card_forget, delegations_card_forget
from .choices import (
    ActiveStatus,
    CertificateKind,
    DepartmentCategory,
    DepartmentKind,
    Gender,
    NursingLevel,
    RoleScope,
    StaffStatus,
    Title,
)
from .events import CERTIFICATE_EXPIRING
from .models import Delegation, Department, Role, RoleAssignment, Staff, StaffCertificate
from .selectors import department_root
from .validators import (
    NATIONAL_ID_INDEX,
    NURSING_TITLES,
    PHONE_INDEX,
    normalise_department_code,
    normalise_email,
    normalise_employee_no,
    normalise_mobile,
    normalise_national_id,
    normalise_office_phone,
    normalise_process_keys,
    normalise_username,
)

logger = logging.getLogger(__name__)

PATH_MAX = 255
# 三员分立: one person holds at most one of the three administrator duties.
ADMIN_TRIAD = frozenset({"sys_admin", "sec_admin", "audit_admin"})

Errors = dict[str, list[Any]]


def _add(errors: Errors, field_name: str, message: Any) -> None:
    errors.setdefault(field_name, []).append(message)


def _raise_if(errors: Errors) -> None:
    if errors:
        raise ValidationError(errors)


def _messages(exc: ValidationError) -> list[Any]:
    return list(exc.error_list)


def _actor_staff(actor: User) -> Staff | None:
    principal = principal_of(actor)
    return principal.staff if principal is not None else None


# --- departments ---------------------------------------------------------------------------------

DEPARTMENT_FIELDS = ("code", "name_zh", "name_en", "kind", "category", "head", "sort_order")


def _clean_department(values: Mapping[str, Any], *, instance: Department | None) -> dict[str, Any]:
    errors: Errors = {}
    cleaned: dict[str, Any] = {}
    if "code" in values:
        try:
            code = normalise_department_code(str(values["code"] or ""))
        except ValidationError as exc:
            errors["code"] = _messages(exc)
        else:
            clash = Department.objects.filter(code__iexact=code)
            if instance is not None:
                clash = clash.exclude(pk=instance.pk)
            if clash.exists():
                _add(errors, "code", _("Another department already uses this code."))
            cleaned["code"] = code
    if "name_zh" in values:
        name_zh = str(values["name_zh"] or "").strip()
        if not name_zh:
            _add(errors, "name_zh", _("The Chinese name is required."))
        elif len(name_zh) > 100:
            _add(errors, "name_zh", _("The Chinese name has at most 100 characters."))
        cleaned["name_zh"] = name_zh
    if "name_en" in values:
        name_en = str(values["name_en"] or "").strip()
        if len(name_en) > 150:
            _add(errors, "name_en", _("The English name has at most 150 characters."))
        cleaned["name_en"] = name_en
    if "kind" in values:
        kind = str(values["kind"] or "")
        if kind not in DepartmentKind.values:
            _add(errors, "kind", _("Choose a kind from the list."))
        cleaned["kind"] = kind
    if "category" in values:
        category = str(values["category"] or "")
        if category and category not in DepartmentCategory.values:
            _add(errors, "category", _("Choose a category from the list."))
        cleaned["category"] = category
    if "head" in values:
        head = values["head"]
        if head is not None and (not isinstance(head, Staff) or head.status != StaffStatus.ACTIVE):
            _add(errors, "head", _("The head must be an employed staff member."))
        cleaned["head"] = head
    if "sort_order" in values:
        order = values["sort_order"]
        if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 1_000_000:
            _add(errors, "sort_order", _("The order is a whole number from 0 to 1000000."))
        cleaned["sort_order"] = order
    _raise_if(errors)
    return cleaned


@transaction.atomic
def department_create(
    *,
    actor: User,
    parent: Department | None,
    code: str,
    name_zh: str,
    kind: str,
    name_en: str = "",
    category: str = "",
    head: Staff | None = None,
    sort_order: int = 0,
) -> Department:
    """Create a department under ``parent`` (``None`` only for the one hospital root)."""
    cleaned = _clean_department(
        {
            "code": code,
            "name_zh": name_zh,
            "name_en": name_en,
            "kind": kind,
            "category": category,
            "head": head,
            "sort_order": sort_order,
        },
        instance=None,
    )
    errors: Errors = {}
    if parent is None:
        if Department.objects.filter(parent__isnull=True).exists():
            _add(errors, "parent", _("The hospital root already exists: choose a parent department."))
        if cleaned["kind"] != DepartmentKind.HOSPITAL:
            _add(errors, "kind", _("The root of the tree must be of kind 'Hospital'."))
    else:
        parent = Department.objects.select_for_update().get(pk=parent.pk)
        if parent.status != ActiveStatus.ACTIVE:
            _add(errors, "parent", _("The parent department is inactive."))
        if len(parent.path) + 21 > PATH_MAX:
            _add(errors, "parent", _("The tree is too deep below this parent."))
    _raise_if(errors)
    try:
        with transaction.atomic():
            dept = Department.objects.create(parent=parent, **cleaned)
    except IntegrityError:  # another request took the code since the check above
        raise ValidationError({"code": [_("Another department already uses this code.")]}) from None
    dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
    dept.depth = parent.depth + 1 if parent else 0
    dept.save(update_fields=["path", "depth"])
    audit_record(
        actor=actor,
        action="org.department.created",
        target=dept,
        details={"parent": parent.code if parent else None, "fields": sorted(cleaned)},
    )
    return dept


@transaction.atomic
def department_update(*, actor: User, department: Department, **changes: Any) -> Department:
    """Change a department's code, names, kind, category, head or order.

    The parent changes through ``department_move`` and the status through
    ``department_deactivate``/``department_reactivate``.
    """
    unknown = set(changes) - set(DEPARTMENT_FIELDS)
    if unknown:
        raise TypeError(f"department_update does not change {sorted(unknown)}")
    department = Department.objects.select_for_update().get(pk=department.pk)
    cleaned = _clean_department(changes, instance=department)
    is_root = department.parent_id is None
    if is_root and cleaned.get("kind", DepartmentKind.HOSPITAL) != DepartmentKind.HOSPITAL:
        raise ValidationError({"kind": [_("The root of the tree must be of kind 'Hospital'.")]})
    changed = sorted(name for name, value in cleaned.items() if getattr(department, name) != value)
    if not changed:
        return department
    for name in changed:
        setattr(department, name, cleaned[name])
    department.save(update_fields=[*changed, "updated_at"])
    access_cache_clear()  # cached principals hold department names
    audit_record(actor=actor, action="org.department.updated", target=department, details={"fields": changed})
    return department


@transaction.atomic
def department_move(*, actor: User, department: Department, new_parent: Department) -> Department:
    """Move ``department`` and its whole subtree under ``new_parent``.

    Rewrites ``path`` and ``depth`` of every department in the subtree in one statement. Refuses
    to move the root, to move a department under itself or one of its descendants, to move an
    active department under an inactive one, and to make the tree deeper than ``path`` can hold.
    """
    department = Department.objects.select_for_update().get(pk=department.pk)
    new_parent = Department.objects.select_for_update().get(pk=new_parent.pk)
    if department.parent_id is None:
        raise ValidationError({"parent": [_("The hospital root cannot be moved.")]})
    if new_parent.path.startswith(department.path):
        raise ValidationError(
            {"parent": [_("A department cannot be moved under itself or one of its sub-departments.")]}
        )
    if new_parent.pk == department.parent_id:
        return department
    if department.status == ActiveStatus.ACTIVE and new_parent.status != ActiveStatus.ACTIVE:
        raise ValidationError({"parent": [_("The parent department is inactive.")]})

    subtree = Department.objects.select_for_update().filter(path__startswith=department.path)
    old_path = department.path
    new_path = f"{new_parent.path}{department.pk}/"
    longest_now = max((len(p) for p in subtree.values_list("path", flat=True)), default=len(old_path))
    if longest_now - len(old_path) + len(new_path) > PATH_MAX:
        raise ValidationError({"parent": [_("The tree is too deep below this parent.")]})
    old_parent = department.parent
    delta = new_parent.depth + 1 - department.depth
    moved = subtree.update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1), output_field=CharField()),
        depth=F("depth") + delta,
    )
    Department.objects.filter(pk=department.pk).update(parent=new_parent)
    department.refresh_from_db()
    access_cache_clear()  # cached principals hold department paths
    audit_record(
        actor=actor,
        action="org.department.moved",
        target=department,
        details={
            "from": old_parent.code if old_parent else None,
            "to": new_parent.code,
            "departments_moved": moved,
        },
    )
    return department


@transaction.atomic
def department_deactivate(*, actor: User, department: Department) -> Department:
    """Mark a department inactive. Refused while it has employed staff or active sub-departments."""
    department = Department.objects.select_for_update().get(pk=department.pk)
    if department.status != ActiveStatus.ACTIVE:
        raise ValidationError(_("The department is already inactive."))
    errors: list[ValidationError] = []
    staff_count = Staff.objects.filter(department=department, status=StaffStatus.ACTIVE).count()
    if staff_count:
        errors.append(
            ValidationError(
                _(
                    "The department still has %(count)d employed staff member(s): move them to another "
                    "department or deactivate them first."
                ),
                code="has_staff",
                params={"count": staff_count},
            )
        )
    child_count = Department.objects.filter(parent=department, status=ActiveStatus.ACTIVE).count()
    if child_count:
        errors.append(
            ValidationError(
                _(
                    "The department still has %(count)d active sub-department(s): deactivate or move "
                    "them first."
                ),
                code="has_children",
                params={"count": child_count},
            )
        )
    if errors:
        raise ValidationError(errors)
    department.status = ActiveStatus.INACTIVE
    department.save(update_fields=["status", "updated_at"])
    audit_record(actor=actor, action="org.department.deactivated", target=department)
    return department


@transaction.atomic
def department_reactivate(*, actor: User, department: Department) -> Department:
    """Mark an inactive department active again (its parent must be active)."""
    department = Department.objects.select_for_update().get(pk=department.pk)
    if department.status == ActiveStatus.ACTIVE:
        raise ValidationError(_("The department is already active."))
    if department.parent is not None and department.parent.status != ActiveStatus.ACTIVE:
        raise ValidationError({"parent": [_("The parent department is inactive.")]})
    department.status = ActiveStatus.ACTIVE
    department.save(update_fields=["status", "updated_at"])
    audit_record(actor=actor, action="org.department.reactivated", target=department)
    return department


# --- staff ----------------------------------------------------------------------------------------

STAFF_FIELDS = (
    "employee_no",
    "name",
    "gender",
    "department",
    "title",
    "nursing_level",
    "position",
    "office_phone",
    "email",
    "phone",
    "national_id",
    "hire_date",
)


def staff_values_clean(values: Mapping[str, Any], *, instance: Staff | None = None) -> dict[str, Any]:
    """Check and normalise the staff fields present in ``values``; raise one ``ValidationError``
    naming every field that is wrong. Uniqueness (employee number, national ID) is checked
    against the database, excluding ``instance``. ``title`` and ``nursing_level`` are checked
    together with the instance's current values when only one of them changes."""
    errors: Errors = {}
    cleaned: dict[str, Any] = {}

    def run(name: str, fn: Any) -> None:
        try:
            cleaned[name] = fn(str(values[name] or ""))
        except ValidationError as exc:
            errors[name] = _messages(exc)

    others = Staff.objects.exclude(pk=instance.pk) if instance is not None else Staff.objects.all()
    if "employee_no" in values:
        run("employee_no", normalise_employee_no)
        if "employee_no" in cleaned and others.filter(employee_no__iexact=cleaned["employee_no"]).exists():
            _add(errors, "employee_no", _("Another staff member already has this employee number."))
    if "name" in values:
        name = " ".join(str(values["name"] or "").split())
        if not name:
            _add(errors, "name", _("The name is required."))
        elif len(name) > 64:
            _add(errors, "name", _("The name has at most 64 characters."))
        cleaned["name"] = name
    if "gender" in values:
        gender = str(values["gender"] or Gender.UNKNOWN)
        if gender not in Gender.values:
            _add(errors, "gender", _("Choose a gender from the list."))
        cleaned["gender"] = gender
    if "department" in values:
        dept = values["department"]
        if not isinstance(dept, Department):
            _add(errors, "department", _("Choose a department."))
        elif dept.status != ActiveStatus.ACTIVE:
            _add(errors, "department", _("The department is inactive."))
        cleaned["department"] = dept
    if "title" in values:
        title = str(values["title"] or "")
        if title not in Title.values:
            _add(errors, "title", _("Choose a title from the list."))
        cleaned["title"] = title
    if "nursing_level" in values:
        level = str(values["nursing_level"] or "")
        if level and level not in NursingLevel.values:
            _add(errors, "nursing_level", _("The nursing level is one of N0, N1, N2, N3 and N4."))
        cleaned["nursing_level"] = level
    known_title = cleaned.get("title", instance.title if instance else None)
    if ("title" in cleaned or "nursing_level" in cleaned) and known_title and "title" not in errors:
        level = cleaned.get("nursing_level", instance.nursing_level if instance else "")
        if level and known_title not in NURSING_TITLES and "nursing_level" not in errors:
            _add(errors, "nursing_level", _("A nursing level applies only to nursing titles."))
    if "position" in values:
        position = str(values["position"] or "").strip()
        if len(position) > 64:
            _add(errors, "position", _("The position has at most 64 characters."))
        cleaned["position"] = position
    if "office_phone" in values:
        run("office_phone", normalise_office_phone)
    if "email" in values:
        run("email", normalise_email)
    if "phone" in values:
        run("phone", normalise_mobile)
    if "national_id" in values:
        run("national_id", normalise_national_id)
        nid = cleaned.get("national_id")
        if nid and others.filter(national_id_index=blind_index(NATIONAL_ID_INDEX, nid)).exists():
            _add(errors, "national_id", _("Another staff member already has this national ID."))
    if "hire_date" in values:
        hire = values["hire_date"]
        if hire is not None and (not isinstance(hire, datetime.date) or isinstance(hire, datetime.datetime)):
            _add(errors, "hire_date", _("Enter the hire date as YYYY-MM-DD."))
        elif hire is not None and not datetime.date(1950, 1, 1) <= hire <= datetime.date(2100, 12, 31):
            _add(errors, "hire_date", _("The hire date must lie between 1950 and 2100."))
        cleaned["hire_date"] = hire
    _raise_if(errors)
    return cleaned


def account_values_clean(*, username: str, password: str) -> tuple[str, str]:
    """Check a new account's username (format, not taken) and initial password (policy)."""
    errors: Errors = {}
    clean_username = ""
    try:
        clean_username = normalise_username(username)
    except ValidationError as exc:
        errors["username"] = _messages(exc)
    else:
        if User.objects.filter(username__iexact=clean_username).exists():
            _add(errors, "username", _("This username is already taken."))
    if not password:
        _add(errors, "initial_password", _("The initial password is required."))
    else:
        try:
            validate_password(password, user=User(username=clean_username))
        except ValidationError as exc:
            errors["initial_password"] = _messages(exc)
    _raise_if(errors)
    return clean_username, password


def _apply_private(staff: Staff, cleaned: Mapping[str, Any]) -> None:
    if "phone" in cleaned:
        staff.phone_index = blind_index(PHONE_INDEX, cleaned["phone"])
    if "national_id" in cleaned:
        staff.national_id_index = blind_index(NATIONAL_ID_INDEX, cleaned["national_id"])


@transaction.atomic
def staff_create(
    *,
    actor: User,
    employee_no: str,
    name: str,
    department: Department,
    title: str,
    username: str,
    initial_password: str,
    gender: str = Gender.UNKNOWN,
    nursing_level: str = "",
    position: str = "",
    office_phone: str = "",
    email: str = "",
    phone: str = "",
    national_id: str = "",
    hire_date: datetime.date | None = None,
) -> Staff:
    """Create a staff member with a login account that must change its initial password."""
    values = {
        "employee_no": employee_no,
        "name": name,
        "gender": gender,
        "department": department,
        "title": title,
        "nursing_level": nursing_level,
        "position": position,
        "office_phone": office_phone,
        "email": email,
        "phone": phone,
        "national_id": national_id,
        "hire_date": hire_date,
    }
    errors: Errors = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned = staff_values_clean(values)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    try:
        clean_username, password = account_values_clean(username=username, password=initial_password)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    _raise_if(errors)

    user = User(username=clean_username, email=cleaned["email"], first_name=cleaned["name"][:150])
    user.must_change_password = True
    user.set_password(password)
    staff = Staff(status=StaffStatus.ACTIVE, **cleaned)
    _apply_private(staff, cleaned)
    try:
        with transaction.atomic():
            user.save()
            staff.user = user
            staff.save()
    except IntegrityError:  # a concurrent request took the username or employee number
        raise ValidationError(
            _(
                "Another staff member with this username or employee number was created at the same "
                "moment: check and try again."
            ),
            code="conflict",
        ) from None
    filled = sorted(name for name, value in cleaned.items() if value not in ("", None))
    audit_record(
        actor=actor,
        action="org.staff.created",
        target=staff,
        details={"fields": filled, "username": clean_username, "department": staff.department.code},
    )
    return staff


@transaction.atomic
def staff_update(*, actor: User, staff: Staff, **changes: Any) -> Staff:
    """Change any of ``STAFF_FIELDS``; the audit entry names the fields that changed."""
    unknown = set(changes) - set(STAFF_FIELDS)
    if unknown:
        raise TypeError(f"staff_update does not change {sorted(unknown)}")
    staff = Staff.objects.select_for_update().select_related("user", "department").get(pk=staff.pk)
    cleaned = staff_values_clean(changes, instance=staff)
    changed = sorted(name for name, value in cleaned.items() if getattr(staff, name) != value)
    if not changed:
        return staff
    for name in changed:
        setattr(staff, name, cleaned[name])
    _apply_private(staff, {k: cleaned[k] for k in changed})
    try:
        with transaction.atomic():
            staff.save()
    except IntegrityError:  # a concurrent request took the employee number
        raise ValidationError(
            {"employee_no": [_("Another staff member already has this employee number.")]}
        ) from None
    user_fields = []
    if "name" in changed:
        staff.user.first_name = staff.name[:150]
        user_fields.append("first_name")
    if "email" in changed:
        staff.user.email = staff.email
        user_fields.append("email")
    if user_fields:
        staff.user.save(update_fields=user_fields)
    forget_principal(staff.user)
    audit_record(actor=actor, action="org.staff.updated", target=staff, details={"fields": changed})
    return staff


def _revoke_open_delegations(staff: Staff, now: datetime.datetime) -> int:
    return Delegation.objects.filter(
        Q(delegator=staff) | Q(delegate=staff), revoked_at__isnull=True, ends_at__gt=now
    ).update(revoked_at=now)


@transaction.atomic
def staff_deactivate(*, actor: User, staff: Staff, status: str = StaffStatus.LEFT, reason: str = "") -> Staff:
    """Mark a person as left (离职) or disabled (停用): the account is switched off, every
    session ended, every API token revoked, and their current or future delegations revoked."""
    staff = Staff.objects.select_for_update().select_related("user").get(pk=staff.pk)
    errors: Errors = {}
    if status not in (StaffStatus.LEFT, StaffStatus.DISABLED):
        _add(errors, "status", _("Choose 'Left' or 'Disabled'."))
    reason = reason.strip()
    if len(reason) > 200:
        _add(errors, "reason", _("The reason has at most 200 characters."))
    _raise_if(errors)
    if staff.status != StaffStatus.ACTIVE:
        raise ValidationError(_("This staff member is not employed any more."))
    if staff.user_id == actor.pk:
        raise ValidationError(_("You cannot deactivate your own account."))
    now = timezone.now()
    staff.status = status
    staff.save(update_fields=["status", "updated_at"])
    staff.user.is_active = False
    staff.user.save(update_fields=["is_active"])
    revoked = _revoke_open_delegations(staff, now)
    ended = user_sessions_end(user=staff.user, revoke_tokens=True)
    forget_principal(staff.user)
    audit_record(
        actor=actor,
        action="org.staff.deactivated",
        target=staff,
        details={
            "status": status,
            "reason": reason,
            "sessions_ended": ended,
            "delegations_revoked": revoked,
        },
    )
    return staff


@transaction.atomic
def staff_reactivate(*, actor: User, staff: Staff) -> Staff:
    """Bring a left or disabled person back: employed again, account switched on."""
    staff = Staff.objects.select_for_update().select_related("user", "department").get(pk=staff.pk)
    if staff.status == StaffStatus.ACTIVE:
        raise ValidationError(_("This staff member is already employed."))
    if staff.department.status != ActiveStatus.ACTIVE:
        raise ValidationError({"department": [_("The department is inactive.")]})
    staff.status = StaffStatus.ACTIVE
    staff.save(update_fields=["status", "updated_at"])
    staff.user.is_active = True
    staff.user.save(update_fields=["is_active"])
    forget_principal(staff.user)
    audit_record(actor=actor, action="org.staff.reactivated", target=staff)
    return staff


# --- roles ----------------------------------------------------------------------------------------


@transaction.atomic
def role_assign(
    *,
    actor: User,
    staff: Staff,
    role: Role,
    department: Department | None = None,
    include_children: bool = True,
) -> RoleAssignment:
    """Give ``staff`` the role ``role``.

    Department roles (``dept_head``, ``nurse`` …) need the department they are held for;
    hospital-wide roles are held at the hospital root (pass no department, or the root).
    One person never holds two of ``sys_admin``/``sec_admin``/``audit_admin`` (三员分立), and
    nobody changes their own roles.
    """
    staff = Staff.objects.select_for_update().select_related("user").get(pk=staff.pk)
    errors: Errors = {}
    if staff.status != StaffStatus.ACTIVE:
        _add(errors, "staff", _("Roles can only be given to employed staff."))
    if staff.user_id == actor.pk:
        _add(errors, "staff", _("You cannot change your own roles."))
    if role.scope == RoleScope.DEPARTMENT:
        if department is None:
            _add(errors, "department", _("A department role needs the department it is held for."))
        elif department.status != ActiveStatus.ACTIVE:
            _add(errors, "department", _("The department is inactive."))
    else:
        root = department_root()
        if root is None:
            _add(errors, "department", _("There is no hospital root department yet."))
        elif department is not None and department.pk != root.pk:
            _add(
                errors,
                "department",
                _("A hospital-wide role is held at the hospital root: leave the department empty."),
            )
        department = root
    if role.code in ADMIN_TRIAD:
        held = set(
            RoleAssignment.objects.filter(staff=staff, role__code__in=ADMIN_TRIAD).values_list(
                "role__code", flat=True
            )
        ) - {role.code}
        if held:
            _add(
                errors,
                "role",
                ValidationError(
                    _(
                        "System, security and audit administration are separate duties: this person "
                        "already holds %(role)s."
                    ),
                    params={"role": ", ".join(sorted(held))},
                ),
            )
    if not errors and RoleAssignment.objects.filter(staff=staff, role=role, department=department).exists():
        _add(errors, "role", _("This person already holds this role for this department."))
    _raise_if(errors)
    assert department is not None
    try:
        with transaction.atomic():
            assignment = RoleAssignment.objects.create(
                staff=staff, role=role, department=department, include_children=include_children
            )
    except IntegrityError:  # the same assignment was made at the same moment
        raise ValidationError(
            {"role": [_("This person already holds this role for this department.")]}
        ) from None
    forget_principal(staff.user)
    audit_record(
        actor=actor,
        action="org.role.assigned",
        target=staff,
        details={"role": role.code, "department": department.code, "include_children": include_children},
    )
    return assignment


@transaction.atomic
def role_revoke(*, actor: User, assignment: RoleAssignment) -> None:
    """Take a role assignment away (nobody changes their own roles)."""
    assignment = RoleAssignment.objects.select_related("staff__user", "role", "department").get(
        pk=assignment.pk
    )
    if assignment.staff.user_id == actor.pk:
        raise ValidationError(_("You cannot change your own roles."))
    staff = assignment.staff
    details = {"role": assignment.role.code, "department": assignment.department.code}
    assignment.delete()
    forget_principal(staff.user)
    audit_record(actor=actor, action="org.role.revoked", target=staff, details=details)


# --- delegations ----------------------------------------------------------------------------------


def may_manage_delegations_of(actor: User, delegator: Staff) -> bool:
    """The delegator themself, or a holder of ``org.delegation.manage`` over their department."""
    if delegator.user_id == actor.pk:
        return True
    return has_perm(actor, "org.delegation.manage", department=delegator.department)


def _overlaps(a_keys: Sequence[str], b_keys: Sequence[str]) -> bool:
    return not a_keys or not b_keys or bool(set(a_keys) & set(b_keys))


def _fmt(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@transaction.atomic
def delegation_create(
    *,
    actor: User,
    delegator: Staff,
    delegate: Staff,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    process_keys: Iterable[str] = (),
    reason: str = "",
) -> Delegation:
    """委托: ``delegator``'s tasks go to ``delegate`` from ``starts_at`` until ``ends_at``.

    ``process_keys`` limits it to those process types (empty: all). Only the delegator, or a
    holder of ``org.delegation.manage`` over the delegator's department, may create it. Refuses
    a period that is already over, an inactive party, a delegation that overlaps another one of
    the same delegator for the same process types, and a cycle (the delegate having delegated
    back to the delegator at the same time). Both parties get an in-app notification.
    """
    if not may_manage_delegations_of(actor, delegator):
        raise PermissionDenied(gettext("You may only delegate your own tasks."))
    delegator = Staff.objects.select_for_update().select_related("user", "department").get(pk=delegator.pk)
    delegate = Staff.objects.select_related("user").get(pk=delegate.pk)
    errors: Errors = {}
    now = timezone.now()
    if delegator.status != StaffStatus.ACTIVE:
        _add(errors, "delegator", _("The person delegating must be employed."))
    if delegate.pk == delegator.pk:
        _add(errors, "delegate", _("Choose someone other than the person delegating."))
    elif delegate.status != StaffStatus.ACTIVE or not delegate.user.is_active:
        _add(errors, "delegate", _("The delegate must be employed."))
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        raise TypeError("delegation_create needs timezone-aware datetimes")
    if ends_at <= starts_at:
        _add(errors, "ends_at", _("The end must be after the start."))
    elif ends_at <= now:
        _add(errors, "ends_at", _("The end must be in the future."))
    elif ends_at - starts_at > datetime.timedelta(days=366):
        _add(errors, "ends_at", _("A delegation lasts at most one year."))
    keys: list[str] = []
    try:
        keys = normalise_process_keys(tuple(process_keys))
    except ValidationError as exc:
        errors["process_keys"] = _messages(exc)
    reason = reason.strip()
    if len(reason) > 200:
        _add(errors, "reason", _("The reason has at most 200 characters."))
    _raise_if(errors)

    window = Q(revoked_at__isnull=True, starts_at__lt=ends_at, ends_at__gt=starts_at)
    for other in Delegation.objects.filter(window, delegator=delegator).select_related("delegate"):
        if _overlaps(keys, other.process_keys):
            _add(
                errors,
                "starts_at",
                ValidationError(
                    _(
                        "This overlaps the delegation to %(name)s from %(start)s to %(end)s for the "
                        "same process types."
                    ),
                    params={
                        "name": other.delegate.name,
                        "start": _fmt(other.starts_at),
                        "end": _fmt(other.ends_at),
                    },
                ),
            )
            break
    for back in Delegation.objects.filter(window, delegator=delegate, delegate=delegator):
        if _overlaps(keys, back.process_keys):
            _add(
                errors,
                "delegate",
                ValidationError(
                    _("%(name)s has delegated their own tasks to this person in the same period."),
                    params={"name": delegate.name},
                ),
            )
            break
    _raise_if(errors)

    delegation = Delegation.objects.create(
        delegator=delegator,
        delegate=delegate,
        starts_at=starts_at,
        ends_at=ends_at,
        process_keys=keys,
        reason=reason,
        created_by=_actor_staff(actor) or delegator,
    )
    delegations_card_forget(delegator, delegate)
    audit_record(
        actor=actor,
        action="org.delegation.created",
        target=delegation,
        details={
            "delegator": delegator.employee_no,
            "delegate": delegate.employee_no,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "process_keys": keys,
        },
    )
    notification_send(
        recipients=[delegator.user, delegate.user],
        title=gettext("Delegation: %(from)s → %(to)s") % {"from": delegator.name, "to": delegate.name},
        body=gettext("From %(start)s to %(end)s. Process types: %(keys)s.")
        % {
            "start": _fmt(starts_at),
            "end": _fmt(ends_at),
            "keys": ", ".join(keys) if keys else gettext("all"),
        },
        link=reverse("org:delegation_list"),
        kind="org.delegation.created",
        data={"delegation": delegation.pk},
    )
    return delegation


@transaction.atomic
def delegation_revoke(*, actor: User, delegation: Delegation) -> Delegation:
    """End a delegation now (or cancel it before it starts). The delegator, or a holder of
    ``org.delegation.manage`` over the delegator's department, may revoke; both parties are told."""
    delegation = (
        Delegation.objects.select_for_update()
        .select_related("delegator__user", "delegator__department", "delegate__user")
        .get(pk=delegation.pk)
    )
    if not may_manage_delegations_of(actor, delegation.delegator):
        raise PermissionDenied(gettext("You may only revoke your own delegations."))
    now = timezone.now()
    if delegation.revoked_at is not None:
        raise ValidationError(_("This delegation has already been revoked."))
    if delegation.ends_at <= now:
        raise ValidationError(_("This delegation has already ended."))
    delegation.revoked_at = now
    delegation.save(update_fields=["revoked_at"])
    delegations_card_forget(delegation.delegator, delegation.delegate)
    audit_record(
        actor=actor,
        action="org.delegation.revoked",
        target=delegation,
        details={"delegator": delegation.delegator.employee_no, "delegate": delegation.delegate.employee_no},
    )
    notification_send(
        recipients=[delegation.delegator.user, delegation.delegate.user],
        title=gettext("Delegation revoked: %(from)s → %(to)s")
        % {"from": delegation.delegator.name, "to": delegation.delegate.name},
        link=reverse("org:delegation_list"),
        kind="org.delegation.revoked",
        data={"delegation": delegation.pk},
    )
    return delegation


# --- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffImportRow:
    """One checked row of a staff import: the staff values, account and roles to give."""

    row: int
    values: dict[str, Any]
    username: str
    password: str
    password_generated: bool
    roles: tuple[Role, ...] = ()


@dataclass(frozen=True)
class ImportedStaff:
    staff: Staff
    generated_password: str | None


@transaction.atomic
def staff_import(*, actor: User, rows: Sequence[StaffImportRow]) -> list[ImportedStaff]:
    """Create every checked row (staff, account, roles) in ONE transaction: if any row fails here
    (for example a username taken since the check), nothing is written and the error names the row."""
    created: list[ImportedStaff] = []
    for row in rows:
        try:
            staff = staff_create(
                actor=actor, username=row.username, initial_password=row.password, **row.values
            )
            for role in row.roles:
                role_assign(
                    actor=actor,
                    staff=staff,
                    role=role,
                    department=staff.department if role.scope == RoleScope.DEPARTMENT else None,
                )
        except ValidationError as exc:
            raise ValidationError(
                _("Row %(row)d could not be imported: %(problem)s"),
                code="import_row",
                params={"row": row.row, "problem": "; ".join(exc.messages)},
            ) from exc
        created.append(ImportedStaff(staff, row.password if row.password_generated else None))
    audit_record(
        actor=actor,
        action="org.staff.imported",
        target=None,
        details={"count": len(created), "employee_nos": [c.staff.employee_no for c in created]},
    )
    return created


# --- staff certificates ---------------------------------------------------------------------------

CERTIFICATE_FIELDS = ("kind", "name", "number", "issued_on", "expires_on", "note")
CERTIFICATE_PERMISSION = "org.certificate.manage"


def _certificate_clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check a certificate's fields (all of them, as they will be stored)."""
    errors: Errors = {}
    kind = str(values.get("kind") or "").strip()
    if kind not in CertificateKind.values:
        _add(errors, "kind", _("Choose a kind of certificate."))
    name = str(values.get("name") or "").strip()
    if len(name) > 100:
        _add(errors, "name", _("The name has at most 100 characters."))
    if kind == CertificateKind.OTHER and not name:
        _add(errors, "name", _("Name the certificate."))
    number = str(values.get("number") or "").strip()
    if len(number) > 64:
        _add(errors, "number", _("The certificate number has at most 64 characters."))
    note = str(values.get("note") or "").strip()
    if len(note) > 200:
        _add(errors, "note", _("The note has at most 200 characters."))
    issued_on = values.get("issued_on")
    expires_on = values.get("expires_on")
    for field_name, value in (("issued_on", issued_on), ("expires_on", expires_on)):
        if value is not None and not isinstance(value, datetime.date):
            _add(errors, field_name, _("Enter a date."))
    if isinstance(issued_on, datetime.date) and issued_on > timezone.localdate():
        _add(errors, "issued_on", _("The issue date is in the future."))
    if (
        isinstance(issued_on, datetime.date)
        and isinstance(expires_on, datetime.date)
        and expires_on <= issued_on
    ):
        _add(errors, "expires_on", _("The certificate must expire after it was issued."))
    _raise_if(errors)
    return {
        "kind": kind,
        "name": name,
        "number": number,
        "issued_on": issued_on,
        "expires_on": expires_on,
        "note": note,
    }


def _require_certificate_manager(actor: User, staff: Staff) -> None:
    if not has_perm(actor, CERTIFICATE_PERMISSION, department=staff.department):
        raise PermissionDenied


def _certificate_details(certificate: StaffCertificate) -> dict[str, Any]:
    return {
        "kind": certificate.kind,
        "name": certificate.name,
        "expires_on": certificate.expires_on.isoformat() if certificate.expires_on else None,
    }


@transaction.atomic
def certificate_add(
    *,
    actor: User,
    staff: Staff,
    kind: str,
    name: str = "",
    number: str = "",
    issued_on: datetime.date | None = None,
    expires_on: datetime.date | None = None,
    note: str = "",
) -> StaffCertificate:
    """Record a certificate of ``staff`` (人事处: ``org.certificate.manage`` over their department)."""
    staff = Staff.objects.select_for_update().select_related("department", "user").get(pk=staff.pk)
    _require_certificate_manager(actor, staff)
    cleaned = _certificate_clean(
        {
            "kind": kind,
            "name": name,
            "number": number,
            "issued_on": issued_on,
            "expires_on": expires_on,
            "note": note,
        }
    )
    if staff.status != StaffStatus.ACTIVE:
        raise ValidationError(_("This staff member is not employed any more."))
    certificate = StaffCertificate.objects.create(staff=staff, **cleaned)
    certificates_card_forget(staff)
    audit_record(
        actor=actor,
        action="org.certificate.added",
        target=certificate,
        details=_certificate_details(certificate),
    )
    return certificate


@transaction.atomic
def certificate_update(*, actor: User, certificate: StaffCertificate, **changes: Any) -> StaffCertificate:
    """Change any of ``CERTIFICATE_FIELDS`` (a renewal is a new ``expires_on``: its reminders
    start again); the audit entry names the fields that changed."""
    unknown = set(changes) - set(CERTIFICATE_FIELDS)
    if unknown:
        raise TypeError(f"certificate_update does not change {sorted(unknown)}")
    certificate = (
        StaffCertificate.objects.select_for_update()
        .select_related("staff__department", "staff__user")
        .get(pk=certificate.pk)
    )
    _require_certificate_manager(actor, certificate.staff)
    values = {name: getattr(certificate, name) for name in CERTIFICATE_FIELDS}
    values.update(changes)
    cleaned = _certificate_clean(values)
    changed = sorted(name for name, value in cleaned.items() if getattr(certificate, name) != value)
    if not changed:
        return certificate
    for name in changed:
        setattr(certificate, name, cleaned[name])
    certificate.save()
    certificates_card_forget(certificate.staff)
    audit_record(
        actor=actor,
        action="org.certificate.updated",
        target=certificate,
        details={"fields": changed, **_certificate_details(certificate)},
    )
    return certificate


@transaction.atomic
def certificate_remove(*, actor: User, certificate: StaffCertificate) -> None:
    """Delete a certificate record (entered by mistake, or withdrawn)."""
    certificate = (
        StaffCertificate.objects.select_for_update()
        .select_related("staff__department", "staff__user")
        .get(pk=certificate.pk)
    )
    staff = certificate.staff
    _require_certificate_manager(actor, staff)
    details = {"certificate": certificate.pk, **_certificate_details(certificate)}
    certificate.delete()
    certificates_card_forget(staff)
    audit_record(actor=actor, action="org.certificate.removed", target=staff, details=details)


# The daily check. Reminder points, in days before ``expires_on``: a certificate is announced once
# when it enters the 30-day window, once more at 7 days, and once on the day it expires (or the
# first check after; a certificate that lapsed more than CERTIFICATE_LAPSED_DAYS ago is left
# alone). Each point is one ``hr.certificate.expiring`` event with the key
# ``cert:<id>:<expires_on>:<point>``: the event bus keeps one event per key, so the job may run
# any number of times, on any number of workers. A renewal (a new ``expires_on``) starts again.
CERTIFICATE_REMINDER_DAYS = (30, 7, 0)
CERTIFICATE_LAPSED_DAYS = 7
# The worker runs the check at start and then every hour; only a new day (or a new or changed
# certificate) gives it anything to publish.
CERTIFICATE_CHECK_SECONDS = 3600.0
CERTIFICATE_CHECK_ACTOR = "medoa certificate check"


def certificate_reminder_point(expires_on: datetime.date, today: datetime.date) -> int | None:
    """The reminder point ``today`` falls in for a certificate expiring on ``expires_on``: the
    smallest point ≥ the days left (30: 8–30 days left, 7: 1–7, 0: due or lapsed at most
    ``CERTIFICATE_LAPSED_DAYS`` days ago), ``None`` outside the window."""
    days_left = (expires_on - today).days
    if days_left < -CERTIFICATE_LAPSED_DAYS or days_left > CERTIFICATE_REMINDER_DAYS[0]:
        return None
    return min(point for point in CERTIFICATE_REMINDER_DAYS if point >= days_left)


def certificate_event_key(certificate: StaffCertificate, point: int) -> str:
    assert certificate.expires_on is not None
    return f"cert:{certificate.pk}:{certificate.expires_on.isoformat()}:{point}"


def certificate_payload(certificate: StaffCertificate) -> dict[str, Any]:
    """The ``hr.certificate.expiring`` payload; the certificate is named in Chinese (the
    hospital's word for it; the message templates put it into either language's sentence)."""
    assert certificate.expires_on is not None
    with override("zh-hans"):
        title = certificate.title
    return {
        "staff": certificate.staff.user.username,
        "certificate": title,
        "expires_on": certificate.expires_on.isoformat(),
    }


def certificates_check_expiring(*, today: datetime.date | None = None) -> int:
    """The daily check: publish ``hr.certificate.expiring`` for each certificate of an employed
    person at a reminder point not announced yet; return how many events it published.

    One query finds the certificates in the window (indexed on ``expires_on``), one the keys
    already used; each new event is written in its own transaction (one bad row does not hold
    back the others). Two workers racing publish each key once (the outbox's unique key)."""
    today = today or timezone.localdate()
    window = StaffCertificate.objects.filter(
        expires_on__gte=today - datetime.timedelta(days=CERTIFICATE_LAPSED_DAYS),
        expires_on__lte=today + datetime.timedelta(days=CERTIFICATE_REMINDER_DAYS[0]),
        staff__status=StaffStatus.ACTIVE,
    ).select_related("staff__user")
    due: list[tuple[str, StaffCertificate]] = []
    for certificate in window.order_by("expires_on", "pk"):
        assert certificate.expires_on is not None
        point = certificate_reminder_point(certificate.expires_on, today)
        if point is not None:
            due.append((certificate_event_key(certificate, point), certificate))
    if not due:
        return 0
    used = set(Event.objects.filter(key__in=[key for key, _c in due]).values_list("key", flat=True))
    published = 0
    for key, certificate in due:
        if key in used:
            continue
        try:
            with transaction.atomic():
                publish(
                    CERTIFICATE_EXPIRING.name,
                    certificate_payload(certificate),
                    key=key,
                    actor_name=CERTIFICATE_CHECK_ACTOR,
                )
        except EventKeyConflict:  # renamed since another worker published this point: told already
            continue
        except EventPayloadInvalid:  # a name the event type refuses (too long): log, go on
            logger.exception("certificate %s: the expiring event was refused", certificate.pk)
            continue
        published += 1  # (a race lost to another worker counts too: the point is announced)
    return published
