"""``Workflow``: one running process instance, as the services layer sees it.

Every method that runs engine steps turns ANY exception from SpiffWorkflow into
:class:`EngineError`; after one, the in-memory workflow is half-changed and must be thrown away
(the caller rolls back and never saves it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime
from typing import Any
from uuid import UUID

from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_noop
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from .data import json_safe
from .engine import ENGINE, DecisionFailed, ExpressionFailed
from .serializer import FULL_SERIALIZER, STATE_SERIALIZER, state_in_tree_order
from .specs import (
    OUTCOME_KEYS,
    VOTE_KEYS,
    CountersignParallel,
    MedoaMessageEventDefinition,
    is_countersign,
    is_multi_instance,
)
from .types import (
    DecisionEvaluated,
    EngineError,
    Msg,
    ParsedDefinition,
    ReadyServiceTask,
    ReadyUserTask,
    expression_msg,
    msg,
)

ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING
# A task the token reached (a cancelled one was reached when its parent had completed: an
# interrupted activity, the other branches' copies of a join, a withdrawn task …).
REACHED = ACTIVE | TaskState.COMPLETED | TaskState.ERROR | TaskState.CANCELLED


def _step_id(task: Any) -> str:
    return str(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name or "")


def _bpmn_id(task: Any) -> str:
    """The BPMN element id of a task ("" for SpiffWorkflow's own helper tasks)."""
    return str(getattr(task.task_spec, "bpmn_id", None) or "")


def _error_step(exc: BaseException) -> str:
    task = getattr(exc, "task", None)
    if task is not None:
        return _step_id(task)
    spec = getattr(exc, "task_spec", None)
    if spec is not None:
        return str(getattr(spec, "bpmn_id", None) or getattr(spec, "name", "") or "")
    return ""


def _error_message(exc: BaseException) -> str:
    message = getattr(exc, "error_msg", None) or str(exc) or type(exc).__name__
    return str(message).strip().splitlines()[0]


def _error_step_name(exc: BaseException) -> str:
    task = getattr(exc, "task", None)
    spec = task.task_spec if task is not None else getattr(exc, "task_spec", None)
    return str(getattr(spec, "bpmn_name", None) or "").strip() if spec is not None else ""


def _error_detail(exc: BaseException) -> Msg | None:
    """The reason as translatable text, when it is one of ours (an expression that failed)."""
    cause: BaseException | None = exc
    for _depth in range(8):  # SpiffWorkflow may wrap it (task exceptions in task exceptions)
        if cause is None:
            break
        if isinstance(cause, DecisionFailed):
            return cause.detail
        if isinstance(cause, ExpressionFailed):
            error = cause.error
            return msg(
                gettext_noop("the expression '%(expression)s' failed: %(error)s"),
                expression=cause.expression.strip(),
                error=expression_msg(error),
            )
        cause = cause.__cause__ or getattr(cause, "exception", None)
    return None


@contextmanager
def _engine_step() -> Iterator[None]:
    try:
        yield
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(
            _error_message(exc), _error_step(exc), detail=_error_detail(exc), step_name=_error_step_name(exc)
        ) from exc


class Workflow:
    """A process instance: start or load it, drive it, dump its state."""

    def __init__(self, parsed: ParsedDefinition, bpmn: Any) -> None:
        self._parsed = parsed
        self._wf = bpmn

    # ------------------------------------------------------------------------------- create, store

    @classmethod
    def start(cls, parsed: ParsedDefinition, variables: dict[str, Any]) -> Workflow:
        """A new instance with ``variables``; runs engine steps up to the first wait states."""
        with _engine_step():
            bpmn = BpmnWorkflow(parsed._spec, parsed._subprocess_specs, script_engine=ENGINE)
            start = bpmn.get_next_task(state=TaskState.READY)
            start.data.update(json_safe(variables))
            bpmn.do_engine_steps()
        return cls(parsed, bpmn)

    @classmethod
    def load(cls, parsed: ParsedDefinition, state: dict[str, Any]) -> Workflow:
        """Restore a dumped instance onto the (cached) parsed definition it was dumped from.

        ``state`` may come back from the database with its keys in any order (PostgreSQL's
        ``jsonb`` reorders them): the tasks are restored parent first, as SpiffWorkflow needs to
        rebuild each task's data from its parent's. ``state`` itself is left unchanged.
        """
        dct = state_in_tree_order(state)
        dct.setdefault("subprocesses", {})
        try:
            STATE_SERIALIZER.migrate(dct)
            bpmn = STATE_SERIALIZER.from_dict(
                dct, spec=parsed._spec, subprocess_specs=parsed._subprocess_specs, script_engine=ENGINE
            )
        except Exception as exc:
            raise EngineError(f"the saved state cannot be loaded: {_error_message(exc)}") from exc
        return cls(parsed, bpmn)

    def dump(self) -> dict[str, Any]:
        """The instance's state without the spec (plain JSON values)."""
        dct: dict[str, Any] = STATE_SERIALIZER.to_dict(self._wf)
        dct[STATE_SERIALIZER.VERSION_KEY] = STATE_SERIALIZER.VERSION
        return dct

    def dump_full(self) -> str:
        """SpiffWorkflow's stock serialization WITH the spec (for comparisons and debugging only)."""
        return str(FULL_SERIALIZER.serialize_json(self._wf))

    @property
    def parsed(self) -> ParsedDefinition:
        return self._parsed

    # ------------------------------------------------------------------------------------ user tasks

    def ready_user_tasks(self) -> list[ReadyUserTask]:
        ready = []
        for task in self._wf.get_tasks(state=TaskState.READY, manual=True):
            parent = task.parent
            share = parent is not None and is_countersign(parent.task_spec)
            item = None
            if share:
                spec = parent.task_spec
                if spec.input_item is not None:
                    item = task.data.get(spec.input_item.bpmn_id)
                else:
                    item = task.internal_data.get("item", task.internal_data.get("key_or_index"))
            ready.append(
                ReadyUserTask(
                    spiff_id=task.id,
                    step_id=_step_id(task),
                    name=str(task.task_spec.bpmn_name or _step_id(task)),
                    data=json_safe(task.data),
                    countersign_parent=parent.id if share else None,
                    countersign_item=item,
                )
            )
        return ready

    def complete_user_task(self, spiff_id: UUID, data: dict[str, Any]) -> None:
        """Merge ``data`` into the task's variables, complete it and run engine steps."""
        task = self._task(spiff_id)
        if not (task.has_state(TaskState.READY) and task.task_spec.manual):
            raise EngineError(
                f"task {spiff_id} is not a ready user task ({TaskState.get_name(task.state)})", _step_id(task)
            )
        with _engine_step():
            task.data.update(json_safe(data))
            task.run()
            self._wf.do_engine_steps()

    def completed_user_steps(self) -> list[tuple[UUID, str]]:
        """Completed user steps (a countersign counts once), oldest first: the 退回 candidates."""
        done = []
        for task in self._wf.get_tasks(state=TaskState.COMPLETED):
            spec = task.task_spec
            if is_countersign(spec) or (
                isinstance(spec, UserTask)
                and not (task.parent is not None and is_multi_instance(task.parent.task_spec))
            ):
                done.append(task)
        done.sort(key=lambda t: t.last_state_change)
        return [(t.id, _step_id(t)) for t in done]

    def can_return_to(self, step_id: str) -> bool:
        """True when the step was completed and precedes every active task (so a return to it
        closes them all; inside a parallel branch the other branch would keep running)."""
        target = self._last_completed(step_id)
        return target is not None and self._precedes_all_active(target)

    def return_to(self, step_id: str, data: dict[str, Any]) -> list[UUID]:
        """退回: the step becomes ready again (same spiff id) with the current variables plus
        ``data``; returns the ids of the tasks removed (their human tasks close)."""
        target = self._last_completed(step_id)
        if target is None:
            raise EngineError(f"step {step_id!r} has not been completed; nothing to return to", step_id)
        if not self._precedes_all_active(target):
            raise EngineError(
                f"cannot return to {step_id!r}: a parallel branch that does not follow it is still active",
                step_id,
            )
        values = {**self.variables(), **json_safe(data)}
        if is_multi_instance(target.task_spec):  # a new round: the previous outcome goes
            values = {k: v for k, v in values.items() if k not in OUTCOME_KEYS}
        with _engine_step():
            removed = self._wf.reset_from_task_id(target.id, data=deepcopy(values))
            # Resetting re-inherits the parent's data over ``values`` (e.g. ``days`` as first
            # submitted); the returned step must see the variables as they are now.
            task = self._wf.get_task_from_id(target.id)
            task.data.update(values)
            if is_multi_instance(task.task_spec):
                private = {*VOTE_KEYS, *task.task_spec._item_keys()}
                for share in task.children:
                    share.data.update({k: v for k, v in values.items() if k not in private})
            self._wf.do_engine_steps()
        return [t.id for t in removed if t.id != target.id]

    def add_countersigner(self, countersign_parent: UUID, item: Any) -> UUID:
        """加签 alongside: one more share of a running parallel countersign, for ``item``."""
        mi_task = self._task(countersign_parent)
        spec = mi_task.task_spec
        if not isinstance(spec, CountersignParallel) or not mi_task.has_state(TaskState.STARTED):
            raise EngineError(
                "a signer can be added alongside only to a running parallel countersign", _step_id(mi_task)
            )
        shares = [c for c in mi_task.children if c.task_spec.name == spec.task_spec]
        if spec.input_item is not None:
            active_items = [
                c.data.get(spec.input_item.bpmn_id)
                for c in shares
                if not c.has_state(TaskState.FINISHED_MASK)
            ]
            if item in active_items:
                raise EngineError(f"{item!r} is already signing this step", _step_id(mi_task))
        before = {c.id for c in mi_task.children}
        with _engine_step():
            spec.create_child(mi_task, json_safe({"item": item}).get("item"))
            self._wf.do_engine_steps()
        new = [c for c in mi_task.children if c.id not in before]
        return UUID(str(new[-1].id))

    # ------------------------------------------------------------------------------- whole instance

    def cancel(self) -> None:
        with _engine_step():
            self._wf.cancel()

    @property
    def completed(self) -> bool:
        return bool(self._wf.completed)

    def variables(self) -> dict[str, Any]:
        """The instance's variables now (JSON values).

        Finished: the data the last step ended with. Running: the data of the active steps of the
        top-level process merged in the order they became active (countersign shares and tasks
        inside called processes are left out: they only hold copies plus per-share values).
        """
        wf = self._wf
        if wf.completed:
            last = wf.last_task
            return json_safe(last.data if last is not None else {})
        active = [
            t
            for t in wf.get_tasks(state=ACTIVE, skip_subprocesses=True)
            if not (t.parent is not None and is_multi_instance(t.parent.task_spec))
        ]
        if not active:
            last = wf.last_task
            return json_safe(last.data if last is not None else {})
        merged: dict[str, Any] = {}
        for task in sorted(active, key=lambda t: t.last_state_change):
            merged.update(task.data)
        return json_safe(merged)

    # ------------------------------------------------------------------------------------ diagram

    def completed_steps(self) -> list[str]:
        """Every BPMN element completed in this instance (start and end events, gateways and
        intermediate events as well as tasks; subprocesses included), sorted."""
        return sorted({_step_id(t) for t in self._wf.get_tasks(state=TaskState.COMPLETED) if _bpmn_id(t)})

    def taken_flows(self) -> list[str]:
        """The ids of the sequence flows the instance went along (sorted): a flow between two
        elements is taken when a task of the target was reached from a completed task of the
        source. Steps a return (退回) undid leave the path."""
        flows = self._parsed._flows
        taken: set[str] = set()
        for task in self._wf.get_tasks(state=REACHED):
            target = _bpmn_id(task)
            parent = task.parent
            if not target or parent is None or not parent.has_state(TaskState.COMPLETED):
                continue
            source = parent
            while source is not None and not _bpmn_id(source):
                source = source.parent  # SpiffWorkflow's own helper tasks (boundary splits/joins)
            if source is not None:
                taken.update(flows.get((_bpmn_id(source), target), ()))
        return sorted(taken)

    def waiting_steps(self) -> list[str]:
        """The events the instance waits at (timers, message catches, receive tasks, boundary
        events of active steps), sorted."""
        return sorted({_step_id(t) for t in self._waiting_event_tasks() if _bpmn_id(t)})

    # -------------------------------------------------------------------------------------- timers

    def refresh_timers(self) -> None:
        """Fire the timers that are due (by ``clock.now()``) and run engine steps."""
        with _engine_step():
            self._wf.refresh_timers()
            self._wf.do_engine_steps()

    def next_due(self) -> datetime | None:
        """When the earliest waiting timer is due (None: no timer waits)."""
        dues = []
        for task in self._waiting_event_tasks():
            for definition in _definitions(task.task_spec.event_definition):
                if not isinstance(definition, TimerEventDefinition):
                    continue
                value = definition.details(task).value
                if isinstance(value, str):
                    due = datetime.fromisoformat(value)
                    if due.tzinfo is None:
                        due = dj_timezone.make_aware(due, dj_timezone.get_default_timezone())
                    dues.append(due)
        return min(dues, default=None)

    # ------------------------------------------------------------------------------------ messages

    def waiting_messages(self) -> set[str]:
        names = set()
        for task in self._waiting_event_tasks():
            for definition in _definitions(task.task_spec.event_definition):
                if isinstance(definition, MedoaMessageEventDefinition) and definition.name:
                    names.add(str(definition.name))
        return names

    def send_message(self, name: str, variables: dict[str, Any]) -> bool:
        """Deliver message ``name``; its variables are merged into the catching step's variables.
        False when the instance is not waiting for it."""
        if name not in self.waiting_messages():
            return False
        event = BpmnEvent(
            MedoaMessageEventDefinition(name), payload={"payload": json_safe(variables), "result_var": None}
        )
        with _engine_step():
            self._wf.send_event(event)
            self._wf.do_engine_steps()
        return True

    def thrown_messages(self) -> list[tuple[str, Any]]:
        """``(name, payload)`` of the messages this instance threw that nothing in it caught, in
        the order thrown, for routing to other instances. Reading them clears them (with any other
        uncaught event, which has nowhere to go), so the next ``dump`` no longer holds them."""
        out = []
        for event in self._wf.get_events():
            if not isinstance(event.event_definition, MedoaMessageEventDefinition):
                continue
            payload = event.payload.get("payload") if isinstance(event.payload, dict) else event.payload
            out.append((str(event.event_definition.name), payload))
        return out

    # ------------------------------------------------------------------------------- service tasks

    def ready_service_tasks(self) -> list[ReadyServiceTask]:
        out = []
        for task in self._wf.get_tasks(state=TaskState.STARTED):
            if isinstance(task.task_spec, ServiceTask):
                step = _step_id(task)
                out.append(
                    ReadyServiceTask(
                        spiff_id=task.id,
                        step_id=step,
                        function=self._parsed.service_tasks.get(step, ""),
                        data=json_safe(task.data),
                    )
                )
        return out

    def complete_service_task(self, spiff_id: UUID, result: dict[str, Any]) -> None:
        task = self._task(spiff_id)
        if not (isinstance(task.task_spec, ServiceTask) and task.has_state(TaskState.STARTED)):
            raise EngineError(
                f"task {spiff_id} is not a waiting service task ({TaskState.get_name(task.state)})",
                _step_id(task),
            )
        with _engine_step():
            task.data.update(json_safe(result or {}))
            task.complete()
            self._wf.do_engine_steps()

    # ---------------------------------------------------------------------------- business rules

    def take_decisions(self) -> list[DecisionEvaluated]:
        """The business-rule tasks that ran since the last call, in the order they ran (reading
        them clears them; they are never part of the saved state)."""
        log = self._wf.__dict__.pop("medoa_decisions", None)
        return list(log or [])

    # ------------------------------------------------------------------------------------ migrate

    def migrate(self, parsed_new: ParsedDefinition) -> None:
        """Move the instance onto a newer version of its definition.

        Refused (EngineError) when a step that is active now does not exist in the new version,
        or when a called process that is running was removed.
        """
        wf = self._wf
        try:
            top, subs = diff_workflow(
                FULL_SERIALIZER.registry, wf, parsed_new._spec, parsed_new._subprocess_specs
            )
        except Exception as exc:
            raise EngineError(f"the versions cannot be compared: {_error_message(exc)}") from exc
        blockers = _migration_blockers(wf, top)
        for sp_id, diff in subs.items():
            sub = wf.subprocesses[sp_id]
            if diff is None:
                if not sub.completed:
                    blockers.append(
                        (
                            _step_id(wf.get_task_from_id(sp_id)),
                            f"the running called process {sub.spec.name!r} is not part of the new version",
                        )
                    )
                continue
            blockers += _migration_blockers(sub, diff)
        if blockers:
            raise EngineError("; ".join(message for _step, message in blockers), blockers[0][0])
        # Migrating resets waiting tasks, which would restart their timers from now: keep when
        # each timer was due.
        timers = {
            t.id: t.internal_data["event_value"]
            for t in self._waiting_event_tasks()
            if "event_value" in t.internal_data
        }
        with _engine_step():
            migrate_workflow(top, wf, parsed_new._spec)
            for sp_id, diff in subs.items():
                if diff is not None:
                    sub = wf.subprocesses[sp_id]
                    migrate_workflow(diff, sub, parsed_new._subprocess_specs[sub.spec.name])
            wf.subprocess_specs = parsed_new._subprocess_specs
            for task in self._waiting_event_tasks():
                if task.id in timers:
                    task.internal_data["event_value"] = timers[task.id]
            wf.do_engine_steps()
        self._parsed = parsed_new

    # ------------------------------------------------------------------------------------- helpers

    def _task(self, spiff_id: UUID) -> Any:
        try:
            return self._wf.get_task_from_id(spiff_id if isinstance(spiff_id, UUID) else UUID(str(spiff_id)))
        except Exception:
            raise EngineError(f"no task {spiff_id} in this instance") from None

    def _waiting_event_tasks(self) -> list[Any]:
        return [t for t in self._wf.event_manager.tasks.values() if t.has_state(TaskState.WAITING)]

    def _last_completed(self, step_id: str) -> Any:
        candidates = [
            t
            for t in self._wf.get_tasks(state=TaskState.COMPLETED)
            if _step_id(t) == step_id
            and (is_countersign(t.task_spec) or isinstance(t.task_spec, UserTask))
            and not (t.parent is not None and is_multi_instance(t.parent.task_spec))
        ]
        return max(candidates, key=lambda t: t.last_state_change, default=None)

    def _precedes_all_active(self, target: Any) -> bool:
        active = [
            t
            for t in self._wf.get_tasks(state=ACTIVE)
            if not isinstance(t.task_spec, StartEvent) and getattr(t.task_spec, "bpmn_id", None)
        ]
        return bool(active) and all(self._precedes(target, task) for task in active)

    def _precedes(self, target: Any, task: Any) -> bool:
        """Whether resetting ``target`` removes ``task`` (across (sub)process boundaries).

        Both are followed up to the top process through the tasks that run their subprocesses;
        at the deepest process they share, ``task``'s line must come after ``target``'s.
        """
        by_workflow = {id(t.workflow): t for t in self._lineage(task)}
        for level in self._lineage(target):
            mine = by_workflow.get(id(level.workflow))
            if mine is not None:
                return mine is level or bool(mine.is_descendant_of(level))
        return False

    def _lineage(self, task: Any) -> list[Any]:
        """``task``, then the task running its subprocess, and so on up to the top process."""
        out = [task]
        while task.workflow.parent_task_id is not None:
            task = self._wf.get_task_from_id(task.workflow.parent_task_id)
            out.append(task)
        return out


def _migration_blockers(workflow: Any, diff: Any) -> list[tuple[str, str]]:
    """Active steps the new version does not have under the same id and kind.

    SpiffWorkflow would align a renamed step by its position; the human tasks are keyed by step id,
    so a migration keeps every active step's id and kind or does not happen.
    """
    blockers = []
    for task in workflow.get_tasks(state=ACTIVE, skip_subprocesses=True):
        step = getattr(task.task_spec, "bpmn_id", None)
        if not step:
            continue
        new = diff.alignment.get(task)
        if new is None or getattr(new, "bpmn_id", None) != step:
            blockers.append((step, f"the new version has no step {step!r}, which is active in this instance"))
        elif type(new) is not type(task.task_spec):
            blockers.append(
                (step, f"step {step!r} is active and is a different kind of step in the new version")
            )
    return blockers


def _definitions(definition: Any) -> list[Any]:
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition]
