"""State-only serialization: an instance's saved state leaves out the spec.

The spec (about half the size and of the load time) comes from the per-version cache
(``definition.cached_definition``) when the state is loaded again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter, MultiInstanceTaskConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.serializer.event_definition import MessageEventDefinitionConverter

from .specs import (
    ClockCycle,
    ClockDuration,
    ClockTimeDate,
    CountersignParallel,
    CountersignSequential,
    DecisionTask,
    MedoaMessageEventDefinition,
    PassThroughTask,
    PlainParallelMI,
    PlainSequentialMI,
)


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Writes the workflow's tasks, data and events, without ``spec``/``subprocess_specs``."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(
        self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None, script_engine: Any = None
    ) -> Any:
        workflow = self.target_class(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def state_in_tree_order(state: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a dumped state whose tasks come parent first (and so do each subprocess's).

    SpiffWorkflow stores a task's data as a delta over its parent's and rebuilds it only when the
    parent was restored first; PostgreSQL's ``jsonb`` hands object keys back in its own order
    (shorter keys first), which would silently drop task data. The copy is shallow below the task
    level: restoring pops keys from the workflow dicts, never from the tasks.
    """
    ordered = dict(state)
    tasks = state.get("tasks")
    if isinstance(tasks, Mapping):
        ordered["tasks"] = _parent_first(tasks, state.get("root"))
    subprocesses = state.get("subprocesses")
    if isinstance(subprocesses, Mapping):
        ordered["subprocesses"] = {
            key: state_in_tree_order(sub) if isinstance(sub, Mapping) else sub
            for key, sub in subprocesses.items()
        }
    return ordered


def _parent_first(tasks: Mapping[str, Any], root: Any) -> dict[str, Any]:
    """``tasks`` in depth-first order from ``root`` (children in their stored order); tasks the
    tree does not reach keep their place after it."""
    ordered: dict[str, Any] = {}
    stack = [root]
    while stack:
        task_id = stack.pop()
        if not isinstance(task_id, str) or task_id in ordered or task_id not in tasks:
            continue
        ordered[task_id] = tasks[task_id]
        children = tasks[task_id].get("children") if isinstance(tasks[task_id], Mapping) else None
        stack.extend(reversed([c for c in children or [] if isinstance(c, str)]))
    for task_id, task in tasks.items():
        ordered.setdefault(task_id, task)
    return ordered


class DecisionTaskConverter(BpmnTaskSpecConverter):
    """A business-rule task: the decision, its binding and pinned version, the result mapping."""

    def to_dict(self, spec: Any) -> dict[str, Any]:
        dct: dict[str, Any] = self.get_default_attributes(spec)
        dct.update(
            decision_ref=spec.decision_ref,
            result_variable=spec.result_variable,
            mapping=spec.mapping,
            binding=spec.binding,
            version=spec.version,
        )
        return dct


def _config(state_only: bool) -> dict[Any, Any]:
    config = dict(CAMUNDA_CONFIG)
    config.update(
        {
            ClockTimeDate: TimerConditionalEventDefinitionConverter,
            ClockDuration: TimerConditionalEventDefinitionConverter,
            ClockCycle: TimerConditionalEventDefinitionConverter,
            MedoaMessageEventDefinition: MessageEventDefinitionConverter,
            CountersignParallel: MultiInstanceTaskConverter,
            CountersignSequential: MultiInstanceTaskConverter,
            PlainParallelMI: MultiInstanceTaskConverter,
            PlainSequentialMI: MultiInstanceTaskConverter,
            PassThroughTask: BpmnTaskSpecConverter,
            DecisionTask: DecisionTaskConverter,
        }
    )
    if state_only:
        config[BpmnWorkflow] = StateOnlyWorkflowConverter
    return config


STATE_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_config(state_only=True)))
# The stock serializer (with the spec), for comparisons and for diffing specs on migration.
FULL_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_config(state_only=False)))
