"""The demo hospital: the loaders' machinery and the organisation the "org" loader writes."""

from __future__ import annotations

import time
from collections import Counter

import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from medoa.core.audit.models import AuditEntry
from medoa.core.crypto import blind_index
from medoa.core.org import demo_data
from medoa.core.org.choices import DepartmentKind, Title
from medoa.core.org.demo import demo_logins, demo_plan, demo_totp_secrets
from medoa.core.org.models import Department, RoleAssignment, Staff
from medoa.core.org.validators import (
    normalise_department_code,
    normalise_employee_no,
    normalise_mobile,
    normalise_national_id,
    normalise_office_phone,
    normalise_username,
)
from medoa.core.registries import DemoLoader, demo_loaders
from medoa.core.runtime.demo import demo_is_loaded, demo_loader_sequence, run_demo_loaders

from .shared_db import module_data

PASSWORD = "Demo@Pass-2026"

# username → (role codes, department code), as the issue lists them
NAMED = {
    "admin": ({"sys_admin"}, "IT"),
    "secadmin": ({"sec_admin"}, "IT"),
    "auditor": ({"audit_admin"}, "IT"),
    "dean": ({"dean"}, "LEAD"),
    "vp_medical": ({"vice_dean"}, "LEAD"),
    "medaffairs": ({"medical_affairs", "dept_head"}, "MED"),
    "nursing": ({"nursing_dept", "dept_head"}, "NURS"),
    "quality": ({"quality_office", "dept_head"}, "QC"),
    "edu": ({"education_office", "dept_head"}, "EDU"),
    "hr": ({"hr", "dept_head"}, "HR"),
    "finance": ({"finance", "dept_head"}, "FIN"),
    "equip": ({"equipment", "dept_head"}, "EQUIP"),
    "it": ({"it", "dept_head"}, "IT"),
    "card_head": ({"dept_head", "doctor"}, "CARD"),
    "card_doc1": ({"doctor"}, "CARD"),
    "card_doc2": ({"doctor"}, "CARD"),
    "card_hn": ({"head_nurse", "nurse"}, "CARD-W1"),
    "surg_head": ({"dept_head", "doctor"}, "SURG"),
    "surg_doc1": ({"doctor"}, "SURG"),
    "icu_head": ({"dept_head", "doctor"}, "ICU"),
    "icu_doc1": ({"doctor"}, "ICU"),
    "cleaner1": ({"housekeeping"}, "LOGI-CLEAN"),
    "cleaner2": ({"housekeeping"}, "LOGI-CLEAN"),
    **{f"card_n{i:02d}": ({"nurse"}, "CARD-W1") for i in range(1, 21)},
}


def _load_timed() -> float:
    """Load the demo hospital; return the CPU seconds it took."""
    started = time.process_time()  # CPU seconds: a loaded machine stretches wall time, not this
    run_demo_loaders(password=PASSWORD)
    return time.process_time() - started


# one load for the module's tests (each test's own writes roll back after it)
_loaded_once, loaded = module_data(_load_timed, name="loaded")


def _raw(column: str, staff: Staff) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM org_staff WHERE id = %s", [staff.pk])
        return str(cursor.fetchone()[0])


# --- the loaders' machinery ----------------------------------------------------------------------


def _loader(key: str, order: int = 100, depends_on: tuple[str, ...] = ()) -> DemoLoader:
    return DemoLoader(key, lambda **kw: None, order=order, depends_on=depends_on)


def test_org_loader_is_registered_first() -> None:
    sequence = demo_loader_sequence()

    assert sequence[0].key == "org"
    assert demo_loaders.get("org").order == 10


def test_sequence_follows_order_then_dependencies() -> None:
    loaders = [_loader("roster", 20, ("approvals",)), _loader("approvals", 30), _loader("org", 10)]

    assert [d.key for d in demo_loader_sequence(loaders)] == ["org", "approvals", "roster"]


def test_sequence_refuses_unknown_and_circular_dependencies() -> None:
    with pytest.raises(ImproperlyConfigured, match="unknown loaders"):
        demo_loader_sequence([_loader("a", depends_on=("nope",))])
    with pytest.raises(ImproperlyConfigured, match="circle"):
        demo_loader_sequence([_loader("a", depends_on=("b",)), _loader("b", depends_on=("a",))])


def test_second_load_changes_nothing(loaded: float) -> None:
    counts = (Department.objects.count(), Staff.objects.count(), RoleAssignment.objects.count())

    assert demo_is_loaded() is True
    assert run_demo_loaders(password="Other@Pass-2026")[0] == "org"

    assert (Department.objects.count(), Staff.objects.count(), RoleAssignment.objects.count()) == counts
    assert get_user_model().objects.get(username="dean").check_password(PASSWORD)


# --- the hospital ------------------------------------------------------------------------------------


def test_load_is_quick(loaded: float) -> None:
    # The whole demo hospital: 310 staff, processes, forms, approvals, the roster, 400 beds with
    # their patients (through the clinical services), operating rooms and critical-value history.
    assert loaded < 40  # CPU seconds; about 12 on this machine


def test_tree_hospital_campus_categories_departments_wards(loaded: float) -> None:
    kinds = Counter(Department.objects.values_list("kind", flat=True))
    root = Department.objects.get(parent=None)

    assert (
        root.code == "HOSP" and root.name_zh == "示范市第一人民医院" and root.kind == DepartmentKind.HOSPITAL
    )
    assert kinds[DepartmentKind.CAMPUS] == 1
    assert kinds[DepartmentKind.CATEGORY] == 5
    assert 25 <= kinds[DepartmentKind.DEPARTMENT] <= 35
    assert kinds[DepartmentKind.WARD] + kinds[DepartmentKind.UNIT] >= 14
    names = set(Department.objects.filter(kind=DepartmentKind.DEPARTMENT).values_list("name_zh", flat=True))
    assert {
        "医务处",
        "护理部",
        "质控办",
        "科教处",
        "人事处",
        "财务处",
        "设备科",
        "后勤保障处",
        "信息中心",
        "心血管内科",
        "呼吸内科",
        "消化内科",
        "神经内科",
        "普外科",
        "骨科",
        "泌尿外科",
        "儿科",
        "妇产科",
        "急诊科",
        "重症医学科",
        "麻醉科",
        "检验科",
        "放射科",
        "超声科",
        "药剂科",
        "病理科",
    } <= names
    assert Department.objects.get(code="LOGI-CLEAN").parent.code == "LOGI"
    assert Department.objects.get(code="CARD-W1").name_zh == "心血管内科一病区"


def test_paths_and_depths_follow_the_tree(loaded: float) -> None:
    for dept in Department.objects.select_related("parent"):
        parent = dept.parent
        assert dept.path == f"{parent.path if parent else '/'}{dept.pk}/"
        assert dept.depth == (parent.depth + 1 if parent else 0)
        normalise_department_code(dept.code)


def test_every_department_with_staff_has_a_head_who_works_there_or_above(loaded: float) -> None:
    for dept in Department.objects.select_related("head__department"):
        if dept.staff.exists() or dept.kind in {DepartmentKind.HOSPITAL, DepartmentKind.CAMPUS}:
            assert dept.head is not None, dept.code
            assert dept.path.startswith(dept.head.department.path) or dept.head.department.code == "LEAD"
    assert Department.objects.get(code="HOSP").head.user.username == "dean"
    assert Department.objects.get(code="CARD").head.user.username == "card_head"
    assert Department.objects.get(code="CARD-W1").head.user.username == "card_hn"
    assert Department.objects.get(code="CAT-CLIN").head.user.username == "vp_medical"


def test_about_three_hundred_staff_with_titles_and_accounts(loaded: float) -> None:
    staff = list(Staff.objects.select_related("user", "department"))

    assert 280 <= len(staff) <= 330
    titles = Counter(s.title for s in staff)
    for title in (
        Title.CHIEF_PHYSICIAN,
        Title.ATTENDING,
        Title.RESIDENT,
        Title.NURSE,
        Title.SUPERVISOR_NURSE,
    ):
        assert titles[title] >= 10, title
    assert len({s.name for s in staff}) == len(staff)
    assert all(s.user.username == f"e{s.employee_no}" for s in staff if s.user.username not in NAMED)
    for s in staff:
        normalise_employee_no(s.employee_no)
        normalise_username(s.user.username)
        assert normalise_office_phone(s.office_phone) == s.office_phone
        assert s.hire_date is not None and s.gender in {"M", "F"}
        if s.title in {
            Title.NURSE,
            Title.NURSE_PRACTITIONER,
            Title.SUPERVISOR_NURSE,
            Title.ASSOC_CHIEF_NURSE,
        }:
            assert s.nursing_level in {"N0", "N1", "N2", "N3", "N4"}
        else:
            assert s.nursing_level == "" or s.title == Title.CHIEF_NURSE


def test_every_named_login_exists_with_its_roles_and_department(loaded: float) -> None:
    users = get_user_model().objects.filter(username__in=NAMED)
    assert users.count() == len(NAMED)
    for username, (codes, dept_code) in NAMED.items():
        staff = Staff.objects.select_related("department", "user").get(user__username=username)
        held = set(RoleAssignment.objects.filter(staff=staff).values_list("role__code", flat=True))
        assert held == codes, username
        assert staff.department.code == dept_code, username
        assert staff.user.check_password(PASSWORD)
        assert staff.user.must_change_password is False and staff.user.password_changed_at is not None


def test_department_roles_sit_on_the_department_and_hospital_roles_on_the_root(loaded: float) -> None:
    card_head = RoleAssignment.objects.get(staff__user__username="card_head", role__code="dept_head")
    card_hn = RoleAssignment.objects.get(staff__user__username="card_hn", role__code="head_nurse")
    hr = RoleAssignment.objects.get(staff__user__username="hr", role__code="hr")

    assert (card_head.department.code, card_head.include_children) == ("CARD", True)
    assert card_hn.department.code == "CARD-W1"
    assert hr.department.code == "HOSP"


def test_clinical_departments_have_a_dept_head_and_wards_a_head_nurse(loaded: float) -> None:
    for dept in Department.objects.filter(category="clinical", kind=DepartmentKind.DEPARTMENT):
        assert RoleAssignment.objects.filter(role__code="dept_head", department=dept).count() == 1, dept.code
        assert RoleAssignment.objects.filter(role__code="doctor", department=dept).count() >= 4, dept.code
    for ward in Department.objects.filter(
        kind__in=[DepartmentKind.WARD, DepartmentKind.UNIT], category="clinical"
    ):
        assert RoleAssignment.objects.filter(role__code="head_nurse", department=ward).count() == 1, ward.code
        assert RoleAssignment.objects.filter(role__code="nurse", department=ward).count() >= 5, ward.code


def test_office_staff_hold_their_office_role(loaded: float) -> None:
    for code, role in [
        ("FIN", "finance"),
        ("HR", "hr"),
        ("LOGI", "logistics"),
        ("LOGI-CLEAN", "housekeeping"),
    ]:
        members = Staff.objects.filter(department__code=code)
        assert members.count() >= 4
        assert all(RoleAssignment.objects.filter(staff=s, role__code=role).exists() for s in members), code


def test_national_ids_are_valid_and_match_birth_and_gender(loaded: float) -> None:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    ids = []
    for s in Staff.objects.all():
        nid = s.national_id
        assert normalise_national_id(nid) == nid
        assert "10X98765432"[sum(int(d) * w for d, w in zip(nid[:17], weights)) % 11] == nid[17]
        assert int(nid[16]) % 2 == (1 if s.gender == "M" else 0)
        assert s.hire_date.year - int(nid[6:10]) >= 17
        normalise_mobile(s.phone)
        ids.append(nid)
    assert len(set(ids)) == len(ids)


def test_phone_and_national_id_are_encrypted_with_blind_indexes(loaded: float) -> None:
    staff = Staff.objects.get(user__username="card_head")

    assert _raw("phone", staff).startswith("enc1:")
    assert _raw("national_id", staff).startswith("enc1:")
    assert staff.national_id not in _raw("national_id", staff)
    assert (
        Staff.objects.get(national_id_index=blind_index("org.staff.national_id", staff.national_id)) == staff
    )
    assert Staff.objects.get(phone_index=blind_index("org.staff.phone", staff.phone)) == staff


def test_administrators_have_confirmed_totp_and_the_others_none(loaded: float) -> None:
    users = get_user_model().objects
    for username in ("admin", "secadmin", "auditor"):
        user = users.get(username=username)
        assert user.has_totp
        assert pyotp.TOTP(user.totp_secret).verify(pyotp.TOTP(user.totp_secret).now())
    assert sum(1 for user in users.all() if user.totp_secret) == 3


def test_loading_is_audited_once(loaded: float) -> None:
    entry = AuditEntry.objects.get(action="org.demo.loaded")

    assert entry.actor_id is None and entry.actor_name == "medoa demo"
    assert entry.details == {"departments": Department.objects.count(), "staff": Staff.objects.count()}


def test_plan_is_deterministic() -> None:
    _, first = demo_plan()
    _, second = demo_plan()

    assert [(p.username, p.name, p.national_id, p.phone) for p in first] == [
        (p.username, p.name, p.national_id, p.phone) for p in second
    ]
    assert first[0].username == demo_data.NAMED_LOGINS[3].username  # the dean leads the list


def test_demo_logins_and_totp_rows_for_the_banner(loaded: float) -> None:
    logins = demo_logins()
    totps = demo_totp_secrets()

    assert [row.username for row in logins] == list(NAMED)
    card_head = logins[[row.username for row in logins].index("card_head")]
    assert (card_head.roles, card_head.name, card_head.department) == (
        ("dept_head", "doctor"),
        "林国栋",
        "心血管内科",
    )
    assert [t.username for t in totps] == ["admin", "secadmin", "auditor"]
    assert totps[0].uri == pyotp.TOTP(totps[0].secret).provisioning_uri(name="admin", issuer_name="MedOA")
