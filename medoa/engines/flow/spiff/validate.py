"""The deploy check: every problem of a BPMN document, in one pass, before SpiffWorkflow parses it.

SpiffWorkflow stops at the first problem it meets, ignores what it cannot reach, silently drops
elements without an id and evaluates expressions only when they run. This pass walks EVERY element
of every executable process with lxml and reports each problem with its element id and line.
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Callable, Collection, Iterator
from copy import deepcopy
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator

from medoa.engines.rules.expressions import ExpressionError, check

from .parser import BPMN_NS, camunda_attr, multi_instance_parts, split_list
from .specs import unwrap
from .timers import TIMER_KINDS, TimerTextError, iso_literal, normalize_timer
from .types import Problem

B = f"{{{BPMN_NS}}}"
MAX_XML_BYTES = 5 * 1024 * 1024

CONTAINERS = frozenset({"process", "subProcess", "transaction", "adHocSubProcess"})
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway"})
SUPPORTED_NODES = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "userTask",
        "manualTask",
        "task",
        "serviceTask",
        "scriptTask",
        "sendTask",
        "receiveTask",
        "subProcess",
        "transaction",
        "callActivity",
        *GATEWAYS,
    }
)
UNSUPPORTED_NODES = {
    "complexGateway": "complex gateways are not supported: use an exclusive, inclusive or parallel gateway",
    "adHocSubProcess": "ad-hoc subprocesses are not supported",
    "businessRuleTask": "business rule tasks (DMN decisions) are not supported yet",
    "dataStoreReference": "data stores are not supported",
    "choreographyTask": "choreographies are not supported",
    "subChoreography": "choreographies are not supported",
    "callChoreography": "choreographies are not supported",
    "implicitThrowEvent": "implicit throw events are not supported",
}
# Other children a process or subprocess may have that change nothing at run time (or that the
# checks below look at themselves).
CONTAINER_EXTRAS = frozenset(
    {
        "sequenceFlow",
        "laneSet",
        "documentation",
        "extensionElements",
        "textAnnotation",
        "association",
        "group",
        "dataObject",
        "dataObjectReference",
        "ioSpecification",
        "property",
        "incoming",
        "outgoing",
        "multiInstanceLoopCharacteristics",
        "standardLoopCharacteristics",
        "dataInputAssociation",
        "dataOutputAssociation",
        "auditing",
        "monitoring",
        "correlationSubscription",
    }
)
SUPPORTED_EVENT_DEFINITIONS = frozenset(
    {
        "messageEventDefinition",
        "signalEventDefinition",
        "timerEventDefinition",
        "errorEventDefinition",
        "escalationEventDefinition",
        "cancelEventDefinition",
        "terminateEventDefinition",
        "conditionalEventDefinition",
    }
)
EXPRESSION_LANGUAGES = frozenset({"", "juel", "python", "medoa"})
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WRAPPED = re.compile(r"^\s*[$#]\{.*\}\s*$", re.S)

_xsd_lock = threading.Lock()
_xsd: Any = None


def local(el: Any) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def is_bpmn(el: Any) -> bool:
    return isinstance(el.tag, str) and el.tag.startswith(B)


def problem(message: str, el: Any = None, *, element_id: str | None = None) -> Problem:
    if el is None:
        return Problem(message, element_id or "")
    return Problem(
        message,
        element_id if element_id is not None else (el.get("id") or ""),
        local(el),
        el.sourceline,
    )


def parse_xml(xml: bytes | str) -> Any:
    """The document's root element; raises Problem-carrying ValueError on malformed input."""
    data = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
    if len(data) > MAX_XML_BYTES:
        raise _XmlProblem(Problem(f"the BPMN file is larger than {MAX_XML_BYTES // (1024 * 1024)} MB"))
    if not data.strip():
        raise _XmlProblem(Problem("the BPMN file is empty"))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise _XmlProblem(Problem(f"malformed XML: {exc.msg}", line=exc.lineno)) from exc
    if root is None or root.tag != f"{B}definitions":
        raise _XmlProblem(
            Problem("not a BPMN 2.0 document (the root element must be bpmn:definitions)", line=1)
        )
    return root


class _XmlProblem(ValueError):
    def __init__(self, found: Problem) -> None:
        super().__init__(found.message)
        self.problem = found


def xsd_problems(root: Any) -> list[Problem]:
    """Every XML-schema error (SpiffWorkflow's validator raises only the first)."""
    global _xsd
    copy = deepcopy(root)
    with _xsd_lock:
        if _xsd is None:
            _xsd = BpmnValidator()
        _xsd.preprocess(copy)  # bpmn-js correlation expressions, as SpiffWorkflow does
        if _xsd.validator.validate(copy):
            return []
        return [
            Problem(f"XML schema: {_tidy(err.message)}", line=err.line) for err in _xsd.validator.error_log
        ]


_EXPECTED = re.compile(r"\s*Expected is( one of)? \(.*?\)\.?", re.S)
_NAMESPACES = {
    f"{{{BPMN_NS}}}": "bpmn:",
    "{http://camunda.org/schema/1.0/bpmn}": "camunda:",
    "{http://www.omg.org/spec/BPMN/20100524/DI}": "bpmndi:",
}


def _tidy(message: str) -> str:
    """lxml's schema message without the long list of expected elements, with short prefixes."""
    message = _EXPECTED.sub("", message)
    for uri, prefix in _NAMESPACES.items():
        message = message.replace(uri, prefix)
    return message.strip()


def executable_processes(root: Any) -> list[Any]:
    """Processes SpiffWorkflow would run (a missing isExecutable counts as executable, as in Spiff)."""
    return [p for p in root.iter(f"{B}process") if p.get("isExecutable", "true") == "true"]


def flow_nodes(container: Any) -> Iterator[Any]:
    """Every flow node in a process, descending into embedded subprocesses."""
    for el in container.iter():
        if el is not container and is_bpmn(el) and local(el) in SUPPORTED_NODES and _in_container(el):
            yield el


def _in_container(el: Any) -> bool:
    parent = el.getparent()
    return parent is not None and local(parent) in CONTAINERS


class Checker:
    """Collects the problems of one document."""

    def __init__(
        self,
        root: Any,
        *,
        called_ids: Collection[str],
        form_exists: Callable[[str], bool] | None,
        functions: Collection[str] | None,
    ) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.form_exists = form_exists
        self.functions = None if functions is None else set(functions)
        self.ids: dict[str, Any] = {}
        for el in root.iter():
            if isinstance(el.tag, str) and el.get("id"):
                self.ids.setdefault(el.get("id"), el)
        self.messages = {m.get("id"): m for m in root.iter(f"{B}message") if m.get("id")}
        self.processes = executable_processes(root)
        self.callable_ids = set(called_ids) | {p.get("id") for p in root.iter(f"{B}process") if p.get("id")}

    def add(self, message: str, el: Any = None, *, element_id: str | None = None) -> None:
        self.problems.append(problem(message, el, element_id=element_id))

    def expression(self, source: str | None, el: Any, what: str) -> None:
        text = (source or "").strip()
        if not text:
            self.add(f"empty {what}", el)
            return
        try:
            errors = check(text)
        except ExpressionError as exc:
            errors = [exc]
        if errors:  # the first error of an expression; the others are usually its consequences
            self.add(f"{what} {text!r} does not parse: {getattr(errors[0], 'message', str(errors[0]))}", el)

    # ----------------------------------------------------------------------------------------- run

    def run(self) -> list[Problem]:
        if not self.processes:
            self.add('no executable process (isExecutable="true") in this file')
        for store in self.root.iter(f"{B}dataStore"):
            self.add("data stores are not supported", store)
        for process in self.processes:
            self.check_process(process)
        return self.problems

    def check_process(self, process: Any) -> None:
        containers = [process, *[el for el in process.iter() if is_bpmn(el) and local(el) in CONTAINERS]]
        seen = set()
        for container in containers:
            if id(container) in seen:
                continue
            seen.add(id(container))
            self.check_container(container)
        for el in process.iter():
            if not is_bpmn(el):
                continue
            name = local(el)
            if name.endswith("EventDefinition"):
                self.check_event_definition(el)
            elif name == "multiInstanceLoopCharacteristics":
                self.check_multi_instance(el)
            elif name == "standardLoopCharacteristics":
                cond = el.find(f"{B}loopCondition")
                if cond is not None:
                    self.expression(cond.text, el.getparent(), "loop condition")

    def check_container(self, container: Any) -> None:
        children = [el for el in container if is_bpmn(el)]
        outgoing: dict[str, list[Any]] = {}
        for el in children:
            if local(el) == "sequenceFlow" and el.get("sourceRef"):
                outgoing.setdefault(el.get("sourceRef"), []).append(el)
        for el in children:
            name = local(el)
            if name in UNSUPPORTED_NODES:
                self.add(f"bpmn:{name}: {UNSUPPORTED_NODES[name]}", el)
                continue
            if name not in SUPPORTED_NODES and name not in CONTAINER_EXTRAS:
                self.add(f"bpmn:{name} is not supported", el)
                continue
            if (name in SUPPORTED_NODES or name == "sequenceFlow") and not el.get("id"):
                self.add(
                    f"bpmn:{name} without id (SpiffWorkflow would silently drop it and what follows)", el
                )
                continue
            if name == "sequenceFlow":
                self.check_flow(el, container)
            elif name in SUPPORTED_NODES:
                self.check_node(el, name, outgoing.get(el.get("id"), []))

    # ---------------------------------------------------------------------------------- flows, nodes

    def check_flow(self, flow: Any, container: Any) -> None:
        for ref in ("sourceRef", "targetRef"):
            target = flow.get(ref)
            node = self.ids.get(target) if target else None
            if node is None:
                self.add(f"{ref} {target!r} does not name an element", flow)
            elif node.getparent() is not container:
                self.add(f"{ref} {target!r} is not in the same process or subprocess as the flow", flow)
        cond = flow.find(f"{B}conditionExpression")
        if cond is None:
            return
        source = self.ids.get(flow.get("sourceRef") or "")
        if source is not None and local(source) not in ("exclusiveGateway", "inclusiveGateway"):
            self.add(
                "a condition is only evaluated on a flow leaving an exclusive or inclusive gateway "
                f"(this flow leaves {local(source)} {source.get('id')!r})",
                flow,
            )
            return
        language = (cond.get("language") or "").strip().lower()
        if language not in EXPRESSION_LANGUAGES:
            self.add(
                f"condition language {cond.get('language')!r} is not supported (write an expression)", flow
            )
            return
        if source is not None and source.get("default") == flow.get("id"):
            return
        self.expression(cond.text, flow, "condition")

    def check_node(self, el: Any, name: str, outgoing: list[Any]) -> None:
        if len(outgoing) > 1 and name not in GATEWAYS and name != "startEvent":
            self.add(
                f"{len(outgoing)} outgoing flows leave this {name}: split the flow with a gateway "
                "(SpiffWorkflow runs one outgoing flow per task)",
                el,
            )
        if name in ("exclusiveGateway", "inclusiveGateway"):
            self.check_conditional_gateway(el, name, outgoing)
        if name == "boundaryEvent":
            self.check_boundary(el)
        specific = getattr(self, f"check_{name}", None)
        if specific is not None:
            specific(el)

    def check_conditional_gateway(self, gateway: Any, name: str, outgoing: list[Any]) -> None:
        default = gateway.get("default")
        flow_ids = {f.get("id") for f in outgoing}
        if default and default not in flow_ids:
            self.add(f"default flow {default!r} is not an outgoing flow of this gateway", gateway)
        if len(outgoing) <= 1:
            return
        for flow in outgoing:
            cond = flow.find(f"{B}conditionExpression")
            if flow.get("id") != default and (cond is None or not (cond.text or "").strip()):
                self.add(
                    f"flow leaving {name} {gateway.get('id')!r} has no condition "
                    "and is not the gateway's default",
                    flow,
                )

    def check_boundary(self, el: Any) -> None:
        attached = el.get("attachedToRef")
        if not attached or attached not in self.ids:
            self.add(f"attachedToRef {attached!r} does not name an activity", el)
        if not [d for d in el if is_bpmn(d) and local(d).endswith("EventDefinition")]:
            self.add("a boundary event needs an event definition (timer, message, error …)", el)

    def check_intermediateCatchEvent(self, el: Any) -> None:
        if not [d for d in el if is_bpmn(d) and local(d).endswith("EventDefinition")]:
            self.add("an intermediate catch event needs an event definition (timer, message …)", el)

    def check_receiveTask(self, el: Any) -> None:
        self.check_message_ref(el, required=True)

    def check_sendTask(self, el: Any) -> None:
        if el.get("messageRef"):
            self.check_message_ref(el, required=True)

    def check_startEvent(self, el: Any) -> None:
        self.check_form_key(el)
        parent = el.getparent()
        timer = el.find(f"{B}timerEventDefinition")
        if (
            timer is not None
            and local(parent) == "process"
            and _valid_timer(timer)
            and timer_start_value(timer) is None
        ):
            self.add(
                "a timer start event needs a literal ISO 8601 date, duration or cycle "
                "(there are no variables before the instance starts)",
                el,
            )

    def check_userTask(self, el: Any) -> None:
        if not any(camunda_attr(el, a) for a in ("assignee", "candidateUsers", "candidateGroups")):
            self.add(
                "user task without assignment: set camunda:assignee, camunda:candidateUsers or "
                "camunda:candidateGroups",
                el,
            )
        for attr in ("assignee", "candidateUsers", "candidateGroups"):
            for entry in (
                split_list(camunda_attr(el, attr)) if attr != "assignee" else [camunda_attr(el, attr) or ""]
            ):
                if entry and WRAPPED.match(entry):
                    self.expression(unwrap(entry), el, f"camunda:{attr} expression")
        due = (camunda_attr(el, "dueDate") or "").strip()
        if due:
            if WRAPPED.match(due):
                self.expression(unwrap(due), el, "camunda:dueDate expression")
            elif not (iso_literal(due, "timeDate") or iso_literal(due, "timeDuration")):
                self.add(
                    f"camunda:dueDate {due!r} is neither an ISO 8601 date-time or duration "
                    "nor a ${…} expression",
                    el,
                )
        self.check_form_key(el)

    def check_scriptTask(self, el: Any) -> None:
        script = el.find(f"{B}script")
        name = (script.text or "").strip() if script is not None and script.text else ""
        if not name:
            self.add("script task without a script: its script names a registered function", el)
        elif self.functions is not None and name not in self.functions:
            self.add(
                f"script tasks run a registered function named by their script; {name[:80]!r} is not one "
                "(no code from a model ever runs)",
                el,
            )

    def check_serviceTask(self, el: Any) -> None:
        if not service_function(el):
            self.add(
                "service task names no function: set camunda:class, camunda:delegateExpression, "
                'camunda:expression or camunda:type="external" with camunda:topic',
                el,
            )

    def check_callActivity(self, el: Any) -> None:
        called = (el.get("calledElement") or "").strip()
        if not called:
            self.add("call activity without calledElement", el)
        elif WRAPPED.match(called):
            self.add(f"calledElement {called!r}: an expression cannot choose the called process", el)
        elif called not in self.callable_ids:
            self.add(f"called process {called!r} is not deployed", el)

    def check_form_key(self, el: Any) -> None:
        key = (camunda_attr(el, "formKey") or "").strip()
        if key and self.form_exists is not None and not self.form_exists(key):
            self.add(f"form {key!r} does not exist", el)

    def check_message_ref(self, el: Any, *, required: bool, owner: Any = None) -> None:
        ref = el.get("messageRef")
        if not ref:
            if required:
                self.add("needs a messageRef naming a bpmn:message", owner if owner is not None else el)
        elif ref not in self.messages:
            self.add(f"messageRef {ref!r} does not name a bpmn:message", owner if owner is not None else el)
        elif not self.messages[ref].get("name"):
            self.add(f"message {ref!r} has no name", self.messages[ref])

    # -------------------------------------------------------------------------- events, multi-instance

    def check_event_definition(self, el: Any) -> None:
        name = local(el)
        owner = el.getparent()
        if name not in SUPPORTED_EVENT_DEFINITIONS:
            self.add(
                f"bpmn:{name} is not supported (SpiffWorkflow would treat the event as a plain event)",
                owner,
            )
            return
        if name == "timerEventDefinition":
            self.check_timer(el, owner)
        elif name == "messageEventDefinition":
            self.check_message_ref(el, required=local(owner) != "endEvent", owner=owner)
        elif name in ("errorEventDefinition", "escalationEventDefinition", "signalEventDefinition"):
            attr = {"errorEventDefinition": "errorRef", "escalationEventDefinition": "escalationRef"}.get(
                name, "signalRef"
            )
            ref = el.get(attr)
            if ref and ref not in self.ids:
                self.add(f"{attr} {ref!r} does not name an element", owner)
        elif name == "conditionalEventDefinition":
            cond = el.find(f"{B}condition")
            self.expression(cond.text if cond is not None else None, owner, "event condition")

    def check_timer(self, timer: Any, owner: Any) -> None:
        parts = [c for c in timer if is_bpmn(c) and local(c) in TIMER_KINDS]
        if len(parts) != 1:
            self.add("a timer needs exactly one of timeDate, timeDuration or timeCycle", owner)
            return
        kind, text = local(parts[0]), parts[0].text
        try:
            expression, literal = normalize_timer(text, kind)
        except TimerTextError as exc:
            self.add(str(exc), owner)
            return
        if not literal:
            try:
                errors = check(expression)
            except ExpressionError as exc:
                errors = [exc]
            if errors:
                self.add(
                    f"{kind} {(text or '').strip()!r} is neither ISO 8601 nor an expression: "
                    f"{getattr(errors[0], 'message', str(errors[0]))}",
                    owner,
                )

    def check_multi_instance(self, loop: Any) -> None:
        owner = loop.getparent()
        parts = multi_instance_parts(loop)
        if not parts["collection"] and not parts["cardinality"]:
            self.add(
                "a multi-instance step needs camunda:collection (or loopDataInputRef) naming a list "
                "variable, or loopCardinality",
                owner,
            )
        if parts["collection"] and not VARIABLE.match(parts["collection"]):
            self.add(f"the multi-instance collection {parts['collection']!r} must name a variable", owner)
        if parts["element_variable"] and not VARIABLE.match(parts["element_variable"]):
            self.add(f"the element variable {parts['element_variable']!r} must be a variable name", owner)
        if parts["cardinality"] and not parts["collection"]:
            self.expression(parts["cardinality"], owner, "loop cardinality")
        cond = loop.find(f"{B}completionCondition")
        if cond is not None:
            self.expression(cond.text, owner, "completion condition")


def _valid_timer(timer: Any) -> bool:
    """One timer kind with text that normalises (other problems are reported by check_timer)."""
    parts = [c for c in timer if is_bpmn(c) and local(c) in TIMER_KINDS]
    if len(parts) != 1:
        return False
    try:
        normalize_timer(parts[0].text, local(parts[0]))
    except TimerTextError:
        return False
    return True


def timer_start_value(timer: Any) -> str | None:
    """The literal ISO 8601 text of a start event's timer, or None when it is not a literal."""
    for kind in TIMER_KINDS:
        el = timer.find(f"{B}{kind}")
        if el is None:
            continue
        try:
            expression, literal = normalize_timer(el.text, kind)
        except TimerTextError:
            return None
        try:
            value = ast.literal_eval(expression)
        except (ValueError, SyntaxError):
            return None
        if isinstance(value, str) and (literal or iso_literal(value, kind)):
            return value
        return None
    return None


def service_function(el: Any) -> str:
    """The registered-function name a service task points at ("" when it names none)."""
    topic = camunda_attr(el, "topic")
    if camunda_attr(el, "type") == "external" and topic:
        return topic.strip()
    for attr in ("class", "delegateExpression", "expression"):
        value = camunda_attr(el, attr)
        if value and value.strip():
            return unwrap(value) or ""
    return (topic or "").strip()


def collect_problems(
    root: Any,
    *,
    called_ids: Collection[str],
    form_exists: Callable[[str], bool] | None,
    functions: Collection[str] | None,
) -> list[Problem]:
    """Every problem of the document, in document order (problems without a line last)."""
    found = Checker(root, called_ids=called_ids, form_exists=form_exists, functions=functions).run()
    return sorted(found, key=lambda p: p.line if p.line is not None else 10**9)
