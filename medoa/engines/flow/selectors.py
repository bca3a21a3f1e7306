"""Reads of the process engine, narrowed by the caller's permissions.

Inboxes query the human-task projection only (never a deserialized workflow):

* 待办 ``todo`` — open tasks assigned to me, or unassigned open tasks I am a candidate for;
* 已办 ``done`` — tasks I closed myself (approved, rejected, completed, returned, transferred …);
* 我发起的 ``initiated`` — instances I started;
* 抄送我的 ``cc`` — instances copied to me.

Who sees an instance: its participants (initiator, assignees, the people they act for,
candidates, whoever closed one of its tasks, the people it was copied to), holders of
``flow.instance.view`` whose scope covers the initiator's department, and holders of
``flow.instance.admin``.

Which actions a caller may take on a task is answered here (``task_action_denial``) and enforced
by the services with the same function. A candidate may approve, reject or complete an unclaimed
task directly: the decision claims it first (as Chinese OA users expect; batch approval relies on
it); the other handling actions still need an explicit claim.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm, principal_of, scope_q
from medoa.core.org.models import Staff
from medoa.core.org.selectors import active_delegate_for

from .choices import EventKind, IncidentStatus, InstanceStatus, ServiceJobStatus, TaskStatus
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
)
from .spiff import EngineError, ParsedDefinition, Workflow, cached_definition

PERM_DESIGN = "flow.definition.design"
PERM_ADMIN = "flow.instance.admin"
PERM_VIEW = "flow.instance.view"
PERM_START = "flow.start"
PERM_MESSAGE = "flow.message.send"

BOXES = ("todo", "done", "initiated", "cc")
TASK_ACTIONS = (
    "approve",
    "reject",
    "complete",
    "return",
    "withdraw",
    "transfer",
    "add_signer",
    "claim",
    "unclaim",
    "urge",
    "cc",
)
# Actions that handle the task itself: only its assignee (or their delegate) may take them.
HANDLING_ACTIONS = frozenset({"approve", "reject", "complete", "return", "transfer", "add_signer", "unclaim"})
DECIDING_ACTIONS = frozenset({"approve", "reject", "complete"})
URGE_INTERVAL = datetime.timedelta(minutes=10)
MAX_SEARCH = 200

# signer_position values of rows the engine does not know about
POSITION_BEFORE = "before"
POSITION_AFTER = "after"
POSITION_ALONGSIDE = "alongside"
POSITION_RESUBMIT = "resubmit"
ADDED_POSITIONS = frozenset({POSITION_BEFORE, POSITION_AFTER, POSITION_ALONGSIDE})

# "order" → field, per box. "created_at" is when the item arrived in the box.
_ORDERS: dict[str, dict[str, str]] = {
    "todo": {"created_at": "created_at", "due_at": "due_at", "name": "name", "title": "instance__title"},
    "done": {"created_at": "completed_at", "due_at": "due_at", "name": "name", "title": "instance__title"},
    "initiated": {"created_at": "started_at", "title": "title", "status": "status"},
    "cc": {"created_at": "created_at", "title": "instance__title"},
}


def staff_of(user: Any) -> Staff | None:
    """The caller's staff record (``None`` for anonymous users and accounts without one)."""
    principal = principal_of(user)
    return principal.staff if principal is not None else None


def is_admin(user: Any) -> bool:
    return has_perm(user, PERM_ADMIN)


# --- parsed versions -----------------------------------------------------------------------------


def _version_sources(version: ProcessVersion) -> tuple[str, dict[str, str]]:
    called = version.metadata.get("called_versions", {}) if isinstance(version.metadata, dict) else {}
    xml_by_id = dict(
        ProcessVersion.objects.filter(pk__in=list(called.values())).values_list("pk", "bpmn_xml")
    )
    return version.bpmn_xml, {pid: xml_by_id[vid] for pid, vid in called.items() if vid in xml_by_id}


def parsed_version(version: ProcessVersion) -> ParsedDefinition:
    """The parsed spec of ``version`` (cached per process; the XML is read only on a miss).

    The cache key is the version id AND a checksum of the XML it was parsed from (its own and the
    called processes'): SQLite hands out the id of a rolled-back row again, so an id alone could
    name another document."""
    return cached_definition(
        version.pk,
        version_checksum(version),
        lambda: _version_sources(version),
        decision_versions=decision_pins(version),
    )


def decision_pins(version: ProcessVersion) -> dict[str, int]:
    """The DMN decision versions ``version``'s business-rule tasks were pinned to at deploy (by
    step id; ``metadata['decision_tasks']``)."""
    metadata = version.metadata if isinstance(version.metadata, dict) else {}
    tasks = metadata.get("decision_tasks")
    if not isinstance(tasks, dict):
        return {}
    return {
        step: int(info["version"])
        for step, info in tasks.items()
        if isinstance(info, dict) and isinstance(info.get("version"), int)
    }


def version_checksum(version: ProcessVersion) -> str:
    """The checksum of ``version``'s XML, combined with its called processes' when it has any."""
    metadata = version.metadata if isinstance(version.metadata, dict) else {}
    called = metadata.get("called_checksums")
    if not isinstance(called, dict) or not called:
        return version.checksum
    combined = "\n".join([version.checksum, *(f"{k}={called[k]}" for k in sorted(called))])
    return hashlib.sha256(combined.encode("utf-8")).hexdigest()


def load_workflow(instance: ProcessInstance, parsed: ParsedDefinition | None = None) -> Workflow:
    """The instance's workflow (``EngineError`` when its state cannot be loaded)."""
    return Workflow.load(parsed or parsed_version(instance.version), instance.state)


def step_name(version: ProcessVersion, step_id: str) -> str:
    steps = version.metadata.get("steps", {}) if isinstance(version.metadata, dict) else {}
    info = steps.get(step_id) if isinstance(steps, dict) else None
    return str(info.get("name") or step_id) if isinstance(info, dict) else step_id


# --- visibility ----------------------------------------------------------------------------------


def instance_visible_q(user: Any) -> Q:
    """A filter for the instances ``user`` may see (see the module docstring)."""
    if is_admin(user):
        return Q()
    scope = scope_q(user, PERM_VIEW, department_field="initiator_department")
    if not scope:  # an empty Q means "everything"
        return Q()
    staff = staff_of(user)
    if staff is None:
        return scope
    me = staff.pk
    participant = (
        Q(initiator=me)
        | Q(
            pk__in=HumanTask.objects.filter(Q(assignee=me) | Q(on_behalf_of=me) | Q(completed_by=me)).values(
                "instance_id"
            )
        )
        | Q(pk__in=HumanTaskCandidate.objects.filter(staff=me).values("task__instance_id"))
        | Q(pk__in=TaskCopy.objects.filter(recipient=me).values("instance_id"))
    )
    return participant | scope


def instance_get_for_user(*, user: Any, instance_id: int) -> ProcessInstance:
    instance = (
        ProcessInstance.objects.filter(instance_visible_q(user), pk=instance_id)
        .select_related("definition", "version", "initiator__user", "initiator_department")
        .first()
    )
    if instance is None:
        raise FlowNotFound(_("There is no such process instance."))
    return instance


def task_get_for_user(*, user: Any, task_id: int) -> HumanTask:
    """The task if ``user`` may see its instance; ``FlowNotFound`` otherwise."""
    task = (
        HumanTask.objects.filter(
            pk=task_id, instance__in=ProcessInstance.objects.filter(instance_visible_q(user))
        )
        .select_related(
            "instance__definition",
            "instance__version",
            "instance__initiator__user",
            "assignee__user",
            "on_behalf_of",
            "added_for",
        )
        .first()
    )
    if task is None:
        raise FlowNotFound(_("There is no such task."))
    return task


def instance_list_for_admin(
    *, user: Any, status: str = "", definition_key: str = "", incident: bool | None = None, search: str = ""
) -> QuerySet[ProcessInstance]:
    """Instance administration: every instance for admins, the visible ones for others.

    Each instance comes with its open incidents (``open_incidents``) and the version numbers of
    its definition (``definition.version_list``, oldest first: the migration choices) — two
    queries per page, whatever its length."""
    qs = (
        ProcessInstance.objects.filter(instance_visible_q(user))
        .select_related("definition", "version", "initiator", "initiator_department")
        .prefetch_related(
            Prefetch(
                "incidents",
                queryset=Incident.objects.filter(status=IncidentStatus.OPEN).order_by("created_at", "id"),
                to_attr="open_incidents",
            ),
            Prefetch(
                "definition__versions",
                queryset=ProcessVersion.objects.only("id", "definition_id", "version").order_by("version"),
                to_attr="version_list",
            ),
        )
    )
    if status:
        if status not in InstanceStatus.values:
            raise FlowInputError(fmt(_("Unknown status “%(status)s”."), {"status": status}), field="status")
        qs = qs.filter(status=status)
    if definition_key:
        qs = qs.filter(definition__key=definition_key)
    if incident is not None:
        qs = qs.filter(has_incident=incident)
    search = search.strip()[:MAX_SEARCH]
    if search:
        qs = qs.filter(
            Q(title__icontains=search) | Q(definition__name__icontains=search) | Q(business_key=search)
        )
    return qs.order_by("-started_at", "-id")


# --- inboxes -------------------------------------------------------------------------------------


def todo_q(staff_id: int) -> Q:
    """Open tasks assigned to the person, or unassigned ones they may claim.

    One query, written as ``id IN (assigned UNION ALL claimable)``: each half uses its own index
    (the partial ``flow_task_todo_idx`` on open tasks by assignee; the candidates' (staff, task)
    index), where an ``OR`` of the two makes PostgreSQL scan every open unassigned task.
    """
    assigned = HumanTask.objects.filter(status=TaskStatus.OPEN, assignee_id=staff_id).order_by().values("id")
    claimable = (
        HumanTask.objects.filter(status=TaskStatus.OPEN, assignee__isnull=True, candidates__staff_id=staff_id)
        .order_by()
        .values("id")
    )
    return Q(pk__in=assigned.union(claimable, all=True))


def _order(box: str, order: str) -> list[str]:
    key = order.lstrip("-")
    field = _ORDERS[box].get(key)
    if field is None:
        raise FlowInputError(
            fmt(
                _("Cannot sort by “%(order)s”; use one of: %(choices)s."),
                {"order": order, "choices": ", ".join(sorted(_ORDERS[box]))},
            ),
            field="order",
        )
    desc = order.startswith("-")
    return [f"-{field}" if desc else field, "-id" if desc else "id"]


def task_inbox(
    *, user: Any, box: str, search: str = "", definition_key: str = "", order: str = "-created_at"
) -> QuerySet[Any]:
    """One inbox of ``user``: ``HumanTask`` rows for todo/done, ``ProcessInstance`` rows for
    initiated, ``TaskCopy`` rows for cc. One query (plus the caller's principal)."""
    if box not in BOXES:
        raise FlowInputError(
            fmt(
                _("Unknown inbox “%(box)s”; use one of: %(choices)s."),
                {"box": box, "choices": ", ".join(BOXES)},
            ),
            field="box",
        )
    ordering = _order(box, order or "-created_at")
    staff = staff_of(user)
    search = search.strip()[:MAX_SEARCH]
    qs: QuerySet[Any]
    if box in ("todo", "done"):
        if staff is None:
            return HumanTask.objects.none()
        where = todo_q(staff.pk) if box == "todo" else Q(completed_by_id=staff.pk)
        qs = HumanTask.objects.filter(where).select_related(
            "instance__definition", "instance__initiator", "assignee", "on_behalf_of"
        )
        if search:
            qs = qs.filter(
                Q(name__icontains=search)
                | Q(instance__title__icontains=search)
                | Q(instance__definition__name__icontains=search)
            )
        if definition_key:
            qs = qs.filter(instance__definition__key=definition_key)
    elif box == "initiated":
        if staff is None:
            return ProcessInstance.objects.none()
        qs = ProcessInstance.objects.filter(initiator_id=staff.pk).select_related("definition", "initiator")
        if search:
            qs = qs.filter(Q(title__icontains=search) | Q(definition__name__icontains=search))
        if definition_key:
            qs = qs.filter(definition__key=definition_key)
    else:
        if staff is None:
            return TaskCopy.objects.none()
        qs = TaskCopy.objects.filter(recipient_id=staff.pk).select_related(
            "instance__definition", "instance__initiator", "sent_by"
        )
        if search:
            qs = qs.filter(
                Q(instance__title__icontains=search) | Q(instance__definition__name__icontains=search)
            )
        if definition_key:
            qs = qs.filter(instance__definition__key=definition_key)
    return qs.order_by(*ordering)


@dataclass(frozen=True)
class TodoRow:
    """One line of the workbench card: what the card shows of an open task, nothing more."""

    pk: int
    name: str
    created_at: datetime.datetime
    title: str


def _tables() -> dict[str, str]:
    return {
        "task": HumanTask._meta.db_table,
        "cand": HumanTaskCandidate._meta.db_table,
        "inst": ProcessInstance._meta.db_table,
        "defn": ProcessDefinition._meta.db_table,
        "copy": TaskCopy._meta.db_table,
    }


# The counts and the card sit on every user's landing page, and building these statements through
# the ORM cost more than running them (about 12 ms of query compilation for 3 ms of database time),
# so they are fixed SQL. They use the same indexes as ``todo_q`` and
# ``inbox_counts`` (the partial open-task index by assignee, the candidates' (staff, task) index),
# and tests check that they agree with the inbox selectors.
_COUNTS_SQL = """
SELECT
  (SELECT COUNT(*) FROM {task} t WHERE t.status = 'open' AND t.assignee_id = %(s)s)
  + (SELECT COUNT(*) FROM {cand} c JOIN {task} t ON t.id = c.task_id
     WHERE c.staff_id = %(s)s AND t.status = 'open' AND t.assignee_id IS NULL),
  (SELECT COUNT(*) FROM {task} t WHERE t.completed_by_id = %(s)s),
  (SELECT COUNT(*) FROM {inst} i WHERE i.initiator_id = %(s)s),
  (SELECT COUNT(*) FROM {copy} k WHERE k.recipient_id = %(s)s),
  (SELECT COUNT(*) FROM {copy} k WHERE k.recipient_id = %(s)s AND k.read_at IS NULL)
"""
_CARD_TASKS_SQL = """
SELECT t.id, t.name, t.created_at, COALESCE(NULLIF(i.title, ''), d.name)
FROM {task} t JOIN {inst} i ON i.id = t.instance_id JOIN {defn} d ON d.id = i.definition_id
WHERE t.id IN (
  SELECT a.id FROM (
    SELECT t1.id, t1.created_at FROM {task} t1 WHERE t1.status = 'open' AND t1.assignee_id = %(s)s
    ORDER BY t1.created_at DESC, t1.id DESC LIMIT %(n)s
  ) a
  UNION ALL
  SELECT b.id FROM (
    SELECT t2.id, t2.created_at FROM {cand} c JOIN {task} t2 ON t2.id = c.task_id
    WHERE c.staff_id = %(s)s AND t2.status = 'open' AND t2.assignee_id IS NULL
    ORDER BY t2.created_at DESC, t2.id DESC LIMIT %(n)s
  ) b
)
ORDER BY t.created_at DESC, t.id DESC
LIMIT %(n)s
"""
CARD_TASKS = 5


def inbox_counts(*, user: Any) -> dict[str, int]:
    """``todo``, ``done``, ``initiated``, ``cc`` and ``cc_unread``: one query."""
    staff = staff_of(user)
    if staff is None:
        return {"todo": 0, "done": 0, "initiated": 0, "cc": 0, "cc_unread": 0}
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS_SQL.format(**_tables()), {"s": staff.pk})
        todo, done, initiated, cc, cc_unread = cursor.fetchone()
    return {"todo": todo, "done": done, "initiated": initiated, "cc": cc, "cc_unread": cc_unread}


def todo_card_context(request: Any) -> dict[str, Any]:
    """The workbench card "my to-do": the counts and the five newest open tasks (two queries;
    the task list only when there is something to do)."""
    counts = inbox_counts(user=request.user)
    tasks: list[TodoRow] = []
    staff = staff_of(request.user)
    if counts["todo"] and staff is not None:
        with connection.cursor() as cursor:
            cursor.execute(_CARD_TASKS_SQL.format(**_tables()), {"s": staff.pk, "n": CARD_TASKS})
            tasks = [
                TodoRow(pk=pk, name=name, created_at=_aware(created), title=title)
                for pk, name, created, title in cursor.fetchall()
            ]
    return {"counts": counts, "tasks": tasks}


def _aware(value: Any) -> datetime.datetime:
    """A timestamp from a raw query: SQLite hands back text, PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value


# --- history and definitions ---------------------------------------------------------------------


def instance_history(*, instance: ProcessInstance) -> list[ProcessEvent]:
    """Every event of the instance, oldest first, with actors and attachments."""
    return list(
        ProcessEvent.objects.filter(instance=instance)
        .select_related("actor", "on_behalf_of", "task")
        .prefetch_related("attachments")
        .order_by("at", "id")
    )


def instance_active_tasks(*, instance: ProcessInstance) -> list[HumanTask]:
    return list(
        HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN)
        .select_related("assignee", "on_behalf_of")
        .prefetch_related("candidates__staff")
        .order_by("created_at", "id")
    )


def definition_list(*, user: Any, running_counts: bool = False) -> QuerySet[ProcessDefinition]:
    """Designers see every definition; everyone who may start processes sees the active, deployed
    ones. ``running_counts``: each definition also carries ``running_count`` (its running
    instances) and the person who deployed its latest version, in the same query."""
    qs = ProcessDefinition.objects.select_related("latest_version").order_by("category", "key")
    if running_counts:
        qs = qs.select_related("latest_version__deployed_by__staff").annotate(
            running_count=Count("instances", filter=Q(instances__status=InstanceStatus.RUNNING))
        )
    if has_perm(user, PERM_DESIGN):
        return qs
    if has_perm(user, PERM_START):
        return qs.filter(is_active=True, latest_version__isnull=False)
    return qs.none()


def draft_list(*, user: Any) -> list[ProcessDraft]:
    """Drafts of processes never deployed (no definition with a version under their key), for
    designers only; other people get an empty list. Drafts of deployed keys open from their row."""
    if not has_perm(user, PERM_DESIGN):
        return []
    deployed = ProcessDefinition.objects.filter(latest_version__isnull=False).values("key")
    return list(
        ProcessDraft.objects.exclude(key__in=deployed).select_related("updated_by__staff").order_by("key")
    )


def definition_get(*, key: str) -> ProcessDefinition:
    definition = ProcessDefinition.objects.select_related("latest_version").filter(key=key).first()
    if definition is None:
        raise FlowNotFound(fmt(_("There is no process “%(key)s”."), {"key": key}))
    return definition


def definition_versions(*, definition: ProcessDefinition) -> list[ProcessVersion]:
    """Every version of ``definition``, newest first, with who deployed it."""
    return list(definition.versions.select_related("deployed_by__staff").order_by("-version"))


def definition_version_get(*, definition: ProcessDefinition, number: int | None = None) -> ProcessVersion:
    """Version ``number`` of ``definition`` (None: the latest); ``FlowNotFound`` when there is none."""
    if number is None:
        version = definition.latest_version
    else:
        version = ProcessVersion.objects.filter(definition=definition, version=number).first()
    if version is None:
        raise FlowNotFound(_("This process has no such version."))
    return version


def definition_key_taken(*, key: str) -> bool:
    """Is ``key`` used by a definition or a draft already?"""
    return ProcessDefinition.objects.filter(key=key).exists() or ProcessDraft.objects.filter(key=key).exists()


@dataclass(frozen=True)
class DesignerState:
    """What the designer opens for a key: the draft if there is one, else the latest version.

    A draft saved before the latest version was deployed (deployed through the API, or by another
    designer) is older than it: the designer then opens the deployed version and says so
    (``draft_is_older``); saving replaces the old draft."""

    key: str
    definition: ProcessDefinition | None
    draft: ProcessDraft | None

    @property
    def latest_version(self) -> ProcessVersion | None:
        return self.definition.latest_version if self.definition is not None else None

    @property
    def draft_is_older(self) -> bool:
        latest = self.latest_version
        return self.draft is not None and latest is not None and latest.deployed_at > self.draft.updated_at

    @property
    def opens_draft(self) -> bool:
        return self.draft is not None and not self.draft_is_older

    @property
    def name(self) -> str:
        if self.opens_draft and self.draft is not None and self.draft.name:
            return self.draft.name
        return self.definition.name if self.definition is not None else ""

    @property
    def category(self) -> str:
        return self.definition.category if self.definition is not None else ""

    @property
    def xml(self) -> str:
        if self.opens_draft and self.draft is not None:
            return self.draft.bpmn_xml
        assert self.latest_version is not None
        return self.latest_version.bpmn_xml


def designer_get(*, key: str) -> DesignerState:
    """The draft and the definition of ``key`` (two queries); ``FlowNotFound`` when there is
    neither a draft nor a deployed version. Only designers reach it (the views check)."""
    draft = ProcessDraft.objects.filter(key=key).first()
    definition = ProcessDefinition.objects.select_related("latest_version").filter(key=key).first()
    if draft is None and (definition is None or definition.latest_version is None):
        raise FlowNotFound(fmt(_("There is no process “%(key)s”."), {"key": key}))
    return DesignerState(key=key, definition=definition, draft=draft)


def attachment_get_for_user(*, user: Any, attachment_id: int) -> ProcessAttachment:
    """A file attached to a comment, if ``user`` may see its instance (``FlowNotFound`` else)."""
    attachment = (
        ProcessAttachment.objects.filter(
            pk=attachment_id,
            event__instance__in=ProcessInstance.objects.filter(instance_visible_q(user)),
        )
        .select_related("event")
        .first()
    )
    if attachment is None:
        raise FlowNotFound()
    return attachment


def incident_get(*, incident_id: int) -> Incident:
    """An incident with its instance (for administrators; ``FlowNotFound`` when there is none)."""
    incident = Incident.objects.select_related("instance").filter(pk=incident_id).first()
    if incident is None:
        raise FlowNotFound()
    return incident


def instance_open_incidents(*, instance: ProcessInstance) -> list[Incident]:
    return list(instance.incidents.filter(status=IncidentStatus.OPEN).order_by("created_at", "id"))


# --- who may act ---------------------------------------------------------------------------------


def acting_for(staff: Staff, task: HumanTask, *, at: datetime.datetime | None = None) -> Staff | None:
    """Whom ``staff`` acts for on ``task``: ``task.on_behalf_of`` when the task was delegated to
    them; the assignee when a delegation from the assignee to ``staff`` is in force now; ``None``
    when they act for themself (or may not act)."""
    if task.assignee_id == staff.pk:
        return task.on_behalf_of
    if task.assignee_id is not None:
        assignee = task.assignee
        if assignee is not None:
            delegate = active_delegate_for(assignee, task.instance.definition.key, at)
            if delegate is not None and delegate.pk == staff.pk:
                return assignee
    return None


def may_handle(staff: Staff, task: HumanTask) -> bool:
    """The assignee, or the assignee's delegate while a delegation is in force."""
    if task.assignee_id is None:
        return False
    if task.assignee_id == staff.pk:
        return True
    return acting_for(staff, task) is not None


def is_candidate(staff: Staff, task: HumanTask) -> bool:
    if HumanTaskCandidate.objects.filter(task=task, staff=staff).exists():
        return True
    # The delegate of a candidate may claim in their place.
    candidate_ids = list(HumanTaskCandidate.objects.filter(task=task).values_list("staff_id", flat=True))
    for candidate in Staff.objects.filter(pk__in=candidate_ids).select_related("user"):
        delegate = active_delegate_for(candidate, task.instance.definition.key)
        if delegate is not None and delegate.pk == staff.pk:
            return True
    return False


def _blocked_by_before_signers(task: HumanTask) -> bool:
    if not getattr(task, "has_added_signers", True):  # read by the service that locked it
        return False
    return HumanTask.objects.filter(
        added_for=task, signer_position=POSITION_BEFORE, status=TaskStatus.OPEN
    ).exists()


def _instance_state_error(instance: ProcessInstance) -> FlowError | None:
    if instance.status == InstanceStatus.SUSPENDED:
        return FlowConflict(_("This process is suspended; nothing can be done on it until it is resumed."))
    if instance.status != InstanceStatus.RUNNING:
        return FlowConflict(_("This process has already ended."))
    return None


def completed_by_others(instance: ProcessInstance) -> bool:
    """Has anyone other than the initiator completed a task of the instance?"""
    return (
        HumanTask.objects.filter(instance=instance, status=TaskStatus.COMPLETED)
        .exclude(completed_by_id=instance.initiator_id)
        .exists()
    )


def task_action_denial(*, user: Any, task: HumanTask, action: str) -> FlowError | None:
    """Why ``user`` may not take ``action`` on ``task`` now, or ``None`` when they may."""
    if action not in TASK_ACTIONS:
        return FlowInputError(
            fmt(
                _("Unknown action “%(action)s”; use one of: %(choices)s."),
                {"action": action, "choices": ", ".join(TASK_ACTIONS)},
            ),
            field="action",
        )
    staff = staff_of(user)
    if staff is None or not staff.is_active:
        return FlowPermissionDenied(_("Only staff members can act on process tasks."))
    instance = task.instance
    admin = is_admin(user)
    initiator = instance.initiator_id is not None and instance.initiator_id == staff.pk

    if action == "withdraw":
        if not initiator:
            return FlowPermissionDenied(_("Only the initiator can withdraw a process."))
        state = _instance_state_error(instance)
        if state is not None:
            return state
        if completed_by_others(instance):
            return FlowConflict(
                _("The next step has already been handled; the process can no longer be withdrawn.")
            )
        return None
    if action == "urge":
        if not (initiator or admin):
            return FlowPermissionDenied(_("Only the initiator can urge the people handling this process."))
        state = _instance_state_error(instance)
        if state is not None:
            return state
        if task.status != TaskStatus.OPEN:
            return FlowConflict(_("This task is no longer open."))
        if task.last_urged_at is not None and timezone.now() - task.last_urged_at < URGE_INTERVAL:
            return FlowConflict(
                _("This task was urged less than 10 minutes ago; please wait before urging again.")
            )
        return None
    if action == "cc":
        if not (initiator or admin or may_handle(staff, task)):
            return FlowPermissionDenied(
                _("Only the initiator or the person handling this task can copy it to others.")
            )
        if instance.status == InstanceStatus.SUSPENDED:
            return _instance_state_error(instance)
        return None

    if action == "claim":
        if task.status != TaskStatus.OPEN:
            return FlowConflict()
        state = _instance_state_error(instance)
        if state is not None:
            return state
        if task.assignee_id is not None:
            if task.assignee_id == staff.pk:
                return FlowConflict(_("You have already claimed this task."))
            if is_candidate(staff, task):
                return FlowConflict(_("Someone else has already claimed this task."))
            return FlowPermissionDenied(_("You are not among the people who may claim this task."))
        if not is_candidate(staff, task):
            return FlowPermissionDenied(_("You are not among the people who may claim this task."))
        return None

    # handling actions
    if task.status != TaskStatus.OPEN:
        if task.assignee_id == staff.pk or task.completed_by_id == staff.pk or is_candidate(staff, task):
            return FlowConflict()
        return FlowPermissionDenied(_("This task is not yours to handle."))
    state = _instance_state_error(instance)
    if state is not None:
        return state
    if not may_handle(staff, task):
        if task.assignee_id is None and is_candidate(staff, task):
            if action in DECIDING_ACTIONS:
                return None  # a candidate's decision claims the task on the way (see services)
            return FlowPermissionDenied(_("Claim this task before acting on it."))
        return FlowPermissionDenied(_("This task is not yours to handle."))
    position = task.signer_position
    if action == "unclaim":
        if position or not HumanTaskCandidate.objects.filter(task=task).exists():
            return FlowInputError(
                _("This task was assigned to you, not claimed; transfer it instead."), field="action"
            )
        return None
    if position in ADDED_POSITIONS and action not in DECIDING_ACTIONS:
        return FlowInputError(
            _("A signer added to a step can only approve, reject or complete."), field="action"
        )
    if position == POSITION_RESUBMIT and action not in ("complete", "approve"):
        return FlowInputError(_("Resubmit the request (or cancel the process) to go on."), field="action")
    if action in DECIDING_ACTIONS | {"return", "transfer", "add_signer"} and _blocked_by_before_signers(task):
        return FlowConflict(_("Wait until the signers added before you have acted."))
    return None


def task_allowed_actions(*, user: Any, task: HumanTask) -> list[str]:
    """The actions ``user`` may take on ``task`` now (in ``TASK_ACTIONS`` order)."""
    return [a for a in TASK_ACTIONS if task_action_denial(user=user, task=task, action=a) is None]


def return_targets(*, task: HumanTask) -> list[tuple[str, str]]:
    """The completed steps ``task`` may be returned to (step id, step name), oldest first. A return
    with no step goes to the initiator; that choice is not listed here."""
    instance = task.instance
    if task.status != TaskStatus.OPEN or task.signer_position or instance.status != InstanceStatus.RUNNING:
        return []
    try:
        wf = load_workflow(instance)
        seen: dict[str, str] = {}
        for _spiff_id, step in wf.completed_user_steps():
            if step != task.task_def_id and step not in seen and wf.can_return_to(step):
                seen[step] = step_name(instance.version, step)
    except EngineError:
        return []
    return list(seen.items())


# --- the diagram ---------------------------------------------------------------------------------

_DONE_KINDS = (
    EventKind.APPROVED,
    EventKind.REJECTED,
    EventKind.COMPLETED,
    EventKind.SERVICE_DONE,
    EventKind.DECISION,
    EventKind.MESSAGE_RECEIVED,
    EventKind.TIMER_FIRED,
)


def diagram_state(*, instance: ProcessInstance) -> dict[str, list[str]]:
    """What the diagram colours, as element ids:

    * ``done`` — steps handled at least once (the history keeps them even after a return) and
      every element the engine completed: start events, gateways, intermediate events, the end
      events reached;
    * ``active`` — a person or an automatic step is working on it now;
    * ``waiting`` — the timers and message events the engine waits at, and automatic steps that
      failed (an incident);
    * ``flows`` — the sequence flows the instance went along.

    Three queries on the projection, then the instance's saved state through the spec cache (when
    the state cannot be loaded, the projection's part alone)."""
    done = set(
        ProcessEvent.objects.filter(instance=instance, kind__in=_DONE_KINDS)
        .exclude(step_id="")
        .values_list("step_id", flat=True)
        .distinct()
    )
    active = set(
        HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN)
        .exclude(signer_position__in=ADDED_POSITIONS | {POSITION_RESUBMIT})
        .values_list("task_def_id", flat=True)
    )
    waiting: set[str] = set()
    for step_id, status in ServiceJob.objects.filter(
        instance=instance, status__in=(ServiceJobStatus.PENDING, ServiceJobStatus.FAILED)
    ).values_list("task_def_id", "status"):
        (active if status == ServiceJobStatus.PENDING else waiting).add(step_id)
    flows: list[str] = []
    try:
        wf = load_workflow(instance)
    except EngineError:
        wf = None
    if wf is not None:
        done.update(wf.completed_steps())
        waiting.update(wf.waiting_steps())
        flows = wf.taken_flows()
    return {
        "done": sorted(done),
        "active": sorted(active),
        "waiting": sorted(waiting - active),
        "flows": flows,
    }


def message_waiters(*, name: str, business_key: str = "") -> QuerySet[ProcessInstance]:
    """Running instances waiting for message ``name`` under ``business_key``."""
    subs = MessageSubscription.objects.filter(name=name, business_key=business_key, instance=OuterRef("pk"))
    return ProcessInstance.objects.filter(Exists(subs), status=InstanceStatus.RUNNING).order_by("id")
