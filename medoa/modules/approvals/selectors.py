"""Reads of the approval centre, narrowed by who may see what."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from medoa.core.access.policy import has_perm, scope_q
from medoa.core.org.models import Staff
from medoa.engines.flow import form_link
from medoa.engines.flow import selectors as flow_selectors
from medoa.engines.flow.choices import EventKind, InstanceStatus, TaskStatus
from medoa.engines.flow.models import HumanTask, ProcessDefinition, ProcessEvent, ProcessInstance, TaskCopy

from .choices import LeaveType, RequestStatus
from .errors import ApprovalNotFound
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

PERM_VIEW = "approvals.request.view"
PERM_CALENDAR = "approvals.calendar.manage"
PERM_BALANCE = "approvals.balance.manage"

RUNNING = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)


def staff_of(user: Any) -> Staff | None:
    return flow_selectors.staff_of(user)


def request_visible_q(user: Any) -> Q:
    """The initiator, everyone who may see the process instance, and holders of
    ``approvals.request.view`` in their scope (the initiator's department at submission)."""
    scope = scope_q(user, PERM_VIEW, department_field="department")
    if not scope:
        return Q()
    staff = staff_of(user)
    own = (
        Q(initiator=staff.pk) | Q(pk__in=Comment.objects.filter(mentions=staff.pk).values("request_id"))
        if staff is not None
        else Q(pk__in=[])
    )
    visible_instances = ProcessInstance.objects.filter(flow_selectors.instance_visible_q(user)).values("pk")
    return own | Q(process_instance__in=visible_instances) | scope


def _base() -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.select_related(
        "initiator__user", "department", "process_instance", "leave", "form_record"
    )


def request_get_for_user(*, user: Any, request_id: int) -> ApprovalRequest:
    request = _base().filter(request_visible_q(user), pk=request_id).first()
    if request is None:
        raise ApprovalNotFound()
    return request


def request_list(
    *,
    user: Any,
    box: str = "mine",
    type_key: str = "",
    status: str = "",
    search: str = "",
) -> QuerySet[ApprovalRequest]:
    """``mine``: requests I started; ``todo``: requests with a task open for me; ``done``: requests
    where I closed a task; ``cc``: copied to me; ``all``: every request I may see."""
    staff = staff_of(user)
    if staff is None:
        return ApprovalRequest.objects.none()
    qs = _base()
    if box == "mine":
        qs = qs.filter(initiator=staff)
    elif box == "todo":
        open_tasks = HumanTask.objects.filter(flow_selectors.todo_q(staff.pk)).values("instance_id")
        qs = qs.filter(process_instance__in=open_tasks)
    elif box == "done":
        closed = HumanTask.objects.filter(completed_by=staff.pk, status=TaskStatus.COMPLETED).values(
            "instance_id"
        )
        qs = qs.filter(process_instance__in=closed).exclude(initiator=staff)
    elif box == "cc":
        qs = qs.filter(process_instance__in=TaskCopy.objects.filter(recipient=staff.pk).values("instance_id"))
    else:
        qs = qs.filter(request_visible_q(user))
    if type_key:
        qs = qs.filter(type_key=type_key)
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(
            Q(summary__icontains=search) | Q(number__icontains=search) | Q(initiator__name__icontains=search)
        )
    return qs.order_by("-submitted_at", "-pk")


def todo_tasks_for(*, staff: Staff, instance_ids: list[int]) -> dict[int, HumanTask]:
    """The open task of each instance that ``staff`` may act on now (one query)."""
    tasks = HumanTask.objects.filter(flow_selectors.todo_q(staff.pk), instance_id__in=instance_ids).order_by(
        "created_at", "pk"
    )
    out: dict[int, HumanTask] = {}
    for task in tasks:
        out.setdefault(task.instance_id, task)
    return out


def counts(*, user: Any) -> dict[str, int]:
    staff = staff_of(user)
    if staff is None:
        return {"todo": 0, "mine_running": 0}
    todo = request_list(user=user, box="todo").count()
    running = ApprovalRequest.objects.filter(initiator=staff, status=RequestStatus.SUBMITTED).count()
    return {"todo": todo, "mine_running": running}


# --- the approval chain --------------------------------------------------------------------------


@dataclass
class ChainStep:
    step_id: str
    name: str
    state: str  # "done" | "active" | "skipped" | "cancelled"
    people: list[str] = field(default_factory=list)
    outcome: str = ""
    comment: str = ""
    at: datetime.datetime | None = None
    due_at: datetime.datetime | None = None
    on_behalf_of: str = ""
    task_id: int | None = None


def request_chain(request: ApprovalRequest) -> list[ChainStep]:
    """Who approved when (closed tasks in order), who is next (open tasks, with due times)."""
    instance = request.process_instance
    if instance is None:
        return []
    steps: list[ChainStep] = []
    rows = (
        HumanTask.objects.filter(instance=instance)
        .select_related("assignee", "completed_by", "on_behalf_of")
        .prefetch_related("candidates__staff")
        .order_by("created_at", "pk")
    )
    for row in rows:
        if row.status == TaskStatus.OPEN:
            people = (
                [row.assignee.name]
                if row.assignee is not None
                else [c.staff.name for c in row.candidates.all()]
            )
            steps.append(
                ChainStep(
                    step_id=row.task_def_id,
                    name=row.name,
                    state="active",
                    people=people,
                    due_at=row.due_at,
                    on_behalf_of=row.on_behalf_of.name if row.on_behalf_of else "",
                    task_id=row.pk,
                )
            )
        elif row.status == TaskStatus.COMPLETED:
            automatic = row.completed_by is None
            steps.append(
                ChainStep(
                    step_id=row.task_def_id,
                    name=row.name,
                    state="skipped" if automatic else "done",
                    people=[row.completed_by.name] if row.completed_by else [],
                    outcome=row.outcome,
                    comment=row.comment,
                    at=row.completed_at,
                    on_behalf_of=row.on_behalf_of.name if row.on_behalf_of else "",
                    task_id=row.pk,
                )
            )
    return steps


def request_copies(request: ApprovalRequest) -> list[str]:
    if request.process_instance_id is None:
        return []
    return list(
        TaskCopy.objects.filter(instance_id=request.process_instance_id)
        .order_by("created_at")
        .values_list("recipient__name", flat=True)
    )


def request_history(request: ApprovalRequest) -> list[ProcessEvent]:
    if request.process_instance is None:
        return []
    return flow_selectors.instance_history(instance=request.process_instance)


def comment_list(request: ApprovalRequest) -> list[Comment]:
    return list(request.comments.select_related("author").prefetch_related("mentions"))


# --- leave ---------------------------------------------------------------------------------------


def leave_pending_q() -> Q:
    """Leave still in approval: submitted, its process running."""
    return Q(request__status=RequestStatus.SUBMITTED) & (
        Q(request__process_instance__isnull=True) | Q(request__process_instance__status__in=RUNNING)
    )


def leave_pending_days(staff: Staff, leave_type: str, year: int) -> Decimal:
    total = LeaveRecord.objects.filter(
        leave_pending_q(), staff=staff, leave_type=leave_type, year=year
    ).aggregate(n=Sum("days"))["n"]
    return Decimal(total or 0)


def overlapping_leave(staff: Staff, start: datetime.date, end: datetime.date) -> LeaveRecord | None:
    """A leave of ``staff`` in approval or approved (not fully cancelled) that overlaps the dates."""
    live = leave_pending_q() | Q(request__status=RequestStatus.APPROVED)
    for record in (
        LeaveRecord.objects.filter(live, staff=staff, start_date__lte=end, end_date__gte=start)
        .select_related("request")
        .order_by("start_date")
    ):
        last = record.end_date
        if record.resumed_on is not None:
            last = record.resumed_on - datetime.timedelta(days=1)
        if record.start_date <= end and last >= start:
            return record
    return None


@dataclass
class BalanceRow:
    leave_type: str
    label: str
    year: int
    entitled: Decimal | None
    used: Decimal
    pending: Decimal
    available: Decimal | None


def leave_balances(*, staff: Staff, year: int | None = None) -> list[BalanceRow]:
    """One row per leave type (types without a row yet show their policy's entitlement)."""
    year = year or timezone.localdate().year
    rows = {b.leave_type: b for b in LeaveBalance.objects.filter(staff=staff, year=year)}
    pending = dict(
        LeaveRecord.objects.filter(leave_pending_q(), staff=staff, year=year)
        .values_list("leave_type")
        .annotate(n=Sum("days"))
        .values_list("leave_type", "n")
    )
    out: list[BalanceRow] = []
    for leave_type in LeaveType:
        balance = rows.get(leave_type.value)
        entitled = balance.entitled if balance is not None else entitlement(staff, leave_type.value, year)
        used = balance.used if balance is not None else Decimal(0)
        waiting = Decimal(pending.get(leave_type.value) or 0)
        out.append(
            BalanceRow(
                leave_type=leave_type.value,
                label=str(leave_type.label),
                year=year,
                entitled=entitled,
                used=used,
                pending=waiting,
                available=None if entitled is None else entitled - used - waiting,
            )
        )
    return out


def holiday_list(*, year: int | None = None) -> QuerySet[Holiday]:
    qs = Holiday.objects.all()
    if year:
        qs = qs.filter(date__year=year)
    return qs.order_by("date")


def auto_delegation_of(staff: Staff) -> AutoDelegation | None:
    return AutoDelegation.objects.filter(staff=staff).select_related("delegate").first()


def may_manage_calendar(user: Any) -> bool:
    return has_perm(user, PERM_CALENDAR)


def may_manage_balances(user: Any) -> bool:
    return has_perm(user, PERM_BALANCE)


def automatic_events(request: ApprovalRequest) -> list[ProcessEvent]:
    if request.process_instance_id is None:
        return []
    return list(ProcessEvent.objects.filter(instance_id=request.process_instance_id, kind=EventKind.APPROVED))


def card_context(request: Any) -> dict[str, Any]:
    """The workbench card: approvals waiting for me and my requests in approval."""
    return {"counts": counts(user=request.user)}


def installed_process_keys() -> set[str]:
    return set(
        ProcessDefinition.objects.filter(latest_version__isnull=False, is_active=True).values_list(
            "key", flat=True
        )
    )


def may_see_balances_of(user: Any, staff: Staff) -> bool:
    return has_perm(user, PERM_BALANCE, department=staff.department) or has_perm(
        user, PERM_VIEW, department=staff.department
    )


def ledger_of(*, staff: Staff, year: int) -> list[LeaveLedgerEntry]:
    return list(
        LeaveLedgerEntry.objects.filter(balance__staff=staff, balance__year=year)
        .select_related("balance", "request", "actor__staff")
        .order_by("-at", "-pk")[:100]
    )


def open_tasks_by_instance(instance_ids: list[int]) -> dict[int, list[HumanTask]]:
    """The open tasks of these process instances (who each request waits for): two queries."""
    out: dict[int, list[HumanTask]] = {}
    if not instance_ids:
        return out
    rows = (
        HumanTask.objects.filter(instance_id__in=instance_ids, status=TaskStatus.OPEN)
        .select_related("assignee__user")
        .prefetch_related("candidates__staff__user")
        .order_by("created_at", "pk")
    )
    for row in rows:
        out.setdefault(row.instance_id, []).append(row)
    return out


def start_form(process_key: str) -> form_link.StepView | None:
    """The start form of a request type's installed process as the browser shows it (its current
    published version, empty), or None when the process is not installed or binds no form."""
    definition = (
        ProcessDefinition.objects.filter(key=process_key, is_active=True, latest_version__isnull=False)
        .select_related("latest_version")
        .first()
    )
    if definition is None or definition.latest_version is None:
        return None
    return form_link.start_view(flow_selectors.parsed_version(definition.latest_version))


FILE_TYPES = ("medoa-attachment", "medoa-signature")


@dataclass(frozen=True)
class RequestFile:
    label: str  # the field's label, with the line number inside a list ("报销明细 2 · 发票")
    attachment: Any  # FormAttachment


def _file_fields(components: Any, hidden: set[str], prefix: str = "", within: str = "") -> Any:
    """(path, label, list label) of every file field of a form-js schema not hidden at a step;
    fields of a dynamic list come as ``list[].field`` with the list's label."""
    for component in components or ():
        if not isinstance(component, dict):
            continue
        kind = component.get("type")
        if kind == "dynamiclist" and component.get("path"):
            path = f"{prefix}{component['path']}"
            if path not in hidden:
                label = str(component.get("label") or component["path"])
                yield from _file_fields(component.get("components"), hidden, f"{path}[].", label)
        elif kind == "group" and not component.get("path"):
            yield from _file_fields(component.get("components"), hidden, prefix, within)
        elif kind in FILE_TYPES and component.get("key"):
            path = f"{prefix}{component['key']}"
            if path not in hidden:
                yield path, str(component.get("label") or component["key"]), within


def request_files(request: ApprovalRequest) -> list[RequestFile]:
    """The files of a request's form (invoices per line, the seal document, the contract file …)
    that everyone who sees the request may open: fields hidden at a step of its process are left
    out, as on the page and the sheet. The caller checked that the person may see the request."""
    from medoa.engines.forms.models import FormAttachment

    record = request.form_record
    if record is None:
        return []
    values = record.values or {}
    hidden = set(record.hidden_fields or ())
    wanted: list[tuple[str, str]] = []
    for path, label, within in _file_fields((record.version.schema or {}).get("components"), hidden):
        if "[]." in path:
            list_path, key = path.split("[].", 1)
            for number, row in enumerate(values.get(list_path) or (), start=1):
                if isinstance(row, dict):
                    for token in _tokens(row.get(key)):
                        wanted.append((f"{within} {number} · {label}", token))
        else:
            for token in _tokens(values.get(path)):
                wanted.append((label, token))
    found = FormAttachment.objects.filter(record=record).in_bulk([t for _l, t in wanted])
    return [RequestFile(label=label, attachment=found[t]) for label, t in wanted if t in found]


def _tokens(value: Any) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


def request_file_get(*, user: Any, request_id: int, attachment_id: str) -> Any:
    """One file of a request the person may see (``ApprovalNotFound`` otherwise)."""
    request = request_get_for_user(user=user, request_id=request_id)
    for entry in request_files(request):
        if entry.attachment.pk == attachment_id:
            return entry.attachment
    raise ApprovalNotFound()
