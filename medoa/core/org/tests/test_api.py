"""The organisation API: each endpoint's permission matrix (anonymous, wrong role, wrong
department, allowed) and its validation."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.utils import timezone

from medoa.core.access.choices import DataScope
from medoa.core.access.models import RoleGrant
from medoa.core.audit.models import AuditEntry
from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Delegation, Role, Staff

NATIONAL_ID = "11010519491231002X"
API = "/api/v1"


def _post(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _patch(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.patch(url, data=json.dumps(body), content_type="application/json")


def _grant(role: str, permission: str, scope: str) -> None:
    RoleGrant.objects.update_or_create(
        role=Role.objects.get(code=role), permission=permission, defaults={"scope": scope}
    )


# --- departments ------------------------------------------------------------------------------------


def test_departments_list_matrix(tree: Any, person: Any, api_as: Any, staff_factory: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward)
    assert api_as(None).get(f"{API}/departments").status_code == 401

    response = api_as(nurse).get(f"{API}/departments")
    assert response.status_code == 200
    body = response.json()
    assert [d["code"] for d in body] == [d.code for d in sorted(tree.__dict__.values(), key=lambda d: d.path)]
    ward = next(d for d in body if d["code"] == "CARD-W1")
    assert ward == {
        "id": tree.cardio_ward.pk,
        "code": "CARD-W1",
        "name": "心内一病区",
        "name_zh": "心内一病区",
        "name_en": "Cardiology ward 1",
        "kind": "ward",
        "category": "",
        "status": "active",
        "parent_id": tree.cardio.pk,
        "depth": 3,
        "sort_order": 0,
        "head": None,
    }


def test_departments_list_filters_and_validation(tree: Any, person: Any, api_as: Any) -> None:
    client = api_as(person("nurse", department=tree.cardio_ward))
    wards = client.get(f"{API}/departments", {"kind": "ward"}).json()
    assert [d["code"] for d in wards] == ["CARD-W1", "SURG-W1"] or [d["code"] for d in wards] == [
        "SURG-W1",
        "CARD-W1",
    ]
    under = client.get(f"{API}/departments", {"under": tree.cardio.pk}).json()
    assert {d["code"] for d in under} == {"CARD", "CARD-W1"}
    bad = client.get(f"{API}/departments", {"kind": "galaxy"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "kind"


def test_departments_need_a_staff_record(tree: Any, api_as: Any, user_factory: Any) -> None:
    from medoa.core.access.tokens import api_token_issue

    raw, _ = api_token_issue(user=user_factory())
    response = api_as(None).get(f"{API}/departments", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403


def test_department_detail_matrix(tree: Any, person: Any, api_as: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward)
    assert api_as(None).get(f"{API}/departments/{tree.cardio.pk}").status_code == 401
    assert api_as(nurse).get(f"{API}/departments/999999").status_code == 404
    response = api_as(nurse).get(f"{API}/departments/{tree.cardio.pk}")
    assert response.status_code == 200
    assert response.json()["code"] == "CARD"


# --- staff directory and detail ---------------------------------------------------------------------


def test_staff_directory_list(tree: Any, person: Any, api_as: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward, name="张丽", office_phone="8123")
    for i in range(3):
        person("doctor", department=tree.surgery, name=f"外科{i}")
    person("doctor", department=tree.surgery, status=StaffStatus.LEFT)
    assert api_as(None).get(f"{API}/staff").status_code == 401

    client = api_as(nurse)
    page = client.get(f"{API}/staff", {"page_size": 2, "page": 2}).json()
    assert (page["count"], page["page"], page["page_size"], len(page["items"])) == (4, 2, 2, 2)
    found = client.get(f"{API}/staff", {"search": "张丽"}).json()
    assert found["items"] == [
        {
            "id": nurse.pk,
            "name": "张丽",
            "department": {"id": tree.cardio_ward.pk, "code": "CARD-W1", "name": "心内一病区"},
            "title": "attending",
            "title_label": "主治医师",
            "office_phone": "8123",
        }
    ]
    in_surgery = client.get(f"{API}/staff", {"department": tree.surgery.pk}).json()
    assert in_surgery["count"] == 3
    assert client.get(f"{API}/staff", {"page_size": 500}).status_code == 422


def test_staff_detail_visibility_matrix(tree: Any, person: Any, api_as: Any) -> None:
    # given a nurse with private data, and people who look at her record
    nurse = person("nurse", department=tree.cardio_ward, phone="13800138000", national_id=NATIONAL_ID)
    colleague = person("nurse", department=tree.cardio_ward)
    own_hn = person("head_nurse", department=tree.cardio_ward)
    other_hn = person("head_nurse", department=tree.surgery_ward)
    hr = person("hr", department=tree.hr_office)
    url = f"{API}/staff/{nurse.pk}"

    assert api_as(None).get(url).status_code == 401
    as_colleague = api_as(colleague).get(url).json()
    as_other_hn = api_as(other_hn).get(url).json()
    as_own_hn = api_as(own_hn).get(url).json()
    as_hr = api_as(hr).get(url).json()
    as_self = api_as(nurse).get(url).json()

    assert as_colleague["visibility"] == "directory"
    assert as_colleague["employee_no"] is None and as_colleague["phone"] is None
    assert as_other_hn["visibility"] == "directory"
    assert as_own_hn["visibility"] == "record"
    assert as_own_hn["employee_no"] == nurse.employee_no
    assert (as_own_hn["phone"], as_own_hn["national_id"]) == (None, None)
    assert [r["code"] for r in as_own_hn["roles"]] == ["nurse"]
    assert as_hr["visibility"] == "private"
    assert (as_hr["phone"], as_hr["national_id"]) == ("13800138000", NATIONAL_ID)
    assert (as_self["visibility"], as_self["phone"]) == ("private", "13800138000")


def test_staff_detail_of_someone_who_left_is_hidden_from_the_directory(
    tree: Any, person: Any, api_as: Any
) -> None:
    gone = person("nurse", department=tree.surgery_ward, status=StaffStatus.LEFT)
    nurse = person("nurse", department=tree.cardio_ward)
    hr = person("hr", department=tree.hr_office)
    assert api_as(nurse).get(f"{API}/staff/{gone.pk}").status_code == 404
    assert api_as(hr).get(f"{API}/staff/{gone.pk}").json()["status"] == "left"


# --- staff create / update / deactivate -------------------------------------------------------------


def _new_staff(department_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "employee_no": "A9001",
        "name": "孙悦",
        "gender": "F",
        "department_id": department_id,
        "title": "nurse",
        "nursing_level": "N1",
        "phone": "13900139000",
        "national_id": NATIONAL_ID,
        "hire_date": "2024-03-01",
        "username": "sunyue",
        "initial_password": "Welcome-2026-x",
    }
    body.update(overrides)
    return body


def test_staff_create_matrix(tree: Any, person: Any, api_as: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward)
    hn = person("head_nurse", department=tree.cardio_ward)
    hr = person("hr", department=tree.hr_office)
    before = Staff.objects.count()
    body = _new_staff(tree.cardio_ward.pk)

    assert _post(api_as(None), f"{API}/staff", body).status_code == 401
    assert _post(api_as(nurse), f"{API}/staff", body).status_code == 403
    assert _post(api_as(hn), f"{API}/staff", body).status_code == 403
    assert Staff.objects.count() == before

    response = _post(api_as(hr), f"{API}/staff", body)
    assert response.status_code == 201
    created = response.json()
    assert (created["visibility"], created["username"], created["national_id"]) == (
        "private",
        "sunyue",
        NATIONAL_ID,
    )
    staff = Staff.objects.get(pk=created["id"])
    assert staff.user.must_change_password is True


def test_staff_create_in_another_department_is_forbidden(tree: Any, person: Any, api_as: Any) -> None:
    # given head nurses who may manage staff of their own department tree only
    _grant("head_nurse", "org.staff.manage", DataScope.DEPARTMENT_TREE)
    hn = person("head_nurse", department=tree.cardio)
    before = Staff.objects.count()
    response = _post(api_as(hn), f"{API}/staff", _new_staff(tree.surgery_ward.pk))
    assert response.status_code == 403
    assert Staff.objects.count() == before
    assert _post(api_as(hn), f"{API}/staff", _new_staff(tree.cardio_ward.pk)).status_code == 201


def test_staff_create_validation_names_every_field(tree: Any, person: Any, api_as: Any) -> None:
    hr = person("hr", department=tree.hr_office)
    person(department=tree.cardio, username="taken")
    before = Staff.objects.count()

    schema_errors = _post(
        api_as(hr),
        f"{API}/staff",
        _new_staff(
            tree.cardio_ward.pk, national_id="110105194912310021", phone="123", title="wizard", extra=1
        ),
    )
    service_errors = _post(
        api_as(hr), f"{API}/staff", _new_staff(tree.cardio_ward.pk, username="taken", title="attending")
    )
    no_department = _post(api_as(hr), f"{API}/staff", _new_staff(999999))

    assert schema_errors.status_code == 422
    fields = {e["field"]: e for e in schema_errors.json()["errors"]}
    assert set(fields) == {"national_id", "phone", "title", "extra"}
    assert fields["national_id"]["message"] == "身份证号校验位不符，请核对号码。"
    assert (
        fields["national_id"]["message_en"]
        == "The national ID's check digit does not match: please check the number."
    )
    assert service_errors.status_code == 422
    assert service_errors.json()["errors"] == [
        {
            "field": "nursing_level",
            "message": "护理层级仅适用于护理职称。",
            "message_en": "A nursing level applies only to nursing titles.",
            "type": "invalid",
        },
        {
            "field": "username",
            "message": "该用户名已被使用。",
            "message_en": "This username is already taken.",
            "type": "invalid",
        },
    ]
    assert no_department.status_code == 422
    assert no_department.json()["errors"][0]["field"] == "department_id"
    assert Staff.objects.count() == before


def test_staff_update_matrix(tree: Any, person: Any, api_as: Any) -> None:
    _grant("head_nurse", "org.staff.manage", DataScope.DEPARTMENT_TREE)
    target = person("nurse", department=tree.surgery_ward, name="原名")
    cardio_hn = person("head_nurse", department=tree.cardio)
    nurse = person("nurse", department=tree.surgery_ward)
    hr = person("hr", department=tree.hr_office)
    url = f"{API}/staff/{target.pk}"

    assert _patch(api_as(None), url, {"name": "新名"}).status_code == 401
    assert _patch(api_as(nurse), url, {"name": "新名"}).status_code == 403
    assert _patch(api_as(cardio_hn), url, {"name": "新名"}).status_code == 404
    assert Staff.objects.get(pk=target.pk).name == "原名"

    response = _patch(api_as(hr), url, {"name": "新名", "phone": "13700137000", "hire_date": None})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["phone"]) == ("新名", "13700137000")
    entry = AuditEntry.objects.filter(action="org.staff.updated").get()
    assert entry.details == {"fields": ["name", "phone"]}


def test_staff_update_of_private_fields_needs_view_private(tree: Any, person: Any, api_as: Any) -> None:
    admin = person("sys_admin", department=tree.hr_office)
    target = person("nurse", department=tree.cardio_ward)
    assert _patch(api_as(admin), f"{API}/staff/{target.pk}", {"phone": "13700137000"}).status_code == 403
    assert _patch(api_as(admin), f"{API}/staff/{target.pk}", {"position": "组长"}).status_code == 200
    bad = _patch(api_as(admin), f"{API}/staff/{target.pk}", {"name": None})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "name"


def test_staff_deactivate_matrix(tree: Any, person: Any, api_as: Any) -> None:
    _grant("head_nurse", "org.staff.manage", DataScope.DEPARTMENT_TREE)
    target = person("nurse", department=tree.surgery_ward)
    cardio_hn = person("head_nurse", department=tree.cardio)
    nurse = person("nurse", department=tree.surgery_ward)
    hr = person("hr", department=tree.hr_office)
    url = f"{API}/staff/{target.pk}/deactivate"

    assert _post(api_as(None), url, {}).status_code == 401
    assert _post(api_as(nurse), url, {}).status_code == 403
    assert _post(api_as(cardio_hn), url, {}).status_code == 404
    assert Staff.objects.get(pk=target.pk).status == StaffStatus.ACTIVE

    response = _post(api_as(hr), url, {"status": "disabled", "reason": "长期病假"})
    assert response.status_code == 200
    assert response.json()["status"] == "disabled"
    again = _post(api_as(hr), url, {})
    assert again.status_code == 409
    assert again.json()["detail_en"] == "This staff member is not employed any more."
    assert _post(api_as(hr), url, {"status": "fired"}).status_code == 422


# --- delegations ------------------------------------------------------------------------------------


def _window(days: tuple[int, int] = (1, 3)) -> tuple[str, str]:
    now = timezone.now().replace(microsecond=0)
    return (
        (now + datetime.timedelta(days=days[0])).isoformat(),
        (now + datetime.timedelta(days=days[1])).isoformat(),
    )


def test_delegations_create_matrix(tree: Any, person: Any, api_as: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward)
    colleague = person("nurse", department=tree.cardio_ward)
    surgery_head = person("dept_head", department=tree.surgery)
    cardio_head = person("dept_head", department=tree.cardio)
    starts, ends = _window()
    body = {"delegator_id": nurse.pk, "delegate_id": colleague.pk, "starts_at": starts, "ends_at": ends}

    assert _post(api_as(None), f"{API}/delegations", body).status_code == 401
    assert _post(api_as(colleague), f"{API}/delegations", body).status_code == 403
    assert _post(api_as(surgery_head), f"{API}/delegations", body).status_code == 403
    assert Delegation.objects.count() == 0

    by_head = _post(api_as(cardio_head), f"{API}/delegations", {**body, "process_keys": ["leave"]})
    assert by_head.status_code == 201
    assert by_head.json()["state"] == "upcoming"
    assert by_head.json()["created_by"] == {"id": cardio_head.pk, "name": cardio_head.name}

    own = _post(
        api_as(nurse),
        f"{API}/delegations",
        {"delegate_id": colleague.pk, "starts_at": starts, "ends_at": ends, "process_keys": ["purchase"]},
    )
    assert own.status_code == 201
    assert own.json()["delegator"]["id"] == nurse.pk


def test_delegations_create_validation(tree: Any, person: Any, api_as: Any) -> None:
    nurse = person("nurse", department=tree.cardio_ward)
    colleague = person("nurse", department=tree.cardio_ward)
    starts, ends = _window()
    client = api_as(nurse)

    naive = _post(
        client,
        f"{API}/delegations",
        {"delegate_id": colleague.pk, "starts_at": "2030-01-01T08:00:00", "ends_at": ends},
    )
    backwards = _post(
        client, f"{API}/delegations", {"delegate_id": colleague.pk, "starts_at": ends, "ends_at": starts}
    )
    bad_key = _post(
        client,
        f"{API}/delegations",
        {"delegate_id": colleague.pk, "starts_at": starts, "ends_at": ends, "process_keys": ["Bad Key"]},
    )
    nobody = _post(
        client, f"{API}/delegations", {"delegate_id": 999999, "starts_at": starts, "ends_at": ends}
    )

    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "starts_at"
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "ends_at"
    assert backwards.json()["errors"][0]["message_en"] == "The end must be after the start."
    assert bad_key.status_code == 422
    assert bad_key.json()["errors"][0]["message_en"] == (
        "'Bad Key' is not a process key: use lower-case letters, digits, '.', ':', '-' or '_'."
    )
    assert nobody.status_code == 422
    assert nobody.json()["errors"][0]["field"] == "delegate_id"
    assert Delegation.objects.count() == 0


def test_delegations_list_shows_only_ones_own(tree: Any, person: Any, api_as: Any) -> None:
    a, b, c = person(), person(), person()
    now = timezone.now()
    mine = Delegation.objects.create(
        delegator=a, delegate=b, starts_at=now, ends_at=now + datetime.timedelta(days=1), created_by=a
    )
    Delegation.objects.create(
        delegator=c, delegate=b, starts_at=now, ends_at=now + datetime.timedelta(days=1), created_by=c
    )
    assert api_as(None).get(f"{API}/delegations").status_code == 401
    listed = api_as(a).get(f"{API}/delegations").json()
    assert [d["id"] for d in listed] == [mine.pk]
    assert listed[0]["state"] == "active"
    assert len(api_as(b).get(f"{API}/delegations", {"state": "active"}).json()) == 2
    assert api_as(b).get(f"{API}/delegations", {"state": "upcoming"}).json() == []


def test_delegations_revoke_matrix(tree: Any, person: Any, api_as: Any) -> None:
    head = person("dept_head", department=tree.cardio)
    deputy = person("doctor", department=tree.cardio)
    stranger = person("doctor", department=tree.surgery)
    now = timezone.now()
    delegation = Delegation.objects.create(
        delegator=head,
        delegate=deputy,
        starts_at=now,
        ends_at=now + datetime.timedelta(days=1),
        created_by=head,
    )
    url = f"{API}/delegations/{delegation.pk}/revoke"

    assert _post(api_as(None), url, {}).status_code == 401
    assert _post(api_as(stranger), url, {}).status_code == 404
    assert _post(api_as(deputy), url, {}).status_code == 403
    delegation.refresh_from_db()
    assert delegation.revoked_at is None

    response = _post(api_as(head), url, {})
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    again = _post(api_as(head), url, {})
    assert again.status_code == 409
    assert again.json()["detail_en"] == "This delegation has already been revoked."


@pytest.mark.parametrize("path", ["/departments", "/staff", "/delegations"])
def test_openapi_documents_the_endpoints(path: str, client: Any) -> None:
    schema = client.get(f"{API}/openapi.json").json()
    assert f"{API}{path}" in schema["paths"]
