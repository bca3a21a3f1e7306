"""The HR feed: ``hr.employee.hired`` creates (or updates) the staff record and its login account.

Who publishes it: an HR system through ``POST /api/v1/events`` with a system API key whose scope
names ``events:publish:hr.*``, and the HL7 listener for an MFN^M02 staff master-file message (its
STF segment gives the id, name, department, title). The payload schema is therefore tolerant:
aliases for the identifier and department fields, titles as codes or as Chinese or English
names, the position kind (doctor | nurse | admin) given or derived from the title, and fields it
does not know are ignored.

The subscriber ``org.hr_employee_hired`` applies it with ``employee_hired_apply``: idempotent by
employee number — a known number updates that person (and brings a person who had left back),
it never makes a second record. The account is created switched on but without a usable password:
信息中心 issues the first password in the onboarding process (engines/flow's ``onboarding``,
started by its own subscriber to the same event).
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from medoa.core.access.models import User
from medoa.core.access.policy import forget_principal
from medoa.core.audit.services import audit_record
from medoa.core.events.models import Event
from medoa.core.events.registry import EventType, Subscriber, event_types, subscribers

from .choices import ActiveStatus, Gender, StaffStatus, Title
from .models import Department, Staff
from .services import _apply_private, staff_values_clean
from .validators import EMPLOYEE_NO_RE, NURSING_TITLES, USERNAME_RE

logger = logging.getLogger(__name__)

EVENT_TYPE_NAME: Final = "hr.employee.hired"
DEFAULT_ACTOR_NAME: Final = "hr-feed"

PositionKind = Literal["doctor", "nurse", "admin"]

DOCTOR_TITLES: Final = frozenset(
    {Title.CHIEF_PHYSICIAN, Title.ASSOC_CHIEF_PHYSICIAN, Title.ATTENDING, Title.RESIDENT}
)
# The title a new person gets when the feed names none we know, by position kind.
DEFAULT_TITLE: Final[dict[str, str]] = {
    "doctor": Title.RESIDENT,
    "nurse": Title.NURSE,
    "admin": Title.ADMINISTRATIVE,
}
_TITLE_WORDS: Final[dict[str, str]] = {
    "主任医师": Title.CHIEF_PHYSICIAN,
    "副主任医师": Title.ASSOC_CHIEF_PHYSICIAN,
    "主治医师": Title.ATTENDING,
    "住院医师": Title.RESIDENT,
    "医师": Title.RESIDENT,
    "主任护师": Title.CHIEF_NURSE,
    "副主任护师": Title.ASSOC_CHIEF_NURSE,
    "主管护师": Title.SUPERVISOR_NURSE,
    "护师": Title.NURSE_PRACTITIONER,
    "护士": Title.NURSE,
    "主任技师": Title.CHIEF_TECHNICIAN,
    "主管技师": Title.SUPERVISOR_TECHNICIAN,
    "技师": Title.TECHNICIAN,
    "药师": Title.PHARMACIST,
    "行政": Title.ADMINISTRATIVE,
    "行政人员": Title.ADMINISTRATIVE,
    "工勤": Title.WORKER,
}
_KIND_WORDS: Final[dict[str, str]] = {
    **dict.fromkeys(("doctor", "physician", "md", "dr", "d", "医生", "医师"), "doctor"),
    **dict.fromkeys(("nurse", "rn", "n", "护士", "护理"), "nurse"),
    **dict.fromkeys(
        ("admin", "administrative", "administration", "staff", "office", "other", "a", "行政", "管理"),
        "admin",
    ),
}
EMPLOYEE_NO_RULE: Final = (
    "An employee number has at most 32 letters, digits, - or _ and starts with a letter or digit."
)
USERNAME_RULE: Final = (
    "A username has at most 150 letters, digits or . _ @ + - and starts with a letter or digit."
)
_CJK: Final = re.compile(r"[\u3400-\u9fff]")
_GENDER_WORDS: Final[dict[str, str]] = {
    **dict.fromkeys(("m", "male", "男"), Gender.MALE),
    **dict.fromkeys(("f", "female", "女"), Gender.FEMALE),
}


def title_code(text: str) -> str | None:
    """A ``Title`` code for a title given as its code, its English name or its Chinese name."""
    value = (text or "").strip()
    if not value:
        return None
    if value in Title.values:
        return value
    lowered = value.lower()
    for choice in Title:
        if lowered in {choice.value, str(choice.label).lower()}:
            return choice.value
    return _TITLE_WORDS.get(value)


def kind_of_title(code: str) -> str:
    if code in DOCTOR_TITLES:
        return "doctor"
    if code in NURSING_TITLES:
        return "nurse"
    return "admin"


class EmployeeHired(BaseModel):
    """``hr.employee.hired``: a person joins the hospital.

    Required: ``employee_no`` (alias ``employee_number``, ``staff_id``), ``name`` (an HL7
    ``family^given`` is joined), ``department`` (a MedOA department code; alias
    ``department_code``). Optional: ``username`` (default: the employee number), ``position_kind``
    (doctor | nurse | admin, or HL7-style MD / RN; default: from the title), ``title`` (a code such
    as ``attending`` or a name such as 主治医师), ``position`` (free text, e.g. 住院医师规培),
    ``hire_date`` (YYYY-MM-DD), ``gender``, ``phone``, ``email``, ``source`` (e.g. ``hl7:<id>``).
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    employee_no: str = Field(
        ...,
        min_length=1,
        max_length=32,
        validation_alias=AliasChoices("employee_no", "employee_number", "staff_id"),
        description="the employee number (工号)",
    )
    name: str = Field(..., min_length=1, max_length=64, description="the full name")
    department: str = Field(
        ...,
        min_length=1,
        max_length=32,
        validation_alias=AliasChoices("department", "department_code"),
        description="the MedOA department code",
    )
    position_kind: PositionKind | None = Field(None, description="doctor | nurse | admin")
    title: str = Field("", max_length=64, description="professional title: a code or a name")
    position: str = Field("", max_length=64)
    username: str = Field("", max_length=150, description="default: the employee number")
    hire_date: datetime.date | None = None
    gender: str = Field("", max_length=16)
    phone: str = Field("", max_length=32)
    email: str = Field("", max_length=254)
    source: str = Field("", max_length=200, description="where the fact came from, e.g. hl7:<message id>")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str) and "^" in value:  # HL7 XPN: family^given^middle…
            family, given = [*(p.strip() for p in value.split("^")), ""][:2]
            if _CJK.search(family + given):
                value = family + given
            else:
                value = " ".join(p for p in (given, family) if p)
        return " ".join(value.split()) if isinstance(value, str) else value

    @field_validator("position_kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            kind = _KIND_WORDS.get(value.strip().lower())
            if kind is None:
                raise ValueError(_("The position kind is one of doctor, nurse and admin."))
            return kind
        return value

    @field_validator("gender", mode="before")
    @classmethod
    def _gender(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return _GENDER_WORDS.get(value.strip().lower(), Gender.UNKNOWN if value.strip() else "")

    @field_validator("employee_no")
    @classmethod
    def _employee_no(cls, value: str) -> str:
        if not EMPLOYEE_NO_RE.match(value):
            raise ValueError(_(EMPLOYEE_NO_RULE))
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if value and not USERNAME_RE.match(value):
            raise ValueError(_(USERNAME_RULE))
        return value

    @model_validator(mode="after")
    def _derive_kind(self) -> EmployeeHired:
        if self.position_kind is None:
            code = title_code(self.title)
            self.position_kind = kind_of_title(code) if code else "admin"  # type: ignore[assignment]
        return self

    @property
    def title_code(self) -> str:
        return title_code(self.title) or DEFAULT_TITLE[self.position_kind or "admin"]


HR_EMPLOYEE_HIRED = EventType(
    EVENT_TYPE_NAME,
    EmployeeHired,
    label=_("Employee hired"),
    description=_(
        "A person joins the hospital: employee number, name, department, position kind and title. "
        "Creates or updates the staff record and account and starts the onboarding process."
    ),
)


class HrFeedError(ValueError):
    """The feed names something MedOA cannot place (an unknown department, a taken username). The
    delivery fails with this message and is retried, then parked as dead in the event log, where
    it can be redelivered once the cause is fixed."""


@dataclass(frozen=True)
class HireResult:
    staff: Staff
    created: bool
    changed: tuple[str, ...] = ()


def _department(code: str) -> Department:
    department = Department.objects.filter(code__iexact=code).first()
    if department is None:
        raise HrFeedError(f"hr.employee.hired: unknown department code {code!r}")
    if department.status != ActiveStatus.ACTIVE:
        raise HrFeedError(f"hr.employee.hired: department {department.code!r} is inactive")
    return department


def _free_username(wanted: str, *, explicit: bool) -> str:
    if not User.objects.filter(username__iexact=wanted).exists():
        return wanted
    if explicit:
        raise HrFeedError(f"hr.employee.hired: the username {wanted!r} belongs to someone else")
    for n in range(2, 100):
        candidate = f"{wanted}-{n}"
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
    raise HrFeedError(f"hr.employee.hired: no free username near {wanted!r}")


def _values(data: EmployeeHired, department: Department, *, new: bool) -> dict[str, Any]:
    """The staff fields the feed sets: everything it gives; for a new person the defaults too."""
    values: dict[str, Any] = {"name": data.name, "department": department}
    if data.title or new:
        values["title"] = data.title_code
    if data.position or (new and data.title and not title_code(data.title)):
        values["position"] = data.position or data.title
    for name in ("email", "phone", "gender"):
        if getattr(data, name):
            values[name] = getattr(data, name)
    if data.hire_date is not None:
        values["hire_date"] = data.hire_date
    elif new:
        values["hire_date"] = timezone.localdate()
    return values


def _clean(values: dict[str, Any], *, instance: Staff | None) -> dict[str, Any]:
    try:
        return staff_values_clean(values, instance=instance)
    except ValidationError as exc:
        problems = "; ".join(
            f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in exc.message_dict.items()
        )
        raise HrFeedError(f"hr.employee.hired: {problems}") from None


def _serialise_hire(employee_no: str) -> None:
    """On PostgreSQL, reports about one employee number wait for each other until the transaction
    ends (a transaction-scoped advisory lock): a second report of a new hire then finds the first's
    row instead of failing its uniqueness check. There is no row to lock before the first insert;
    SQLite runs one writer at a time anyway."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"org.hire:{employee_no.strip().upper()}"]
        )


def _locked_staff(employee_no: str) -> Staff | None:
    return (
        Staff.objects.select_for_update(of=("self",))
        .select_related("user", "department")
        .filter(employee_no__iexact=employee_no)
        .first()
    )


def _update(
    staff: Staff, data: EmployeeHired, department: Department, *, actor_name: str, details: dict[str, Any]
) -> HireResult:
    cleaned = _clean(_values(data, department, new=False), instance=staff)
    changed = [name for name, value in cleaned.items() if getattr(staff, name) != value]
    for name in changed:
        setattr(staff, name, cleaned[name])
    reactivated = staff.status != StaffStatus.ACTIVE
    if reactivated:
        staff.status = StaffStatus.ACTIVE
        changed.append("status")
    if not changed:
        return HireResult(staff=staff, created=False)
    staff.save()
    user_fields = []
    if staff.user.first_name != staff.name[:150]:
        staff.user.first_name = staff.name[:150]
        user_fields.append("first_name")
    if "email" in changed:
        staff.user.email = staff.email
        user_fields.append("email")
    if reactivated and not staff.user.is_active:
        staff.user.is_active = True
        user_fields.append("is_active")
    if user_fields:
        staff.user.save(update_fields=user_fields)
    forget_principal(staff.user)
    audit_record(
        actor=None,
        actor_name=actor_name,
        action="org.staff.updated",
        target=staff,
        details={**details, "fields": sorted(changed), "via": EVENT_TYPE_NAME},
    )
    return HireResult(staff=staff, created=False, changed=tuple(sorted(changed)))


def _create(
    data: EmployeeHired, department: Department, *, actor_name: str, details: dict[str, Any]
) -> HireResult:
    cleaned = _clean({"employee_no": data.employee_no, **_values(data, department, new=True)}, instance=None)
    username = _free_username(data.username or cleaned["employee_no"].lower(), explicit=bool(data.username))
    user = User(username=username, email=cleaned.get("email", ""), first_name=cleaned["name"][:150])
    user.set_unusable_password()
    user.must_change_password = True
    staff = Staff(status=StaffStatus.ACTIVE, **cleaned)
    _apply_private(staff, cleaned)
    with transaction.atomic():  # a savepoint: a concurrent hire of the same person is retried below
        user.save()
        staff.user = user
        staff.save()
    audit_record(
        actor=None,
        actor_name=actor_name,
        action="org.staff.hired",
        target=staff,
        details={**details, "username": username, "department": department.code, "title": staff.title},
    )
    return HireResult(staff=staff, created=True)


@transaction.atomic
def employee_hired_apply(
    *, data: EmployeeHired, actor_name: str = DEFAULT_ACTOR_NAME, event_id: int | None = None
) -> HireResult:
    """Create the person of ``data`` with an account, or update the person with that employee
    number (bringing them back if they had left). Audited as ``org.staff.hired`` (new) or
    ``org.staff.updated`` (known), by ``actor_name`` (the publisher, e.g. ``key:HR feed``).

    The person's row stays locked until the caller's transaction ends, so two reports about one
    person are applied one after the other; two that create them at the same moment end with one
    record (the second finds the first's when its insert collides)."""
    actor_name = actor_name or DEFAULT_ACTOR_NAME
    department = _department(data.department)
    details: dict[str, Any] = {"employee_no": data.employee_no, "position_kind": data.position_kind}
    if event_id is not None:
        details["event"] = event_id
    if data.source:
        details["source"] = data.source
    _serialise_hire(data.employee_no)
    staff = _locked_staff(data.employee_no)
    if staff is not None:
        return _update(staff, data, department, actor_name=actor_name, details=details)
    try:
        return _create(data, department, actor_name=actor_name, details=details)
    except IntegrityError:
        staff = _locked_staff(data.employee_no)
        if staff is None:  # the username, not the employee number, was taken meanwhile
            raise HrFeedError(
                f"hr.employee.hired: the username of {data.employee_no!r} was taken at the same moment"
            ) from None
        return _update(staff, data, department, actor_name=actor_name, details=details)


def handle_employee_hired(event: Event) -> None:
    """Subscriber ``org.hr_employee_hired``: apply the event (idempotent by employee number)."""
    data = HR_EMPLOYEE_HIRED.parse(event.payload)
    assert isinstance(data, EmployeeHired)
    result = employee_hired_apply(data=data, actor_name=event.actor_name, event_id=event.pk)
    logger.info(
        "hr.employee.hired %s: %s staff %s",
        event.pk,
        "created" if result.created else "updated",
        result.staff.employee_no,
    )


EMPLOYEE_HIRED_SUBSCRIBER = Subscriber(
    "org.hr_employee_hired",
    (EVENT_TYPE_NAME,),
    handle_employee_hired,
    label=_("Create or update the staff record and account of a new employee"),
)


def register_hr_feed() -> None:
    """Called from ``OrgConfig.ready()``: the event type and its subscriber."""
    event_types.register(HR_EMPLOYEE_HIRED)
    subscribers.register(EMPLOYEE_HIRED_SUBSCRIBER)
