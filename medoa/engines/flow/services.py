"""Every change to the process engine: deploy, start, act on tasks, administer, correlate, tick.

The rules every service follows:

* **One instance at a time, locked.** A change loads its instance with ``SELECT … FOR UPDATE``
  (PostgreSQL; SQLite serialises writers) and saves it with ``UPDATE … WHERE revision = n``: zero
  rows means someone else changed it first → ``FlowConflict``. The task row is read again after
  the lock, so of two people approving the same task one succeeds and the other gets
  ``FlowConflict`` ("This task was already handled by someone else.").
* **Never save after an engine error.** ``EngineError`` becomes ``FlowInputError`` (or, in the
  worker, an ``Incident``) and the transaction rolls back.
* **After every engine step the projection is synced** (``_sync``): human tasks (created with
  their assignment and due date; rows whose engine task vanished are closed CANCELLED), service
  jobs, message subscriptions, ``next_due_at``, the variables snapshot, status and outcome, and
  the history.
* **Audit last.** ``audit_record`` is the last call of a service (it locks the chain head).

Decisions where issue 3 is silent (documented here once):

* *Rounds.* ``(spiff task id, round)`` is unique; the row with the highest round of a spiff task
  is its *current* row. A transfer or a return closes the current row and opens round + 1.
* *Return to the initiator* (``to_step`` empty): when the first completed user task was the
  initiator's own (a "submit" step), the process goes back to it. Otherwise the initiator gets a
  *resubmit* task (``signer_position="resubmit"``, not an engine task); while it is open no other
  task is created; resubmitting resets the engine to the first user task (or, when that task was
  never completed, hands the resubmitted variables to it) and its last assignee gets it again.
* *Withdraw* (initiator, while nobody else completed a task): back to the initiator's own first
  step when there is one (the instance keeps running, the open rows close WITHDRAWN); otherwise
  the workflow is cancelled and the instance ends WITHDRAWN.
* *Add signer.* ``before``: a task for the new signer that must be closed before the current one
  can be acted on (their approve/reject is an opinion; the current person still decides).
  ``after``: remembered on the current task; when its assignee approves or completes, the new
  signer gets a task, and the step completes (engine) when that task does. ``alongside`` on a
  countersign share: a new share (the facade's ``add_countersigner``); on a plain task: an extra
  task that must also be approved before the step completes. In both ``after`` and ``alongside``
  one rejection rejects the step (``approved=False``) and closes the group's other open tasks.
* *Candidates with delegations:* a delegate replaces the candidate; claiming records whom they
  act for. A delegation created after a task was assigned lets the delegate act on it (the
  history shows on whose behalf), but the task stays in the assignee's inbox.
* *Due dates:* ``reminded_at`` marks the reminder before the due time (``remind_before``),
  ``escalated_at`` the reminder/escalation at the due time.
* *Timer starts:* one firing per tick when the worker was away (missed firings are skipped).
* *Suspended instances* keep their open tasks in the inboxes, but every action answers
  ``FlowConflict``; the worker leaves them alone until they are resumed.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Field, Max, Model, Q
from django.db.models.sql import Query
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from medoa.core.access.cache import TTLCache, org_fact
from medoa.core.access.models import RoleGrant
from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record
from medoa.core.notify.services import notification_send
from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Staff
from medoa.core.org.selectors import active_delegate_for, leader_above
from medoa.engines.forms import process_link as forms_link
from medoa.engines.forms import services as forms
from medoa.engines.forms.choices import RecordSource, RecordStatus
from medoa.engines.forms.errors import (
    FormsConflict,
    FormsError,
    FormsNotFound,
    FormsPermissionDenied,
    ValidationFailed,
)
from medoa.engines.forms.models import FormRecord
from medoa.engines.rules.models import DecisionVersion

from . import assignment as assign
from . import form_link
from .attachments import attachment_problems, clean_name, content_type_of, stored_name
from .choices import (
    EventKind,
    IncidentStatus,
    InstanceOutcome,
    InstanceStatus,
    ServiceJobStatus,
    SignerPosition,
    TaskOutcome,
    TaskStatus,
)
from .errors import FlowConflict, FlowError, FlowInputError, FlowNotFound, FlowPermissionDenied, fmt
from .models import (
    HumanTask,
    HumanTaskCandidate,
    Incident,
    MessageSubscription,
    ProcessAttachment,
    ProcessDefinition,
    ProcessDraft,
    ProcessEvent,
    ProcessInstance,
    ProcessVersion,
    ServiceJob,
    TaskCopy,
    TimerStartSchedule,
)
from .registry import service_functions
from .selectors import (
    ADDED_POSITIONS,
    PERM_ADMIN,
    PERM_DESIGN,
    PERM_MESSAGE,
    PERM_START,
    POSITION_AFTER,
    POSITION_ALONGSIDE,
    POSITION_BEFORE,
    POSITION_RESUBMIT,
    acting_for,
    completed_by_others,
    is_admin,
    load_workflow,
    message_waiters,
    parsed_version,
    staff_of,
    task_action_denial,
)
from .spiff import (
    DecisionFacts,
    DefinitionInvalid,
    EngineError,
    ParsedDefinition,
    Problem,
    ReadyUserTask,
    UserTaskInfo,
    Workflow,
    parse_definition,
)

logger = logging.getLogger("medoa.flow")
M = TypeVar("M", bound=Model)

MAX_XML_BYTES = 5 * 1024 * 1024  # as the API and the deploy check
MAX_VARIABLES_BYTES = 64 * 1024
MAX_VARIABLES_DEPTH = 16
MAX_COMMENT = 4000
MAX_BATCH = 100
MAX_MESSAGE_DEPTH = 10  # messages routed from instance to instance within one change
TICK_BATCH = 100
JOB_BACKOFF_SECONDS = (15, 60, 300, 900, 3600)
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CALLED = re.compile(r"""calledElement\s*=\s*["']([^"']+)["']""")
AUDIT_DECISION = {
    "approve": "flow.task.approved",
    "reject": "flow.task.rejected",
    "complete": "flow.task.completed",
}
AUDIT_OTHER_ACTIONS = {
    "add_signer": "flow.task.signer_added",
    "claim": "flow.task.claimed",
    "unclaim": "flow.task.unclaimed",
    "urge": "flow.task.urged",
    "cc": "flow.task.copied",
}
CLOSED_BY_PERSON = {
    "approve": (TaskStatus.COMPLETED, TaskOutcome.APPROVED, EventKind.APPROVED),
    "reject": (TaskStatus.COMPLETED, TaskOutcome.REJECTED, EventKind.REJECTED),
    "complete": (TaskStatus.COMPLETED, TaskOutcome.COMPLETED, EventKind.COMPLETED),
}


@dataclass(frozen=True)
class BatchResult:
    task_id: int
    ok: bool
    message: Any = ""


@dataclass
class MessageResult:
    """The instances a message reached: ``correlated`` (were waiting) and ``started`` (by a message
    start event). Iterating gives both."""

    correlated: list[ProcessInstance] = field(default_factory=list)
    started: list[ProcessInstance] = field(default_factory=list)

    def __iter__(self) -> Iterator[ProcessInstance]:
        return iter([*self.correlated, *self.started])

    def __len__(self) -> int:
        return len(self.correlated) + len(self.started)


@dataclass
class _Run:
    """One instance loaded for a change: its row (locked), the parsed version and the workflow."""

    instance: ProcessInstance
    parsed: ParsedDefinition
    wf: Workflow
    now: datetime.datetime
    # step id → variables its next task must be completed with (see ``_reset_to``)
    carry: dict[str, dict[str, Any]] = field(default_factory=dict)
    migrated: bool = False  # the version changed: refresh every side table
    # history rows of this change not written yet: ``_sync`` writes them with one insert, in order
    events: list[ProcessEvent] = field(default_factory=list)
    # steps passed on because the initiator would have approved them (``_pass_initiator_steps``)
    passed_steps: int = 0
    # every task row of the instance as the database has it, when the change knows them already
    # (a new instance; a plain decision on a task read with its siblings): ``_sync`` takes them
    # instead of reading them again, once
    rows: list[HumanTask] | None = None
    # writes held back to go with the instance's save (``_bump``): on PostgreSQL in its statement
    # (see ``_bump``), elsewhere just before it; ``_sync`` writes them first if it reads the rows
    writes: list[tuple[str, list[Any]]] = field(default_factory=list)


# --- small helpers -------------------------------------------------------------------------------


def _now() -> datetime.datetime:
    return timezone.now()


def _require_staff(actor: Any) -> Staff:
    staff = staff_of(actor)
    if staff is None or not staff.is_active:
        raise FlowPermissionDenied(_("Only staff members can take part in processes."))
    return staff


def _clean_variables(variables: Any, *, field_name: str = "variables") -> dict[str, Any]:
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise FlowInputError(_("The variables must be an object of name → value."), field=field_name)
    for name, value in variables.items():
        shown = str(name).replace("\x00", "")[:80]
        if not isinstance(name, str) or not _VARIABLE.match(name) or name.startswith("__"):
            raise FlowInputError(
                fmt(
                    _("“%(name)s” is not a valid variable name (letters, digits and _; no leading digit)."),
                    {"name": shown},
                ),
                field=f"{field_name}.{shown}",
            )
        _check_value(value, name=name, field=f"{field_name}.{name}", depth=2)
    try:
        size = len(json.dumps(variables, default=str, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise FlowInputError(_("The variables cannot be stored as JSON."), field=field_name) from exc
    if size > MAX_VARIABLES_BYTES:
        raise FlowInputError(
            fmt(_("The variables are too large (at most %(max)s KB)."), {"max": MAX_VARIABLES_BYTES // 1024}),
            field=field_name,
        )
    return dict(variables)


_PLAIN_VALUES = (bool, int, Decimal, datetime.date, datetime.time, datetime.timedelta, uuid.UUID)


def _check_value(value: Any, *, name: str, field: str, depth: int) -> None:
    """A variable's value must keep as JSON: text without NUL characters (PostgreSQL cannot store
    them), finite numbers, dates and times, lists and objects with text keys, at most
    ``MAX_VARIABLES_DEPTH`` levels deep."""
    if depth > MAX_VARIABLES_DEPTH:
        raise FlowInputError(
            fmt(
                _("“%(name)s” is nested too deeply (at most %(max)s levels)."),
                {"name": name, "max": MAX_VARIABLES_DEPTH},
            ),
            field=field,
        )
    if value is None or isinstance(value, _PLAIN_VALUES):
        if isinstance(value, Decimal) and not value.is_finite():
            raise FlowInputError(fmt(_("“%(name)s” must be a finite number."), {"name": name}), field=field)
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise FlowInputError(
                fmt(_("“%(name)s” must not contain NUL characters."), {"name": name}), field=field
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FlowInputError(fmt(_("“%(name)s” must be a finite number."), {"name": name}), field=field)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise FlowInputError(
                    fmt(_("“%(name)s” has a key that is not text."), {"name": name}), field=field
                )
            _check_value(item, name=name, field=field, depth=depth + 1)
        return
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_value(item, name=name, field=field, depth=depth + 1)
        return
    raise FlowInputError(
        fmt(
            _(
                "“%(name)s” holds a value that cannot be kept (%(type)s); "
                "use text, numbers, dates, lists or objects."
            ),
            {"name": name, "type": type(value).__name__},
        ),
        field=field,
    )


def _clean_text(value: Any, *, field: str, max_length: int, too_long: Any) -> str:
    """Text input of a service: ``None`` is empty; no NUL characters; at most ``max_length``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FlowInputError(fmt(_("“%(field)s” must be text."), {"field": field}), field=field)
    if "\x00" in value:
        raise FlowInputError(_("Must not contain NUL characters."), field=field)
    value = value.strip()
    if len(value) > max_length:
        raise FlowInputError(too_long, field=field)
    return value


def _clean_comment(comment: str | None) -> str:
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise FlowInputError(_("The comment must be text."), field="comment")
    comment = comment.replace("\x00", "").strip()
    if len(comment) > MAX_COMMENT:
        raise FlowInputError(
            fmt(_("The comment is too long (at most %(max)s characters)."), {"max": MAX_COMMENT}),
            field="comment",
        )
    return comment


def _check_attachments(attachments: Sequence[UploadedFile]) -> None:
    """The guard for files attached to an opinion (count, size, extension and content); one
    message per rejected file."""
    problems = attachment_problems(attachments)
    if not problems:
        return
    message = (
        problems[0]
        if len(problems) == 1
        else fmt(_("%(count)s of the attachments cannot be accepted."), {"count": len(problems)})
    )
    raise FlowInputError(message, field="attachments", errors=[("attachments", p) for p in problems])


def _save_attachments(event: ProcessEvent, attachments: Sequence[UploadedFile], staff: Staff | None) -> None:
    """Store each (checked) file under a random name; the person's name for it stays in the row."""
    for upload in attachments:
        name = clean_name(upload.name)
        upload.seek(0)
        row = ProcessAttachment(
            event=event,
            name=name,
            size=upload.size or 0,
            content_type=content_type_of(name)[:100],
            uploaded_by=staff,
        )
        row.file.save(stored_name(name), upload, save=False)
        written = _stored_files.get()
        if written is not None and row.file.name:
            written.append(row.file.name)
        row.save()


def _staff_by_username(username: str | None, *, field_name: str = "to_user") -> Staff:
    if username is not None and not isinstance(username, str):
        raise FlowInputError(fmt(_("“%(field)s” must be text."), {"field": field_name}), field=field_name)
    name = (username or "").strip()
    if not name:
        raise FlowInputError(_("Say who should take the task."), field=field_name)
    if "\x00" in name or len(name) > 150:
        raise FlowInputError(
            fmt(_("There is no active staff member “%(user)s”."), {"user": name.replace("\x00", "")[:80]}),
            field=field_name,
        )
    staff = (
        Staff.objects.select_related("user", "department")
        .filter(user__username=name, status=StaffStatus.ACTIVE, user__is_active=True)
        .first()
    )
    if staff is None:
        raise FlowInputError(
            fmt(_("There is no active staff member “%(user)s”."), {"user": name[:80]}), field=field_name
        )
    return staff


def _task_link(task: HumanTask) -> str:
    return f"/flow/tasks/{task.pk}/"


def _instance_link(instance: ProcessInstance) -> str:
    return f"/flow/instances/{instance.pk}/"


def _users(people: Iterable[Staff | None]) -> list[Any]:
    return [p.user for p in people if p is not None]


def _admin_staff() -> list[Staff]:
    """Everyone holding ``flow.instance.admin`` through a role (the people who fix incidents)."""
    roles = RoleGrant.objects.filter(permission=PERM_ADMIN, enabled=True).values("role_id")
    return list(
        Staff.objects.filter(
            role_assignments__role_id__in=roles, status=StaffStatus.ACTIVE, user__is_active=True
        )
        .select_related("user")
        .distinct()
    )


def _seconds_between(start: datetime.datetime | None, end: datetime.datetime) -> int | None:
    if start is None:
        return None
    return max(0, int((end - start).total_seconds()))


def _event(
    instance: ProcessInstance,
    kind: str,
    *,
    actor: Staff | None = None,
    task: HumanTask | None = None,
    on_behalf_of: Staff | None = None,
    comment: str = "",
    data: dict[str, Any] | None = None,
    duration: int | None = None,
    step_id: str = "",
    step_name: str = "",
    defer: list[ProcessEvent] | None = None,
) -> ProcessEvent:
    """One history row; with ``defer`` (a run's ``events``) it is written later, with the others."""
    event = ProcessEvent(
        instance=instance,
        task=task,
        kind=kind,
        actor=actor,
        on_behalf_of=on_behalf_of,
        step_id=step_id or (task.task_def_id if task is not None else ""),
        step_name=(step_name or (task.name if task is not None else ""))[:300],
        comment=comment,
        data=data or {},
        duration_seconds=duration,
    )
    if defer is not None:
        defer.append(event)
    else:
        event.save(force_insert=True)
    return event


def _engine_failed(exc: EngineError, *, field: str | None = None) -> FlowInputError:
    """The engine's refusal as a precise 4xx: which step, and why (in the active language where
    the reason is ours; SpiffWorkflow's own words stay English)."""
    if exc.step_id:
        return FlowInputError(
            fmt(_("Step “%(step)s” could not run: %(error)s"), {"step": exc.step_label, "error": exc.detail}),
            field=field,
        )
    return FlowInputError(
        fmt(_("The process could not go on: %(error)s"), {"error": exc.detail}), field=field
    )


def _engine(call: Callable[[], Any], *, field: str | None = None) -> Any:
    """Run one engine call; an ``EngineError`` becomes a ``FlowInputError`` (nothing is saved);
    ``field`` names the input at fault (the start variables, for instance)."""
    try:
        return call()
    except EngineError as exc:
        raise _engine_failed(exc, field=field) from exc


# --- definitions and the parsed-spec cache -------------------------------------------------------


def _called_ids(xml: str) -> set[str]:
    return {m.strip() for m in _CALLED.findall(xml) if m.strip() and not m.strip().startswith("${")}


def _resolve_called(xml: str) -> tuple[dict[str, str], dict[str, ProcessVersion]]:
    """The called processes of ``xml`` (and theirs, transitively) at their latest deployed versions:
    ``({process id: xml}, {process id: version})``."""
    sources: dict[str, str] = {}
    versions: dict[str, ProcessVersion] = {}
    pending = list(_called_ids(xml))
    while pending:
        pid = pending.pop()
        if pid in sources:
            continue
        definition = (
            ProcessDefinition.objects.select_related("latest_version")
            .filter(Q(latest_version__process_id=pid) | Q(key=pid), latest_version__isnull=False)
            .order_by("pk")
            .first()
        )
        if definition is None or definition.latest_version is None:
            continue
        version = definition.latest_version
        sources[pid] = version.bpmn_xml
        versions[pid] = version
        pending.extend(_called_ids(version.bpmn_xml) - set(sources))
    return sources, versions


def _decision_facts(key: str, version: int | None) -> DecisionFacts | None:
    """A deployed DMN decision version (its latest when ``version`` is None), for the deploy check
    of business-rule tasks."""
    qs = DecisionVersion.objects.filter(definition__key=key)
    found = (
        qs.filter(version=version) if version is not None else qs.filter(definition__latest_version=F("pk"))
    ).first()
    if found is None:
        return None
    metadata = found.metadata if isinstance(found.metadata, dict) else {}
    outputs = tuple(
        str(o.get("name") or o.get("id") or "") for o in metadata.get("outputs", []) if isinstance(o, dict)
    )
    return DecisionFacts(key=key, version=found.version, outputs=outputs, hit_policy=found.hit_policy)


def _too_large_problem() -> Problem:
    return Problem(
        gettext_noop("The file is larger than %(max)s MB."), {"max": MAX_XML_BYTES // 1024 // 1024}
    )


@transaction.atomic
def definition_deploy(
    *, actor: Any, xml: bytes | str, key: str | None = None, name: str | None = None, category: str = ""
) -> ProcessVersion:
    """Validate and deploy ``xml`` as the next version of ``key`` (default: the BPMN process id).

    Raises ``DefinitionInvalid`` with every problem found; nothing is written then.
    """
    if not has_perm(actor, PERM_DESIGN):
        raise FlowPermissionDenied(_("You may not deploy process definitions."))
    if not isinstance(xml, bytes | str):
        raise FlowInputError(_("Send the BPMN XML as text or as a file."), field="xml")
    if isinstance(xml, bytes):
        if len(xml) > MAX_XML_BYTES:
            raise DefinitionInvalid([_too_large_problem()])
        try:
            text = xml.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DefinitionInvalid([Problem(gettext_noop("The file is not UTF-8 text."))]) from None
    else:
        text = xml
        if len(text.encode("utf-8")) > MAX_XML_BYTES:
            raise DefinitionInvalid([_too_large_problem()])
    if key is not None and key != "" and not (isinstance(key, str) and _KEY.fullmatch(key)):
        raise FlowInputError(
            _("The key may only hold letters, digits, _ and - (at most 64 characters)."), field="key"
        )
    name = _clean_text(
        name, field="name", max_length=200, too_long=_("The name is too long (at most 200 characters).")
    )
    category = _clean_text(
        category,
        field="category",
        max_length=64,
        too_long=_("The category is too long (at most 64 characters)."),
    )
    if "\x00" in text:
        raise DefinitionInvalid([Problem(gettext_noop("The file contains NUL characters."))])

    called, called_versions = _resolve_called(text)
    parsed = parse_definition(
        text,
        called=called,
        functions=[n for n, _f in service_functions.items()],
        form_check=form_link.deploy_form_check,
        decisions=_decision_facts,
    )
    key = key or parsed.process_id
    if not _KEY.fullmatch(key):
        raise FlowInputError(
            fmt(
                _("The process id “%(id)s” cannot be a key; give a key of letters, digits, _ and -."),
                {"id": key[:80]},
            ),
            field="key",
        )
    definition = ProcessDefinition.objects.select_for_update().filter(key=key).first()
    if definition is None:
        definition = ProcessDefinition.objects.create(
            key=key, name=name or parsed.name or key, category=category, created_by=actor
        )
    number = (definition.versions.aggregate(top=Max("version"))["top"] or 0) + 1
    metadata = dict(parsed.metadata)
    metadata["called_versions"] = {pid: v.pk for pid, v in called_versions.items()}
    metadata["called_checksums"] = {pid: v.checksum for pid, v in called_versions.items()}
    version = ProcessVersion.objects.create(
        definition=definition,
        version=number,
        process_id=parsed.process_id,
        name=(parsed.name or name or key)[:200],
        bpmn_xml=text,
        checksum=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        metadata=metadata,
        deployed_by=actor,
    )
    definition.latest_version = version
    if name:
        definition.name = name
    if category:
        definition.category = category
    definition.save(update_fields=["latest_version", "name", "category"])
    _definitions.discard(definition.pk)
    _schedule_timer_start(definition, version, parsed.timer_start, now=_now())
    ProcessDraft.objects.filter(key=key).delete()  # the designer opens the deployed version now
    audit_record(
        actor=actor,
        action="flow.definition.deployed",
        target=version,
        details={"key": key, "version": number, "checksum": version.checksum},
    )
    return version


@transaction.atomic
def draft_save(*, actor: Any, key: str, xml: str, name: str = "") -> ProcessDraft:
    """Keep the designer's unsaved work for ``key`` (not validated; one draft per key)."""
    if not has_perm(actor, PERM_DESIGN):
        raise FlowPermissionDenied(_("You may not design process definitions."))
    if not (isinstance(key, str) and _KEY.fullmatch(key)):
        raise FlowInputError(
            _("The key may only hold letters, digits, _ and - (at most 64 characters)."), field="key"
        )
    if not isinstance(xml, str) or "\x00" in xml:
        raise FlowInputError(_("The drawing must be BPMN XML text."), field="xml")
    if len(xml.encode("utf-8")) > MAX_XML_BYTES:
        raise FlowInputError(
            fmt(_("The drawing is too large (at most %(max)s MB)."), {"max": MAX_XML_BYTES // 1024 // 1024}),
            field="xml",
        )
    name = _clean_text(
        name, field="name", max_length=200, too_long=_("The name is too long (at most 200 characters).")
    )
    draft, _created = ProcessDraft.objects.update_or_create(
        key=key, defaults={"bpmn_xml": xml, "name": name, "updated_by": actor}
    )
    return draft


# --- timer start schedules -----------------------------------------------------------------------


def _first_firing(expression: str, now: datetime.datetime) -> tuple[datetime.datetime, str, int | None]:
    """(first firing, period or "", remaining firings) of an ISO date, duration or cycle."""
    text = expression.strip().strip("'\"")
    if text[:1] in ("R", "r"):
        head, _slash, rest = text.partition("/")
        count = int(head[1:]) if head[1:] else None
        parts = rest.split("/")
        if len(parts) == 1:
            return assign.add_duration(now, parts[0]), parts[0], count
        if len(parts) == 2 and parts[1][:1] in ("P", "p"):
            return assign.parse_moment(parts[0]), parts[1], count
        raise ValueError(f"unsupported cycle {text!r}")
    if text[:1] in ("P", "p"):
        return assign.add_duration(now, text), "", 1
    return assign.parse_moment(text), "", 1


def _schedule_timer_start(
    definition: ProcessDefinition, version: ProcessVersion, expression: str | None, *, now: datetime.datetime
) -> None:
    if not expression:
        TimerStartSchedule.objects.filter(definition=definition).delete()
        return
    try:
        first, period, remaining = _first_firing(expression, now)
        if period:
            assign.parse_duration(period)
    except (ValueError, OverflowError):
        raise DefinitionInvalid(
            [
                Problem(
                    gettext_noop("The timer start '%(value)s' is not an ISO 8601 date, duration or cycle."),
                    {"value": expression},
                    "",
                    "startEvent",
                )
            ]
        ) from None
    TimerStartSchedule.objects.update_or_create(
        definition=definition,
        defaults={
            "version": version,
            "expression": expression[:200],
            "period": period,
            "next_fire_at": first,
            "remaining": remaining,
            "fired_count": 0,
        },
    )


# --- loading and saving an instance --------------------------------------------------------------


# Every action locks its instance first. The ORM spent several milliseconds building that
# statement (a subquery, FOR UPDATE OF, joins) for a fraction of a millisecond of database time, so
# it is written out once; the version, the definition and the initiator come from per-process
# caches (see ``_version``, ``_definition``, ``_staff``).
_VERSIONS: dict[tuple[int, str], ProcessVersion] = {}
_MAX_VERSIONS = 512
_definitions: TTLCache[ProcessDefinition] = TTLCache("flow definitions")


_LOCK_SQL = (
    "SELECT {columns}, v.checksum AS version_checksum FROM {instances} i "
    "JOIN {versions} v ON v.id = i.version_id WHERE {where}"
)
_BY_TASK = "i.id = (SELECT t.instance_id FROM {tasks} t WHERE t.id = %s)"


def _lock_statement(where: str, *, skip_locked: bool) -> str:
    """``where`` is ours (identifiers from the models' metadata); values are bound parameters.
    Built once per database vendor: every task action runs it."""
    return _lock_sql(connection.vendor, where, skip_locked)


@functools.cache
def _lock_sql(vendor: str, where: str, skip_locked: bool) -> str:
    quote = connection.ops.quote_name
    sql = _LOCK_SQL.format(
        columns=", ".join(f"i.{quote(f.column or f.attname)}" for f in ProcessInstance._meta.concrete_fields),
        instances=quote(ProcessInstance._meta.db_table),
        versions=quote(ProcessVersion._meta.db_table),
        where=where,
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE OF i" + (" SKIP LOCKED" if skip_locked else "")
    return sql


_TASK_SQL = (
    "SELECT {columns}, EXISTS (SELECT 1 FROM {tasks} s WHERE s.added_for_id = t.id) AS has_added_signers "
    "FROM {tasks} t WHERE t.instance_id = %s"
)


def _task_statement() -> str:
    """An instance's tasks, each with whether signers were added to it (the action checks and
    completes those; a plain decision's ``_sync`` takes the others from here)."""
    return _task_sql(connection.vendor)


@functools.cache
def _task_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    return _TASK_SQL.format(
        columns=", ".join(f"t.{quote(f.column or f.attname)}" for f in HumanTask._meta.concrete_fields),
        tasks=quote(HumanTask._meta.db_table),
    )


# The hot path's inserts and updates are written out too: the ORM's per-statement work (query
# compilation, expression resolution) cost about as much as the database. The statements are built
# once per vendor, model and shape; values go through each field's own ``get_db_prep_save`` as the
# ORM's would. The flow models have no signals and no ``save()`` of their own, so nothing is skipped.


_INSERT_SQL = "INSERT INTO {table} ({columns}) VALUES {values} RETURNING {pk}"
_UPDATE_SQL = "UPDATE {table} SET {sets} WHERE {where}"


@functools.lru_cache(maxsize=16)
def _insert_fields(model: type[Model]) -> tuple[Field[Any, Any], ...]:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


@functools.lru_cache(maxsize=128)
def _insert_sql(vendor: str, model: type[Model], rows: int) -> str:
    quote = connection.ops.quote_name
    fields = _insert_fields(model)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return _INSERT_SQL.format(
        table=quote(model._meta.db_table),
        columns=", ".join(quote(f.column or f.attname) for f in fields),
        values=", ".join([one] * rows),
        pk=quote(_pk_column(model)),
    )


def _pk_column(model: type[Model]) -> str:
    pk = model._meta.pk
    assert pk is not None
    return pk.column or pk.attname


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    found = model._meta.get_field(name)
    assert isinstance(found, Field)
    return found


# On PostgreSQL most values need no conversion: a field of a plain built-in class stores a value of
# its own Python type as it is (psycopg adapts it), which is what its ``get_db_prep_save`` returns.
# Only those skip the field's conversion; every other field or value (JSON, a naive or non-datetime
# value, a lazy string, any field class of our own) goes through it as the ORM would.
_INTEGER_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
)
_PLAIN_FIELDS: dict[type[Field[Any, Any]], type] = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.UUIDField: uuid.UUID,
    models.DateTimeField: datetime.datetime,
    **dict.fromkeys(_INTEGER_FIELDS, int),
}


@functools.lru_cache(maxsize=512)
def _plain_type(vendor: str, field: Field[Any, Any]) -> type | None:
    """The type of the values ``field`` stores unchanged (None: every value is converted)."""
    if vendor != "postgresql":
        return None
    if type(field) is models.ForeignKey:
        return int if type(field.target_field) in _INTEGER_FIELDS else None
    return _PLAIN_FIELDS.get(type(field))


def _db_value(vendor: str, field: Field[Any, Any], value: Any) -> Any:
    """``field.get_db_prep_save(value)``, without the work where it would return ``value``."""
    if value is None and field.null:
        return None
    plain = _plain_type(vendor, field)
    if (
        plain is not None
        and type(value) is plain
        and (plain is not datetime.datetime or getattr(value, "tzinfo", None) is not None)
    ):
        return value
    return field.get_db_prep_save(value, connection)


def _insert(objs: Sequence[Model]) -> None:
    """Insert new rows of one model (ids set on the objects, in order), as ``bulk_create`` would."""
    if not objs:
        return
    if not connection.features.can_return_rows_from_bulk_insert:
        type(objs[0])._default_manager.bulk_create(objs)
        return
    model = type(objs[0])
    fields = _insert_fields(model)
    batch = max(1, connection.ops.bulk_batch_size(list(fields), list(objs)))
    vendor = connection.vendor
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch):
            chunk = objs[start : start + batch]
            params: list[Any] = []
            for obj in chunk:
                obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
                params.extend(_db_value(vendor, f, f.pre_save(obj, True)) for f in fields)
            cursor.execute(_insert_sql(vendor, model, len(chunk)), params)
            for obj, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                obj.pk = pk
                obj._state.adding = False
                obj._state.db = connection.alias


@functools.lru_cache(maxsize=128)
def _update_sql(vendor: str, model: type[Model], names: tuple[str, ...], guard: str | None) -> str:
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(_field(model, n).column or n)} = %s" for n in names)
    where = f"{quote(_pk_column(model))} = %s"
    if guard is not None:
        where += f" AND {quote(_field(model, guard).column or guard)} = %s"
    return _UPDATE_SQL.format(table=quote(model._meta.db_table), sets=sets, where=where)


def _update_statement(obj: Model, names: Sequence[str]) -> tuple[str, list[Any]]:
    model = type(obj)
    vendor = connection.vendor
    params = [_db_value(vendor, f, f.pre_save(obj, False)) for f in (_field(model, n) for n in names)]
    params.append(obj.pk)
    return _update_sql(vendor, model, tuple(names), None), params


def _update(obj: Model, names: Sequence[str]) -> None:
    """``obj.save(update_fields=names)``, written out (the row must exist)."""
    sql, params = _update_statement(obj, names)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")


def _insert_statement(objs: Sequence[Model]) -> tuple[str, list[Any]]:
    """The insert of a few new rows of one model whose ids nobody needs (PostgreSQL)."""
    model = type(objs[0])
    fields = _insert_fields(model)
    vendor = connection.vendor
    params: list[Any] = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
        params.extend(_db_value(vendor, f, f.pre_save(obj, True)) for f in fields)
    return _insert_sql(vendor, model, len(objs)), params


def _write(writes: list[tuple[str, list[Any]]]) -> None:
    """Run the held-back writes (and forget them)."""
    with connection.cursor() as cursor:
        for sql, params in writes:
            cursor.execute(sql, params)
    writes.clear()


def _version(version_id: int, checksum: str) -> ProcessVersion:
    """A deployed version (never changed after deploy), without its XML, cached per process by id
    and checksum (SQLite may hand a rolled-back row's id to another document)."""
    key = (version_id, checksum)
    version = _VERSIONS.get(key)
    if version is None:
        version = ProcessVersion.objects.defer("bpmn_xml").get(pk=version_id)
        if len(_VERSIONS) >= _MAX_VERSIONS:
            _VERSIONS.clear()
        _VERSIONS[key] = version
    return version


def _definition(definition_id: int) -> ProcessDefinition:
    """The definition (its key and name), kept for the access-cache TTL; deploys drop it."""
    found = _definitions.get(definition_id)
    if isinstance(found, ProcessDefinition):
        return found
    generation = _definitions.generation()
    definition = ProcessDefinition.objects.get(pk=definition_id)
    _definitions.set(definition_id, definition, generation=generation)
    return definition


def _staff(staff_id: int) -> Staff:
    return org_fact(
        ("staff", staff_id), lambda: Staff.objects.select_related("user", "department").get(pk=staff_id)
    )


# The hot path's reads of whole rows go through a plain cursor: ``Model.from_db`` with the
# converters the ORM itself would apply (``get_converters``), worked out once per connection and
# model. ``Manager.raw`` maps the columns to fields again for every statement, which cost more
# than the statement. Each statement selects the model's concrete columns in order, then extras.


@functools.lru_cache(maxsize=64)
def _row_reader(
    db: BaseDatabaseWrapper, model: type[Model]
) -> tuple[tuple[str, ...], dict[int, tuple[list[Any], Any]]]:
    fields = model._meta.concrete_fields
    compiler = db.ops.compiler("SQLCompiler")(Query(model), db, db.alias)
    converters = compiler.get_converters([f.get_col(model._meta.db_table) for f in fields])
    return tuple(f.attname for f in fields), converters


def _fetch_rows(model: type[M], sql: str, params: Sequence[Any]) -> list[tuple[M, tuple[Any, ...]]]:
    """The rows of ``sql`` as ``model`` instances, each with the extra columns after its own."""
    db = connections[connection.alias]
    names, converters = _row_reader(db, model)
    width = len(names)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        values = list(row[:width])
        for index, (functions, expression) in converters.items():
            value = values[index]
            for convert in functions:
                value = convert(value, expression, db)
            values[index] = value
        found.append((model.from_db(db.alias, names, values), tuple(row[width:])))
    return found


def _locked(where: str, param: int, *, skip_locked: bool = False) -> ProcessInstance | None:
    found = _fetch_rows(ProcessInstance, _lock_statement(where, skip_locked=skip_locked), [param])
    if not found:
        return None
    instance, (checksum,) = found[0]
    instance.version_checksum = checksum  # type: ignore[attr-defined]
    instance.version = _version(instance.version_id, instance.version_checksum)  # type: ignore[attr-defined]
    instance.definition = _definition(instance.definition_id)
    if instance.initiator_id is not None:
        instance.initiator = _staff(instance.initiator_id)
    return instance


def _lock(instance_id: int, *, skip_locked: bool = False) -> ProcessInstance | None:
    return _locked("i.id = %s", instance_id, skip_locked=skip_locked)


def _lock_or_404(instance_id: int) -> ProcessInstance:
    instance = _lock(instance_id)
    if instance is None:
        raise FlowNotFound(_("There is no such process instance."))
    return instance


def _open(instance: ProcessInstance, now: datetime.datetime | None = None) -> _Run:
    parsed = parsed_version(instance.version)
    wf = _engine(lambda: load_workflow(instance, parsed))
    return _Run(instance=instance, parsed=parsed, wf=wf, now=now or _now())


def _bump(
    instance: ProcessInstance, *, writes: list[tuple[str, list[Any]]] | None = None, **fields: Any
) -> None:
    """Save ``fields`` and the next revision, if nobody saved the instance since we read it.

    ``writes``: statements of the change held back until now (and cleared). On PostgreSQL they go
    in the same statement, as data-modifying ``WITH`` parts (run once each, before the transaction
    goes on; they touch other rows than the instance's, and only the instance's rowcount decides
    the conflict, which rolls them back with the rest); elsewhere they run first, one by one."""
    now = _now()
    names = ("revision", "updated_at", *fields)
    vendor = connection.vendor
    params = [
        _db_value(vendor, _field(ProcessInstance, name), value.pk if isinstance(value, Model) else value)
        for name, value in (("revision", instance.revision + 1), ("updated_at", now), *fields.items())
    ]
    params += [instance.pk, instance.revision]
    sql = _update_sql(vendor, ProcessInstance, names, "revision")
    if writes and vendor == "postgresql":
        parts = ", ".join(f"w{n} AS ({part})" for n, (part, _params) in enumerate(writes))
        sql = f"WITH {parts} {sql}"
        params = [value for _part, part_params in writes for value in part_params] + params
        writes.clear()
    elif writes:
        _write(writes)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated = cursor.rowcount
    if updated != 1:
        raise FlowConflict()
    instance.revision += 1
    instance.updated_at = now
    for name, value in fields.items():
        setattr(instance, name, value)


def _step_properties(parsed: ParsedDefinition, step_id: str) -> dict[str, str]:
    info = parsed.user_tasks.get(step_id)
    return dict(info.properties) if info is not None else {}


def _alarm_at(row: HumanTask, properties: Mapping[str, str]) -> datetime.datetime | None:
    """When the worker must next look at an open task (reminder before due, or the due time)."""
    if row.due_at is None or row.escalated_at is not None:
        return None
    remind = properties.get("remind_before", "").strip()
    if remind and row.reminded_at is None:
        try:
            return assign.subtract_duration(row.due_at, remind)
        except (ValueError, OverflowError):
            pass
    return row.due_at


def _current_rows(rows: Iterable[HumanTask]) -> dict[uuid.UUID, HumanTask]:
    """The current (highest-round) engine row per spiff task id."""
    current: dict[uuid.UUID, HumanTask] = {}
    for row in rows:
        if row.signer_position:
            continue
        best = current.get(row.spiff_task_id)
        if best is None or row.round > best.round:
            current[row.spiff_task_id] = row
    return current


def _is_present(row: HumanTask) -> bool:
    return row.status == TaskStatus.OPEN or bool(row.data.get("awaiting_signers"))


_CLOSED_FIELDS = ("status", "outcome", "completed_at", "completed_by", "comment", "data")


def _close(
    row: HumanTask,
    status: str,
    now: datetime.datetime,
    *,
    by: Staff | None = None,
    outcome: str = "",
    comment: str = "",
    defer: list[tuple[str, list[Any]]] | None = None,
) -> None:
    """Close ``row``; with ``defer`` (a run's ``writes``) its update goes with the instance's save."""
    row.status = status
    row.outcome = outcome
    row.completed_at = now
    row.completed_by = by
    if comment:
        row.comment = comment
    if defer is not None:
        defer.append(_update_statement(row, _CLOSED_FIELDS))
    else:
        _update(row, _CLOSED_FIELDS)


def _close_vanished(
    run: _Run, rows: list[HumanTask], ready_ids: set[uuid.UUID], status: str
) -> list[HumanTask]:
    """Close the rows whose engine task is no longer ready (and the signers added to them)."""
    closed: list[HumanTask] = []
    current = _current_rows(rows)
    gone = {sid for sid, row in current.items() if _is_present(row) and sid not in ready_ids}
    gone_rows = {current[sid].pk for sid in gone}
    for row in rows:
        if row.signer_position == "" and row.spiff_task_id in gone and row.pk in gone_rows:
            if row.status == TaskStatus.OPEN:
                _close(row, status, run.now)
                closed.append(row)
            elif row.data.pop("awaiting_signers", None):
                row.save(update_fields=["data"])
        elif (
            row.signer_position in ADDED_POSITIONS
            and row.status == TaskStatus.OPEN
            and row.added_for_id in gone_rows
        ):
            _close(row, status, run.now)
            closed.append(row)
    return closed


def _resolve_row(run: _Run, ready: ReadyUserTask, previous: HumanTask | None) -> HumanTask:
    """A new (unsaved) row for ``ready`` with its assignment and due date."""
    instance = run.instance
    info = run.parsed.user_tasks.get(ready.step_id)
    step = ready.name or (info.name if info is not None else "") or ready.step_id
    key = instance.definition.key
    person = None
    skip = False
    if previous is not None:
        person = previous.on_behalf_of or previous.completed_by or previous.assignee
    if person is not None and person.is_active:
        result = assign.apply_delegation([person], process_key=key, at=run.now)
    elif info is None:
        raise FlowInputError(fmt(_("Step “%(step)s” is not a user task of this process."), {"step": step}))
    elif (
        ready.countersign_parent is not None and not info.assignee and isinstance(ready.countersign_item, str)
    ):
        people = assign.resolve_people(
            _ItemRule(info, ready.countersign_item), ready.data, instance.initiator
        )
        result = assign.apply_delegation(people, process_key=key, at=run.now)
    else:
        people, skip = assign.without_initiator(
            assign.resolve_people(info, ready.data, instance.initiator),
            instance.initiator,
            info.properties.get(assign.SKIP_INITIATOR_PROPERTY),
            step=step,
        )
        result = (
            assign.apply_delegation(people, process_key=key, at=run.now) if not skip else assign.Assignment()
        )
    due = assign.resolve_due(info.due_date if info else None, ready.data, step=step, now=run.now)
    data: dict[str, Any] = {}
    if result.delegated:
        data["delegated"] = {str(k): v.pk for k, v in result.delegated.items()}
    if ready.countersign_parent is not None:
        data["countersign_parent"] = str(ready.countersign_parent)
        data["countersign_item"] = ready.countersign_item
    carry = run.carry.get(ready.step_id) or (previous.data.get("carry") if previous is not None else None)
    if carry:
        changed = {k: v for k, v in carry.items() if ready.data.get(k, _MISSING) != v}
        if changed:
            data["carry"] = changed
    row = HumanTask(
        instance=instance,
        spiff_task_id=ready.spiff_id,
        round=(previous.round + 1) if previous is not None else 1,
        task_def_id=ready.step_id[:200],
        name=step[:300],
        assignee=result.assignee,
        on_behalf_of=result.on_behalf_of,
        form_key=((info.form_key if info else None) or "")[:200],
        is_countersign=ready.countersign_parent is not None,
        due_at=due,
        data=data,
    )
    row._candidates = result.candidates  # type: ignore[attr-defined]
    row._skip_initiator = skip  # type: ignore[attr-defined]
    return row


@dataclass(frozen=True)
class _ItemRule:
    """A countersign share without an assignee rule: the share's item is the username."""

    info: UserTaskInfo
    item: str

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def assignee(self) -> str | None:
        return self.item

    @property
    def candidate_users(self) -> list[str]:
        return []

    @property
    def candidate_groups(self) -> list[str]:
        return []

    @property
    def due_date(self) -> str | None:
        return self.info.due_date


_MISSING = object()
_message_depth: ContextVar[int] = ContextVar("flow_message_depth", default=0)
# the files a task action wrote, removed again when the action fails
_stored_files: ContextVar[list[str] | None] = ContextVar("flow_stored_files", default=None)


def _insert_rows(
    instance: ProcessInstance, rows: list[HumanTask], *, events: list[ProcessEvent] | None = None
) -> None:
    """Save new rows with their candidates, history (into ``events`` when given, to be written
    with the run's other history rows) and notifications."""
    if not rows:
        return
    _insert(rows)
    _insert(
        [
            HumanTaskCandidate(task=row, staff=person)
            for row in rows
            for person in getattr(row, "_candidates", [])
        ]
    )
    created = [
        ProcessEvent(
            instance=instance,
            task=row,
            kind=EventKind.TASK_CREATED,
            on_behalf_of=row.on_behalf_of,
            step_id=row.task_def_id,
            step_name=row.name,
            data={
                "assignee": row.assignee.name if row.assignee else None,
                "candidates": [p.name for p in getattr(row, "_candidates", [])][:20],
                "round": row.round,
                "due_at": row.due_at.isoformat() if row.due_at else None,
            },
        )
        for row in rows
    ]
    if events is not None:
        events.extend(created)
    else:
        _insert(created)
    for row in rows:
        people = [row.assignee] if row.assignee is not None else list(getattr(row, "_candidates", []))
        notification_send(
            recipients=_users(people),
            title=gettext("New task: %(task)s") % {"task": row.name},
            body=instance.title,
            link=_task_link(row),
            kind="flow.task",
            data={"task": row.pk, "instance": instance.pk},
        )


def _sync(run: _Run, *, extra: Mapping[str, Any] | None = None) -> None:
    """Bring the projection in line with the workflow and save the instance (see the module doc)."""
    instance, wf, now = run.instance, run.wf, run.now
    run.events.extend(
        ProcessEvent(
            instance=instance,
            kind=EventKind.DECISION,
            step_id=done.step_id,
            step_name=done.step_name[:300],
            data=done.as_dict(),
        )
        for done in wf.take_decisions()
    )
    if run.rows is not None:
        rows, run.rows = run.rows, None
    else:
        _write(run.writes)  # the rows as the change left them
        rows = list(HumanTask.objects.filter(instance=instance).order_by())
    ready = [] if wf.completed else wf.ready_user_tasks()
    ready_ids = {r.spiff_id for r in ready}
    cancelled = _close_vanished(run, rows, ready_ids, TaskStatus.CANCELLED)
    run.events.extend(
        ProcessEvent(
            instance=instance,
            task=row,
            kind=EventKind.CANCELLED,
            step_id=row.task_def_id,
            step_name=row.name,
            duration_seconds=_seconds_between(row.created_at, now),
        )
        for row in cancelled
    )
    resubmit_open = any(r.signer_position == POSITION_RESUBMIT and r.status == TaskStatus.OPEN for r in rows)
    current = _current_rows(rows)
    new_rows: list[HumanTask] = []
    if not resubmit_open:
        for item in ready:
            previous = current.get(item.spiff_id)
            if previous is not None and _is_present(previous):
                continue
            new_rows.append(_resolve_row(run, item, previous))
    passed = [row for row in new_rows if getattr(row, "_skip_initiator", False)]
    if passed:
        # no self-approval: these steps pass to the next level; sync again from the new state
        _insert_rows(instance, [row for row in new_rows if row not in passed], events=run.events)
        _pass_initiator_steps(run, passed)
        return _sync(run, extra=extra)
    _insert_rows(instance, new_rows, events=run.events)

    job_times = _sync_jobs(run) if run.parsed.service_tasks or run.migrated else []
    if run.parsed.message_catches or run.migrated:
        _sync_subscriptions(run)

    thrown = wf.thrown_messages()  # collected (and cleared) before the state is saved
    snapshot = wf.variables()
    for row in [*rows, *new_rows]:
        if row.status == TaskStatus.OPEN and row.data.get("carry"):
            snapshot.update(row.data["carry"])
    fields: dict[str, Any] = {"state": wf.dump(), "variables": snapshot}
    if extra:
        fields.update(extra)
    was_open = instance.status not in ENDED
    status = fields.get("status", instance.status)
    if wf.completed and status in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
        approved = fields["variables"].get("approved")
        fields["status"] = InstanceStatus.COMPLETED
        fields["outcome"] = (
            InstanceOutcome.APPROVED
            if approved is True
            else InstanceOutcome.REJECTED
            if approved is False
            else ""
        )
        fields["ended_at"] = now
        # every row of the instance is in rows or new_rows (nothing since has written tasks)
        _close_open_rows(run, TaskStatus.CANCELLED, rows=[*rows, *new_rows])
        _event(instance, EventKind.ENDED, data={"outcome": fields["outcome"]}, defer=run.events)
        status = InstanceStatus.COMPLETED
    if status == InstanceStatus.RUNNING:
        alarms = [
            _alarm_at(row, _step_properties(run.parsed, row.task_def_id))
            for row in [*rows, *new_rows]
            if row.status == TaskStatus.OPEN and row.due_at is not None
        ]
        engine_due = wf.next_due()
        candidates = [d for d in [engine_due, *alarms, *job_times] if d is not None]
        fields["next_due_at"] = min(candidates, default=None)
    else:
        fields["next_due_at"] = None
    if run.events and connection.vendor == "postgresql":
        # the history rows go in the instance's save statement (their ids are not needed)
        run.writes.append(_insert_statement(run.events))
    elif run.events:
        _write(run.writes)  # in the order of the change
        _insert(run.events)
    run.events.clear()
    _bump(instance, writes=run.writes, **fields)
    if thrown:
        _route_thrown(run, thrown)
    if was_open and status in ENDED and form_link.uses_forms(run.parsed):
        _settle_form_records(instance)


MAX_PASSED_STEPS = 50


def _pass_initiator_steps(run: _Run, rows: list[HumanTask]) -> None:
    """Steps whose only approver is the initiator (``medoa:skipInitiator="next"``): closed as
    approved by the system at once, with ``self_approval_skipped`` = the step id, so the model's
    gateways may send the request to the next level."""
    run.passed_steps += len(rows)
    if run.passed_steps > MAX_PASSED_STEPS:
        raise FlowInputError(
            fmt(
                _("More than %(max)s steps were passed on because the initiator would approve them."),
                {"max": MAX_PASSED_STEPS},
            )
        )
    comment = gettext("Passed on to the next level: the initiator may not approve their own request.")
    for row in rows:
        values = {"approved": True, "self_approval_skipped": row.task_def_id}
        row.data["variables"] = values
        row.status = TaskStatus.COMPLETED
        row.outcome = TaskOutcome.APPROVED
        row.completed_at = run.now
        row.comment = comment
        row.save()
        _event(
            run.instance,
            EventKind.APPROVED,
            task=row,
            comment=comment,
            data={"automatic": True, "reason": "initiator"},
            duration=0,
            defer=run.events,
        )
        spiff_id = row.spiff_task_id
        _engine(functools.partial(run.wf.complete_user_task, spiff_id, values))


def _sync_jobs(run: _Run) -> list[datetime.datetime]:
    """ServiceJob rows for the waiting automatic steps; returns the pending jobs' next attempts."""
    instance, wf = run.instance, run.wf
    ready_services = [] if wf.completed else wf.ready_service_tasks()
    jobs = {
        j.spiff_task_id: j
        for j in ServiceJob.objects.filter(instance=instance).exclude(status=ServiceJobStatus.DONE)
    }
    wanted = {s.spiff_id for s in ready_services}
    vanished = [j.pk for sid, j in jobs.items() if sid not in wanted and j.status == ServiceJobStatus.PENDING]
    if vanished:
        ServiceJob.objects.filter(pk__in=vanished).delete()
    fresh = [
        ServiceJob(
            instance=instance,
            spiff_task_id=s.spiff_id,
            task_def_id=s.step_id[:200],
            function=s.function[:200],
            next_attempt_at=run.now,
        )
        for s in ready_services
        if s.spiff_id not in jobs
    ]
    ServiceJob.objects.bulk_create(fresh)
    pending = [j for j in jobs.values() if j.pk not in vanished and j.status == ServiceJobStatus.PENDING]
    return [j.next_attempt_at for j in [*pending, *fresh] if j.next_attempt_at is not None]


def _sync_subscriptions(run: _Run) -> None:
    """MessageSubscription rows for the messages the workflow waits for (by business key)."""
    instance, wf = run.instance, run.wf
    waiting = set() if wf.completed else set(wf.waiting_messages())
    subs = {s.name: s for s in MessageSubscription.objects.filter(instance=instance)}
    stale = [s.pk for n, s in subs.items() if n not in waiting or s.business_key != instance.business_key]
    if stale:
        MessageSubscription.objects.filter(pk__in=stale).delete()
    MessageSubscription.objects.bulk_create(
        [
            MessageSubscription(instance=instance, name=n[:200], business_key=instance.business_key)
            for n in sorted(waiting)
            if n not in subs or subs[n].pk in stale
        ]
    )


def _task_alarms_of(instance: ProcessInstance, parsed: ParsedDefinition) -> list[datetime.datetime]:
    alarms: list[datetime.datetime] = []
    for row in HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN, due_at__isnull=False).only(
        "task_def_id", "due_at", "reminded_at", "escalated_at"
    ):
        alarm = _alarm_at(row, _step_properties(parsed, row.task_def_id))
        if alarm is not None:
            alarms.append(alarm)
    return alarms


def _close_open_rows(run: _Run, status: str, *, rows: list[HumanTask] | None = None) -> list[HumanTask]:
    """Close the open rows (``rows``: all of the instance's, known already; else they are read)."""
    if rows is None:
        rows = list(HumanTask.objects.filter(instance=run.instance, status=TaskStatus.OPEN))
    else:
        rows = [row for row in rows if row.status == TaskStatus.OPEN]
    for row in rows:
        _close(row, status, run.now)
    return rows


# --- forms in processes (see form_link) -----------------------------------------------------------


class FormInvalid(FlowInputError):
    """Form data that does not fit the step's form. ``field_errors`` lists ``(field, code,
    message)`` with the form's data paths (``amount``, ``items[2].cost``) and validation's codes
    (``required``, ``readonly``, ``hidden`` …); ``errors`` names them ``form.<path>``."""

    default_message = _("The form has errors; nothing was changed.")

    def __init__(self, field_errors: Sequence[tuple[str, str, Any]], message: Any = None) -> None:
        self.field_errors = list(field_errors)
        super().__init__(
            message, errors=[(f"form.{f}" if f else "form", text) for f, _code, text in self.field_errors]
        )


def _form_error(exc: FormsError) -> FlowError:
    if isinstance(exc, ValidationFailed):
        return FormInvalid([(e.field, e.code, e.message) for e in exc.field_errors])
    if isinstance(exc, FormsPermissionDenied):
        return FlowPermissionDenied(exc.message)
    if isinstance(exc, FormsConflict | FormsNotFound):  # another version is current, the form is off …
        return FlowConflict(exc.message)
    return FlowInputError(exc.message, field="form")


def _form_call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """A form engine call; its refusals become the process engine's."""
    try:
        return fn(**kwargs)
    except FormsError as exc:
        raise _form_error(exc) from None


def _form_variables(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a form that become process variables: the top-level ones whose keys are
    variable names (a key such as ``1st`` stays in the record only)."""
    chosen = {k: v for k, v in values.items() if _VARIABLE.match(k) and not k.startswith("__")}
    return _clean_variables(chosen, field_name="form")


@dataclass
class _TaskForm:
    """A decision's form data, checked before the step and stored after it."""

    key: str
    record: FormRecord | None
    data: Mapping[str, Any]
    permissions: dict[str, str]
    changed: dict[str, Any]


def _task_form(
    actor: Any, row: HumanTask, instance: ProcessInstance, form_data: Mapping[str, Any] | None
) -> _TaskForm | None:
    """Check the form data of a decision on ``row`` (None: the step has no MedOA form).

    Without ``form_data`` the step's form is submitted as it stands (what the task page shows).
    The data is validated with the step's permissions and the record's current values, so a
    changed read-only field or a submitted hidden one is refused (``FormInvalid``)."""
    key = form_link.medoa_form_key(row.form_key)
    if key is None:
        if form_data is not None:
            raise FlowInputError(_("This step has no form; send variables instead."), field="form")
        return None
    parsed = parsed_version(instance.version)
    permissions = form_link.task_permissions(parsed, row.task_def_id)
    record = forms_link.record_for_subject(subject=form_link.instance_subject(instance.pk), key=key)
    if form_data is None:
        view = form_link.task_view(
            parsed=parsed,
            step_id=row.task_def_id,
            instance_id=instance.pk,
            variables=instance.variables or {},
        )
        form_data = view.data if view is not None else {}
    cleaned = _form_call(
        forms_link.record_check, actor=actor, key=key, data=form_data, record=record, permissions=permissions
    )
    before = record.values if record is not None else {}
    changed = {k: v for k, v in cleaned.items() if k not in before or before[k] != v}
    return _TaskForm(
        key=key, record=record, data=form_data, permissions=permissions, changed=_form_variables(changed)
    )


def _task_form_store(actor: Any, instance: ProcessInstance, form: _TaskForm) -> FormRecord:
    """Keep a decision's form data: the instance's record updated, or its first record."""
    if form.record is None:
        record: FormRecord = _form_call(
            forms.record_submit,
            actor=actor,
            key=form.key,
            data=form.data,
            permissions=form.permissions,
            source=RecordSource.PROCESS,
            subject=form_link.instance_subject(instance.pk),
            hidden_fields=form_link.hidden_paths(parsed_version(instance.version)),
        )
        return record
    updated: FormRecord = _form_call(
        forms.record_update,
        actor=actor,
        record=form.record,
        data=form.data,
        permissions=form.permissions,
        authorized=True,
    )
    return updated


RECORD_STATUS_AT_END: dict[tuple[str, str], str] = {
    (InstanceStatus.COMPLETED, InstanceOutcome.APPROVED): RecordStatus.APPROVED,
    (InstanceStatus.COMPLETED, InstanceOutcome.REJECTED): RecordStatus.REJECTED,
    (InstanceStatus.WITHDRAWN, ""): RecordStatus.WITHDRAWN,
    (InstanceStatus.CANCELLED, ""): RecordStatus.WITHDRAWN,
}
ENDED = frozenset({InstanceStatus.COMPLETED, InstanceStatus.WITHDRAWN, InstanceStatus.CANCELLED})


# While a decision's form data waits to be stored, the instances that ended in it (their records
# are settled after the record is stored).
_settle_later: ContextVar[list[ProcessInstance] | None] = ContextVar("flow_settle_later", default=None)


def _settle_form_records(instance: ProcessInstance) -> None:
    """The instance ended: its form records follow (approved, rejected; withdrawn when the
    instance was withdrawn or cancelled; a process that ended without a decision leaves them)."""
    later = _settle_later.get()
    if later is not None:
        later.append(instance)
        return
    status = RECORD_STATUS_AT_END.get((instance.status, instance.outcome or ""))
    if status is not None:
        forms_link.records_settle(subject=form_link.instance_subject(instance.pk), status=status)


# --- starting ------------------------------------------------------------------------------------


def _start(
    *,
    definition: ProcessDefinition,
    version: ProcessVersion,
    initiator: Staff | None,
    variables: dict[str, Any],
    business_key: str,
    title: str,
    message: str | None = None,
    message_variables: dict[str, Any] | None = None,
    origin: ProcessInstance | None = None,
) -> ProcessInstance:
    parsed = parsed_version(version)
    values = dict(variables)
    if initiator is not None:
        values["initiator"] = initiator.user.username
        if parsed.initiator_variable:
            values[parsed.initiator_variable] = initiator.user.username
    wf = _engine(lambda: Workflow.start(parsed, values), field="variables")
    if message is not None:
        delivered = _engine(lambda: wf.send_message(message, message_variables or {}))
        if not delivered:
            raise FlowInputError(
                fmt(_("The process does not start on message “%(name)s”."), {"name": message})
            )
    now = _now()
    if not title:
        title = f"{definition.name} · {initiator.name}" if initiator is not None else definition.name
    instance = ProcessInstance(
        definition=definition,
        version=version,
        business_key=business_key,
        title=title[:300],
        initiator=initiator,
        initiator_department=initiator.department if initiator is not None else None,
        state={},
        variables={},
    )
    _insert([instance])
    run = _Run(instance=instance, parsed=parsed, wf=wf, now=now, rows=[])  # a new instance: no tasks yet
    _event(
        instance,
        EventKind.STARTED,
        actor=initiator,
        data={
            "version": version.version,
            **({"message": message} if message else {}),
            **({"from_instance": origin.pk} if origin is not None else {}),
        },
        defer=run.events,
    )
    _sync(run)
    return instance


def _startable(definition_key: str) -> tuple[ProcessDefinition, ProcessVersion]:
    if not (
        isinstance(definition_key, str) and _KEY.fullmatch(definition_key)
    ):  # no query for what cannot be
        raise FlowNotFound(
            fmt(_("There is no process “%(key)s”."), {"key": str(definition_key).replace("\x00", "")[:80]})
        )
    found = _fetch_rows(ProcessDefinition, _startable_statement(), [definition_key])
    if not found:
        raise FlowNotFound(fmt(_("There is no process “%(key)s”."), {"key": str(definition_key)[:80]}))
    definition, (checksum,) = found[0]
    definition.version_checksum = checksum  # type: ignore[attr-defined]
    if not definition.is_active or definition.latest_version_id is None:
        raise FlowConflict(fmt(_("The process “%(name)s” cannot be started now."), {"name": definition.name}))
    definition.latest_version = _version(definition.latest_version_id, definition.version_checksum)  # type: ignore[attr-defined]
    return definition, definition.latest_version


_STARTABLE_SQL = (
    "SELECT {columns}, v.checksum AS version_checksum FROM {definitions} d "
    "LEFT JOIN {versions} v ON v.id = d.latest_version_id WHERE d.key = %s"
)


@functools.cache
def _startable_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    return _STARTABLE_SQL.format(
        columns=", ".join(
            f"d.{quote(f.column or f.attname)}" for f in ProcessDefinition._meta.concrete_fields
        ),
        definitions=quote(ProcessDefinition._meta.db_table),
        versions=quote(ProcessVersion._meta.db_table),
    )


def _startable_statement() -> str:
    """A definition by key with its latest version's checksum (the version comes from ``_version``)."""
    return _startable_sql(connection.vendor)


@transaction.atomic
def instance_start(
    *,
    actor: Any,
    definition_key: str,
    variables: dict[str, Any],
    business_key: str = "",
    title: str = "",
    form_data: Mapping[str, Any] | None = None,
    form_version: int | None = None,
) -> ProcessInstance:
    """Start an instance of the latest version of ``definition_key``; the actor is the initiator.

    When the start event binds a MedOA form (``medoa:form:<key>``), ``form_data`` is its data
    (``form_version``: the version the person filled in, a 409 when another is current now): it
    is validated by the form engine (``FormInvalid`` naming every field at fault: nothing starts,
    nothing is stored), its values become process variables (over ``variables`` of the same
    names), and it is kept as a record of the form tied to the instance — all in this transaction.
    """
    staff = _require_staff(actor)
    if not has_perm(actor, PERM_START):
        raise FlowPermissionDenied(_("You may not start processes."))
    values = _clean_variables(variables)
    business_key = _clean_text(
        business_key,
        field="business_key",
        max_length=200,
        too_long=_("The business key is too long (at most 200 characters)."),
    )
    title = _clean_text(
        title, field="title", max_length=300, too_long=_("The title is too long (at most 300 characters).")
    )
    definition, version = _startable(definition_key)
    form_key = form_link.start_form_key(parsed_version(version))
    if form_key is None and form_data is not None:
        raise FlowInputError(_("This process has no start form; send variables instead."), field="form")
    if form_key is not None:
        if form_data is None:
            raise FlowInputError(
                fmt(_("This process starts with the form “%(key)s”: send its data."), {"key": form_key}),
                field="form",
            )
        cleaned = _form_call(
            forms_link.record_check, actor=actor, key=form_key, data=form_data, version=form_version
        )
        values.update(_form_variables(cleaned))
    instance = _start(
        definition=definition,
        version=version,
        initiator=staff,
        variables=values,
        business_key=business_key,
        title=title,
    )
    record = None
    if form_key is not None:
        record = _form_call(
            forms.record_submit,
            actor=actor,
            key=form_key,
            data=form_data,
            version=form_version,
            source=RecordSource.PROCESS,
            subject=form_link.instance_subject(instance.pk),
            hidden_fields=form_link.hidden_paths(parsed_version(version)),
        )
    audit_record(
        actor=actor,
        action="flow.instance.started",
        target=instance,
        details={
            "definition": definition.key,
            "version": version.version,
            "business_key": instance.business_key,
            **({"form": form_key, "record": record.pk} if record is not None else {}),
        },
    )
    return instance


# --- acting on tasks -----------------------------------------------------------------------------


def _locked_task(task: HumanTask | int) -> tuple[HumanTask, ProcessInstance]:
    task_id = task.pk if isinstance(task, HumanTask) else task
    try:
        task_id = int(task_id)
    except (TypeError, ValueError):
        raise FlowNotFound(_("There is no such task.")) from None
    # the task's instance, locked, in one statement; then its tasks (a task cannot move to another
    # instance, and nothing deletes a task of a locked instance)
    instance = _locked(_BY_TASK.format(tasks=connection.ops.quote_name(HumanTask._meta.db_table)), task_id)
    if instance is None:
        raise FlowNotFound(_("There is no such task."))
    rows = []
    for r, (has_added_signers,) in _fetch_rows(HumanTask, _task_statement(), [instance.pk]):
        r.has_added_signers = bool(has_added_signers)  # type: ignore[attr-defined]
        r.instance = instance
        rows.append(r)
    row = next((r for r in rows if r.pk == task_id), None)
    if row is None:
        raise FlowNotFound(_("There is no such task."))
    instance._task_rows = rows  # type: ignore[attr-defined]  # see _decide
    return row, instance


@transaction.atomic
def task_act(
    *,
    actor: Any,
    task: HumanTask | int,
    action: str,
    variables: dict[str, Any] | None = None,
    comment: str = "",
    to_user: str | None = None,
    to_step: str | None = None,
    position: str | None = None,
    attachments: Sequence[UploadedFile] = (),
    to_users: Sequence[str] = (),
    form_data: Mapping[str, Any] | None = None,
) -> HumanTask:
    """Take ``action`` on ``task`` (see ``selectors.TASK_ACTIONS``); returns the task acted on (for
    transfer: the new task). ``FlowConflict`` when someone acted first, ``FlowPermissionDenied``
    when the actor may not, ``FlowInputError`` for bad input.

    ``form_data`` goes with approve, reject and complete on a step that binds a MedOA form (left
    out: the form as it stands): validated with the step's field permissions against the
    instance's record of the form (``FormInvalid`` for a changed read-only field, a submitted
    hidden one, or any other error: nothing changes), the values that changed merged into the
    task's variables (gateways see them), the record updated (or created) in this transaction."""
    values = _clean_variables(variables)
    comment = _clean_comment(comment)
    to_step = (
        _clean_text(
            to_step,
            field="to_step",
            max_length=200,
            too_long=fmt(_("There is no step “%(step)s”."), {"step": str(to_step)[:80]}),
        )
        or None
    )
    _check_attachments(attachments)
    stored: list[str] = []
    token = _stored_files.set(stored)
    try:
        return _task_act(
            actor=actor,
            task=task,
            action=action,
            values=values,
            comment=comment,
            to_user=to_user,
            to_step=to_step,
            position=position,
            attachments=attachments,
            to_users=to_users,
            form_data=form_data,
        )
    except BaseException:
        # the rows roll back with this transaction: the files written for them go as well
        for name in stored:
            default_storage.delete(name)
        raise
    finally:
        _stored_files.reset(token)


def _task_act(
    *,
    actor: Any,
    task: HumanTask | int,
    action: str,
    values: dict[str, Any],
    comment: str,
    to_user: str | None,
    to_step: str | None,
    position: str | None,
    attachments: Sequence[UploadedFile],
    to_users: Sequence[str],
    form_data: Mapping[str, Any] | None = None,
) -> HumanTask:
    row, instance = _locked_task(task)
    denial = task_action_denial(user=actor, task=row, action=action)
    if denial is not None:
        raise denial
    staff = _require_staff(actor)
    if action in CLOSED_BY_PERSON:
        form = _task_form(actor, row, instance, form_data)
        if form is not None:
            values = {**values, **form.changed}
        claimed = False
        if row.assignee_id is None and not row.signer_position:
            # a candidate decides on an unclaimed task: claim it first, in this transaction
            _claim(staff, row, implicit=True)
            claimed = True
        if form is None:
            return _decide(actor, staff, row, action, values, comment, attachments, claimed=claimed)
        ended: list[ProcessInstance] = []
        token = _settle_later.set(ended)
        try:
            decided = _decide(actor, staff, row, action, values, comment, attachments, claimed=claimed)
        finally:
            _settle_later.reset(token)
        _task_form_store(actor, instance, form)
        for done in ended:
            _settle_form_records(done)
        return decided
    if form_data is not None:
        raise FlowInputError(_("Form data goes with approve, reject or complete."), field="form")
    if action == "return":
        return _return(actor, staff, row, to_step, values, comment, attachments)
    if action == "withdraw":
        return _withdraw(actor, staff, row, comment, attachments)
    if action == "transfer":
        new = _transfer(staff, row, _staff_by_username(to_user), comment, attachments)
        audit_record(
            actor=actor,
            action="flow.task.transferred",
            target=row,
            details={"instance": instance.pk, "to": new.assignee_id, "new_task": new.pk},
        )
        return new
    details: dict[str, Any] = {"instance": instance.pk, "step": row.task_def_id}
    if action == "add_signer":
        signer = _staff_by_username(to_user)
        result = _add_signer(staff, row, signer, position, comment, attachments)
        details.update(signer=signer.pk, position=position)
    elif action == "claim":
        result = _claim(staff, row)
    elif action == "unclaim":
        result = _unclaim(staff, row)
    elif action == "urge":
        result = _urge(staff, row, comment)
    elif action == "cc":
        names = list(to_users) or [n.strip() for n in (to_user or "").split(",") if n.strip()]
        result = _copy(staff, row, names, comment)
        details["to"] = list(dict.fromkeys(names))
    else:
        result = None
    if result is not None:
        audit_record(actor=actor, action=AUDIT_OTHER_ACTIONS[action], target=row, details=details)
        return result
    raise FlowInputError(fmt(_("Unknown action “%(action)s”."), {"action": action}), field="action")


def _action_event(
    row: HumanTask,
    kind: str,
    staff: Staff | None,
    *,
    comment: str,
    attachments: Sequence[UploadedFile] = (),
    data: dict[str, Any] | None = None,
    now: datetime.datetime,
    timed: bool = True,
    defer: list[ProcessEvent] | None = None,
) -> ProcessEvent:
    """The row of a person's action; ``defer`` as in ``_event`` (not when files are attached:
    they need the row saved)."""
    on_behalf = acting_for(staff, row) if staff is not None else None
    event = _event(
        row.instance,
        kind,
        actor=staff,
        task=row,
        on_behalf_of=on_behalf,
        comment=comment,
        data=data,
        duration=_seconds_between(row.created_at, now) if timed else None,
        defer=defer if not attachments else None,
    )
    _save_attachments(event, attachments, staff)
    return event


def _decide(
    actor: Any,
    staff: Staff | None,
    row: HumanTask,
    action: str,
    values: dict[str, Any],
    comment: str,
    attachments: Sequence[UploadedFile],
    *,
    now: datetime.datetime | None = None,
    audit: bool = True,
    claimed: bool = False,
) -> HumanTask:
    """approve / reject / complete (``staff`` None: the system, e.g. auto-approval at due time);
    ``claimed``: the decision claimed the task first (a candidate acting on an unclaimed task)."""
    instance = row.instance
    now = now or _now()
    status, outcome, kind = CLOSED_BY_PERSON[action]
    submitted = dict(row.data.get("carry") or {})
    submitted.update(values)
    if action == "approve":
        submitted["approved"] = True
    elif action == "reject":
        submitted["approved"] = False
    if comment:
        submitted["comment"] = comment
    row.data["variables"] = submitted
    row.data.pop("carry", None)
    position = row.signer_position
    plain = position == "" and not row.data.get("after_signers")
    # a plain decision on a task read with its siblings: the change knows every row as it will be,
    # so the task's update can wait for the instance's save (``_Run.writes``)
    known_rows = plain and not getattr(row, "has_added_signers", True)
    held: list[tuple[str, list[Any]]] = []
    _close(row, status, now, by=staff, outcome=outcome, comment=comment, defer=held if known_rows else None)
    # the plain decision's row goes in with the rows the step creates (one insert); the rarer
    # paths below write rows of their own first, so theirs is written now to keep the order
    early: list[ProcessEvent] = []
    _action_event(
        row, kind, staff, comment=comment, attachments=attachments, now=now, defer=early if plain else None
    )

    run = _open(instance, now)
    run.events.extend(early)
    run.writes.extend(held)
    # the rows read with the task are still the database's when the decision touches no other
    # row (no signers added to it or after it): ``_sync`` need not read them again
    known = instance.__dict__.pop("_task_rows", None)
    if known_rows:
        run.rows = known
    if position == POSITION_BEFORE:
        pass  # an opinion: the task it was added before decides
    elif position == POSITION_RESUBMIT:
        _resubmit(run, row, submitted)
    elif position in (POSITION_AFTER, POSITION_ALONGSIDE):
        if row.added_for_id is not None:
            _finish_step(run, HumanTask.objects.get(pk=row.added_for_id))
    else:
        pending_after = [int(pk) for pk in row.data.pop("after_signers", [])]
        if pending_after and action != "reject":
            row.save(update_fields=["data"])
            signers = list(Staff.objects.select_related("user").filter(pk__in=pending_after))
            _insert_rows(instance, [_added_row(row, s, POSITION_AFTER, now) for s in signers])
            row.has_added_signers = True  # type: ignore[attr-defined]
        elif pending_after:
            row.save(update_fields=["data"])
        _finish_step(run, row)
    _sync(run)
    if audit:
        audit_record(
            actor=actor,
            action=AUDIT_DECISION[action],
            target=row,
            details={
                "instance": instance.pk,
                "step": row.task_def_id,
                "round": row.round,
                **({"claimed": True} if claimed else {}),
            },
            actor_name="" if actor is not None else "flow",
        )
    return row


def _finish_step(run: _Run, engine_row: HumanTask) -> None:
    """Complete ``engine_row``'s engine task once it and the signers added after/alongside it have
    decided; one rejection decides at once."""
    group = (
        list(
            HumanTask.objects.filter(
                added_for=engine_row, signer_position__in=(POSITION_AFTER, POSITION_ALONGSIDE)
            )
        )
        if getattr(engine_row, "has_added_signers", True)  # known when the action loaded the row
        else []
    )
    decided = [r for r in [engine_row, *group] if r.status == TaskStatus.COMPLETED]
    open_group = [r for r in group if r.status == TaskStatus.OPEN]
    rejected = any(r.outcome == TaskOutcome.REJECTED for r in decided)
    if not rejected and (engine_row.status == TaskStatus.OPEN or open_group):
        if engine_row.status != TaskStatus.OPEN and not engine_row.data.get("awaiting_signers"):
            engine_row.data["awaiting_signers"] = True
            engine_row.save(update_fields=["data"])
        return
    for r in open_group:
        _close(r, TaskStatus.CANCELLED, run.now)
    if engine_row.status == TaskStatus.OPEN:
        _close(engine_row, TaskStatus.CANCELLED, run.now)
    merged: dict[str, Any] = {}
    for r in sorted(decided, key=lambda r: (r.completed_at or run.now, r.pk)):
        merged.update(r.data.get("variables") or {})
    if any(r.outcome in (TaskOutcome.APPROVED, TaskOutcome.REJECTED) for r in decided):
        merged["approved"] = not rejected
    if engine_row.data.pop("awaiting_signers", None):
        engine_row.save(update_fields=["data"])
    _engine(lambda: run.wf.complete_user_task(engine_row.spiff_task_id, merged))


def _added_row(for_row: HumanTask, person: Staff, position: str, now: datetime.datetime) -> HumanTask:
    result = assign.apply_delegation([person], process_key=for_row.instance.definition.key, at=now)
    row = HumanTask(
        instance=for_row.instance,
        spiff_task_id=uuid.uuid4(),
        round=1,
        task_def_id=for_row.task_def_id,
        name=for_row.name,
        assignee=result.assignee,
        on_behalf_of=result.on_behalf_of,
        form_key=for_row.form_key,
        added_for=for_row,
        signer_position=position,
        data={"for_spiff_task_id": str(for_row.spiff_task_id)},
    )
    row._candidates = []  # type: ignore[attr-defined]
    return row


def _first_user_step(run: _Run) -> tuple[uuid.UUID, str] | None:
    steps = run.wf.completed_user_steps()
    return steps[0] if steps else None


def _initiator_step(run: _Run) -> str | None:
    """The step id of the initiator's own first task (a "submit" step), if the process has one."""
    first = _first_user_step(run)
    initiator_id = run.instance.initiator_id
    if first is None or initiator_id is None:
        return None
    spiff_id, step_id = first
    done_by_initiator = HumanTask.objects.filter(
        instance=run.instance,
        spiff_task_id=spiff_id,
        status=TaskStatus.COMPLETED,
        completed_by_id=initiator_id,
    ).exists()
    return step_id if done_by_initiator else None


def _reset_to(run: _Run, step_id: str, data: dict[str, Any], closed_status: str) -> list[HumanTask]:
    """Reset the engine to ``step_id`` with ``data``; close the rows that are no longer ready.

    The engine's reset keeps only the keys the step's predecessor did not set (SpiffWorkflow merges
    the predecessor's data back over it), so the step's next task also *carries* ``data``: it is
    merged into the variables the task is completed with, and shown in the snapshot meanwhile."""
    _engine(lambda: run.wf.return_to(step_id, data))
    run.carry[step_id] = dict(data)
    rows = list(HumanTask.objects.filter(instance=run.instance))
    ready_ids = {r.spiff_id for r in run.wf.ready_user_tasks()}
    return _close_vanished(run, rows, ready_ids, closed_status)


def _return(
    actor: Any,
    staff: Staff,
    row: HumanTask,
    to_step: str | None,
    values: dict[str, Any],
    comment: str,
    attachments: Sequence[UploadedFile],
) -> HumanTask:
    instance = row.instance
    run = _open(instance)
    now = run.now
    data = {**run.wf.variables(), **values, "returned_from": row.task_def_id}
    if comment:
        data["return_comment"] = comment
    target = (to_step or "").strip()
    resubmit = False
    if not target:
        target = _initiator_step(run) or ""
        if not target or not run.wf.can_return_to(target):
            resubmit = True
    else:
        completed = {step for _sid, step in run.wf.completed_user_steps()}
        if target == row.task_def_id or target not in completed or not run.wf.can_return_to(target):
            raise FlowInputError(
                fmt(
                    _("This task cannot be returned to “%(step)s”; choose a completed step before it."),
                    {"step": target[:80]},
                ),
                field="to_step",
            )
    _action_event(
        row,
        EventKind.RETURNED,
        staff,
        comment=comment,
        attachments=attachments,
        data={"to_step": target or None, "resubmit": resubmit},
        now=now,
    )
    if resubmit:
        first = _first_user_step(run)
        target_step = first[1] if first is not None else row.task_def_id
        for r in HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN).exclude(pk=row.pk):
            _close(r, TaskStatus.RETURNED, now)
        _close(row, TaskStatus.RETURNED, now, by=staff, comment=comment)
        initiator = instance.initiator
        if initiator is None:
            raise FlowInputError(_("This process has no initiator to return it to."), field="to_step")
        resubmit_row = HumanTask(
            instance=instance,
            spiff_task_id=uuid.uuid4(),
            round=1,
            task_def_id=target_step[:200],
            name=gettext("Resubmit: %(title)s") % {"title": instance.title}
            if instance.title
            else gettext("Resubmit"),
            assignee=initiator,
            signer_position=POSITION_RESUBMIT,
            data={"target_step": target_step, "variables": data},
        )
        resubmit_row._candidates = []  # type: ignore[attr-defined]
        _insert_rows(instance, [resubmit_row])
    else:
        _close(row, TaskStatus.RETURNED, now, by=staff, comment=comment)
        _reset_to(run, target, data, TaskStatus.RETURNED)
    _sync(run)
    audit_record(
        actor=actor,
        action="flow.task.returned",
        target=row,
        details={"instance": instance.pk, "from": row.task_def_id, "to": target or "initiator"},
    )
    return row


def _resubmit(run: _Run, row: HumanTask, submitted: dict[str, Any]) -> None:
    """The initiator resubmits after a return: restart at the first user task."""
    merged = {**(row.data.get("variables") or {}), **run.wf.variables(), **submitted}
    merged.pop("approved", None)
    target = str(row.data.get("target_step") or "")
    completed = {step for _sid, step in run.wf.completed_user_steps()}
    if target in completed and run.wf.can_return_to(target):
        _reset_to(run, target, merged, TaskStatus.RETURNED)
        return
    # The first user task never completed: it is still ready; its next row carries the data.
    for ready in run.wf.ready_user_tasks():
        run.carry[ready.step_id] = merged


def _withdraw(
    actor: Any, staff: Staff, row: HumanTask, comment: str, attachments: Sequence[UploadedFile]
) -> HumanTask:
    instance = row.instance
    run = _open(instance)
    now = run.now
    target = _initiator_step(run)
    event = _event(
        instance, EventKind.WITHDRAWN, actor=staff, task=row, comment=comment, data={"to_step": target}
    )
    _save_attachments(event, attachments, staff)
    if target is not None and run.wf.can_return_to(target):
        _reset_to(run, target, run.wf.variables(), TaskStatus.WITHDRAWN)
        _sync(run)
    else:
        _close_open_rows(run, TaskStatus.WITHDRAWN)
        _engine(run.wf.cancel)
        _end_side_tables(instance)
        _sync(run, extra={"status": InstanceStatus.WITHDRAWN, "outcome": "", "ended_at": now})
    audit_record(
        actor=actor,
        action="flow.instance.withdrawn",
        target=instance,
        details={"task": row.pk, "back_to": target},
    )
    return row


def _handover(
    row: HumanTask,
    to: Staff,
    by: Staff | None,
    now: datetime.datetime,
    comment: str = "",
    *,
    escalated: bool = False,
) -> HumanTask:
    """Close ``row`` as TRANSFERRED and give its work to ``to`` in a new row (round + 1 for an
    engine task); signers added to ``row`` now belong to the new row. ``escalated``: the handover
    is the escalation at the due time, so the new row keeps the due time but is marked escalated
    (the worker does not remind or escalate it again)."""
    instance = row.instance
    result = assign.apply_delegation([to], process_key=instance.definition.key, at=now)
    if row.signer_position:
        spiff_id, round_ = uuid.uuid4(), 1
    else:
        spiff_id = row.spiff_task_id
        top = HumanTask.objects.filter(instance=instance, spiff_task_id=spiff_id).aggregate(top=Max("round"))[
            "top"
        ]
        round_ = (top or row.round) + 1
    carried = {k: v for k, v in row.data.items() if k != "delegated"}
    _close(row, TaskStatus.TRANSFERRED, now, by=by, comment=comment)
    new = HumanTask(
        instance=instance,
        spiff_task_id=spiff_id,
        round=round_,
        task_def_id=row.task_def_id,
        name=row.name,
        assignee=result.assignee,
        on_behalf_of=result.on_behalf_of,
        form_key=row.form_key,
        is_countersign=row.is_countersign,
        added_for=row.added_for,
        signer_position=row.signer_position,
        due_at=row.due_at,
        reminded_at=now if escalated else row.reminded_at,
        escalated_at=now if escalated else None,
        data=carried,
    )
    new._candidates = []  # type: ignore[attr-defined]
    _insert_rows(instance, [new])
    HumanTask.objects.filter(added_for=row).exclude(pk=new.pk).update(added_for=new)
    return new


def _transfer(
    staff: Staff, row: HumanTask, to: Staff, comment: str, attachments: Sequence[UploadedFile]
) -> HumanTask:
    instance = row.instance
    now = _now()
    if row.assignee_id == to.pk or staff.pk == to.pk:
        raise FlowInputError(
            fmt(_("The task is already with “%(name)s”."), {"name": to.name}), field="to_user"
        )
    _action_event(
        row,
        EventKind.TRANSFERRED,
        staff,
        comment=comment,
        attachments=attachments,
        data={"to": to.name, "to_id": to.pk},
        now=now,
    )
    new = _handover(row, to, staff, now, comment)
    alarms = _task_alarms_of(instance, parsed_version(instance.version))
    current = [d for d in [instance.next_due_at, *alarms] if d is not None]
    _bump(instance, next_due_at=min(current, default=None))
    return new


def _add_signer(
    staff: Staff,
    row: HumanTask,
    to: Staff,
    position: str | None,
    comment: str,
    attachments: Sequence[UploadedFile],
) -> HumanTask:
    instance = row.instance
    now = _now()
    if position not in SignerPosition.values:
        raise FlowInputError(_("Say where the signer goes: before, after or alongside."), field="position")
    if to.pk == staff.pk or to.pk == row.assignee_id:
        raise FlowInputError(_("You cannot add yourself as a signer."), field="to_user")
    if row.is_countersign and position == POSITION_ALONGSIDE:
        run = _open(instance, now)
        parent = row.data.get("countersign_parent")
        if not parent:
            raise FlowInputError(_("This countersign share cannot take more signers."), field="position")
        _engine(lambda: run.wf.add_countersigner(uuid.UUID(parent), to.user.username))
        _action_event(
            row,
            EventKind.SIGNER_ADDED,
            staff,
            comment=comment,
            attachments=attachments,
            data={"position": position, "to": to.name, "to_id": to.pk},
            now=now,
            timed=False,
        )
        _sync(run)
        return row
    if position == POSITION_AFTER:
        pending = [int(pk) for pk in row.data.get("after_signers", [])]
        if to.pk in pending:
            raise FlowInputError(
                fmt(_("“%(name)s” is already added after you."), {"name": to.name}), field="to_user"
            )
        row.data["after_signers"] = [*pending, to.pk]
        row.save(update_fields=["data"])
    else:
        if HumanTask.objects.filter(added_for=row, assignee=to, status=TaskStatus.OPEN).exists():
            raise FlowInputError(
                fmt(_("“%(name)s” is already a signer of this task."), {"name": to.name}), field="to_user"
            )
        _insert_rows(instance, [_added_row(row, to, str(position), now)])
    _action_event(
        row,
        EventKind.SIGNER_ADDED,
        staff,
        comment=comment,
        attachments=attachments,
        data={"position": position, "to": to.name, "to_id": to.pk},
        now=now,
        timed=False,
    )
    _bump(instance)
    return row


def _claim(staff: Staff, row: HumanTask, *, implicit: bool = False) -> HumanTask:
    """``staff`` takes the unclaimed ``row`` (for the candidate they stand in for, if a delegate).
    ``implicit``: a decision claims it on its way; the decision saves the instance."""
    delegated = row.data.get("delegated") or {}
    behalf_id = delegated.get(str(staff.pk))
    on_behalf = Staff.objects.filter(pk=behalf_id).first() if behalf_id else None
    if on_behalf is None and not HumanTaskCandidate.objects.filter(task=row, staff=staff).exists():
        # a delegate of a candidate, by a delegation made after the task was created
        for candidate in Staff.objects.filter(
            pk__in=HumanTaskCandidate.objects.filter(task=row).values("staff_id")
        ):
            delegate = active_delegate_for(candidate, row.instance.definition.key)
            if delegate is not None and delegate.pk == staff.pk:
                on_behalf = candidate
                break
    row.assignee = staff
    row.assignee_id = staff.pk
    row.on_behalf_of = on_behalf
    row.save(update_fields=["assignee", "on_behalf_of"])
    _event(
        row.instance,
        EventKind.CLAIMED,
        actor=staff,
        task=row,
        on_behalf_of=on_behalf,
        data={"implicit": True} if implicit else None,
    )
    if not implicit:
        _bump(row.instance)
    return row


def _unclaim(staff: Staff, row: HumanTask) -> HumanTask:
    row.assignee = None
    row.on_behalf_of = None
    row.save(update_fields=["assignee", "on_behalf_of"])
    _event(row.instance, EventKind.UNCLAIMED, actor=staff, task=row)
    _bump(row.instance)
    return row


def _task_people(row: HumanTask) -> list[Staff]:
    if row.assignee is not None:
        return [row.assignee]
    return list(
        Staff.objects.filter(
            pk__in=HumanTaskCandidate.objects.filter(task=row).values("staff_id")
        ).select_related("user")
    )


def _urge(staff: Staff, row: HumanTask, comment: str) -> HumanTask:
    now = _now()
    people = _task_people(row)
    notification_send(
        recipients=_users(people),
        title=gettext("Please handle: %(task)s") % {"task": row.name},
        body=comment or row.instance.title,
        link=_task_link(row),
        kind="flow.urge",
        data={"task": row.pk, "instance": row.instance_id},
    )
    row.last_urged_at = now
    row.save(update_fields=["last_urged_at"])
    _event(
        row.instance,
        EventKind.URGED,
        actor=staff,
        task=row,
        comment=comment,
        data={"to": [p.name for p in people]},
    )
    _bump(row.instance)
    return row


def _copy(staff: Staff, row: HumanTask, usernames: Sequence[str], comment: str) -> HumanTask:
    instance = row.instance
    if not usernames:
        raise FlowInputError(_("Say who should receive a copy."), field="to_users")
    if len(usernames) > 100:
        raise FlowInputError(_("At most 100 people per copy."), field="to_users")
    people = [_staff_by_username(name, field_name="to_users") for name in dict.fromkeys(usernames)]
    already = set(
        TaskCopy.objects.filter(instance=instance, recipient__in=people).values_list(
            "recipient_id", flat=True
        )
    )
    fresh = [p for p in people if p.pk not in already]
    TaskCopy.objects.bulk_create(
        [TaskCopy(instance=instance, task=row, recipient=p, sent_by=staff) for p in fresh]
    )
    notification_send(
        recipients=_users(fresh),
        title=gettext("For your information: %(title)s") % {"title": instance.title},
        body=comment,
        link=_instance_link(instance),
        kind="flow.cc",
        data={"instance": instance.pk},
    )
    _event(
        instance,
        EventKind.COPIED,
        actor=staff,
        task=row,
        comment=comment,
        data={"to": [p.name for p in people]},
    )
    _bump(instance)
    return row


def tasks_batch_approve(*, actor: Any, task_ids: Sequence[int], comment: str = "") -> list[BatchResult]:
    """Approve each task in its own transaction; one result per task, in the given order.

    Not atomic as a whole on purpose: one failure does not undo the others.
    """
    if isinstance(task_ids, str | bytes) or not isinstance(task_ids, Sequence):
        raise FlowInputError(_("Select at least one task."), field="task_ids")
    ids = list(dict.fromkeys(task_ids))
    if len(ids) > MAX_BATCH:
        raise FlowInputError(fmt(_("At most %(max)s tasks at once."), {"max": MAX_BATCH}), field="task_ids")
    results: list[BatchResult] = []
    for task_id in ids:
        try:
            task_act(actor=actor, task=task_id, action="approve", comment=comment)
        except FlowError as exc:
            results.append(BatchResult(task_id=task_id, ok=False, message=exc.message))
        else:
            results.append(BatchResult(task_id=task_id, ok=True))
    return results


# --- administration ------------------------------------------------------------------------------


def _end_side_tables(instance: ProcessInstance) -> None:
    ServiceJob.objects.filter(instance=instance, status=ServiceJobStatus.PENDING).delete()
    MessageSubscription.objects.filter(instance=instance).delete()


@transaction.atomic
def instance_cancel(*, actor: Any, instance: ProcessInstance, reason: str = "") -> ProcessInstance:
    """Cancel: admins, or the initiator while nobody else has completed a task."""
    reason = _clean_comment(reason)
    staff = _require_staff(actor)
    locked = _lock_or_404(instance.pk)
    admin = is_admin(actor)
    if not admin:
        if locked.initiator_id != staff.pk:
            raise FlowPermissionDenied(_("Only the initiator or an administrator can cancel this process."))
        if completed_by_others(locked):
            raise FlowConflict(
                _("Others have already handled this process; ask an administrator to cancel it.")
            )
    if locked.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
        raise FlowConflict(_("This process has already ended."))
    run = _open(locked)
    _close_open_rows(run, TaskStatus.CANCELLED)
    _engine(run.wf.cancel)
    _end_side_tables(locked)
    Incident.objects.filter(instance=locked, status=IncidentStatus.OPEN).update(
        status=IncidentStatus.RESOLVED, resolved_at=run.now, resolved_by=staff
    )
    _event(locked, EventKind.CANCELLED, actor=staff, comment=reason)
    _sync(
        run,
        extra={"status": InstanceStatus.CANCELLED, "outcome": "", "ended_at": run.now, "has_incident": False},
    )
    audit_record(actor=actor, action="flow.instance.cancelled", target=locked, details={"reason": reason})
    return locked


def _require_admin(actor: Any) -> Staff:
    staff = _require_staff(actor)
    if not is_admin(actor):
        raise FlowPermissionDenied(_("Only process administrators can do this."))
    return staff


@transaction.atomic
def instance_suspend(*, actor: Any, instance: ProcessInstance, reason: str = "") -> ProcessInstance:
    reason = _clean_comment(reason)
    staff = _require_admin(actor)
    locked = _lock_or_404(instance.pk)
    if locked.status != InstanceStatus.RUNNING:
        raise FlowConflict(_("Only a running process can be suspended."))
    _event(locked, EventKind.SUSPENDED, actor=staff, comment=reason)
    _bump(locked, status=InstanceStatus.SUSPENDED, next_due_at=None)
    audit_record(actor=actor, action="flow.instance.suspended", target=locked, details={"reason": reason})
    return locked


@transaction.atomic
def instance_resume(*, actor: Any, instance: ProcessInstance, reason: str = "") -> ProcessInstance:
    reason = _clean_comment(reason)
    staff = _require_admin(actor)
    locked = _lock_or_404(instance.pk)
    if locked.status != InstanceStatus.SUSPENDED:
        raise FlowConflict(_("Only a suspended process can be resumed."))
    run = _open(locked)
    _event(locked, EventKind.RESUMED, actor=staff, comment=reason)
    locked.status = InstanceStatus.RUNNING
    _sync(run, extra={"status": InstanceStatus.RUNNING})
    audit_record(actor=actor, action="flow.instance.resumed", target=locked, details={"reason": reason})
    return locked


@transaction.atomic
def instance_migrate(*, actor: Any, instance: ProcessInstance, version: ProcessVersion) -> ProcessInstance:
    """Move a running (or suspended) instance to ``version`` of its definition."""
    staff = _require_admin(actor)
    locked = _lock_or_404(instance.pk)
    if version.definition_id != locked.definition_id:
        raise FlowInputError(_("That version belongs to another process."), field="version")
    if locked.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
        raise FlowConflict(_("This process has already ended."))
    if version.pk == locked.version_id:
        raise FlowInputError(_("The instance already runs on this version."), field="version")
    run = _open(locked)
    new_parsed = parsed_version(version)
    old_version = locked.version
    try:
        run.wf.migrate(new_parsed)
    except EngineError as exc:
        raise _engine_failed(exc) from exc
    run.parsed = new_parsed
    run.migrated = True
    locked.version = version
    _event(locked, EventKind.MIGRATED, actor=staff, data={"from": old_version.version, "to": version.version})
    _sync(run, extra={"version": version})
    audit_record(
        actor=actor,
        action="flow.instance.migrated",
        target=locked,
        details={"from": old_version.version, "to": version.version},
    )
    return locked


@transaction.atomic
def incident_retry(*, actor: Any, incident: Incident) -> Incident:
    """Resolve ``incident`` and let the worker try again at once (a failed job restarts its
    attempts)."""
    staff = _require_admin(actor)
    locked = _lock_or_404(incident.instance_id)
    fresh = (
        Incident.objects.select_for_update().filter(pk=incident.pk).first()
        if connection.features.has_select_for_update
        else Incident.objects.filter(pk=incident.pk).first()
    )
    if fresh is None:
        raise FlowNotFound(_("Not found."))
    if fresh.status != IncidentStatus.OPEN:
        raise FlowConflict(_("This incident has already been resolved."))
    if locked.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
        raise FlowConflict(_("This process has already ended."))
    now = _now()
    if fresh.job_id is not None:
        ServiceJob.objects.filter(pk=fresh.job_id, status=ServiceJobStatus.FAILED).update(
            status=ServiceJobStatus.PENDING, attempts=0, next_attempt_at=now, last_error=""
        )
    fresh.status = IncidentStatus.RESOLVED
    fresh.resolved_at = now
    fresh.resolved_by = staff
    fresh.save(update_fields=["status", "resolved_at", "resolved_by"])
    still_open = Incident.objects.filter(instance=locked, status=IncidentStatus.OPEN).exists()
    _event(
        locked, EventKind.INCIDENT_RESOLVED, actor=staff, step_id=fresh.step_id, data={"incident": fresh.pk}
    )
    fields: dict[str, Any] = {"has_incident": still_open}
    if locked.status == InstanceStatus.RUNNING:
        fields["next_due_at"] = now
    _bump(locked, **fields)
    audit_record(actor=actor, action="flow.incident.retried", target=locked, details={"incident": fresh.pk})
    return fresh


# --- messages ------------------------------------------------------------------------------------


@transaction.atomic
def message_correlate(
    *, actor: Any, name: str, business_key: str = "", variables: dict[str, Any] | None = None
) -> MessageResult:
    """Deliver message ``name``: to every running instance waiting for it under ``business_key``,
    and start an instance of every active definition whose latest version starts on it.

    ``actor`` None means the system (a domain event); started instances then have no initiator.
    """
    if actor is not None and not has_perm(actor, PERM_MESSAGE):
        raise FlowPermissionDenied(_("You may not send messages to processes."))
    staff = staff_of(actor) if actor is not None else None
    name = _clean_text(
        name, field="name", max_length=200, too_long=_("Give the message name (at most 200 characters).")
    )
    if not name:
        raise FlowInputError(_("Give the message name (at most 200 characters)."), field="name")
    business_key = _clean_text(
        business_key,
        field="business_key",
        max_length=200,
        too_long=_("The business key is too long (at most 200 characters)."),
    )
    values = _clean_variables(variables)
    result = _deliver_message(
        name=name, business_key=business_key, values=values, staff=staff, initiator=staff
    )
    if result.correlated or result.started:
        audit_record(
            actor=actor,
            action="flow.message.correlated",
            target=None,
            details={
                "name": name,
                "business_key": business_key,
                "correlated": [i.pk for i in result.correlated],
                "started": [i.pk for i in result.started],
            },
            actor_name="" if actor is not None else "flow",
        )
    return result


def _deliver_message(
    *,
    name: str,
    business_key: str,
    values: dict[str, Any],
    staff: Staff | None,
    initiator: Staff | None,
    origin: ProcessInstance | None = None,
) -> MessageResult:
    """Message ``name`` to every running instance waiting for it under ``business_key`` (but its
    ``origin``), then to every active definition whose latest version starts on it (``initiator``
    starts those)."""
    result = MessageResult()
    waiters = message_waiters(name=name, business_key=business_key)
    if origin is not None:
        waiters = waiters.exclude(pk=origin.pk)
    received = {"message": name, **({"from_instance": origin.pk} if origin is not None else {})}
    for waiting_id in list(waiters.values_list("pk", flat=True)):
        locked = _lock(waiting_id)
        if locked is None or locked.status != InstanceStatus.RUNNING:
            continue
        run = _open(locked)
        try:
            delivered = run.wf.send_message(name, values)
        except EngineError as exc:
            raise _engine_failed(exc) from exc
        if delivered:
            _event(locked, EventKind.MESSAGE_RECEIVED, actor=staff, data=received)
            result.correlated.append(locked)
        _sync(run)
    for definition in ProcessDefinition.objects.filter(
        is_active=True, latest_version__isnull=False
    ).select_related("latest_version"):
        version = definition.latest_version
        assert version is not None
        if name not in _message_starts(version):
            continue
        result.started.append(
            _start(
                definition=definition,
                version=version,
                initiator=initiator,
                variables={},
                business_key=business_key,
                title="",
                message=name,
                message_variables=values,
                origin=origin,
            )
        )
    return result


def _route_thrown(run: _Run, thrown: list[tuple[str, Any]]) -> None:
    """Deliver the messages an instance threw and did not catch itself, in this transaction: to the
    running instances waiting for them under the same business key, and to the definitions that
    start on them (initiated by the same person). An object payload becomes the receiver's
    variables; any other value arrives as the variable ``payload``."""
    source = run.instance
    depth = _message_depth.get()
    if depth >= MAX_MESSAGE_DEPTH:
        raise FlowInputError(
            fmt(
                _("Messages between processes went round more than %(max)s times; nothing was changed."),
                {"max": MAX_MESSAGE_DEPTH},
            )
        )
    token = _message_depth.set(depth + 1)
    try:
        for name, payload in thrown:
            values = (
                dict(payload)
                if isinstance(payload, Mapping)
                else ({} if payload is None else {"payload": payload})
            )
            sent = _event(source, EventKind.MESSAGE_SENT, data={"message": name})
            result = _deliver_message(
                name=name,
                business_key=source.business_key,
                values=values,
                staff=None,
                initiator=source.initiator,
                origin=source,
            )
            sent.data.update(
                {"correlated": [i.pk for i in result.correlated], "started": [i.pk for i in result.started]}
            )
            sent.save(update_fields=["data"])
    finally:
        _message_depth.reset(token)
    # a message that came back to the source changed its row: keep the caller's copy current
    source.refresh_from_db(
        fields=[
            "revision",
            "state",
            "variables",
            "status",
            "outcome",
            "ended_at",
            "next_due_at",
            "updated_at",
        ]
    )


def _message_starts(version: ProcessVersion) -> set[str]:
    metadata = version.metadata if isinstance(version.metadata, dict) else {}
    starts = metadata.get("message_starts")
    if isinstance(starts, list | tuple | set):
        return {str(s) for s in starts}
    return set(parsed_version(version).message_starts)


# --- the worker ----------------------------------------------------------------------------------


def flow_tick(*, now: datetime.datetime | None = None) -> int:
    """One pass of the worker: timer starts, then up to ``TICK_BATCH`` due instances (timers,
    automatic steps, task reminders and escalations), each in its own transaction. Returns how
    many items it handled."""
    now = now or _now()
    handled = _fire_timer_starts(now)
    due = list(
        ProcessInstance.objects.filter(status=InstanceStatus.RUNNING, next_due_at__lte=now)
        .order_by("next_due_at")
        .values_list("pk", flat=True)[:TICK_BATCH]
    )
    for instance_id in due:
        try:
            if _tick_instance(instance_id, now):
                handled += 1
        except FlowConflict:
            continue  # someone changed it meanwhile; it stays due
        except Exception as exc:
            logger.exception("flow: instance %s failed in the worker", instance_id)
            _record_incident(instance_id, str(getattr(exc, "message", exc)), getattr(exc, "step_id", ""))
            handled += 1
    return handled


def _record_incident(
    instance_id: int, message: str, step_id: str = "", job: ServiceJob | None = None
) -> None:
    with transaction.atomic():
        instance = _lock(instance_id)
        if instance is None:
            return
        incident = Incident.objects.create(
            instance=instance, job=job, step_id=step_id[:200], message=message[:4000]
        )
        _event(
            instance,
            EventKind.INCIDENT,
            step_id=step_id,
            data={"incident": incident.pk, "message": message[:500]},
        )
        ProcessInstance.objects.filter(pk=instance.pk).update(
            has_incident=True, next_due_at=None, revision=instance.revision + 1, updated_at=_now()
        )
        _notify_admins(instance, message)


def _notify_admins(instance: ProcessInstance, message: str) -> None:
    notification_send(
        recipients=_users(_admin_staff()),
        title=gettext("A process stopped: %(title)s") % {"title": instance.title},
        body=message[:1000],
        link=_instance_link(instance),
        kind="flow.incident",
        data={"instance": instance.pk},
    )


def _tick_instance(instance_id: int, now: datetime.datetime) -> bool:
    with transaction.atomic():
        instance = _lock(instance_id, skip_locked=True)
        if instance is None or instance.status != InstanceStatus.RUNNING:
            return False
        if instance.next_due_at is None or instance.next_due_at > now:
            return False
        run = _open(instance, now)
        before = {r.spiff_id for r in run.wf.ready_user_tasks()}
        before_due = run.wf.next_due()
        try:
            run.wf.refresh_timers()
        except EngineError as exc:
            raise _TickFailure(exc.message, exc.step_id) from exc
        after = {r.spiff_id for r in run.wf.ready_user_tasks()}
        if after != before or run.wf.completed or (before_due is not None and before_due <= now):
            _event(
                instance, EventKind.TIMER_FIRED, data={"due": before_due.isoformat() if before_due else None}
            )
        for job in ServiceJob.objects.filter(
            instance=instance, status=ServiceJobStatus.PENDING, next_attempt_at__lte=now
        ):
            _run_job(run, job)
        _task_alarms(run)
        if run.instance.status == InstanceStatus.RUNNING:
            _sync(run)
        return True


class _TickFailure(Exception):
    def __init__(self, message: str, step_id: str = "") -> None:
        self.message = message
        self.step_id = step_id
        super().__init__(message)


def _run_job(run: _Run, job: ServiceJob) -> None:
    """Call the job's registered function; on success complete the engine task, on failure retry
    later, and after ``max_attempts`` open an incident."""
    data = next((s.data for s in run.wf.ready_service_tasks() if s.spiff_id == job.spiff_task_id), None)
    if data is None:
        job.delete()
        return
    job.attempts += 1
    error = ""
    result: Any = None
    if job.function not in service_functions:
        error = f"no function is registered as {job.function!r}"
    else:
        function = service_functions.get(job.function)
        try:
            with transaction.atomic():
                result = function(dict(data))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    if not error:
        if result is not None and not isinstance(result, Mapping):
            result = {"result": result}
        try:
            run.wf.complete_service_task(job.spiff_task_id, dict(result or {}))
        except EngineError as exc:
            raise _TickFailure(exc.message, exc.step_id or job.task_def_id) from exc
        job.status = ServiceJobStatus.DONE
        job.last_error = ""
        job.next_attempt_at = None
        job.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
        _event(run.instance, EventKind.SERVICE_DONE, step_id=job.task_def_id, data={"function": job.function})
        return
    job.last_error = error[:4000]
    if job.attempts >= job.max_attempts:
        job.status = ServiceJobStatus.FAILED
        job.next_attempt_at = None
        job.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
        incident = Incident.objects.create(
            instance=run.instance, job=job, step_id=job.task_def_id, message=job.last_error
        )
        _event(
            run.instance,
            EventKind.INCIDENT,
            step_id=job.task_def_id,
            data={"incident": incident.pk, "function": job.function, "attempts": job.attempts},
        )
        ProcessInstance.objects.filter(pk=run.instance.pk).update(has_incident=True)
        run.instance.has_incident = True
        _notify_admins(run.instance, job.last_error)
        return
    delay = JOB_BACKOFF_SECONDS[min(job.attempts - 1, len(JOB_BACKOFF_SECONDS) - 1)]
    job.next_attempt_at = run.now + datetime.timedelta(seconds=delay)
    job.save(update_fields=["attempts", "last_error", "next_attempt_at"])


def _task_alarms(run: _Run) -> None:
    """Reminders before the due time, and the reminder plus escalation at it."""
    now = run.now
    rows = list(
        HumanTask.objects.filter(
            instance=run.instance, status=TaskStatus.OPEN, due_at__isnull=False, escalated_at__isnull=True
        ).select_related("assignee__user", "added_for")
    )
    for row in rows:
        row.instance = run.instance
        properties = _step_properties(run.parsed, row.task_def_id)
        alarm = _alarm_at(row, properties)
        if alarm is None or alarm > now:
            continue
        assert row.due_at is not None
        people = _task_people(row)
        if now < row.due_at:
            row.reminded_at = now
            row.save(update_fields=["reminded_at"])
            notification_send(
                recipients=_users(people),
                title=gettext("Due soon: %(task)s") % {"task": row.name},
                body=run.instance.title,
                link=_task_link(row),
                kind="flow.reminder",
                data={"task": row.pk},
            )
            _event(run.instance, EventKind.REMINDED, task=row, data={"due_at": row.due_at.isoformat()})
            continue
        row.escalated_at = now
        if row.reminded_at is None:
            row.reminded_at = now
        row.save(update_fields=["escalated_at", "reminded_at"])
        notification_send(
            recipients=_users(people),
            title=gettext("Overdue: %(task)s") % {"task": row.name},
            body=run.instance.title,
            link=_task_link(row),
            kind="flow.reminder",
            data={"task": row.pk},
        )
        _escalate(run, row, properties.get("escalation", "").strip())


def _escalate(run: _Run, row: HumanTask, rule: str) -> None:
    now = run.now
    if not rule:
        _event(
            run.instance,
            EventKind.REMINDED,
            task=row,
            data={"due_at": row.due_at.isoformat() if row.due_at else None},
        )
        return
    if rule == "notify_leader":
        leader = leader_above(row.assignee, 1) if row.assignee is not None else None
        if leader is not None:
            notification_send(
                recipients=_users([leader]),
                title=gettext("Overdue in your team: %(task)s") % {"task": row.name},
                body=gettext("%(name)s has not handled “%(title)s” in time.")
                % {"name": row.assignee.name if row.assignee else "", "title": run.instance.title},
                link=_instance_link(run.instance),
                kind="flow.escalation",
                data={"task": row.pk},
            )
        _event(
            run.instance,
            EventKind.ESCALATED,
            task=row,
            data={"rule": rule, "leader": leader.name if leader else None},
        )
        return
    if rule == "auto_approve":
        _event(run.instance, EventKind.ESCALATED, task=row, data={"rule": rule})
        _decide_system(run, row)
        return
    if rule.startswith("reassign:"):
        username = rule.split(":", 1)[1].strip()
        target = (
            Staff.objects.select_related("user", "department")
            .filter(user__username=username, status=StaffStatus.ACTIVE, user__is_active=True)
            .first()
        )
        if target is None or target.pk == row.assignee_id:
            error = "no such active user" if target is None else "already assigned"
            _event(run.instance, EventKind.ESCALATED, task=row, data={"rule": rule, "error": error})
            return
        _event(run.instance, EventKind.ESCALATED, task=row, data={"rule": rule, "to": target.name})
        _handover(row, target, None, now, escalated=True)
        return
    _event(run.instance, EventKind.ESCALATED, task=row, data={"rule": rule, "error": "unknown escalation"})


def _decide_system(run: _Run, row: HumanTask) -> None:
    """Auto-approve ``row`` at its due time (inside the worker's run; no person acts)."""
    comment = gettext("Approved automatically at the due time.")
    submitted = {**(row.data.get("carry") or {}), "approved": True, "comment": comment}
    row.data["variables"] = submitted
    row.data.pop("carry", None)
    _close(row, TaskStatus.COMPLETED, run.now, outcome=TaskOutcome.APPROVED, comment=comment)
    _event(
        run.instance,
        EventKind.APPROVED,
        task=row,
        comment=comment,
        data={"automatic": True},
        duration=_seconds_between(row.created_at, run.now),
    )
    if row.signer_position in (POSITION_AFTER, POSITION_ALONGSIDE) and row.added_for_id is not None:
        _finish_step(run, HumanTask.objects.get(pk=row.added_for_id))
    elif row.signer_position == POSITION_RESUBMIT:
        _resubmit(run, row, submitted)
    elif not row.signer_position:
        _finish_step(run, row)


def _fire_timer_starts(now: datetime.datetime) -> int:
    fired = 0
    for schedule_id in list(
        TimerStartSchedule.objects.filter(next_fire_at__lte=now)
        .order_by("next_fire_at")
        .values_list("pk", flat=True)[:TICK_BATCH]
    ):
        try:
            if _fire_one(schedule_id, now):
                fired += 1
        except Exception:
            logger.exception("flow: timer start %s failed", schedule_id)
    return fired


def _fire_one(schedule_id: int, now: datetime.datetime) -> bool:
    with transaction.atomic():
        qs = TimerStartSchedule.objects.select_related("definition", "version").filter(
            pk=schedule_id, next_fire_at__lte=now
        )
        if connection.features.has_select_for_update:
            qs = qs.select_for_update(of=("self",), skip_locked=True)
        schedule = qs.first()
        if schedule is None:
            return False
        scheduled = schedule.next_fire_at
        assert scheduled is not None
        definition = schedule.definition
        error = ""
        if definition.is_active and definition.latest_version_id == schedule.version_id:
            try:
                with transaction.atomic():
                    _start(
                        definition=definition,
                        version=schedule.version,
                        initiator=None,
                        variables={"fired_at": scheduled.isoformat()},
                        business_key="",
                        title=f"{definition.name} · {timezone.localtime(scheduled):%Y-%m-%d %H:%M}",
                    )
            except FlowError as exc:
                error = str(exc.message)
        schedule.fired_count += 1
        schedule.last_fired_at = now
        if schedule.remaining is not None:
            schedule.remaining -= 1
        if schedule.period and (schedule.remaining is None or schedule.remaining > 0):
            following = assign.add_duration(scheduled, schedule.period)
            while following <= now:
                following = assign.add_duration(following, schedule.period)
            schedule.next_fire_at = following
        else:
            schedule.next_fire_at = None
        schedule.save(update_fields=["fired_count", "last_fired_at", "remaining", "next_fire_at"])
        if error:
            logger.warning("flow: timer start of %s failed: %s", definition.key, error)
            notification_send(
                recipients=_users(_admin_staff()),
                title=gettext("A scheduled process could not start: %(name)s") % {"name": definition.name},
                body=error,
                kind="flow.incident",
                data={"definition": definition.key},
            )
        return True
