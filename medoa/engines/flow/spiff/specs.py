"""Our SpiffWorkflow spec classes: timers on our clock, messages that merge their payload into the
variables, and multi-instance tasks that keep every vote (会签).

Specs are shared by every instance of a process version (see ``definition.cached_definition``), so
nothing here writes to ``self`` at run time: all per-instance state lives on the task.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone as dj_timezone
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.defaults import NoneTask, ParallelMultiInstanceTask, SequentialMultiInstanceTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.util import PendingBpmnEvent
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.camunda.specs.event_definitions import (
    MessageEventDefinition as CamundaMessageEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from . import clock
from .data import json_value

# Keys a countersign share writes that must not leak into the next share or the parent's data.
VOTE_KEYS = ("approved", "comment")
# What a finished countersign writes for the steps after it.
OUTCOME_KEYS = ("nr_instances", "nr_completed", "nr_approved", "nr_rejected", "votes")


# ------------------------------------------------------------------------------------------ plain tasks


class PassThroughTask(NoneTask):
    """``bpmn:task`` and ``bpmn:manualTask``: nothing for the engine to do, nobody to wait for.

    Camunda 7 passes through both; SpiffWorkflow would make them wait like user tasks, without
    anyone assigned. Work for a person is a ``userTask``.
    """

    def __init__(self, wf_spec: Any, bpmn_id: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


# ------------------------------------------------------------------------------- business-rule tasks

DECISION_MAPPINGS = ("singleEntry", "singleResult", "collectEntries", "resultList")
DECISION_BINDINGS = ("latest", "version")


class DecisionTask(BpmnSpecMixin):
    """``bpmn:businessRuleTask`` with ``camunda:decisionRef``: evaluates a deployed DMN decision
    (MedOA's rules engine) when reached, on the task's variables, and puts the mapped result into
    ``result_variable`` (the script engine's ``decide`` does the work).

    ``version`` is set once, when the definition is built (the pinned decision version), before the
    spec is shared; nothing is written to the spec at run time."""

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        decision_ref: str = "",
        result_variable: str = "",
        mapping: str = "resultList",
        binding: str = "latest",
        version: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.decision_ref = decision_ref
        self.result_variable = result_variable
        self.mapping = mapping
        self.binding = binding
        self.version = version

    def _run_hook(self, my_task: Any) -> bool:
        my_task.workflow.script_engine.decide(my_task, self)
        return True


# --------------------------------------------------------------------------------------------- timers


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = dj_timezone.make_aware(value, dj_timezone.get_default_timezone())
    return value


def parse_instant(value: Any) -> datetime:
    """A timer's evaluated ``timeDate`` as an aware datetime (naive values use TIME_ZONE)."""
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, date):
        return _aware(datetime(value.year, value.month, value.day))
    if isinstance(value, str):
        text = value.strip()
        if "W" in text.upper() and not text.upper().startswith("P"):
            return _aware(TimerEventDefinition.parse_iso_week(text))
        return _aware(datetime.fromisoformat(text))
    raise ValueError(f"a timer date must be an ISO 8601 date-time, not {value!r}")


def duration_from(value: Any, start: datetime) -> timedelta:
    """A timer's evaluated ``timeDuration`` (ISO 8601 text or a timedelta) counted from ``start``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and value.strip().upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(value.strip())
        return TimerEventDefinition.get_timedelta_from_start(parsed, start)
    raise ValueError(f"a timer duration must be an ISO 8601 duration such as PT2H, not {value!r}")


def parse_cycle(value: Any, now: datetime) -> tuple[int, datetime, timedelta]:
    """``R[n]/start/duration``, ``R[n]/duration/end`` or ``R[n]/duration`` → (cycles, first, step).

    ``cycles`` is -1 for an unbounded repetition. Counted from ``now`` when there is no start.
    """
    if not isinstance(value, str) or not value.strip().upper().startswith("R"):
        raise ValueError(
            f"a timer cycle must be an ISO 8601 repeating interval such as R3/PT1H, not {value!r}"
        )
    parts = value.strip().upper().replace("--", "/").lstrip("R").split("/")
    if len(parts) == 2 and parts[1].startswith("P"):
        cycles = int(parts[0]) if parts[0] else -1
        step = duration_from(parts[1], now)
        return cycles, now + step, step
    cycles, start, step = TimerEventDefinition.parse_iso_recurring_interval(value.strip())
    return cycles, _aware(start), step


class ClockTimeDate(TimeDateEventDefinition):
    """``timeDate``: fires at an instant. The evaluated value is stored as an aware ISO string."""

    def has_fired(self, my_task: Any) -> bool:
        value = my_task._get_internal_data("event_value")
        if value is None:
            raw = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            value = _timer_value(my_task, lambda: parse_instant(raw).isoformat())
            my_task._set_internal_data(event_value=value)
        if datetime.fromisoformat(value) <= clock.now():
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockDuration(DurationTimerEventDefinition):
    """``timeDuration``: fires a duration after the event was reached (stored as an absolute time)."""

    def has_fired(self, my_task: Any) -> bool:
        value = my_task._get_internal_data("event_value")
        if value is None:
            raw = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            start = clock.now()
            value = _timer_value(my_task, lambda: (start + duration_from(raw, start)).isoformat())
            my_task._set_internal_data(event_value=value)
        if datetime.fromisoformat(value) <= clock.now():
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockCycle(CycleTimerEventDefinition):
    """``timeCycle``: fires every step, ``cycles`` times (boundary reminders, for instance)."""

    def cycle_complete(self, my_task: Any) -> bool:
        value = my_task._get_internal_data("event_value")
        if value is None:
            raw = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            cycles, first, step = _timer_value(my_task, lambda: parse_cycle(raw, clock.now()))
            value = {"cycles": cycles, "next": first.isoformat(), "duration": step.total_seconds()}
        ready = False
        if value["cycles"] != 0:
            due = datetime.fromisoformat(value["next"])
            if due <= clock.now():
                value["next"] = (due + timedelta(seconds=value["duration"])).isoformat()
                value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=value)
        return ready


def _timer_value(my_task: Any, compute: Any) -> Any:
    try:
        return compute()
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:
        raise WorkflowTaskException(f"timer {my_task.task_spec.bpmn_id}: {exc}", task=my_task) from exc


TIMER_CLASSES = {"timeDate": ClockTimeDate, "timeDuration": ClockDuration, "timeCycle": ClockCycle}


# ------------------------------------------------------------------------------------------- messages


class MedoaMessageEventDefinition(CamundaMessageEventDefinition):
    """A message whose payload (a dict) is merged into the catching task's variables.

    Camunda's own class puts the payload into ``<task id>_Response``; with ``camunda:resultVariable``
    set, the payload still goes into that one variable. Every message event in our specs uses this
    class (message events are matched by class and name).
    """

    def throw(self, my_task: Any) -> None:
        result = my_task.workflow.script_engine.evaluate(my_task, self.expression) if self.expression else {}
        event = BpmnEvent(self, payload={"payload": json_value(result), "result_var": self.result_var})
        my_task.workflow.top_workflow.catch(event)

    def update_internal_data(self, my_task: Any, event: Any) -> None:
        my_task.internal_data[self.name] = event.payload

    def update_task_data(self, my_task: Any) -> None:
        message = my_task.internal_data.get(self.name)
        if not isinstance(message, Mapping):
            return
        payload, result_var = message.get("payload"), message.get("result_var")
        if result_var:
            my_task.data[result_var] = payload
        elif isinstance(payload, Mapping):
            my_task.data.update(payload)

    def details(self, my_task: Any) -> PendingBpmnEvent:
        return PendingBpmnEvent(self.name, "MessageEventDefinition")


# ------------------------------------------------------------------------------------- multi-instance


def mi_counts(mi_task: Any) -> dict[str, int]:
    """Counts over ALL shares of a multi-instance task, for completion conditions and the result.

    ``nr_instances`` includes the shares a sequential countersign has not created yet.
    """
    spec = mi_task.task_spec
    shares = [c for c in mi_task.children if c.task_spec.name == spec.task_spec]
    completed = [c for c in shares if c.has_state(TaskState.COMPLETED)]
    total = len(shares) + len(mi_task.internal_data.get("remaining", []))
    cardinality = mi_task.internal_data.get("cardinality")
    if isinstance(cardinality, int):
        total = max(total, cardinality)
    votes = mi_task.internal_data.get("votes", {})
    results = [v.get("approved") for v in votes.values()]
    approved = sum(1 for r in results if r is True)
    rejected = sum(1 for r in results if r is False)
    active = sum(1 for c in shares if not c.has_state(TaskState.FINISHED_MASK))
    return {
        "nr_instances": total,
        "nr_completed": len(completed),
        "nr_approved": approved,
        "nr_rejected": rejected,
        "nr_active": active,
        # Camunda 7's names, so completion conditions drawn in Camunda Modeler work unchanged.
        "nrOfInstances": total,
        "nrOfCompletedInstances": len(completed),
        "nrOfActiveInstances": active,
    }


class MultiInstanceMixin:
    """Keeps per-share keys out of the parent, and checks the collection before creating shares.

    Spiff deep-merges a finished share's data into the multi-instance task; without this the element
    variable (``signer``) and a share's ``approved``/``comment`` would leak into the next share
    (sequential: "input item already exists") and into the steps after the countersign.
    """

    task_spec: str
    input_item: Any
    data_input: Any
    data_output: Any
    private_keys: tuple[str, ...] = ()

    def _update_hook(self, my_task: Any) -> Any:
        if self.data_input is not None:
            my_task._inherit_data()
            name = self.data_input.bpmn_id
            items = my_task.data.get(name)
            if items is None:
                raise WorkflowTaskException(
                    f"multi-instance step {my_task.task_spec.bpmn_id}: "
                    f"variable {name!r} (the collection) is missing",
                    task=my_task,
                )
            if isinstance(items, str) or not isinstance(items, Sequence | Mapping) or not items:
                raise WorkflowTaskException(
                    f"multi-instance step {my_task.task_spec.bpmn_id}: "
                    f"variable {name!r} must be a non-empty list, not {items!r}",
                    task=my_task,
                )
        return super()._update_hook(my_task)  # type: ignore[misc]

    def create_child(self, my_task: Any, item: Any, key_or_index: Any = None) -> None:
        super().create_child(my_task, item, key_or_index)  # type: ignore[misc]
        child = my_task.children[-1]
        for key in self.private_keys:
            child.data.pop(key, None)

    def merge_child(self, workflow: Any, child: Any) -> None:
        self._record(child)
        if self.data_output is None:
            for key in (*self.private_keys, *self._item_keys()):
                child.data.pop(key, None)
        super().merge_child(workflow, child)  # type: ignore[misc]
        if child.parent.state == TaskState.READY:
            self._finish(child.parent)

    def _item_keys(self) -> tuple[str, ...]:
        return (self.input_item.bpmn_id,) if self.input_item is not None else ()

    def _record(self, child: Any) -> None:
        pass

    def _finish(self, mi_task: Any) -> None:
        pass


class CountersignMixin(MultiInstanceMixin):
    """A multi-instance user task (会签 / 或签): records each share's vote and writes the outcome.

    On completion the multi-instance task's data gets ``nr_instances``, ``nr_completed``,
    ``nr_approved``, ``nr_rejected``, ``votes`` (one ``{who, approved, comment}`` per finished
    share, in order) and ``approved``: True when nobody rejected, or when the approvals alone satisfy
    the completion condition (a 2/3 ratio reached despite one rejection). "One rejection ends it"
    (``nr_rejected > 0``) therefore ends with ``approved = False``.
    """

    private_keys = VOTE_KEYS
    condition: str | None

    def _record(self, child: Any) -> None:
        mi_task = child.parent
        if self.input_item is not None:
            who = child.data.get(self.input_item.bpmn_id)
        else:
            who = child.internal_data.get("item", child.internal_data.get("key_or_index"))
        votes = mi_task.internal_data.setdefault("votes", {})
        votes[str(child.id)] = {
            "who": who,
            "approved": child.data.get("approved"),
            "comment": child.data.get("comment", ""),
        }

    def _finish(self, mi_task: Any) -> None:
        counts = mi_counts(mi_task)
        for key in ("nr_instances", "nr_completed", "nr_approved", "nr_rejected"):
            mi_task.data[key] = counts[key]
        mi_task.data["votes"] = list(mi_task.internal_data.get("votes", {}).values())
        mi_task.data["approved"] = counts["nr_rejected"] == 0 or self._approvals_suffice(mi_task, counts)

    def _approvals_suffice(self, mi_task: Any, counts: dict[str, int]) -> bool:
        if not self.condition:
            return False
        hypothetical = dict(counts)
        hypothetical.update(
            nr_rejected=0, nr_completed=counts["nr_approved"], nrOfCompletedInstances=counts["nr_approved"]
        )
        try:
            return bool(mi_task.workflow.script_engine.evaluate_with(mi_task, self.condition, hypothetical))
        except Exception:
            return False


class PlainParallelMI(MultiInstanceMixin, ParallelMultiInstanceTask):
    pass


class PlainSequentialMI(MultiInstanceMixin, SequentialMultiInstanceTask):
    pass


class CountersignParallel(CountersignMixin, ParallelMultiInstanceTask):
    pass


class CountersignSequential(CountersignMixin, SequentialMultiInstanceTask):
    pass


def is_countersign(spec: Any) -> bool:
    return isinstance(spec, CountersignMixin)


def is_multi_instance(spec: Any) -> bool:
    return isinstance(spec, MultiInstanceTask)


_VAR = re.compile(r"^\s*[$#]\{\s*(.*?)\s*\}\s*$", re.S)


def unwrap(text: str | None) -> str | None:
    """``${x}`` / ``#{x}`` → ``x`` (Camunda writes variable references wrapped)."""
    if text is None:
        return None
    m = _VAR.match(text)
    return m.group(1) if m else text.strip()
