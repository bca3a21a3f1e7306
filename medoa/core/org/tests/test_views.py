"""The organisation pages: department tree editor, staff admin, roles, directory, delegations."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from medoa.core.org.cards import delegations_card_context
from medoa.core.org.choices import ActiveStatus, StaffStatus
from medoa.core.org.models import Delegation, Department, Role, RoleAssignment, Staff
from medoa.core.registries import menu, workbench_cards

NATIONAL_ID = "11010519491231002X"


def _errors(response: Any) -> dict[str, list[str]]:
    form = response.context["form"]
    return {k: list(v) for k, v in form.errors.items()}


# --- registrations ------------------------------------------------------------------------------------


def test_menu_entries_and_card_are_registered() -> None:
    assert {
        ("org.departments", "org:department_tree", "org.department.manage"),
        ("org.staff", "org:staff_list", "org.staff.view"),
        ("org.directory", "org:directory", None),
        ("org.delegations", "org:delegation_list", None),
        ("org.roles", "org:role_list", "org.role.assign"),
    } <= {(e.key, e.url_name, e.permission) for e in menu}
    assert workbench_cards.get("org.delegations").template == "org/cards/delegations.html"


# --- departments --------------------------------------------------------------------------------------


def test_department_tree_access(tree: Any, person: Any, login: Any, client: Any) -> None:
    url = reverse("org:department_tree")
    assert client.get(url).status_code == 302
    assert login(person("nurse")).get(url).status_code == 403
    response = login(person("sys_admin", department=tree.hr_office)).get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert "心内一病区" in content and "添加下级科室" in content
    assert content.index("临床科室") < content.index("心血管内科") < content.index("心内一病区")


def test_department_create_child_and_errors(tree: Any, person: Any, login: Any) -> None:
    client = login(person("sys_admin", department=tree.hr_office))
    url = reverse("org:department_create") + f"?parent={tree.cardio.pk}"
    assert client.get(url).status_code == 200

    bad = client.post(url, {"code": "card", "name_zh": "", "kind": "ward", "sort_order": "0"})
    assert bad.status_code == 200
    assert list(_errors(bad)) == ["name_zh"]  # Django's own "required" message
    dup = client.post(url, {"code": "card", "name_zh": "心内二病区", "kind": "ward", "sort_order": "0"})
    assert _errors(dup) == {"code": ["已有其他科室使用该编码。"]}

    ok = client.post(url, {"code": "CARD-W2", "name_zh": "心内二病区", "kind": "ward", "sort_order": "1"})
    assert ok.status_code == 302
    ward = Department.objects.get(code="CARD-W2")
    assert (ward.parent_id, ward.depth) == (tree.cardio.pk, 3)


def test_department_edit_move_and_deactivate(tree: Any, person: Any, login: Any) -> None:
    client = login(person("hr", department=tree.hr_office))
    edit = client.post(
        reverse("org:department_edit", args=[tree.surgery.pk]),
        {
            "code": "SURG",
            "name_zh": "普通外科",
            "name_en": "General surgery",
            "kind": "department",
            "sort_order": "3",
        },
    )
    assert edit.status_code == 302
    assert Department.objects.get(pk=tree.surgery.pk).name_zh == "普通外科"

    refused = client.post(
        reverse("org:department_move", args=[tree.surgery.pk]), {"parent": tree.surgery_ward.pk}
    )
    assert refused.status_code == 200
    assert "parent" in _errors(refused)
    moved = client.post(reverse("org:department_move", args=[tree.surgery.pk]), {"parent": tree.offices.pk})
    assert moved.status_code == 302
    assert Department.objects.get(pk=tree.surgery_ward.pk).path.startswith(tree.offices.path)

    person("nurse", department=tree.surgery_ward)
    blocked = client.post(reverse("org:department_deactivate", args=[tree.surgery_ward.pk]))
    assert blocked.status_code == 400
    assert "该科室仍有 1 名在职人员：请先将其调至其他科室或停用。" in blocked.content.decode()
    assert Department.objects.get(pk=tree.surgery_ward.pk).status == ActiveStatus.ACTIVE
    done = client.post(reverse("org:department_deactivate", args=[tree.hr_office.pk]))
    assert done.status_code == 400  # the HR user works there
    empty = client.post(reverse("org:department_deactivate", args=[tree.cardio_ward.pk]))
    assert empty.status_code == 302
    assert Department.objects.get(pk=tree.cardio_ward.pk).status == ActiveStatus.INACTIVE


def test_department_pages_refuse_a_nurse_and_change_nothing(tree: Any, person: Any, login: Any) -> None:
    client = login(person("nurse"))
    assert client.post(reverse("org:department_deactivate", args=[tree.cardio_ward.pk])).status_code == 403
    assert (
        client.post(
            reverse("org:department_move", args=[tree.cardio.pk]), {"parent": tree.offices.pk}
        ).status_code
        == 403
    )
    assert Department.objects.get(pk=tree.cardio_ward.pk).status == ActiveStatus.ACTIVE
    assert Department.objects.get(pk=tree.cardio.pk).parent_id == tree.clinical.pk


# --- staff list and detail ----------------------------------------------------------------------------


def test_staff_list_pages_by_fifty_and_filters(tree: Any, person: Any, login: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    for i in range(55):
        person("nurse", department=tree.cardio_ward, name=f"护士{i:02d}")
    person("doctor", department=tree.surgery, name="外科医生", status=StaffStatus.LEFT)
    client = login(hr)

    first = client.get(reverse("org:staff_list"))
    second = client.get(reverse("org:staff_list"), {"page": 2})
    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 7
    assert first.context["page"].paginator.count == 57

    filtered = client.get(
        reverse("org:staff_list"), {"department": tree.surgery.pk, "status": "left", "role": "doctor"}
    )
    assert [s.name for s in filtered.context["page"]] == ["外科医生"]
    searched = client.get(reverse("org:staff_list"), {"q": "护士0"})
    assert filtered.status_code == searched.status_code == 200
    assert len(searched.context["page"].object_list) == 10
    bogus = client.get(reverse("org:staff_list"), {"department": "abc", "status": "zzz"})
    assert bogus.status_code == 200
    assert bogus.context["page"].paginator.count == 57


def test_staff_list_for_a_head_nurse_is_her_tree_only(tree: Any, person: Any, login: Any) -> None:
    hn = person("head_nurse", department=tree.cardio_ward)
    mine = person("nurse", department=tree.cardio_ward)
    other = person("nurse", department=tree.surgery_ward)
    client = login(hn)
    listed = set(client.get(reverse("org:staff_list")).context["page"].object_list)
    assert listed == {hn, mine}
    assert client.get(reverse("org:staff_detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("org:staff_detail", args=[other.pk])).status_code == 404
    assert client.get(reverse("org:staff_edit", args=[other.pk])).status_code == 404
    assert (
        client.post(reverse("org:staff_deactivate", args=[other.pk]), {"status": "left"}).status_code == 404
    )
    assert client.get(reverse("org:staff_edit", args=[mine.pk])).status_code == 403
    assert Staff.objects.get(pk=other.pk).status == StaffStatus.ACTIVE


def test_staff_pages_refuse_a_nurse(tree: Any, person: Any, login: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward)
    colleague = person("nurse", department=tree.cardio_ward)
    client = login(nurse)
    assert client.get(reverse("org:staff_list")).status_code == 403
    assert client.get(reverse("org:staff_create")).status_code == 403
    assert client.get(reverse("org:staff_import")).status_code == 403
    assert client.get(reverse("org:staff_detail", args=[colleague.pk])).status_code == 404
    own = client.get(reverse("org:staff_detail", args=[nurse.pk]))
    assert own.status_code == 200
    assert own.context["show_private"] is True


def test_staff_detail_private_fields_and_no_store(tree: Any, person: Any, login: Any, client: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward, phone="13800138000", national_id=NATIONAL_ID)
    hn = person("head_nurse", department=tree.cardio_ward)
    hr = person("hr", department=tree.hr_office)
    url = reverse("org:staff_detail", args=[nurse.pk])

    as_hn = login(hn).get(url)
    assert NATIONAL_ID not in as_hn.content.decode()
    assert "13800138000" not in as_hn.content.decode()
    client.logout()
    as_hr = login(hr).get(url)
    assert NATIONAL_ID in as_hr.content.decode()
    assert as_hr["Cache-Control"] == "no-store"


def test_staff_create_page(tree: Any, person: Any, login: Any) -> None:
    client = login(person("hr", department=tree.hr_office))
    data = {
        "employee_no": "W001",
        "name": "周敏",
        "gender": "F",
        "department": tree.cardio_ward.pk,
        "title": "nurse",
        "nursing_level": "N1",
        "phone": "13800138000",
        "national_id": "110105194912310021",
        "hire_date": "2024-02-30",
        "username": "zhoumin",
        "initial_password": "Welcome-2026-x",
    }
    bad = client.post(reverse("org:staff_create"), data)
    assert bad.status_code == 200
    assert _errors(bad) == {"hire_date": ["入职日期请按 YYYY-MM-DD 格式填写。"]}
    data["hire_date"] = "2024-02-29"
    bad_id = client.post(reverse("org:staff_create"), data)
    assert _errors(bad_id) == {"national_id": ["身份证号校验位不符，请核对号码。"]}
    assert not Staff.objects.filter(employee_no="W001").exists()

    data["national_id"] = NATIONAL_ID
    ok = client.post(reverse("org:staff_create"), data)
    staff = Staff.objects.get(employee_no="W001")
    assert ok.status_code == 302
    assert ok["Location"] == reverse("org:staff_detail", args=[staff.pk])
    assert staff.user.must_change_password is True


def test_staff_edit_and_deactivate_pages(tree: Any, person: Any, login: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    nurse = person("nurse", department=tree.cardio_ward, name="旧名")
    client = login(hr)
    page = client.get(reverse("org:staff_edit", args=[nurse.pk]))
    assert page.status_code == 200
    data = dict(page.context["form"].initial)
    data.update(name="新名", department=tree.cardio_ward.pk, hire_date="", phone="", national_id="")
    data = {k: ("" if v is None else v) for k, v in data.items()}
    saved = client.post(reverse("org:staff_edit", args=[nurse.pk]), data)
    assert saved.status_code == 302
    assert Staff.objects.get(pk=nurse.pk).name == "新名"

    deactivated = client.post(
        reverse("org:staff_deactivate", args=[nurse.pk]), {"status": "left", "reason": "调离"}
    )
    assert deactivated.status_code == 302
    nurse = Staff.objects.select_related("user").get(pk=nurse.pk)
    assert (nurse.status, nurse.user.is_active) == (StaffStatus.LEFT, False)
    reactivated = client.post(reverse("org:staff_reactivate", args=[nurse.pk]))
    assert reactivated.status_code == 302
    assert Staff.objects.get(pk=nurse.pk).status == StaffStatus.ACTIVE


def test_staff_edit_without_view_private_keeps_private_fields(tree: Any, person: Any, login: Any) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    nurse = person("nurse", department=tree.cardio_ward, phone="13800138000")
    client = login(admin)
    page = client.get(reverse("org:staff_edit", args=[nurse.pk]))
    assert "phone" not in page.context["form"].fields
    data = {k: ("" if v is None else v) for k, v in page.context["form"].initial.items()}
    data.update(department=tree.cardio_ward.pk, phone="13900000000", position="组长")
    assert client.post(reverse("org:staff_edit", args=[nurse.pk]), data).status_code == 302
    nurse = Staff.objects.get(pk=nurse.pk)
    assert (nurse.phone, nurse.position) == ("13800138000", "组长")


# --- roles --------------------------------------------------------------------------------------------


def test_role_assignment_by_the_security_administrator(tree: Any, person: Any, login: Any) -> None:
    sec = person("sec_admin", department=tree.hr_office)
    doctor = person("doctor", department=tree.cardio)
    client = login(sec)
    assert client.get(reverse("org:role_list")).status_code == 200
    detail = client.get(reverse("org:staff_detail", args=[doctor.pk]))
    assert detail.status_code == 200 and detail.context["may_assign"] is True

    missing_dept = client.post(
        reverse("org:staff_role_assign", args=[doctor.pk]),
        {"role": Role.objects.get(code="dept_head").pk, "include_children": "on"},
    )
    assert missing_dept.status_code == 400
    assert "科室角色需要指定所属科室。" in missing_dept.content.decode()

    ok = client.post(
        reverse("org:staff_role_assign", args=[doctor.pk]),
        {
            "role": Role.objects.get(code="dept_head").pk,
            "department": tree.cardio.pk,
            "include_children": "on",
        },
    )
    assert ok.status_code == 302
    assignment = RoleAssignment.objects.get(staff=doctor, role__code="dept_head")
    revoked = client.post(reverse("org:role_revoke", args=[assignment.pk]))
    assert revoked.status_code == 302
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()


def test_role_assignment_is_not_for_hr(tree: Any, person: Any, login: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    doctor = person("doctor", department=tree.cardio)
    client = login(hr)
    response = client.post(
        reverse("org:staff_role_assign", args=[doctor.pk]),
        {"role": Role.objects.get(code="finance").pk},
    )
    assert response.status_code == 403
    assert (
        client.post(
            reverse("org:role_revoke", args=[RoleAssignment.objects.get(staff=doctor).pk])
        ).status_code
        == 403
    )
    assert list(RoleAssignment.objects.filter(staff=doctor).values_list("role__code", flat=True)) == [
        "doctor"
    ]
    assert client.get(reverse("org:role_list")).status_code == 403


# --- directory and delegations ------------------------------------------------------------------------


def test_directory_shows_directory_fields_to_everyone(tree: Any, person: Any, login: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward, office_phone="8123", phone="13800138000")
    person("doctor", department=tree.surgery, name="离职医生", status=StaffStatus.LEFT)
    response = login(nurse).get(reverse("org:directory"), {"q": "8123"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "8123" in content and nurse.name in content
    assert "13800138000" not in content
    everyone = login(nurse).get(reverse("org:directory"))
    assert "离职医生" not in everyone.content.decode()


def test_delegation_page_create_and_revoke(tree: Any, person: Any, login: Any, client: Any) -> None:
    head = person("dept_head", department=tree.cardio, name="王强")
    deputy = person("doctor", department=tree.cardio, name="赵敏")
    now = timezone.localtime()
    data = {
        "delegator": head.pk,
        "delegate": deputy.pk,
        "starts_at": (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "process_keys": "leave, purchase",
        "reason": "出差",
    }
    created = login(head).post(reverse("org:delegation_list"), data)
    assert created.status_code == 302
    delegation = Delegation.objects.get()
    assert delegation.process_keys == ["leave", "purchase"]

    client.logout()
    as_deputy = login(deputy).get(reverse("org:delegation_list"))
    assert [row[0] for row in as_deputy.context["rows"]] == [delegation]
    assert client.post(reverse("org:delegation_revoke", args=[delegation.pk])).status_code == 403
    client.logout()
    stranger = person("doctor", department=tree.surgery)
    assert login(stranger).post(reverse("org:delegation_revoke", args=[delegation.pk])).status_code == 404
    client.logout()
    assert login(head).post(reverse("org:delegation_revoke", args=[delegation.pk])).status_code == 302
    delegation.refresh_from_db()
    assert delegation.revoked_at is not None


def test_delegation_page_errors(tree: Any, person: Any, login: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward)
    other = person("nurse", department=tree.surgery_ward)
    colleague = person("nurse", department=tree.cardio_ward)
    now = timezone.localtime()
    data = {
        "delegator": other.pk,
        "delegate": colleague.pk,
        "starts_at": (now + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    not_mine = login(nurse).post(reverse("org:delegation_list"), data)
    assert not_mine.status_code == 400
    assert "delegator" in _errors(not_mine)
    data["delegator"] = nurse.pk
    backwards = login(nurse).post(reverse("org:delegation_list"), data)
    assert _errors(backwards) == {"ends_at": ["结束时间必须晚于开始时间。"]}
    assert Delegation.objects.count() == 0


def test_delegation_card(tree: Any, person: Any, rf: RequestFactory) -> None:
    me = person(name="甲")
    other = person(name="乙")
    now = timezone.now()
    Delegation.objects.create(
        delegator=me, delegate=other, starts_at=now, ends_at=now + datetime.timedelta(days=1), created_by=me
    )
    request = rf.get("/")
    request.user = me.user
    context = delegations_card_context(request)
    html = render_to_string("org/cards/delegations.html", context)
    assert len(context["given"]) == 1 and context["received"] == []
    assert "委托给 乙" in html


@pytest.mark.parametrize("name", ["org:staff_import_template"])
def test_import_template_downloads(tree: Any, person: Any, login: Any, name: str) -> None:
    client = login(person("hr", department=tree.hr_office))
    xlsx = client.get(reverse(name))
    csv_file = client.get(reverse(name), {"format": "csv"})
    assert xlsx["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert xlsx.content.startswith(b"PK\x03\x04")
    assert csv_file.content.decode("utf-8-sig").splitlines()[0] == (
        "employee_no,name,gender,department_code,title,nursing_level,position,office_phone,email,phone,"
        "national_id,hire_date,roles,username,initial_password"
    )


# --- department-scoped managers (an administrator may narrow the grants) ------------------------------


def _grant(role: str, permission: str) -> None:
    from medoa.core.access.models import RoleGrant

    RoleGrant.objects.update_or_create(
        role=Role.objects.get(code=role), permission=permission, defaults={"scope": "department_tree"}
    )


def test_department_pages_check_the_department_of_a_scoped_manager(
    tree: Any, person: Any, login: Any
) -> None:
    _grant("dept_head", "org.department.manage")
    client = login(person("dept_head", department=tree.cardio))
    assert client.get(reverse("org:department_edit", args=[tree.cardio_ward.pk])).status_code == 200
    assert client.get(reverse("org:department_edit", args=[tree.surgery.pk])).status_code == 403
    assert client.get(reverse("org:department_create") + f"?parent={tree.surgery.pk}").status_code == 403
    assert client.get(reverse("org:department_create")).status_code == 403
    moved = client.post(
        reverse("org:department_move", args=[tree.cardio_ward.pk]), {"parent": tree.surgery.pk}
    )
    assert moved.status_code == 403
    assert Department.objects.get(pk=tree.cardio_ward.pk).parent_id == tree.cardio.pk


def test_role_assignment_checks_the_department_the_role_is_held_for(
    tree: Any, person: Any, login: Any
) -> None:
    _grant("dept_head", "org.role.assign")
    head = person("dept_head", department=tree.cardio)
    doctor = person("doctor", department=tree.cardio_ward)
    client = login(head)
    url = reverse("org:staff_role_assign", args=[doctor.pk])
    nurse_role = Role.objects.get(code="nurse").pk
    elsewhere = client.post(url, {"role": nurse_role, "department": tree.surgery.pk})
    hospital_wide = client.post(url, {"role": Role.objects.get(code="finance").pk})
    here = client.post(url, {"role": nurse_role, "department": tree.cardio_ward.pk, "include_children": "on"})
    assert (elsewhere.status_code, hospital_wide.status_code, here.status_code) == (403, 403, 302)
    assert sorted(RoleAssignment.objects.filter(staff=doctor).values_list("role__code", flat=True)) == [
        "doctor",
        "nurse",
    ]
