"""``MedoaParser``: SpiffWorkflow's Camunda parser, adjusted to MedOA.

* user tasks keep ``camunda:assignee``, ``candidateUsers``, ``candidateGroups``, ``dueDate``,
  ``formKey`` (Camunda's namespace and the old Activiti one) in ``task_spec.extensions``;
* multi-instance steps read ``camunda:collection``/``camunda:elementVariable`` (or the standard
  ``loopDataInputRef``/``inputDataItem``) into the standard BPMN multi-instance specs at parse
  time (Camunda's own spec rewrites the shared spec at run time); user tasks become countersigns;
* timers are normalised (bare ISO 8601 quoted, ``${…}`` unwrapped) and run on our clock; a timer
  on the process's start event moves to ``extensions['timer_start']`` (the worker owns schedules);
* every message event uses :class:`MedoaMessageEventDefinition` (messages match by class);
* ``task`` and ``manualTask`` pass through, as in Camunda 7 (work for a person is a ``userTask``).
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.event_parsers import ReceiveTaskParser, SendTaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    CallActivity,
    EndEvent,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    ReceiveTask,
    SendTask,
    ServiceTask,
    StartEvent,
    TransactionSubprocess,
)
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaBoundaryEventParser,
    CamundaEndEventParser,
    CamundaIntermediateCatchEventParser,
    CamundaIntermediateThrowEventParser,
    CamundaStartEventParser,
)
from SpiffWorkflow.camunda.parser.task_spec import (
    CAMUNDA_MODEL_NS,
    CallActivityParser,
    CamundaTaskParser,
    SubWorkflowParser,
    UserTaskParser,
)
from SpiffWorkflow.camunda.specs.user_task import UserTask

from .specs import (
    TIMER_CLASSES,
    CountersignParallel,
    CountersignSequential,
    DecisionTask,
    MedoaMessageEventDefinition,
    PassThroughTask,
    PlainParallelMI,
    PlainSequentialMI,
    unwrap,
)
from .timers import TimerTextError, normalize_timer

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ACTIVITI_NS = "http://activiti.org/bpmn"
# Camunda Modeler writes camunda:; files from the Activiti era bind another URI to the same names.
CAMUNDA_NAMESPACES = (CAMUNDA_MODEL_NS, ACTIVITI_NS)
USER_TASK_ATTRIBUTES = (
    "assignee",
    "candidateUsers",
    "candidateGroups",
    "dueDate",
    "followUpDate",
    "priority",
    "formKey",
)


def camunda_attr(node: Any, name: str) -> str | None:
    """A ``camunda:`` attribute in either namespace (Camunda's first)."""
    for ns in CAMUNDA_NAMESPACES:
        value = node.get(f"{{{ns}}}{name}")
        if value is not None:
            return str(value)
    return None


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def multi_instance_parts(loop: Any) -> dict[str, Any]:
    """What a ``multiInstanceLoopCharacteristics`` element says, in both spellings."""

    def child_text(tag: str) -> str | None:
        el = loop.find(f"{{{BPMN_NS}}}{tag}")
        return (
            (el.text or "").strip()
            if el is not None and el.text is not None
            else (None if el is None else "")
        )

    collection = unwrap(camunda_attr(loop, "collection")) or None
    element = unwrap(camunda_attr(loop, "elementVariable")) or None
    if collection is None:
        collection = unwrap(child_text("loopDataInputRef")) or None
    if element is None:
        item = loop.find(f"{{{BPMN_NS}}}inputDataItem")
        if item is not None:
            element = item.get("name") or item.get("id")
    return {
        "collection": collection,
        "element_variable": element,
        "cardinality": unwrap(child_text("loopCardinality")) or None,
        "completion_condition": child_text("completionCondition") or None,
        "sequential": loop.get("isSequential") == "true",
    }


class MultiInstanceParserMixin:
    """Builds the standard multi-instance specs from either MI spelling, fixed at parse time."""

    countersign = False
    spec: Any
    task: Any

    def _add_multiinstance_task(self, loop_characteristics: Any) -> None:
        parts = multi_instance_parts(loop_characteristics)
        collection, cardinality = parts["collection"], parts["cardinality"]
        if not collection and not cardinality:
            self.raise_validation_exception(  # type: ignore[attr-defined]
                "a multi-instance step needs camunda:collection (or loopDataInputRef) or loopCardinality"
            )
        original = self.spec.task_specs.pop(self.task.name)
        if self.countersign:
            cls: Any = CountersignSequential if parts["sequential"] else CountersignParallel
        else:
            cls = PlainSequentialMI if parts["sequential"] else PlainParallelMI
        element = parts["element_variable"]
        self.task = cls(
            self.spec,
            original.name,
            task_spec="",
            cardinality=None if collection else cardinality,
            data_input=TaskDataReference(collection) if collection else None,
            input_item=TaskDataReference(element) if element else None,
            condition=parts["completion_condition"],
            description="Sequential MultiInstance" if parts["sequential"] else "Parallel MultiInstance",
        )
        self._copy_task_attrs(original, loop_characteristics)  # type: ignore[attr-defined]


class MedoaTaskParser(MultiInstanceParserMixin, CamundaTaskParser):
    pass


def decision_ref_parts(node: Any) -> dict[str, Any]:
    """What a business-rule task says about its decision (Camunda's attributes, either namespace):
    ``decision``, ``binding`` (default ``latest``), ``version`` (text or None), ``result_variable``,
    ``mapping`` (default ``resultList``, as in Camunda 7)."""
    return {
        "decision": (camunda_attr(node, "decisionRef") or "").strip(),
        "binding": (camunda_attr(node, "decisionRefBinding") or "latest").strip(),
        "version": (camunda_attr(node, "decisionRefVersion") or "").strip() or None,
        "result_variable": (camunda_attr(node, "resultVariable") or "").strip(),
        "mapping": (camunda_attr(node, "mapDecisionResult") or "resultList").strip(),
    }


class MedoaBusinessRuleTaskParser(CamundaTaskParser):
    """A ``DecisionTask`` (the deploy check has refused everything it cannot run)."""

    def create_task(self) -> Any:
        parts = decision_ref_parts(self.node)
        version = parts["version"]
        return DecisionTask(
            self.spec,
            self.bpmn_id,
            decision_ref=parts["decision"],
            result_variable=parts["result_variable"],
            mapping=parts["mapping"],
            binding=parts["binding"],
            version=int(version) if parts["binding"] == "version" and version and version.isdigit() else None,
            **self.bpmn_attributes,
        )

    @staticmethod
    def get_decision_ref(node: Any) -> str:  # SpiffWorkflow lists the file's DMN dependencies
        return (camunda_attr(node, "decisionRef") or "").strip()


class MedoaUserTaskParser(MultiInstanceParserMixin, UserTaskParser):
    countersign = True

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions: dict[str, Any] = super().parse_extensions(node)
        for attr in USER_TASK_ATTRIBUTES:
            value = camunda_attr(self.node, attr)
            if value is not None:
                extensions.setdefault(attr, value)
        for key in ("candidateUsers", "candidateGroups"):
            if key in extensions:
                extensions[key] = split_list(extensions[key])
        return extensions

    def get_form(self) -> Any:
        form = super().get_form()
        if not form.key:
            form.key = camunda_attr(self.node, "formKey") or ""
        return form


class MedoaSubWorkflowParser(MultiInstanceParserMixin, SubWorkflowParser):
    pass


class MedoaCallActivityParser(MultiInstanceParserMixin, CallActivityParser):
    pass


class MedoaEventParserMixin:
    """Our message class for every message event; timers normalised and on our clock."""

    node: Any
    filename: Any
    process_parser: Any

    def parse_message_event(self, message_event: Any) -> MedoaMessageEventDefinition:
        message_ref = message_event.get("messageRef")
        if message_ref:
            name = self.process_parser.parser.messages.get(message_ref)
            if name is None:
                raise ValidationException(
                    f"message {message_ref!r} is not defined", node=self.node, file_name=self.filename
                )
            correlations = self.get_message_correlations(message_ref)  # type: ignore[attr-defined]
        else:
            name = message_event.getparent().get("name") or message_event.getparent().get("id")
            correlations = []
        expression = camunda_attr(message_event, "expression")
        result_var = camunda_attr(message_event, "resultVariable")
        return MedoaMessageEventDefinition(name, correlations, unwrap(expression), result_var)

    def parse_timer_event(self, event: Any) -> TimerEventDefinition:
        name = self.node.get("name", self.node.get("id"))
        for kind, cls in TIMER_CLASSES.items():
            el = event.find(f"{{{BPMN_NS}}}{kind}")
            if el is None:
                continue
            try:
                expression, _literal = normalize_timer(el.text, kind)
            except TimerTextError as exc:
                raise ValidationException(str(exc), node=self.node, file_name=self.filename) from exc
            timer: TimerEventDefinition = cls(name, expression, description="Timer")
            timer.medoa_text = (el.text or "").strip()
            return timer
        raise ValidationException(
            "timer event without timeDate, timeDuration or timeCycle", node=self.node, file_name=self.filename
        )


class MedoaStartEventParser(MedoaEventParserMixin, CamundaStartEventParser):
    """A timer on the process's own start event becomes ``extensions['timer_start']``.

    Inside one instance, a cycle start event would make several tokens; in MedOA the worker starts
    one instance per firing, so the instance itself starts at once.
    """

    def create_task(self) -> Any:
        task = super().create_task()
        self._timer_start = None
        parent = self.node.getparent()
        at_process_level = parent is not None and etree.QName(parent).localname == "process"
        if at_process_level and isinstance(task.event_definition, TimerEventDefinition):
            self._timer_start = task.event_definition.medoa_text
            task.event_definition = NoneEventDefinition(description="Default")
        return task

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions: dict[str, Any] = super().parse_extensions(node)
        if getattr(self, "_timer_start", None):
            extensions["timer_start"] = self._timer_start
        return extensions


class MedoaEndEventParser(MedoaEventParserMixin, CamundaEndEventParser):
    pass


class MedoaIntermediateCatchEventParser(MedoaEventParserMixin, CamundaIntermediateCatchEventParser):
    pass


class MedoaIntermediateThrowEventParser(MedoaEventParserMixin, CamundaIntermediateThrowEventParser):
    pass


class MedoaBoundaryEventParser(MedoaEventParserMixin, CamundaBoundaryEventParser):
    pass


class MedoaSendTaskParser(MedoaEventParserMixin, SendTaskParser):
    pass


class MedoaReceiveTaskParser(MedoaEventParserMixin, ReceiveTaskParser):
    pass


class MedoaParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (MedoaUserTaskParser, UserTask),
        full_tag("task"): (MedoaTaskParser, PassThroughTask),
        full_tag("manualTask"): (MedoaTaskParser, PassThroughTask),
        full_tag("serviceTask"): (MedoaTaskParser, ServiceTask),
        full_tag("businessRuleTask"): (MedoaBusinessRuleTaskParser, DecisionTask),
        full_tag("subProcess"): (MedoaSubWorkflowParser, CallActivity),
        full_tag("callActivity"): (MedoaCallActivityParser, CallActivity),
        full_tag("transaction"): (MedoaSubWorkflowParser, TransactionSubprocess),
        full_tag("startEvent"): (MedoaStartEventParser, StartEvent),
        full_tag("endEvent"): (MedoaEndEventParser, EndEvent),
        full_tag("intermediateCatchEvent"): (MedoaIntermediateCatchEventParser, IntermediateCatchEvent),
        full_tag("intermediateThrowEvent"): (MedoaIntermediateThrowEventParser, IntermediateThrowEvent),
        full_tag("boundaryEvent"): (MedoaBoundaryEventParser, BoundaryEvent),
        full_tag("sendTask"): (MedoaSendTaskParser, SendTask),
        full_tag("receiveTask"): (MedoaReceiveTaskParser, ReceiveTask),
    }
