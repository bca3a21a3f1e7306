"""Every change the approval centre makes: submitting requests (which starts their process),
finishing them (called by the models' ``approvals.finish`` step), withdrawing, comments, the
holiday calendar, leave balances, cancel-leave (销假) and automatic delegation while on leave."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError as PydanticValidationError

from medoa.core.access.policy import has_perm
from medoa.core.apierrors import translate_error
from medoa.core.audit.services import audit_record
from medoa.core.events.services import publish
from medoa.core.notify.services import notification_send
from medoa.core.org import services as org_services
from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Delegation, Staff
from medoa.core.org.selectors import department_root, role_members
from medoa.engines.flow import services as flow_services
from medoa.engines.flow.choices import InstanceOutcome, InstanceStatus, TaskStatus
from medoa.engines.flow.errors import FlowConflict, FlowError, FlowNotFound, FlowPermissionDenied
from medoa.engines.flow.models import HumanTask, ProcessDefinition, ProcessInstance
from medoa.engines.flow.services import FormInvalid
from medoa.engines.forms import services as forms_services
from medoa.engines.forms.errors import FormsError
from medoa.engines.forms.models import FormDefinition, FormRecord

from . import selectors
from .catalog import RequestType, request_types
from .choices import HolidayKind, LeaveType, LedgerKind, RequestStatus
from .errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalInputError,
    ApprovalNotFound,
    ApprovalPermissionDenied,
    fmt,
)
from .models import (
    ApprovalRequest,
    AutoDelegation,
    Comment,
    Holiday,
    LeaveBalance,
    LeaveLedgerEntry,
    LeaveRecord,
)
from .policy import entitlement
from .workdays import working_dates

MAX_COMMENT = 2000
MAX_MENTIONS = 20
MENTION_RE = re.compile(r"@([\w.\-]{1,150})")
LEAVE_APPROVED = "approvals.leave.approved"
LEAVE_RESUMED = "approvals.leave.resumed"
CATEGORY = "审批中心"


def _require_staff(actor: Any) -> Staff:
    staff = selectors.staff_of(actor)
    if staff is None:
        raise ApprovalPermissionDenied(_("Only staff members can use the approval centre."))
    return staff


def _link(request: ApprovalRequest) -> str:
    return f"/approvals/requests/{request.pk}/"


def _flow_error(exc: FlowError) -> ApprovalError:
    """The process engine's refusal in the approval centre's words (the form's fields are the
    request's ``data``)."""
    if isinstance(exc, FormInvalid):
        return ApprovalInputError(
            None,
            exc.message,
            errors=[(f"data.{f}" if f else "data", text) for f, _c, text in exc.field_errors],
        )
    if isinstance(exc, FlowPermissionDenied):
        return ApprovalPermissionDenied(exc.message)
    if isinstance(exc, FlowNotFound):
        return ApprovalNotFound(exc.message)
    if isinstance(exc, FlowConflict):
        return ApprovalConflict(exc.message)
    return ApprovalInputError(exc.field or None, exc.message, errors=exc.errors)


# --- submitting and finishing --------------------------------------------------------------------


def _validate_data(request_type: RequestType, data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ApprovalInputError("data", _("Send the request's data as an object."))
    try:
        model = request_type.data_schema.model_validate(dict(data))
    except PydanticValidationError as exc:
        errors = []
        for detail in exc.errors(include_url=False):
            err: dict[str, Any] = {**detail, "loc": ("data", *detail["loc"])}
            cause = (err.get("ctx") or {}).get("error")
            translated = translate_error(err, cause)
            errors.append((translated["field"], translated["message"]))
        raise ApprovalInputError(None, _("The request's data has errors."), errors=errors) from None
    return model.model_dump(mode="json")


def _prefixed(exc: ApprovalInputError) -> ApprovalInputError:
    errors = [(f"data.{f}" if f and not f.startswith("data") else (f or "data"), m) for f, m in exc.errors]
    field = errors[0][0] if errors else "data"
    return ApprovalInputError(field, exc.message, errors=errors)


@transaction.atomic
def request_submit(
    *, actor: Any, type_key: str, data: Any, form_version: int | None = None
) -> ApprovalRequest:
    """Validate ``data`` for the type, compute the process variables, store the request and start
    its process (with the start form's record), all in one transaction: nothing is kept when
    anything is refused (``ApprovalInputError`` naming ``data.<field>``). ``form_version``: the
    start form's version the page showed (a newer one published meanwhile: ``ApprovalConflict``)."""
    staff = _require_staff(actor)
    if not isinstance(type_key, str) or type_key not in request_types:
        raise ApprovalInputError(
            "type", fmt(_("There is no request type “%(type)s”."), {"type": str(type_key)[:64]})
        )
    request_type = request_types.get(type_key)
    if not ProcessDefinition.objects.filter(
        key=request_type.process_key, latest_version__isnull=False
    ).exists():
        raise ApprovalConflict(
            _("This request type is not installed yet: an administrator installs the approval processes.")
        )
    clean = _validate_data(request_type, data)
    try:
        variables = dict(request_type.prepare(staff, clean))
    except ApprovalInputError as exc:
        raise _prefixed(exc) from None
    with translation.override(settings.LANGUAGE_CODE):  # stored once, in the hospital's language
        summary = request_type.summary({**clean, **variables})[:300]
        title = f"{request_type.name} · {summary} · {staff.name}"
    request = ApprovalRequest.objects.create(
        type_key=type_key,
        initiator=staff,
        department=staff.department,
        data=clean,
        summary=summary,
    )
    request.number = f"SP-{timezone.localdate(request.submitted_at).year}-{request.pk:06d}"
    request.save(update_fields=["number"])
    if request_type.key == "leave":
        _leave_record_create(request, variables)
    variables.update(
        request_id=request.pk,
        request_number=request.number,
        self_approval_skipped="",
        initiator_name=staff.name,
    )
    form_data = {k: v for k, v in clean.items() if v is not None}
    try:
        instance = flow_services.instance_start(
            actor=actor,
            definition_key=request_type.process_key,
            variables=json.loads(json.dumps(variables, default=str)),
            business_key=request.number,
            title=title[:300],
            form_data=form_data,
            form_version=form_version,
        )
    except FlowError as exc:
        raise _flow_error(exc) from None
    request.refresh_from_db(fields=["status", "finished_at"])
    request.process_instance = instance
    request.form_record = (
        FormRecord.objects.filter(subject=f"flow:instance:{instance.pk}").order_by("pk").first()
    )
    request.save(update_fields=["process_instance", "form_record"])
    if request_type.copy_roles:
        _copy_to_roles(actor, instance, request_type.copy_roles)
    audit_record(
        actor=actor,
        action="approvals.request.submitted",
        target=request,
        details={"type": type_key, "number": request.number, "instance": instance.pk},
    )
    return request


def _copy_to_roles(actor: Any, instance: ProcessInstance, roles: Iterable[str]) -> None:
    """抄送: the holders of ``roles`` get the request in their "copied to me" box (through the
    process engine's copy on the first open task, as the initiator)."""
    root = department_root()
    if root is None:
        return
    usernames: list[str] = []
    for code in roles:
        usernames.extend(s.user.username for s in role_members(code, root))
    initiator_name = actor.get_username()
    usernames = [u for u in dict.fromkeys(usernames) if u != initiator_name]
    task = HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN).order_by("pk").first()
    if not usernames or task is None:
        return
    try:
        flow_services.task_act(actor=actor, task=task.pk, action="cc", to_users=usernames[:50])
    except FlowError as exc:
        raise _flow_error(exc) from None


def finish_function(variables: dict[str, Any]) -> dict[str, Any]:
    """The service/script function ``approvals.finish``: the last step of every approval model.
    Reads ``request_id`` and ``approved`` from the variables."""
    request_id = variables.get("request_id")
    if not isinstance(request_id, int):
        raise ValueError("approvals.finish needs the variable request_id (an integer)")
    outcome = RequestStatus.APPROVED if variables.get("approved") is True else RequestStatus.REJECTED
    request = request_finish(request_id=request_id, outcome=outcome)
    return {"request_status": request.status}


@transaction.atomic
def request_finish(*, request_id: int, outcome: str) -> ApprovalRequest:
    """End the request as ``approved`` or ``rejected`` (idempotent: a finished request is left as
    it is). Runs the type's ``on_finish`` (leave: deduct the balance, publish
    ``approvals.leave.approved``, automatic delegation) and tells the initiator."""
    if outcome not in (RequestStatus.APPROVED, RequestStatus.REJECTED):
        raise ApprovalInputError("outcome", _("The outcome is approved or rejected."))
    request = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("initiator__user", "department")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise ApprovalNotFound()
    if request.status != RequestStatus.SUBMITTED:
        return request
    request.status = outcome
    request.finished_at = timezone.now()
    request.save(update_fields=["status", "finished_at", "updated_at"])
    if request.type_key in request_types:
        request_type = request_types.get(request.type_key)
        if request_type.on_finish is not None:
            request_type.on_finish(request, outcome)
    title = (
        gettext("Approved: %(summary)s")
        if outcome == RequestStatus.APPROVED
        else gettext("Rejected: %(summary)s")
    ) % {"summary": request.summary}
    notification_send(
        recipients=[request.initiator.user],
        title=title,
        body=request.number or "",
        link=_link(request),
        kind="approvals.finished",
        data={"request": request.pk},
    )
    audit_record(
        actor=None,
        actor_name="approvals",
        action=f"approvals.request.{outcome}",
        target=request,
        details={"number": request.number},
    )
    return request


@transaction.atomic
def request_withdraw(*, actor: Any, request: ApprovalRequest, reason: str = "") -> ApprovalRequest:
    """The initiator takes the request back while nobody else has decided (the process is
    cancelled; pending leave days are free again)."""
    staff = _require_staff(actor)
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    if request.initiator_id != staff.pk:
        raise ApprovalPermissionDenied(_("Only the initiator may withdraw a request."))
    if request.status != RequestStatus.SUBMITTED:
        raise ApprovalConflict(_("This request is no longer in approval."))
    if request.process_instance is not None and request.process_instance.status in selectors.RUNNING:
        try:
            flow_services.instance_cancel(actor=actor, instance=request.process_instance, reason=reason)
        except FlowError as exc:
            raise _flow_error(exc) from None
    request.status = RequestStatus.WITHDRAWN
    request.finished_at = timezone.now()
    request.save(update_fields=["status", "finished_at", "updated_at"])
    audit_record(
        actor=actor, action="approvals.request.withdrawn", target=request, details={"reason": reason[:200]}
    )
    return request


def requests_sync_ended(*, limit: int = 200) -> int:
    """Requests whose process ended without ``approvals.finish`` (withdrawn or cancelled in the
    process engine, or ended by an administrator): their status follows the process. Periodic."""
    ended = (
        ApprovalRequest.objects.filter(status=RequestStatus.SUBMITTED, process_instance__isnull=False)
        .exclude(process_instance__status__in=selectors.RUNNING)
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in list(ended):
        with transaction.atomic():
            request = (
                ApprovalRequest.objects.select_for_update(of=("self",))
                .select_related("process_instance")
                .filter(pk=pk, status=RequestStatus.SUBMITTED)
                .first()
            )
            if request is None or request.process_instance is None:
                continue
            instance = request.process_instance
            if instance.status == InstanceStatus.COMPLETED:
                outcome = (
                    RequestStatus.APPROVED
                    if instance.outcome == InstanceOutcome.APPROVED
                    else RequestStatus.REJECTED
                )
                request_finish(request_id=request.pk, outcome=outcome)
            else:
                request.status = (
                    RequestStatus.WITHDRAWN
                    if instance.status == InstanceStatus.WITHDRAWN
                    else RequestStatus.CANCELLED
                )
                request.finished_at = instance.ended_at or timezone.now()
                request.save(update_fields=["status", "finished_at", "updated_at"])
                audit_record(
                    actor=None,
                    actor_name="approvals",
                    action=f"approvals.request.{request.status}",
                    target=request,
                    details={"instance": instance.pk},
                )
            done += 1
    return done


# --- comments ------------------------------------------------------------------------------------


def _mentioned(text: str, author: Staff) -> list[Staff]:
    tokens = list(dict.fromkeys(MENTION_RE.findall(text)))[:MAX_MENTIONS]
    if not tokens:
        return []
    people = Staff.objects.filter(
        Q(user__username__in=tokens) | Q(name__in=tokens), status=StaffStatus.ACTIVE, user__is_active=True
    ).select_related("user")
    return [p for p in people if p.pk != author.pk]


@transaction.atomic
def comment_add(*, actor: Any, request: ApprovalRequest, text: str) -> Comment:
    """A comment; ``@username`` or ``@姓名`` mentions notify those people (and let them see the
    request)."""
    staff = _require_staff(actor)
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        raise ApprovalInputError("text", _("Write a comment."))
    if len(text) > MAX_COMMENT:
        raise ApprovalInputError(
            "text", fmt(_("A comment has at most %(max)s characters."), {"max": MAX_COMMENT})
        )
    comment = Comment.objects.create(request=request, author=staff, text=text)
    mentions = _mentioned(text, staff)
    if mentions:
        comment.mentions.set(mentions)
        notification_send(
            recipients=[p.user for p in mentions],
            title=gettext("%(name)s mentioned you: %(summary)s")
            % {"name": staff.name, "summary": request.summary},
            body=text[:200],
            link=_link(request),
            kind="approvals.mention",
            data={"request": request.pk, "comment": comment.pk},
        )
    if request.initiator_id != staff.pk and request.initiator not in mentions:
        notification_send(
            recipients=[request.initiator.user],
            title=gettext("New comment: %(summary)s") % {"summary": request.summary},
            body=text[:200],
            link=_link(request),
            kind="approvals.comment",
            data={"request": request.pk, "comment": comment.pk},
        )
    audit_record(
        actor=actor,
        action="approvals.comment.added",
        target=request,
        details={"comment": comment.pk, "mentions": [p.pk for p in mentions]},
    )
    return comment


# --- holiday calendar ----------------------------------------------------------------------------


def _require_calendar(actor: Any) -> None:
    if not selectors.may_manage_calendar(actor):
        raise ApprovalPermissionDenied(_("You may not change the holiday calendar."))


@transaction.atomic
def holiday_set(*, actor: Any, day: datetime.date, kind: str, name: str = "") -> Holiday:
    """Mark ``day`` as a public holiday or a make-up working day (replacing what it was)."""
    _require_calendar(actor)
    if kind not in HolidayKind.values:
        raise ApprovalInputError("kind", _("Choose a public holiday or a make-up working day."))
    name = (name or "").strip()
    if len(name) > 64:
        raise ApprovalInputError("name", _("The name has at most 64 characters."))
    holiday, _created = Holiday.objects.update_or_create(date=day, defaults={"kind": kind, "name": name})
    audit_record(
        actor=actor,
        action="approvals.holiday.set",
        target=("approvals.holiday", day.isoformat(), f"{day} {name}"),
        details={"date": day.isoformat(), "kind": kind, "name": name},
    )
    return holiday


@transaction.atomic
def holiday_remove(*, actor: Any, day: datetime.date) -> None:
    _require_calendar(actor)
    deleted, _rows = Holiday.objects.filter(date=day).delete()
    if not deleted:
        raise ApprovalNotFound(_("That day is not in the holiday calendar."))
    audit_record(
        actor=actor,
        action="approvals.holiday.removed",
        target=("approvals.holiday", day.isoformat(), str(day)),
        details={"date": day.isoformat()},
    )


def holidays_seed(entries: Iterable[tuple[str, str, str]]) -> int:
    """Add the calendar entries that are not there yet (demo and install; changes nothing an
    administrator set). Returns how many were added."""
    rows = [(datetime.date.fromisoformat(d), k, n) for d, k, n in entries]
    existing = set(Holiday.objects.filter(date__in=[d for d, _k, _n in rows]).values_list("date", flat=True))
    fresh = [Holiday(date=d, kind=k, name=n) for d, k, n in rows if d not in existing]
    Holiday.objects.bulk_create(fresh)
    return len(fresh)


# --- leave balances ------------------------------------------------------------------------------


def _balance_locked(staff: Staff, leave_type: str, year: int) -> LeaveBalance:
    """The balance row (created from the policy when missing), locked for this transaction."""
    balance = (
        LeaveBalance.objects.select_for_update().filter(staff=staff, leave_type=leave_type, year=year).first()
    )
    if balance is not None:
        return balance
    granted = entitlement(staff, leave_type, year)
    balance, created = LeaveBalance.objects.get_or_create(
        staff=staff, leave_type=leave_type, year=year, defaults={"entitled": granted}
    )
    if created and granted is not None:
        LeaveLedgerEntry.objects.create(balance=balance, kind=LedgerKind.GRANT, days=granted, note="policy")
    return LeaveBalance.objects.select_for_update().get(pk=balance.pk)


def leave_check_available(staff: Staff, leave_type: str, year: int, days: Decimal) -> None:
    """Refuse (``leave_type``) when the balance minus what approved and pending leave take is
    less than ``days``. Locks the balance row, so two requests at once cannot both pass."""
    balance = _balance_locked(staff, leave_type, year)
    if balance.entitled is None:
        return
    pending = selectors.leave_pending_days(staff, leave_type, year)
    available = balance.entitled - balance.used - pending
    if days > available:
        raise ApprovalInputError(
            "leave_type",
            fmt(
                _(
                    "Not enough %(type)s for %(year)s: %(available)s days left (%(pending)s more in "
                    "approval), %(days)s asked for."
                ),
                {
                    "type": LeaveType(leave_type).label,
                    "year": year,
                    "available": _days(max(available, Decimal(0))),
                    "pending": _days(pending),
                    "days": _days(days),
                },
            ),
        )


def _days(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}"


def balances_seed(*, year: int, staff: Iterable[Staff] | None = None) -> int:
    """Create the missing balance rows of ``year`` from the policy (demo, and the start of a
    year). Returns how many rows were made."""
    people = list(staff) if staff is not None else list(Staff.objects.filter(status=StaffStatus.ACTIVE))
    existing = set(
        LeaveBalance.objects.filter(year=year, staff__in=people).values_list("staff_id", "leave_type")
    )
    made = 0
    for person in people:
        for leave_type in LeaveType.values:
            if (person.pk, leave_type) in existing:
                continue
            granted = entitlement(person, leave_type, year)
            balance = LeaveBalance.objects.create(
                staff=person, leave_type=leave_type, year=year, entitled=granted
            )
            if granted:
                LeaveLedgerEntry.objects.create(
                    balance=balance, kind=LedgerKind.GRANT, days=granted, note="policy"
                )
            made += 1
    return made


@transaction.atomic
def balance_adjust(
    *, actor: Any, staff: Staff, leave_type: str, year: int, days: Decimal, note: str = ""
) -> LeaveBalance:
    """Add ``days`` (negative: take away) to the entitlement, e.g. compensatory days for overtime,
    with the reason (``note``, 2–200 characters, required): a ledger entry and an audit entry.
    Permission ``approvals.balance.manage`` (人事处) over the person's department."""
    if not has_perm(actor, selectors.PERM_BALANCE, department=staff.department):
        raise ApprovalPermissionDenied(_("You may not change leave balances."))
    if leave_type not in LeaveType.values:
        raise ApprovalInputError("leave_type", _("Choose a leave type."))
    if (
        not isinstance(days, Decimal)
        or days == 0
        or abs(days) > 1000
        or days != days.quantize(Decimal("0.1"))
    ):
        raise ApprovalInputError("days", _("Give a number of days other than 0 (at most one decimal)."))
    note = (note or "").strip()
    if len(note) < 2:
        raise ApprovalInputError("note", _("Give the reason for the change (e.g. overtime worked)."))
    if len(note) > 200:
        raise ApprovalInputError("note", _("The reason may have at most 200 characters."))
    if not 2000 <= year <= 2100:
        raise ApprovalInputError("year", _("Give a year between 2000 and 2100."))
    balance = _balance_locked(staff, leave_type, year)
    if balance.entitled is None:
        raise ApprovalInputError(
            "leave_type", _("This leave type is unlimited: it has no balance to change.")
        )
    if balance.entitled + days < 0:
        raise ApprovalInputError("days", _("The entitlement cannot become negative."))
    balance.entitled += days
    balance.save(update_fields=["entitled", "updated_at"])
    LeaveLedgerEntry.objects.create(
        balance=balance, kind=LedgerKind.ADJUST, days=days, actor=actor, note=note
    )
    audit_record(
        actor=actor,
        action="approvals.balance.adjusted",
        target=balance,
        details={"staff": staff.pk, "type": leave_type, "year": year, "days": str(days), "note": note},
    )
    return balance


# --- leave: submit, approve, cancel-leave --------------------------------------------------------


def _leave_record_create(request: ApprovalRequest, variables: Mapping[str, Any]) -> LeaveRecord:
    return LeaveRecord.objects.create(
        request=request,
        staff=request.initiator,
        leave_type=variables["leave_type"],
        year=int(variables["year"]),
        start_date=datetime.date.fromisoformat(variables["start_date"]),
        end_date=datetime.date.fromisoformat(variables["end_date"]),
        days=int(variables["days"]),
    )


def leave_payload(record: LeaveRecord, dates: list[datetime.date]) -> dict[str, Any]:
    staff = record.staff
    return {
        "request_id": record.request_id,
        "staff": staff.user.username,
        "department": staff.department.code,
        "leave_type": record.leave_type,
        "start_date": record.start_date.isoformat(),
        "end_date": record.end_date.isoformat(),
        "days": record.days,
        "dates": [d.isoformat() for d in dates],
    }


def leave_finished(request: ApprovalRequest, outcome: str) -> None:
    """Leave's ``on_finish``: on approval deduct the balance (ledger), publish
    ``approvals.leave.approved`` and create the automatic delegation; a rejection takes nothing."""
    if outcome != RequestStatus.APPROVED:
        return
    record = LeaveRecord.objects.select_related("staff__user", "staff__department").get(request=request)
    balance = _balance_locked(record.staff, record.leave_type, record.year)
    balance.used += Decimal(record.days)
    balance.save(update_fields=["used", "updated_at"])
    LeaveLedgerEntry.objects.create(
        balance=balance,
        kind=LedgerKind.DEDUCT,
        days=Decimal(record.days),
        request=request,
        note=request.number or "",
    )
    dates = working_dates(record.start_date, record.end_date)
    publish(
        LEAVE_APPROVED,
        leave_payload(record, dates),
        key=f"approvals.leave.approved:{request.pk}",
        actor_name="approvals",
    )
    _auto_delegate(request, record)


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _auto_delegate(request: ApprovalRequest, record: LeaveRecord) -> None:
    setting = (
        AutoDelegation.objects.filter(staff=record.staff, enabled=True).select_related("delegate").first()
    )
    if setting is None:
        return
    starts = max(_day_start(record.start_date), timezone.now())
    ends = _day_start(record.end_date + datetime.timedelta(days=1))
    try:
        with transaction.atomic():
            delegation = org_services.delegation_create(
                actor=record.staff.user,
                delegator=record.staff,
                delegate=setting.delegate,
                starts_at=starts,
                ends_at=ends,
                reason=gettext("On leave (%(number)s)") % {"number": request.number},
            )
    except (ValidationError, PermissionDenied) as exc:  # the approval stands; the person is told
        request.data = {**request.data, "auto_delegation_error": str(getattr(exc, "messages", exc))[:300]}
        request.save(update_fields=["data", "updated_at"])
        notification_send(
            recipients=[record.staff.user],
            title=gettext("Your approvals were not delegated automatically"),
            body=str(getattr(exc, "messages", exc))[:300],
            link="/org/delegations/",
            kind="approvals.delegation",
        )
        return
    request.data = {**request.data, "auto_delegation": delegation.pk}
    request.save(update_fields=["data", "updated_at"])


@transaction.atomic
def leave_resume(*, actor: Any, request: ApprovalRequest, resumed_on: datetime.date) -> LeaveRecord:
    """销假: the person is back at work on ``resumed_on``; the working days from then to the end of
    the leave go back to the balance (all of them when ``resumed_on`` is on or before the first
    day: the leave is cancelled). Publishes ``approvals.leave.resumed`` with the freed dates and
    ends the automatic delegation."""
    staff = _require_staff(actor)
    request = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("initiator__user")
        .get(pk=request.pk)
    )
    if request.type_key != "leave":
        raise ApprovalInputError("type", _("Only leave can be cancelled (销假)."))
    if request.initiator_id != staff.pk and not has_perm(
        actor, selectors.PERM_BALANCE, department=request.department
    ):
        raise ApprovalPermissionDenied(_("Only the person on leave (or 人事处) may cancel leave."))
    if request.status != RequestStatus.APPROVED:
        raise ApprovalConflict(_("Only approved leave can be cancelled."))
    record = (
        LeaveRecord.objects.select_for_update(of=("self",))
        .select_related("staff__user", "staff__department")
        .get(request=request)
    )
    if record.resumed_on is not None:
        raise ApprovalConflict(
            fmt(_("This leave was already cancelled from %(date)s."), {"date": record.resumed_on})
        )
    if not isinstance(resumed_on, datetime.date):
        raise ApprovalInputError("resumed_on", _("Give the day you are back at work."))
    if resumed_on > record.end_date:
        raise ApprovalInputError("resumed_on", _("The leave is over by then: there is nothing to return."))
    first = max(resumed_on, record.start_date)
    dates = working_dates(first, record.end_date)
    returned = min(len(dates), record.days)
    record.resumed_on = first
    record.returned_days = returned
    record.save(update_fields=["resumed_on", "returned_days"])
    balance = _balance_locked(record.staff, record.leave_type, record.year)
    if returned:
        balance.used -= Decimal(returned)
        balance.save(update_fields=["used", "updated_at"])
        LeaveLedgerEntry.objects.create(
            balance=balance,
            kind=LedgerKind.RETURN,
            days=-Decimal(returned),
            request=request,
            actor=actor,
            note=gettext("Back at work on %(date)s") % {"date": first.isoformat()},
        )
    whole = first <= record.start_date
    if whole:
        request.status = RequestStatus.CANCELLED
        request.save(update_fields=["status", "updated_at"])
    delegation_id = request.data.get("auto_delegation")
    if delegation_id:
        delegation = Delegation.objects.filter(pk=delegation_id, revoked_at__isnull=True).first()
        if delegation is not None:
            try:
                with transaction.atomic():
                    org_services.delegation_revoke(actor=record.staff.user, delegation=delegation)
            except (ValidationError, PermissionDenied):  # already ended: it stays as it was
                pass
    publish(
        LEAVE_RESUMED,
        {**leave_payload(record, dates), "resumed_on": first.isoformat(), "returned_days": returned},
        key=f"approvals.leave.resumed:{request.pk}",
        actor=actor,
    )
    audit_record(
        actor=actor,
        action="approvals.leave.resumed",
        target=request,
        details={"resumed_on": first.isoformat(), "returned_days": returned, "whole": whole},
    )
    return record


@transaction.atomic
def auto_delegation_set(*, actor: Any, delegate: Staff | None, enabled: bool = True) -> AutoDelegation | None:
    """ "While I am on approved leave, delegate my approvals to ``delegate``" (None: off)."""
    staff = _require_staff(actor)
    if delegate is None:
        AutoDelegation.objects.filter(staff=staff).delete()
        audit_record(actor=actor, action="approvals.auto_delegation.removed", target=staff)
        return None
    if delegate.pk == staff.pk:
        raise ApprovalInputError("delegate", _("Choose someone other than yourself."))
    if delegate.status != StaffStatus.ACTIVE or not delegate.user.is_active:
        raise ApprovalInputError("delegate", _("The delegate must be employed."))
    setting, _created = AutoDelegation.objects.update_or_create(
        staff=staff, defaults={"delegate": delegate, "enabled": enabled}
    )
    audit_record(
        actor=actor,
        action="approvals.auto_delegation.set",
        target=staff,
        details={"delegate": delegate.pk, "enabled": enabled},
    )
    return setting


# --- installing the shipped models ---------------------------------------------------------------


@transaction.atomic
def models_install(*, actor: Any, keys: Iterable[str] | None = None) -> list[str]:
    """Publish the start form and deploy the BPMN model of every request type (or of ``keys``)
    that is not deployed yet; returns the keys installed. Deployed models are left alone (an
    administrator may have changed them in the designers)."""
    wanted = set(keys) if keys is not None else None
    installed: list[str] = []
    for request_type in request_types:
        if wanted is not None and request_type.key not in wanted:
            continue
        if ProcessDefinition.objects.filter(
            key=request_type.process_key, latest_version__isnull=False
        ).exists():
            continue
        if not FormDefinition.objects.filter(
            key=request_type.form_key, latest_version__isnull=False
        ).exists():
            schema = json.loads(request_type.form_file.read_text(encoding="utf-8"))
            try:
                forms_services.form_schema_publish(
                    actor=actor,
                    schema=schema,
                    key=request_type.form_key,
                    name=str(request_type.name),
                    category=CATEGORY,
                )
            except FormsError as exc:
                raise ApprovalInputError("form", exc.message, errors=exc.errors) from None
        try:
            flow_services.definition_deploy(
                actor=actor,
                xml=request_type.bpmn.read_text(encoding="utf-8"),
                key=request_type.process_key,
                category=CATEGORY,
            )
        except FlowError as exc:
            raise _flow_error(exc) from None
        installed.append(request_type.key)
    return installed
