"""The organisation's write use cases: departments, staff, roles, delegations."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import override

from medoa.core.access.models import ApiToken, User, UserSession
from medoa.core.access.tokens import api_token_issue
from medoa.core.audit.models import AuditEntry
from medoa.core.crypto import blind_index
from medoa.core.notify.models import Notification
from medoa.core.org import services
from medoa.core.org.choices import ActiveStatus, StaffStatus, Title
from medoa.core.org.models import Delegation, Department, Role, RoleAssignment, Staff

NATIONAL_ID = "11010519491231002X"
OTHER_NATIONAL_ID = "110101199003076579"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English (the msgids); one test checks the Chinese."""
    with override("en"):
        yield


def _entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("seq"))


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict


# --- departments ---------------------------------------------------------------------------------


def test_department_create_keeps_path_and_depth_and_audits(tree: Any, person: Any) -> None:
    # given an administrator
    admin = person("sys_admin", department=tree.hr_office)
    # when a ward is created under cardiology
    ward = services.department_create(
        actor=admin.user, parent=tree.cardio, code=" CARD-W2 ", name_zh="心内二病区", kind="ward"
    )
    # then its path extends the parent's and the creation is audited
    assert ward.code == "CARD-W2"
    assert ward.path == f"{tree.cardio.path}{ward.pk}/"
    assert ward.depth == 3
    [entry] = _entries("org.department.created")
    assert entry.actor_id == admin.user.pk
    assert entry.target_id == str(ward.pk)
    assert entry.details == {
        "parent": "CARD",
        "fields": sorted(["code", "name_zh", "name_en", "kind", "category", "head", "sort_order"]),
    }


def test_department_create_refuses_second_root_duplicate_code_and_inactive_parent(
    tree: Any, person: Any
) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    Department.objects.filter(pk=tree.surgery_ward.pk).update(status=ActiveStatus.INACTIVE)
    tree.surgery_ward.refresh_from_db()
    before = Department.objects.count()

    with pytest.raises(ValidationError) as second_root:
        services.department_create(actor=admin.user, parent=None, code="H2", name_zh="二院", kind="hospital")
    with pytest.raises(ValidationError) as duplicate:
        services.department_create(
            actor=admin.user, parent=tree.cardio, code="card", name_zh="重复", kind="ward"
        )
    with pytest.raises(ValidationError) as inactive:
        services.department_create(
            actor=admin.user, parent=tree.surgery_ward, code="X1", name_zh="组", kind="unit"
        )

    assert _messages(second_root.value) == {
        "parent": ["The hospital root already exists: choose a parent department."]
    }
    assert _messages(duplicate.value) == {"code": ["Another department already uses this code."]}
    assert _messages(inactive.value) == {"parent": ["The parent department is inactive."]}
    assert Department.objects.count() == before
    assert _entries("org.department.created") == []


def test_department_update_records_changed_field_names(tree: Any, person: Any) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    head = person(department=tree.cardio)

    services.department_update(actor=admin.user, department=tree.cardio, name_en="Cardiology dept", head=head)

    tree.cardio.refresh_from_db()
    assert (tree.cardio.name_en, tree.cardio.head_id) == ("Cardiology dept", head.pk)
    [entry] = _entries("org.department.updated")
    assert entry.details == {"fields": ["head", "name_en"]}


def test_department_update_without_change_writes_nothing(tree: Any, person: Any) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    services.department_update(actor=admin.user, department=tree.cardio, name_zh="心血管内科")
    assert _entries("org.department.updated") == []


def test_department_move_rewrites_the_whole_subtree(tree: Any, person: Any) -> None:
    # given cardiology (with its ward) under "clinical"
    admin = person("sys_admin", department=tree.hr_office)
    # when it moves under the offices category
    services.department_move(actor=admin.user, department=tree.cardio, new_parent=tree.offices)
    # then the department and its ward carry the new path and depth
    cardio = Department.objects.get(pk=tree.cardio.pk)
    ward = Department.objects.get(pk=tree.cardio_ward.pk)
    assert cardio.parent_id == tree.offices.pk
    assert cardio.path == f"/{tree.root.pk}/{tree.offices.pk}/{tree.cardio.pk}/"
    assert ward.path == f"{cardio.path}{ward.pk}/"
    assert (cardio.depth, ward.depth) == (2, 3)
    [entry] = _entries("org.department.moved")
    assert entry.details == {"from": "CLIN", "to": "OFF", "departments_moved": 2}


def test_department_move_one_level_deeper_changes_depths(tree: Any, person: Any) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    services.department_move(actor=admin.user, department=tree.surgery, new_parent=tree.cardio_ward)
    surgery = Department.objects.get(pk=tree.surgery.pk)
    ward = Department.objects.get(pk=tree.surgery_ward.pk)
    assert (surgery.depth, ward.depth) == (4, 5)
    assert ward.path == f"{tree.cardio_ward.path}{surgery.pk}/{ward.pk}/"


@pytest.mark.parametrize("target", ["cardio", "cardio_ward"])
def test_department_move_refuses_itself_and_descendants(tree: Any, person: Any, target: str) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    with pytest.raises(ValidationError) as exc:
        services.department_move(actor=admin.user, department=tree.cardio, new_parent=getattr(tree, target))
    assert _messages(exc.value) == {
        "parent": ["A department cannot be moved under itself or one of its sub-departments."]
    }
    assert Department.objects.get(pk=tree.cardio.pk).path == tree.cardio.path
    assert _entries("org.department.moved") == []


def test_department_move_refuses_the_root(tree: Any, person: Any) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    with pytest.raises(ValidationError) as exc:
        services.department_move(actor=admin.user, department=tree.root, new_parent=tree.cardio)
    assert _messages(exc.value) == {"parent": ["The hospital root cannot be moved."]}


def test_department_deactivate_refuses_while_staff_or_children_are_active(tree: Any, person: Any) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    person(department=tree.cardio)
    person(department=tree.cardio)

    with pytest.raises(ValidationError) as exc:
        services.department_deactivate(actor=admin.user, department=tree.cardio)

    assert exc.value.messages == [
        "The department still has 2 employed staff member(s): move them to another department or "
        "deactivate them first.",
        "The department still has 1 active sub-department(s): deactivate or move them first.",
    ]
    assert Department.objects.get(pk=tree.cardio.pk).status == ActiveStatus.ACTIVE
    assert _entries("org.department.deactivated") == []


def test_department_deactivate_and_reactivate(tree: Any, person: Any) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    person(department=tree.surgery_ward, status=StaffStatus.LEFT)

    services.department_deactivate(actor=admin.user, department=tree.surgery_ward)
    assert Department.objects.get(pk=tree.surgery_ward.pk).status == ActiveStatus.INACTIVE
    services.department_reactivate(actor=admin.user, department=tree.surgery_ward)
    assert Department.objects.get(pk=tree.surgery_ward.pk).status == ActiveStatus.ACTIVE
    assert len(_entries("org.department.deactivated")) == 1
    assert len(_entries("org.department.reactivated")) == 1


# --- staff --------------------------------------------------------------------------------------------


def _create(actor: User, department: Department, **overrides: Any) -> Staff:
    values: dict[str, Any] = {
        "employee_no": "C1001",
        "name": "李娜",
        "department": department,
        "title": Title.NURSE,
        "username": "lina",
        "initial_password": "Start-2026-pw",
        "gender": "F",
        "nursing_level": "N2",
        "phone": "138 0013 8000",
        "national_id": NATIONAL_ID.lower(),
        "hire_date": datetime.date(2020, 7, 1),
    }
    values.update(overrides)
    return services.staff_create(actor=actor, **values)


def test_staff_create_makes_the_account_and_indexes(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)

    staff = _create(hr.user, tree.cardio_ward)

    staff = Staff.objects.select_related("user").get(pk=staff.pk)
    assert staff.user.username == "lina"
    assert staff.user.must_change_password is True
    assert staff.user.check_password("Start-2026-pw")
    assert staff.phone == "13800138000"
    assert staff.national_id == NATIONAL_ID
    assert staff.phone_index == blind_index("org.staff.phone", "13800138000")
    assert staff.national_id_index == blind_index("org.staff.national_id", NATIONAL_ID)
    [entry] = _entries("org.staff.created")
    assert entry.details == {
        "fields": [
            "department",
            "employee_no",
            "gender",
            "hire_date",
            "name",
            "national_id",
            "nursing_level",
            "phone",
            "title",
        ],
        "username": "lina",
        "department": "CARD-W1",
    }
    assert "13800138000" not in str(entry.details)
    assert NATIONAL_ID not in str(entry.details)


def test_staff_create_refuses_bad_values_and_writes_nothing(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    existing = _create(hr.user, tree.cardio_ward)
    users, staff_count = User.objects.count(), Staff.objects.count()

    with pytest.raises(ValidationError) as exc:
        _create(
            hr.user,
            tree.cardio,
            employee_no="c1001",
            username="LINA",
            national_id="110105194912310021",
            phone="12345",
            title=Title.ATTENDING,
            email="not-an-email",
            initial_password="short",
        )

    messages = _messages(exc.value)
    assert messages.pop("initial_password")  # the access app's password policy says why
    assert messages == {
        "employee_no": ["Another staff member already has this employee number."],
        "national_id": ["The national ID's check digit does not match: please check the number."],
        "phone": ["A mobile phone number has 11 digits and starts with 13–19."],
        "nursing_level": ["A nursing level applies only to nursing titles."],
        "email": ["Enter a valid email address."],
        "username": ["This username is already taken."],
    }
    assert (User.objects.count(), Staff.objects.count()) == (users, staff_count)
    assert len(_entries("org.staff.created")) == 1
    assert existing.pk


def test_staff_create_refuses_a_national_id_already_on_file(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    _create(hr.user, tree.cardio_ward)
    with pytest.raises(ValidationError) as exc:
        _create(hr.user, tree.cardio_ward, employee_no="C1002", username="lina2", national_id=NATIONAL_ID)
    assert _messages(exc.value) == {"national_id": ["Another staff member already has this national ID."]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("11010519491231002", "A national ID has 18 characters: 17 digits and a final digit or X."),
        ("01010519491231002X", "A national ID has 18 characters: 17 digits and a final digit or X."),
        ("110105194913310029", "The birth date inside the national ID is not a real date."),
        ("110105194912310028", "The national ID's check digit does not match: please check the number."),
    ],
)
def test_national_id_format(tree: Any, person: Any, value: str, message: str) -> None:
    hr = person("hr", department=tree.hr_office)
    with pytest.raises(ValidationError) as exc:
        _create(hr.user, tree.cardio_ward, national_id=value)
    assert _messages(exc.value) == {"national_id": [message]}


def test_staff_create_into_inactive_department_is_refused(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    Department.objects.filter(pk=tree.surgery_ward.pk).update(status=ActiveStatus.INACTIVE)
    tree.surgery_ward.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        _create(hr.user, tree.surgery_ward)
    assert _messages(exc.value) == {"department": ["The department is inactive."]}


def test_staff_update_records_field_names_only(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    staff = _create(hr.user, tree.cardio_ward)

    services.staff_update(
        actor=hr.user,
        staff=staff,
        phone="13900139000",
        national_id=OTHER_NATIONAL_ID,
        name="李 娜",
        position="护士",
        hire_date=datetime.date(2020, 7, 1),
    )

    staff = Staff.objects.select_related("user").get(pk=staff.pk)
    assert staff.phone_index == blind_index("org.staff.phone", "13900139000")
    assert staff.national_id_index == blind_index("org.staff.national_id", OTHER_NATIONAL_ID)
    assert staff.user.first_name == "李 娜"
    [entry] = _entries("org.staff.updated")
    assert entry.details == {"fields": ["name", "national_id", "phone", "position"]}


def test_staff_update_rejects_unknown_fields(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    staff = person(department=tree.cardio)
    with pytest.raises(TypeError):
        services.staff_update(actor=hr.user, staff=staff, status="left")


def test_staff_deactivate_ends_sessions_tokens_and_delegations(tree: Any, person: Any) -> None:
    # given a nurse with a live session, an API token and a current delegation
    hr = person("hr", department=tree.hr_office)
    nurse = person("nurse", department=tree.cardio_ward)
    colleague = person("nurse", department=tree.cardio_ward)
    session = SessionStore()
    session["_auth_user_id"] = str(nurse.user.pk)
    session.create()
    UserSession.objects.create(user=nurse.user, session_key=session.session_key)
    api_token_issue(user=nurse.user)
    now = timezone.now()
    delegation = Delegation.objects.create(
        delegator=nurse,
        delegate=colleague,
        starts_at=now - datetime.timedelta(days=1),
        ends_at=now + datetime.timedelta(days=1),
        created_by=nurse,
    )
    # when HR marks her as left
    services.staff_deactivate(actor=hr.user, staff=nurse, status=StaffStatus.LEFT, reason="辞职")
    # then the account is off, the session gone, the token and delegation revoked
    nurse = Staff.objects.select_related("user").get(pk=nurse.pk)
    assert nurse.status == StaffStatus.LEFT
    assert nurse.user.is_active is False
    assert not Session.objects.filter(session_key=session.session_key).exists()
    assert not UserSession.objects.filter(user=nurse.user).exists()
    assert ApiToken.objects.get(user=nurse.user).revoked_at is not None
    delegation.refresh_from_db()
    assert delegation.revoked_at is not None
    [entry] = _entries("org.staff.deactivated")
    assert entry.details == {
        "status": "left",
        "reason": "辞职",
        "sessions_ended": 1,
        "delegations_revoked": 1,
    }


def test_staff_deactivate_refuses_oneself_and_bad_status(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    nurse = person(department=tree.cardio_ward)
    with pytest.raises(ValidationError) as own:
        services.staff_deactivate(actor=hr.user, staff=hr)
    with pytest.raises(ValidationError) as status:
        services.staff_deactivate(actor=hr.user, staff=nurse, status="active")
    assert own.value.messages == ["You cannot deactivate your own account."]
    assert _messages(status.value) == {"status": ["Choose 'Left' or 'Disabled'."]}
    assert Staff.objects.filter(status=StaffStatus.ACTIVE).count() == 2


def test_staff_reactivate(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    nurse = person(department=tree.cardio_ward)
    services.staff_deactivate(actor=hr.user, staff=nurse, status=StaffStatus.DISABLED)
    services.staff_reactivate(actor=hr.user, staff=nurse)
    nurse = Staff.objects.select_related("user").get(pk=nurse.pk)
    assert (nurse.status, nurse.user.is_active) == (StaffStatus.ACTIVE, True)


# --- roles --------------------------------------------------------------------------------------------


def test_role_assign_department_role_needs_a_department(tree: Any, person: Any) -> None:
    sec = person("sec_admin", department=tree.hr_office)
    doctor = person(department=tree.cardio)
    with pytest.raises(ValidationError) as exc:
        services.role_assign(actor=sec.user, staff=doctor, role=Role.objects.get(code="dept_head"))
    assert _messages(exc.value) == {"department": ["A department role needs the department it is held for."]}
    assert not RoleAssignment.objects.filter(staff=doctor).exists()


def test_role_assign_department_role_and_audit(tree: Any, person: Any) -> None:
    sec = person("sec_admin", department=tree.hr_office)
    doctor = person(department=tree.cardio)
    assignment = services.role_assign(
        actor=sec.user, staff=doctor, role=Role.objects.get(code="dept_head"), department=tree.cardio
    )
    assert (assignment.department_id, assignment.include_children) == (tree.cardio.pk, True)
    [entry] = _entries("org.role.assigned")
    assert entry.details == {"role": "dept_head", "department": "CARD", "include_children": True}


def test_role_assign_hospital_role_is_held_at_the_root(tree: Any, person: Any) -> None:
    sec = person("sec_admin", department=tree.hr_office)
    clerk = person(department=tree.hr_office)
    finance = Role.objects.get(code="finance")

    assignment = services.role_assign(actor=sec.user, staff=clerk, role=finance)
    assert assignment.department_id == tree.root.pk

    with pytest.raises(ValidationError) as exc:
        services.role_assign(
            actor=sec.user, staff=clerk, role=Role.objects.get(code="hr"), department=tree.cardio
        )
    assert _messages(exc.value) == {
        "department": ["A hospital-wide role is held at the hospital root: leave the department empty."]
    }


def test_role_assign_refuses_duplicates_own_roles_and_two_admin_duties(tree: Any, person: Any) -> None:
    sec = person("sec_admin", department=tree.hr_office)
    admin = person("sys_admin", department=tree.hr_office)
    doctor = person("doctor", department=tree.cardio)

    with pytest.raises(ValidationError) as duplicate:
        services.role_assign(
            actor=sec.user, staff=doctor, role=Role.objects.get(code="doctor"), department=tree.cardio
        )
    with pytest.raises(ValidationError) as own:
        services.role_assign(actor=sec.user, staff=sec, role=Role.objects.get(code="hr"))
    with pytest.raises(ValidationError) as triad:
        services.role_assign(actor=sec.user, staff=admin, role=Role.objects.get(code="audit_admin"))

    assert _messages(duplicate.value) == {
        "role": ["This person already holds this role for this department."]
    }
    assert _messages(own.value) == {"staff": ["You cannot change your own roles."]}
    assert _messages(triad.value) == {
        "role": [
            "System, security and audit administration are separate duties: this person already holds "
            "sys_admin."
        ]
    }
    assert RoleAssignment.objects.count() == 3


def test_role_revoke(tree: Any, person: Any) -> None:
    sec = person("sec_admin", department=tree.hr_office)
    doctor = person("doctor", department=tree.cardio)
    assignment = RoleAssignment.objects.get(staff=doctor)

    services.role_revoke(actor=sec.user, assignment=assignment)

    assert not RoleAssignment.objects.filter(staff=doctor).exists()
    [entry] = _entries("org.role.revoked")
    assert entry.details == {"role": "doctor", "department": "CARD"}


# --- delegations --------------------------------------------------------------------------------------


def _window(days_from: int = 1, days_to: int = 3) -> tuple[datetime.datetime, datetime.datetime]:
    now = timezone.now().replace(microsecond=0)
    return now + datetime.timedelta(days=days_from), now + datetime.timedelta(days=days_to)


def test_delegation_create_by_oneself_notifies_both(tree: Any, person: Any) -> None:
    head = person("dept_head", department=tree.cardio, name="王强")
    deputy = person("doctor", department=tree.cardio, name="赵敏")
    starts, ends = _window()

    delegation = services.delegation_create(
        actor=head.user,
        delegator=head,
        delegate=deputy,
        starts_at=starts,
        ends_at=ends,
        process_keys=["leave", "leave", " purchase "],
        reason="出差",
    )

    assert delegation.process_keys == ["leave", "purchase"]
    assert delegation.created_by_id == head.pk
    notes = Notification.objects.filter(kind="org.delegation.created").order_by("recipient_id")
    assert notes[0].title == "Delegation: 王强 → 赵敏"
    assert sorted(n.recipient_id for n in notes) == sorted([head.user.pk, deputy.user.pk])
    assert notes[0].link == "/org/delegations/"
    [entry] = _entries("org.delegation.created")
    assert entry.details["process_keys"] == ["leave", "purchase"]
    assert entry.details["delegator"] == head.employee_no


def test_delegation_create_by_a_manager_of_the_department(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    nurse = person("nurse", department=tree.cardio_ward)
    colleague = person("nurse", department=tree.cardio_ward)
    starts, ends = _window()
    delegation = services.delegation_create(
        actor=hr.user, delegator=nurse, delegate=colleague, starts_at=starts, ends_at=ends
    )
    assert delegation.created_by_id == hr.pk


def test_delegation_create_by_someone_else_is_refused(tree: Any, person: Any) -> None:
    # given a surgery head (org.delegation.manage over surgery only) and a cardiology nurse
    surgery_head = person("dept_head", department=tree.surgery)
    nurse = person("nurse", department=tree.cardio_ward)
    colleague = person("nurse", department=tree.cardio_ward)
    starts, ends = _window()
    with pytest.raises(PermissionDenied):
        services.delegation_create(
            actor=surgery_head.user, delegator=nurse, delegate=colleague, starts_at=starts, ends_at=ends
        )
    assert Delegation.objects.count() == 0
    assert Notification.objects.count() == 0
    assert _entries("org.delegation.created") == []


def test_delegation_create_refuses_bad_periods_and_overlaps(tree: Any, person: Any) -> None:
    head = person("dept_head", department=tree.cardio)
    deputy = person("doctor", department=tree.cardio)
    other = person("doctor", department=tree.cardio)
    starts, ends = _window()
    services.delegation_create(
        actor=head.user,
        delegator=head,
        delegate=deputy,
        starts_at=starts,
        ends_at=ends,
        process_keys=["leave"],
    )

    with pytest.raises(ValidationError) as backwards:
        services.delegation_create(
            actor=head.user, delegator=head, delegate=deputy, starts_at=ends, ends_at=starts
        )
    with pytest.raises(ValidationError) as past:
        services.delegation_create(
            actor=head.user,
            delegator=head,
            delegate=deputy,
            starts_at=starts - datetime.timedelta(days=10),
            ends_at=starts - datetime.timedelta(days=5),
        )
    with pytest.raises(ValidationError) as overlap:
        services.delegation_create(
            actor=head.user, delegator=head, delegate=other, starts_at=starts, ends_at=ends
        )
    with pytest.raises(ValidationError) as cycle:
        services.delegation_create(
            actor=deputy.user,
            delegator=deputy,
            delegate=head,
            starts_at=starts,
            ends_at=ends,
            process_keys=["leave"],
        )
    with pytest.raises(ValidationError) as self_delegation:
        services.delegation_create(
            actor=head.user, delegator=head, delegate=head, starts_at=starts, ends_at=ends
        )
    with pytest.raises(ValidationError) as bad_key:
        services.delegation_create(
            actor=head.user,
            delegator=head,
            delegate=other,
            starts_at=starts,
            ends_at=ends,
            process_keys=["Leave Form"],
        )

    assert _messages(backwards.value) == {"ends_at": ["The end must be after the start."]}
    assert _messages(past.value) == {"ends_at": ["The end must be in the future."]}
    assert list(_messages(overlap.value)) == ["starts_at"]
    assert _messages(overlap.value)["starts_at"][0].startswith(
        f"This overlaps the delegation to {deputy.name} from "
    )
    assert _messages(cycle.value) == {
        "delegate": [f"{head.name} has delegated their own tasks to this person in the same period."]
    }
    assert _messages(self_delegation.value) == {
        "delegate": ["Choose someone other than the person delegating."]
    }
    assert _messages(bad_key.value) == {
        "process_keys": [
            "'Leave Form' is not a process key: use lower-case letters, digits, '.', ':', '-' or '_'."
        ]
    }
    assert Delegation.objects.count() == 1


def test_delegation_for_other_process_types_does_not_overlap(tree: Any, person: Any) -> None:
    head = person("dept_head", department=tree.cardio)
    deputy = person("doctor", department=tree.cardio)
    other = person("doctor", department=tree.cardio)
    starts, ends = _window()
    services.delegation_create(
        actor=head.user,
        delegator=head,
        delegate=deputy,
        starts_at=starts,
        ends_at=ends,
        process_keys=["leave"],
    )
    services.delegation_create(
        actor=head.user,
        delegator=head,
        delegate=other,
        starts_at=starts,
        ends_at=ends,
        process_keys=["purchase"],
    )
    assert Delegation.objects.count() == 2


def test_delegation_revoke_by_delegator_notifies_and_refuses_twice(tree: Any, person: Any) -> None:
    head = person("dept_head", department=tree.cardio)
    deputy = person("doctor", department=tree.cardio)
    starts, ends = _window(-1, 2)
    delegation = Delegation.objects.create(
        delegator=head, delegate=deputy, starts_at=starts, ends_at=ends, created_by=head
    )

    services.delegation_revoke(actor=head.user, delegation=delegation)

    delegation.refresh_from_db()
    assert delegation.revoked_at is not None
    assert Notification.objects.filter(kind="org.delegation.revoked").count() == 2
    assert len(_entries("org.delegation.revoked")) == 1
    with pytest.raises(ValidationError) as again:
        services.delegation_revoke(actor=head.user, delegation=delegation)
    assert again.value.messages == ["This delegation has already been revoked."]


def test_delegation_revoke_by_the_delegate_is_refused(tree: Any, person: Any) -> None:
    head = person("dept_head", department=tree.cardio)
    deputy = person("doctor", department=tree.cardio)
    starts, ends = _window()
    delegation = Delegation.objects.create(
        delegator=head, delegate=deputy, starts_at=starts, ends_at=ends, created_by=head
    )
    with pytest.raises(PermissionDenied):
        services.delegation_revoke(actor=deputy.user, delegation=delegation)
    delegation.refresh_from_db()
    assert delegation.revoked_at is None
    assert Notification.objects.count() == 0


# --- import -------------------------------------------------------------------------------------------


def test_staff_import_is_all_or_nothing(tree: Any, person: Any) -> None:
    # given two checked rows, the second of which clashes with an account created since the check
    hr = person("hr", department=tree.hr_office)
    values = {
        "employee_no": "N1",
        "name": "甲",
        "department": tree.cardio_ward,
        "title": Title.NURSE,
        "gender": "F",
    }
    rows = [
        services.StaffImportRow(2, dict(values), "new1", "Import-pw-2026", False),
        services.StaffImportRow(
            3, {**values, "employee_no": "N2", "name": "乙"}, "taken", "Import-pw-2026", False
        ),
    ]
    person(department=tree.cardio, username="taken")
    staff_before, users_before = Staff.objects.count(), User.objects.count()
    # when the import runs
    with pytest.raises(ValidationError) as exc:
        services.staff_import(actor=hr.user, rows=rows)
    # then nothing at all was written
    assert exc.value.messages == ["Row 3 could not be imported: This username is already taken."]
    assert (Staff.objects.count(), User.objects.count()) == (staff_before, users_before)
    assert _entries("org.staff.created") == []
