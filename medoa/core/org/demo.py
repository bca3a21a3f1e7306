"""Loads the demo hospital (示范市第一人民医院): its department tree and about 300 staff.

``demo_plan()`` turns ``demo_data`` into people deterministically (fixed seed, fixed reference
date), so every load gives the same names, numbers and national IDs. ``demo_load()`` writes the
plan in one transaction with bulk inserts: one password hash shared by every account, so loading
takes about a second. It is registered as the demo loader "org" by ``medoa.core.runtime``.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from typing import Any

import pyotp
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from medoa.core.audit.services import audit_record
from medoa.core.crypto import blind_index

from . import demo_data as data
from .choices import CertificateKind, NursingLevel, StaffStatus, Title
from .models import Department, Role, RoleAssignment, Staff, StaffCertificate
from .roles import DEPARTMENT_ROLE_CODES, ensure_builtin_roles

TOTP_ISSUER = "MedOA"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"


def national_id_check_char(first17: str) -> str:
    """The 18th character of a resident ID (GB 11643-1999, ISO 7064 MOD 11-2)."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


@dataclass
class PersonPlan:
    """One staff member to create, with the account behind them."""

    username: str
    employee_no: str
    name: str
    gender: str
    department: str
    title: str
    position: str
    roles: list[tuple[str, str]]
    birth_date: datetime.date
    hire_date: datetime.date
    national_id: str
    phone: str
    office_phone: str
    nursing_level: str = ""
    heads: list[str] = field(default_factory=list)

    @property
    def email(self) -> str:
        return f"{self.username}@{data.EMAIL_DOMAIN}"


class _Generator:
    """Draws names, dates and numbers from one seeded random source, never repeating a value."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 — demo data, reproducible on purpose
        self.names: set[str] = set()
        self.ids: set[str] = set()
        self.phones: set[str] = set()
        for named in data.NAMED_LOGINS:
            self.names.add(named.name)

    def gender(self, female_share: float) -> str:
        return data.F if self.rng.random() < female_share else data.M

    def name(self, gender: str) -> str:
        pool = data.GIVEN_FEMALE if gender == data.F else data.GIVEN_MALE
        while True:
            surname = self.rng.choice(data.SURNAMES)
            if self.rng.random() < 0.35:
                given = self.rng.choice(pool)
            else:
                given = self.rng.choice(pool + data.GIVEN_NEUTRAL) + self.rng.choice(pool)
                if given[0] == given[1]:
                    continue
            full = surname + given
            if full not in self.names:
                self.names.add(full)
                return full

    def birth_date(self, age: int) -> datetime.date:
        ref = data.REFERENCE_DATE
        return datetime.date(ref.year - age - 1, 1, 1) + datetime.timedelta(days=self.rng.randrange(365))

    def hire_date(self, birth: datetime.date, hire_age: int) -> datetime.date:
        start = birth.replace(year=birth.year + hire_age, day=min(birth.day, 28))
        hired = start + datetime.timedelta(days=self.rng.randrange(0, 540))
        latest = data.REFERENCE_DATE - datetime.timedelta(days=60)
        return min(hired, latest)

    def national_id(self, birth: datetime.date, gender: str) -> str:
        while True:
            area = self.rng.choice(data.AREA_CODES)
            seq = self.rng.randrange(0, 100) * 10 + self.rng.choice(
                (1, 3, 5, 7, 9) if gender == data.M else (0, 2, 4, 6, 8)
            )
            first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
            value = first17 + national_id_check_char(first17)
            if value not in self.ids:
                self.ids.add(value)
                return value

    def mobile(self) -> str:
        while True:
            value = self.rng.choice(data.MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if value not in self.phones:
                self.phones.add(value)
                return value


def _nursing_level(title: str, hire_date: datetime.date) -> str:
    if title in {Title.CHIEF_NURSE, Title.ASSOC_CHIEF_NURSE}:
        return NursingLevel.N4
    if title == Title.SUPERVISOR_NURSE:
        return NursingLevel.N3
    if title == Title.NURSE_PRACTITIONER:
        return NursingLevel.N2
    if title == Title.NURSE:
        years = (data.REFERENCE_DATE - hire_date).days / 365.25
        return NursingLevel.N1 if years >= 2 else NursingLevel.N0
    return ""


def _primary_kind(spec: data.DepartmentSpec) -> str:
    return spec.staff[0][0] if spec.staff else ""


def demo_plan() -> tuple[list[data.DepartmentSpec], list[PersonPlan]]:
    """The departments and every staff member of the demo hospital, in employee-number order."""
    gen = _Generator(data.SEED)
    rng = gen.rng
    named_by_dept: dict[str, list[data.NamedLogin]] = {}
    named_heads: set[str] = set(data.TREE_HEADS)
    for named in data.NAMED_LOGINS:
        named_by_dept.setdefault(named.department, []).append(named)
        named_heads.update(named.heads)

    people: list[PersonPlan] = []
    next_no = data.FIRST_EMPLOYEE_NO
    office_ext = 1000

    def add(
        *,
        username: str | None,
        name: str,
        gender: str,
        spec: data.DepartmentSpec,
        title: str,
        position: str,
        roles: list[tuple[str, str]],
        age: int,
        hire_age: int,
        heads: list[str],
        nursing_level: str = "",
        office_phone: str,
    ) -> PersonPlan:
        nonlocal next_no
        employee_no = str(next_no)
        next_no += 1
        birth = gen.birth_date(age)
        hired = gen.hire_date(birth, hire_age)
        person = PersonPlan(
            username=username or f"e{employee_no}",
            employee_no=employee_no,
            name=name,
            gender=gender,
            department=spec.code,
            title=title,
            position=position,
            roles=roles,
            birth_date=birth,
            hire_date=hired,
            national_id=gen.national_id(birth, gender),
            phone=gen.mobile(),
            office_phone=office_phone,
            nursing_level=nursing_level or _nursing_level(title, hired),
            heads=heads,
        )
        people.append(person)
        return person

    def kind_roles(kind: data.StaffKind, spec: data.DepartmentSpec) -> list[tuple[str, str]]:
        roles: list[tuple[str, str]] = []
        if kind.role:
            roles.append((kind.role, spec.code if kind.role in DEPARTMENT_ROLE_CODES else data.HOSPITAL))
        if spec.office_role:
            roles.append((spec.office_role, data.HOSPITAL))
        return roles

    def generated(
        kind_code: str, spec: data.DepartmentSpec, phone: str, *, username: str | None = None
    ) -> None:
        kind = data.STAFF_KINDS[kind_code]
        title, _weight, low, high = rng.choices(kind.titles, weights=[t[1] for t in kind.titles])[0]
        gender = gen.gender(kind.female_share)
        position = kind.positions.get(title, kind.position)
        if kind_code == "leader":
            position = data.LEADER_POSITIONS[sum(1 for p in people if p.position in data.LEADER_POSITIONS)]
        add(
            username=username,
            name=gen.name(gender),
            gender=gender,
            spec=spec,
            title=title,
            position=position,
            roles=kind_roles(kind, spec),
            age=rng.randint(low, high),
            hire_age=kind.hire_age,
            heads=[],
            office_phone=phone,
        )

    for spec in data.DEPARTMENTS:
        if not spec.staff and spec.code not in named_by_dept:
            continue
        office_ext += 10
        phone = f"{data.OFFICE_PHONE_PREFIX}{office_ext:04d}"
        # The head first: a named login who leads this department, or a generated one.
        if spec.code not in named_heads and spec.staff:
            primary = _primary_kind(spec)
            kind = data.STAFF_KINDS[primary]
            title = data.HEAD_TITLES[primary]
            if primary == "nurse" and rng.random() < 0.4:
                title = Title.SUPERVISOR_NURSE
            gender = gen.gender(kind.female_share)
            roles = kind_roles(kind, spec)
            roles.insert(0, ("head_nurse" if primary == "nurse" else "dept_head", spec.code))
            add(
                username=None,
                name=gen.name(gender),
                gender=gender,
                spec=spec,
                title=title,
                position=spec.position_head,
                roles=roles,
                age=rng.randint(45, 56),
                hire_age=kind.hire_age,
                heads=[spec.code],
                nursing_level=NursingLevel.N4 if primary == "nurse" else "",
                office_phone=f"{data.OFFICE_PHONE_PREFIX}{office_ext + 1:04d}",
            )
        for named in named_by_dept.get(spec.code, []):
            heads = list(named.heads) + [
                code for code, who in data.TREE_HEADS.items() if who == named.username
            ]
            add(
                username=named.username,
                name=named.name,
                gender=named.gender,
                spec=spec,
                title=named.title,
                position=named.position,
                roles=list(named.roles),
                age=named.age,
                hire_age=26 if named.title != Title.WORKER else 35,
                heads=heads,
                nursing_level=named.nursing_level,
                office_phone=f"{data.OFFICE_PHONE_PREFIX}{office_ext + 1:04d}" if heads else phone,
            )
        if spec.code == data.CARD_NURSE_WARD:
            for i in range(1, data.CARD_NURSE_COUNT + 1):
                generated("nurse", spec, phone, username=data.card_nurse_username(i))
        for kind_code, count in spec.staff:
            for _ in range(count):
                generated(kind_code, spec, phone)

    # Category heads that are generated leaders (分管副院长).
    leaders = [p for p in people if p.position in data.LEADER_POSITIONS]
    for code, index in data.GENERATED_LEADER_HEADS.items():
        leaders[index].heads.append(code)
    return data.DEPARTMENTS, people


@transaction.atomic
def demo_load(*, password: str) -> None:
    """Write the demo hospital (all or nothing). Does nothing when departments already exist."""
    if Department.objects.exists():
        return
    departments, people = demo_plan()
    ensure_builtin_roles()
    roles = {role.code: role for role in Role.objects.all()}
    now = timezone.now()

    depts: dict[str, Department] = {}
    for order, spec in enumerate(departments):
        parent = depts[spec.parent] if spec.parent else None
        dept = Department.objects.create(
            code=spec.code,
            name_zh=spec.name_zh,
            name_en=spec.name_en,
            kind=spec.kind,
            category=spec.category,
            parent=parent,
            sort_order=order * 10,
        )
        dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
        dept.depth = parent.depth + 1 if parent else 0
        depts[spec.code] = dept
    Department.objects.bulk_update(depts.values(), ["path", "depth"])

    user_model: Any = get_user_model()
    password_hash = make_password(password)  # hashed once: PBKDF2 per user would take minutes
    totp_users = set(data.TOTP_USERNAMES)
    users = user_model.objects.bulk_create(
        [
            user_model(
                username=p.username,
                password=password_hash,
                last_name=p.name[0],
                first_name=p.name[1:],
                email=p.email,
                is_active=True,
                password_changed_at=now,
                must_change_password=False,
                totp_secret=pyotp.random_base32() if p.username in totp_users else "",
                totp_confirmed_at=now if p.username in totp_users else None,
            )
            for p in people
        ]
    )
    staff_rows = Staff.objects.bulk_create(
        [
            Staff(
                user=user,
                employee_no=p.employee_no,
                name=p.name,
                gender=p.gender,
                department=depts[p.department],
                title=p.title,
                nursing_level=p.nursing_level,
                position=p.position,
                office_phone=p.office_phone,
                email=p.email,
                phone=p.phone,
                phone_index=blind_index("org.staff.phone", p.phone),
                national_id=p.national_id,
                national_id_index=blind_index("org.staff.national_id", p.national_id),
                hire_date=p.hire_date,
                status=StaffStatus.ACTIVE,
            )
            for user, p in zip(users, people, strict=True)
        ]
    )
    RoleAssignment.objects.bulk_create(
        [
            RoleAssignment(staff=staff, role=roles[code], department=depts[dept_code], include_children=True)
            for staff, p in zip(staff_rows, people, strict=True)
            for code, dept_code in p.roles
        ]
    )
    for staff, p in zip(staff_rows, people, strict=True):
        for code in p.heads:
            depts[code].head = staff
    Department.objects.bulk_update(depts.values(), ["head"])
    _demo_certificates({s.user.username: s for s in staff_rows}, timezone.localdate())
    audit_record(
        actor=None,
        actor_name="medoa demo",
        action="org.demo.loaded",
        target=depts[data.HOSPITAL],
        details={"departments": len(depts), "staff": len(staff_rows)},
    )


# (username, kind, number, issued days before the load, expires days after it or None)
# card_n01's 护士执业证书 runs out in 20 days: the demo rule "证书 30 天内到期提醒本人和人事处" fires on
# the worker's first certificate check after ``medoa demo`` starts.
DEMO_CERTIFICATES: tuple[tuple[str, str, str, int, int | None], ...] = (
    ("card_n01", CertificateKind.NURSE_PRACTICE, "201944001234", 1805, 20),
    ("card_n02", CertificateKind.NURSE_PRACTICE, "202144005678", 1440, 400),
    ("card_hn", CertificateKind.NURSE_PRACTICE, "201044009012", 1200, 625),
    ("card_doc1", CertificateKind.PHYSICIAN_QUALIFICATION, "200944110000123", 5400, None),
    ("card_doc1", CertificateKind.PHYSICIAN_PRACTICE, "110440000012345", 5200, None),
    ("card_head", CertificateKind.PROFESSIONAL_TITLE, "主任医师-2016-0087", 3600, None),
)


def _demo_certificates(staff: dict[str, Staff], today: datetime.date) -> int:
    rows = [
        StaffCertificate(
            staff=staff[username],
            kind=kind,
            number=number,
            issued_on=today - datetime.timedelta(days=issued),
            expires_on=today + datetime.timedelta(days=expires) if expires is not None else None,
        )
        for username, kind, number, issued, expires in DEMO_CERTIFICATES
        if username in staff
    ]
    StaffCertificate.objects.bulk_create(rows)
    return len(rows)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    roles: tuple[str, ...]
    name: str
    department: str
    label: str


def demo_logins() -> list[DemoLogin]:
    """The named demo logins as stored (for the table ``medoa demo`` prints), in table order."""
    usernames = [n.username for n in data.NAMED_LOGINS] + [
        data.card_nurse_username(i) for i in range(1, data.CARD_NURSE_COUNT + 1)
    ]
    labels = {n.username: n.label for n in data.NAMED_LOGINS}
    staff = {
        s.user.username: s
        for s in Staff.objects.filter(user__username__in=usernames)
        .select_related("user", "department")
        .prefetch_related("role_assignments__role")
    }
    rows = []
    for username in usernames:
        s = staff.get(username)
        if s is None:
            continue
        codes = tuple(dict.fromkeys(a.role.code for a in s.role_assignments.all()))
        rows.append(DemoLogin(username, codes, s.name, s.department.name_zh, labels.get(username, "")))
    return rows


@dataclass(frozen=True)
class DemoTotp:
    username: str
    secret: str
    uri: str


def demo_totp_secrets() -> list[DemoTotp]:
    """The administrators' TOTP secrets, which demo mode prints so that one can sign in."""
    user_model: Any = get_user_model()
    found = {u.username: u for u in user_model.objects.filter(username__in=data.TOTP_USERNAMES)}
    rows = []
    for username in data.TOTP_USERNAMES:
        user = found.get(username)
        if user is None or not user.totp_secret:
            continue
        uri = pyotp.TOTP(user.totp_secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)
        rows.append(DemoTotp(username, user.totp_secret, uri))
    return rows
