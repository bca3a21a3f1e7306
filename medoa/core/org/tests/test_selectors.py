"""The organisation's reads: tree queries for the engines, and permission-narrowed lists."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from medoa.core.access.policy import principal_of
from medoa.core.crypto import blind_index
from medoa.core.org import selectors
from medoa.core.org.choices import StaffStatus, Title
from medoa.core.org.models import Delegation, Department, Role, RoleAssignment, Staff
from medoa.core.org.tests.factories import DelegationFactory


def _assign(staff: Staff, code: str, department: Department, include_children: bool = True) -> None:
    RoleAssignment.objects.create(
        staff=staff,
        role=Role.objects.get(code=code),
        department=department,
        include_children=include_children,
    )


# --- the tree -------------------------------------------------------------------------------------


def test_department_chain_goes_from_self_to_root_in_one_query(
    tree: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        chain = selectors.department_chain(tree.cardio_ward)
    assert [d.code for d in chain] == ["CARD-W1", "CARD", "CLIN", "H"]


def test_department_descendants(tree: Any) -> None:
    assert [d.code for d in selectors.department_descendants(tree.clinical)] == sorted(
        ["CARD", "CARD-W1", "SURG", "SURG-W1"], key=lambda c: Department.objects.get(code=c).path
    )
    assert {d.code for d in selectors.department_descendants(tree.cardio, include_self=True)} == {
        "CARD",
        "CARD-W1",
    }


def test_department_tree_rows_orders_siblings_by_sort_order(tree: Any) -> None:
    Department.objects.filter(pk=tree.surgery.pk).update(sort_order=1)
    Department.objects.filter(pk=tree.cardio.pk).update(sort_order=2)
    rows = selectors.department_tree_rows(Department.objects.all())
    assert [(r.department.code, r.depth) for r in rows] == [
        ("H", 0),
        ("CLIN", 1),
        ("SURG", 2),
        ("SURG-W1", 3),
        ("CARD", 2),
        ("CARD-W1", 3),
        ("OFF", 1),
        ("HR", 2),
    ]
    nodes = selectors.department_tree_nodes(Department.objects.all())
    assert [n.department.code for n in nodes[0].children] == ["CLIN", "OFF"]


def test_role_holders_at_the_department_itself(
    tree: Any, person: Any, django_assert_num_queries: Any
) -> None:
    hn = person("head_nurse", department=tree.cardio_ward)
    person("head_nurse", department=tree.cardio)
    with django_assert_num_queries(1):
        holders = selectors.role_holders("head_nurse", tree.cardio_ward)
    assert holders == [hn]


def test_role_holders_walk_up_to_a_covering_ancestor(tree: Any, person: Any) -> None:
    head = person("dept_head", department=tree.cardio)
    assert selectors.role_holders("dept_head", tree.cardio_ward) == [head]


def test_role_holders_prefer_a_covering_grandparent_to_a_parent_only_assignment(
    tree: Any, person: Any
) -> None:
    # given a parent-only holder at cardiology and a covering holder at "clinical"
    parent_only = person(department=tree.cardio)
    _assign(parent_only, "quality_office", tree.cardio, include_children=False)
    covering = person(department=tree.clinical)
    _assign(covering, "quality_office", tree.clinical, include_children=True)
    # then the ward's holder is the covering one; cardiology's own is the parent-only one
    assert selectors.role_holders("quality_office", tree.cardio_ward) == [covering]
    assert selectors.role_holders("quality_office", tree.cardio) == [parent_only]


def test_role_holders_fall_back_to_the_nearest_ancestor_holding_it_at_all(tree: Any, person: Any) -> None:
    parent_only = person(department=tree.cardio)
    _assign(parent_only, "quality_office", tree.cardio, include_children=False)
    assert selectors.role_holders("quality_office", tree.cardio_ward) == [parent_only]


def test_role_holders_skip_staff_who_left_and_return_all_at_the_best_level(tree: Any, person: Any) -> None:
    a = person("head_nurse", department=tree.cardio_ward, employee_no="E2")
    b = person("head_nurse", department=tree.cardio_ward, employee_no="E1")
    person("head_nurse", department=tree.cardio_ward, status=StaffStatus.LEFT)
    assert selectors.role_holders("head_nurse", tree.cardio_ward) == [b, a]
    assert selectors.role_holders("finance", tree.cardio_ward) == []


def test_leader_above_for_a_nurse_in_a_ward(tree: Any, person: Any, django_assert_num_queries: Any) -> None:
    # given a ward without a head, a cardiology head and a dean at the root
    nurse = person("nurse", department=tree.cardio_ward)
    head = person("dept_head", department=tree.cardio)
    dean = person("dean", department=tree.offices)
    nurse = Staff.objects.select_related("department").get(pk=nurse.pk)
    # then level 1 is the cardiology head and level 2 the dean
    with django_assert_num_queries(2):
        assert selectors.leader_above(nurse, 1) == head
    assert selectors.leader_above(nurse, 2) == dean
    assert selectors.leader_above(nurse, 3) is None


def test_leader_above_for_the_head_themself_is_the_next_level_up(tree: Any, person: Any) -> None:
    head = person("dept_head", department=tree.cardio)
    co_head = person("dept_head", department=tree.cardio)
    dean = person(department=tree.offices)
    Department.objects.filter(pk=tree.root.pk).update(head=dean)
    assert selectors.leader_above(head, 1) == dean
    assert selectors.leader_above(co_head, 1) == dean
    assert selectors.leader_above(head, 2) is None


def test_leader_above_uses_department_head_when_nobody_holds_dept_head(tree: Any, person: Any) -> None:
    ward_lead = person(department=tree.cardio_ward)
    Department.objects.filter(pk=tree.cardio_ward.pk).update(head=ward_lead)
    head = person("dept_head", department=tree.cardio)
    nurse = person(department=tree.cardio_ward)
    assert selectors.leader_above(nurse, 1) == ward_lead
    assert selectors.leader_above(nurse, 2) == head
    assert selectors.leader_above(ward_lead, 1) == head


def test_leader_above_skips_heads_who_left(tree: Any, person: Any) -> None:
    gone = person(department=tree.cardio_ward, status=StaffStatus.LEFT)
    Department.objects.filter(pk=tree.cardio_ward.pk).update(head=gone)
    head = person("dept_head", department=tree.cardio)
    nurse = person(department=tree.cardio_ward)
    assert selectors.leader_above(nurse, 1) == head


def test_leader_above_needs_a_positive_level(tree: Any, person: Any) -> None:
    with pytest.raises(ValueError, match="levels must be 1 or more"):
        selectors.leader_above(person(), 0)


def test_role_members_with_and_without_children(
    tree: Any, person: Any, django_assert_num_queries: Any
) -> None:
    n1 = person("nurse", department=tree.cardio, employee_no="N1")
    n2 = person("nurse", department=tree.cardio_ward, employee_no="N2")
    person("nurse", department=tree.surgery_ward)
    person("nurse", department=tree.cardio_ward, status=StaffStatus.DISABLED)
    with django_assert_num_queries(1):
        members = list(selectors.role_members("nurse", tree.cardio))
    assert members == [n1, n2]
    assert list(selectors.role_members("nurse", tree.cardio, include_children=False)) == [n1]


def _delegation(
    delegator: Staff, delegate: Staff, *, days: tuple[int, int] = (-1, 1), **kw: Any
) -> Delegation:
    now = timezone.now()
    return Delegation.objects.create(
        delegator=delegator,
        delegate=delegate,
        starts_at=now + datetime.timedelta(days=days[0]),
        ends_at=now + datetime.timedelta(days=days[1]),
        created_by=delegator,
        **kw,
    )


def test_active_delegate_for_all_and_chosen_process_types(tree: Any, person: Any) -> None:
    head = person("dept_head")
    deputy = person("doctor")
    other = person("doctor")
    _delegation(head, deputy, process_keys=["leave"])
    _delegation(head, other, days=(2, 4))

    assert selectors.active_delegate_for(head, "leave") == deputy
    assert selectors.active_delegate_for(head, "purchase") is None
    assert selectors.active_delegate_for(head) is None
    later = timezone.now() + datetime.timedelta(days=3)
    assert selectors.active_delegate_for(head, "purchase", at=later) == other
    assert selectors.active_delegate_for(head, at=later) == other


def test_active_delegate_for_ignores_revoked_and_inactive_delegates(tree: Any, person: Any) -> None:
    head = person("dept_head")
    revoked_to = person("doctor")
    gone = person("doctor", status=StaffStatus.LEFT)
    _delegation(head, revoked_to, revoked_at=timezone.now())
    _delegation(head, gone)
    assert selectors.active_delegate_for(head, "leave") is None


def test_delegations_current_splits_given_and_received(tree: Any, person: Any) -> None:
    me = person()
    a, b = person(), person()
    given = _delegation(me, a, days=(1, 2))
    received = _delegation(b, me)
    _delegation(me, a, days=(-3, -2))
    given_list, received_list = selectors.delegations_current(staff=me)
    assert (given_list, received_list) == ([given], [received])


# --- permission-narrowed lists ----------------------------------------------------------------------


def test_staff_list_follows_the_data_scope(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    hn = person("head_nurse", department=tree.cardio_ward)
    nurse = person("nurse", department=tree.cardio_ward)
    surgeon = person("doctor", department=tree.surgery)

    assert set(selectors.staff_list(user=hr.user)) == {hr, hn, nurse, surgeon}
    assert set(selectors.staff_list(user=hn.user)) == {hn, nurse}
    assert list(selectors.staff_list(user=nurse.user)) == []


def test_staff_list_filters(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office, name="人事甲")
    nurse = person("nurse", department=tree.cardio_ward, name="张丽", title=Title.NURSE, phone="13800000001")
    doctor = person("doctor", department=tree.cardio, name="张伟", title=Title.ATTENDING)
    left = person("doctor", department=tree.surgery, name="李雷", status=StaffStatus.LEFT)
    Staff.objects.filter(pk=nurse.pk).update(phone_index=blind_index("org.staff.phone", "13800000001"))
    user = hr.user
    assert set(selectors.staff_list(user=user, search="张")) == {nurse, doctor}
    assert list(selectors.staff_list(user=user, search=doctor.employee_no)) == [doctor]
    assert list(selectors.staff_list(user=user, search=nurse.user.username)) == [nurse]
    assert list(selectors.staff_list(user=user, search="138 0000 0001")) == [nurse]
    assert set(selectors.staff_list(user=user, department=tree.cardio)) == {nurse, doctor}
    assert list(selectors.staff_list(user=user, title=Title.NURSE)) == [nurse]
    assert list(selectors.staff_list(user=user, status=StaffStatus.LEFT)) == [left]
    assert set(selectors.staff_list(user=user, role="doctor")) == {doctor, left}


def test_staff_list_private_search_needs_view_private(tree: Any, person: Any) -> None:
    hn = person("head_nurse", department=tree.cardio_ward)
    nurse = person("nurse", department=tree.cardio_ward)
    Staff.objects.filter(pk=nurse.pk).update(phone_index=blind_index("org.staff.phone", "13800000001"))
    assert list(selectors.staff_list(user=hn.user, search="13800000001")) == []


def test_staff_list_query_count_is_flat(tree: Any, person: Any, django_assert_num_queries: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    for _ in range(12):
        person("nurse", department=tree.cardio_ward)
    principal_of(hr.user)  # loaded once per request, before the list
    with django_assert_num_queries(1):
        rows = [(s.name, s.department.name, s.user.username) for s in selectors.staff_list(user=hr.user)]
    assert len(rows) == 13


def test_staff_directory_is_for_everyone_with_directory_fields(
    tree: Any, person: Any, django_assert_num_queries: Any, user_factory: Any
) -> None:
    nurse = person("nurse", department=tree.cardio_ward, office_phone="8123")
    person("doctor", department=tree.surgery, status=StaffStatus.LEFT)
    for _ in range(10):
        person("doctor", department=tree.surgery)
    principal_of(nurse.user)
    with django_assert_num_queries(1):
        rows = [
            (s.name, s.department.name, s.get_title_display(), s.office_phone)
            for s in selectors.staff_directory(user=nurse.user)
        ]
    assert len(rows) == 11
    assert list(selectors.staff_directory(user=nurse.user, search="8123")) == [nurse]
    assert list(selectors.staff_directory(user=user_factory())) == []


def test_staff_get_own_record_and_scope(tree: Any, person: Any) -> None:
    hn = person("head_nurse", department=tree.cardio_ward)
    nurse = person("nurse", department=tree.cardio_ward)
    surgeon = person("doctor", department=tree.surgery)
    assert selectors.staff_get(user=nurse.user, pk=nurse.pk) == nurse
    assert selectors.staff_get(user=nurse.user, pk=hn.pk) is None
    assert selectors.staff_get(user=hn.user, pk=nurse.pk) == nurse
    assert selectors.staff_get(user=hn.user, pk=surgeon.pk) is None


def test_can_view_private(tree: Any, person: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    hn = person("head_nurse", department=tree.cardio_ward)
    nurse = person("nurse", department=tree.cardio_ward)
    assert selectors.can_view_private(hr.user, nurse) is True
    assert selectors.can_view_private(nurse.user, nurse) is True
    assert selectors.can_view_private(hn.user, nurse) is False


def test_delegation_factory_makes_one_in_force(tree: Any, person: Any) -> None:
    head, deputy = person("dept_head"), person("doctor")
    DelegationFactory(delegator=head, delegate=deputy)
    assert selectors.active_delegate_for(head, "leave") == deputy
