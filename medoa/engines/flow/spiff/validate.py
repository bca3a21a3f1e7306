"""The deploy check: every problem of a BPMN document, in one pass, before SpiffWorkflow parses it.

SpiffWorkflow stops at the first problem it meets, ignores what it cannot reach, silently drops
elements without an id and evaluates expressions only when they run. This pass walks EVERY element
of every executable process with lxml and reports each problem with its element id and line.
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from copy import deepcopy
from typing import Any

from django.utils.translation import gettext_noop
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator

from medoa.engines.rules.expressions import ExpressionError, check

from .parser import (
    BPMN_NS,
    CAMUNDA_NAMESPACES,
    camunda_attr,
    decision_ref_parts,
    multi_instance_parts,
    split_list,
)
from .specs import DECISION_BINDINGS, DECISION_MAPPINGS, unwrap
from .timers import TIMER_KINDS, TimerTextError, iso_literal, normalize_timer
from .types import DecisionFacts, Msg, Problem, expression_msg, msg

B = f"{{{BPMN_NS}}}"
# ``form_check(form_key, camunda_properties, element_kind)``: the problems of a step's form
# binding (the services pass the form engine's check; an empty list when it is fine)
FormCheck = Callable[[str, Mapping[str, str], str], list[Msg]]
# ``decisions(key, version)``: the deployed DMN decision ``key`` at ``version`` (None: its latest),
# or None when there is no such decision (version)
DecisionLookup = Callable[[str, int | None], DecisionFacts | None]
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
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "subProcess",
        "transaction",
        "callActivity",
        *GATEWAYS,
    }
)
UNSUPPORTED_NODES = {
    "complexGateway": gettext_noop(
        "complex gateways are not supported: use an exclusive, inclusive or parallel gateway"
    ),
    "adHocSubProcess": gettext_noop("ad-hoc subprocesses are not supported"),
    "dataStoreReference": gettext_noop("data stores are not supported"),
    "choreographyTask": gettext_noop("choreographies are not supported"),
    "subChoreography": gettext_noop("choreographies are not supported"),
    "callChoreography": gettext_noop("choreographies are not supported"),
    "implicitThrowEvent": gettext_noop("implicit throw events are not supported"),
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


def problem(msgid: str, el: Any = None, *, element_id: str | None = None, **params: Any) -> Problem:
    """A problem with ``msgid`` (English, ``%(name)s`` placeholders for ``params``) about ``el``."""
    if el is None:
        return Problem(msgid, params, element_id or "")
    return Problem(
        msgid,
        params,
        element_id if element_id is not None else (el.get("id") or ""),
        local(el),
        el.sourceline,
    )


def _expression_error(error: ExpressionError) -> Msg:
    """An expression error as translatable text (its msgid and parameters)."""
    return expression_msg(error)


def parse_xml(xml: bytes | str) -> Any:
    """The document's root element; raises Problem-carrying ValueError on malformed input."""
    data = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
    if len(data) > MAX_XML_BYTES:
        raise _XmlProblem(
            problem(
                gettext_noop("the BPMN file is larger than %(max)s MB"), max=MAX_XML_BYTES // (1024 * 1024)
            )
        )
    if not data.strip():
        raise _XmlProblem(problem(gettext_noop("the BPMN file is empty")))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # lxml's own description of the error stays English
        raise _XmlProblem(
            Problem(gettext_noop("malformed XML: %(detail)s"), {"detail": exc.msg}, line=exc.lineno)
        ) from exc
    if root is None or root.tag != f"{B}definitions":
        raise _XmlProblem(
            Problem(
                gettext_noop("not a BPMN 2.0 document (the root element must be bpmn:definitions)"), line=1
            )
        )
    return root


class _XmlProblem(ValueError):
    def __init__(self, found: Problem) -> None:
        super().__init__(found.message_en)
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
            Problem(SCHEMA_MSGID, {"detail": _tidy(err.message)}, line=err.line)
            for err in _xsd.validator.error_log
        ]


# lxml's schema messages stay English inside this translated wrapper.
SCHEMA_MSGID = gettext_noop("The file does not follow the BPMN schema: %(detail)s")
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
        form_check: FormCheck | None = None,
        decisions: DecisionLookup | None = None,
    ) -> None:
        self.root = root
        self.decisions = decisions
        self.problems: list[Problem] = []
        self.form_exists = form_exists
        self.form_check = form_check
        self.functions = None if functions is None else set(functions)
        self.ids: dict[str, Any] = {}
        for el in root.iter():
            if isinstance(el.tag, str) and el.get("id"):
                self.ids.setdefault(el.get("id"), el)
        self.messages = {m.get("id"): m for m in root.iter(f"{B}message") if m.get("id")}
        self.processes = executable_processes(root)
        self.callable_ids = set(called_ids) | {p.get("id") for p in root.iter(f"{B}process") if p.get("id")}

    def add(self, msgid: str, el: Any = None, *, element_id: str | None = None, **params: Any) -> None:
        self.problems.append(problem(msgid, el, element_id=element_id, **params))

    def expression(self, source: str | None, el: Any, what: Msg) -> None:
        text = (source or "").strip()
        if not text:
            self.add(gettext_noop("empty %(what)s"), el, what=what)
            return
        try:
            errors = check(text)
        except ExpressionError as exc:
            errors = [exc]
        if errors:  # the first error of an expression; the others are usually its consequences
            self.add(
                gettext_noop("%(what)s '%(source)s' does not parse: %(error)s"),
                el,
                what=what,
                source=text,
                error=_expression_error(errors[0]),
            )

    # ----------------------------------------------------------------------------------------- run

    def run(self) -> list[Problem]:
        if not self.processes:
            self.add(gettext_noop('no executable process (isExecutable="true") in this file'))
        for store in self.root.iter(f"{B}dataStore"):
            self.add(gettext_noop("data stores are not supported"), store)
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
                    self.expression(cond.text, el.getparent(), msg(gettext_noop("loop condition")))

    def check_container(self, container: Any) -> None:
        children = [el for el in container if is_bpmn(el)]
        outgoing: dict[str, list[Any]] = {}
        for el in children:
            if local(el) == "sequenceFlow" and el.get("sourceRef"):
                outgoing.setdefault(el.get("sourceRef"), []).append(el)
        for el in children:
            name = local(el)
            if name in UNSUPPORTED_NODES:
                self.add(
                    gettext_noop("bpmn:%(name)s: %(reason)s"),
                    el,
                    name=name,
                    reason=msg(UNSUPPORTED_NODES[name]),
                )
                continue
            if name not in SUPPORTED_NODES and name not in CONTAINER_EXTRAS:
                self.add(gettext_noop("bpmn:%(name)s is not supported"), el, name=name)
                continue
            if (name in SUPPORTED_NODES or name == "sequenceFlow") and not el.get("id"):
                self.add(
                    gettext_noop(
                        "bpmn:%(name)s without id (SpiffWorkflow would silently drop it and what follows)"
                    ),
                    el,
                    name=name,
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
                self.add(
                    gettext_noop("%(ref)s '%(target)s' does not name an element"),
                    flow,
                    ref=ref,
                    target=target,
                )
            elif node.getparent() is not container:
                self.add(
                    gettext_noop("%(ref)s '%(target)s' is not in the same process or subprocess as the flow"),
                    flow,
                    ref=ref,
                    target=target,
                )
        cond = flow.find(f"{B}conditionExpression")
        if cond is None:
            return
        source = self.ids.get(flow.get("sourceRef") or "")
        if source is not None and local(source) not in ("exclusiveGateway", "inclusiveGateway"):
            self.add(
                gettext_noop(
                    "a condition is only evaluated on a flow leaving an exclusive or inclusive gateway "
                    "(this flow leaves %(kind)s '%(source)s')"
                ),
                flow,
                kind=local(source),
                source=source.get("id"),
            )
            return
        language = (cond.get("language") or "").strip().lower()
        if language not in EXPRESSION_LANGUAGES:
            self.add(
                gettext_noop("condition language '%(language)s' is not supported (write an expression)"),
                flow,
                language=cond.get("language"),
            )
            return
        if source is not None and source.get("default") == flow.get("id"):
            return
        self.expression(cond.text, flow, msg(gettext_noop("condition")))

    def check_node(self, el: Any, name: str, outgoing: list[Any]) -> None:
        if len(outgoing) > 1 and name not in GATEWAYS and name != "startEvent":
            self.add(
                gettext_noop(
                    "%(count)s outgoing flows leave this %(kind)s: split the flow with a gateway "
                    "(SpiffWorkflow runs one outgoing flow per task)"
                ),
                el,
                count=len(outgoing),
                kind=name,
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
            self.add(
                gettext_noop("default flow '%(flow)s' is not an outgoing flow of this gateway"),
                gateway,
                flow=default,
            )
        if len(outgoing) <= 1:
            return
        for flow in outgoing:
            cond = flow.find(f"{B}conditionExpression")
            if flow.get("id") != default and (cond is None or not (cond.text or "").strip()):
                self.add(
                    gettext_noop(
                        "flow leaving %(kind)s '%(gateway)s' has no condition "
                        "and is not the gateway's default"
                    ),
                    flow,
                    kind=name,
                    gateway=gateway.get("id"),
                )

    def check_boundary(self, el: Any) -> None:
        attached = el.get("attachedToRef")
        if not attached or attached not in self.ids:
            self.add(gettext_noop("attachedToRef '%(ref)s' does not name an activity"), el, ref=attached)
        if not [d for d in el if is_bpmn(d) and local(d).endswith("EventDefinition")]:
            self.add(gettext_noop("a boundary event needs an event definition (timer, message, error …)"), el)

    def check_intermediateCatchEvent(self, el: Any) -> None:
        if not [d for d in el if is_bpmn(d) and local(d).endswith("EventDefinition")]:
            self.add(
                gettext_noop("an intermediate catch event needs an event definition (timer, message …)"), el
            )

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
                gettext_noop(
                    "a timer start event needs a literal ISO 8601 date, duration or cycle "
                    "(there are no variables before the instance starts)"
                ),
                el,
            )

    def check_userTask(self, el: Any) -> None:
        if not any(camunda_attr(el, a) for a in ("assignee", "candidateUsers", "candidateGroups")):
            self.add(
                gettext_noop(
                    "user task without assignment: set camunda:assignee, camunda:candidateUsers or "
                    "camunda:candidateGroups"
                ),
                el,
            )
        for attr in ("assignee", "candidateUsers", "candidateGroups"):
            for entry in (
                split_list(camunda_attr(el, attr)) if attr != "assignee" else [camunda_attr(el, attr) or ""]
            ):
                if entry and WRAPPED.match(entry):
                    self.expression(
                        unwrap(entry), el, msg(gettext_noop("camunda:%(attr)s expression"), attr=attr)
                    )
        due = (camunda_attr(el, "dueDate") or "").strip()
        if due:
            if WRAPPED.match(due):
                self.expression(
                    unwrap(due), el, msg(gettext_noop("camunda:%(attr)s expression"), attr="dueDate")
                )
            elif not (iso_literal(due, "timeDate") or iso_literal(due, "timeDuration")):
                self.add(
                    gettext_noop(
                        "camunda:dueDate '%(value)s' is neither an ISO 8601 date-time or duration "
                        "nor a ${…} expression"
                    ),
                    el,
                    value=due,
                )
        self.check_form_key(el)

    def check_scriptTask(self, el: Any) -> None:
        script = el.find(f"{B}script")
        name = (script.text or "").strip() if script is not None and script.text else ""
        if not name:
            self.add(gettext_noop("script task without a script: its script names a registered function"), el)
        elif self.functions is not None and name not in self.functions:
            self.add(
                gettext_noop(
                    "script tasks run a registered function named by their script; '%(name)s' is not one "
                    "(no code from a model ever runs)"
                ),
                el,
                name=name[:80],
            )

    def check_serviceTask(self, el: Any) -> None:
        if not service_function(el):
            self.add(
                gettext_noop(
                    "service task names no function: set camunda:class, camunda:delegateExpression, "
                    'camunda:expression or camunda:type="external" with camunda:topic'
                ),
                el,
            )

    def check_businessRuleTask(self, el: Any) -> None:
        parts = decision_ref_parts(el)
        decision, binding, version = parts["decision"], parts["binding"], parts["version"]
        if any(camunda_attr(el, a) for a in ("class", "delegateExpression", "expression", "type")):
            self.add(
                gettext_noop(
                    "a business rule task evaluates a DMN decision (camunda:decisionRef); "
                    "to call a function, use a service task"
                ),
                el,
            )
            return
        if el.find(f"{B}multiInstanceLoopCharacteristics") is not None:
            self.add(gettext_noop("a multi-instance business rule task is not supported"), el)
        if not decision:
            self.add(
                gettext_noop(
                    "business rule task without camunda:decisionRef (the id of a deployed DMN decision)"
                ),
                el,
            )
        elif WRAPPED.match(decision):
            self.add(
                gettext_noop("camunda:decisionRef '%(decision)s': an expression cannot choose the decision"),
                el,
                decision=decision,
            )
            decision = ""
        result_variable = parts["result_variable"]
        if not result_variable:
            self.add(
                gettext_noop(
                    "business rule task without camunda:resultVariable: name the variable that "
                    "receives the decision's result"
                ),
                el,
            )
        elif not VARIABLE.match(result_variable):
            self.add(
                gettext_noop("camunda:resultVariable '%(variable)s' must be a variable name"),
                el,
                variable=result_variable,
            )
        mapping = parts["mapping"]
        if mapping not in DECISION_MAPPINGS:
            self.add(
                gettext_noop(
                    "camunda:mapDecisionResult '%(mapping)s' is not one of singleEntry, singleResult, "
                    "collectEntries, resultList"
                ),
                el,
                mapping=mapping,
            )
            mapping = ""
        number: int | None = None
        if binding not in DECISION_BINDINGS:
            self.add(
                gettext_noop(
                    "camunda:decisionRefBinding '%(binding)s' is not supported (use latest, or version "
                    "with camunda:decisionRefVersion)"
                ),
                el,
                binding=binding,
            )
            return
        if binding == "version":
            if version is None or not version.isdigit() or int(version) < 1:
                self.add(
                    gettext_noop(
                        'camunda:decisionRefBinding="version" needs camunda:decisionRefVersion, '
                        "a version number (1, 2 …), not '%(version)s'"
                    ),
                    el,
                    version=version or "",
                )
                return
            number = int(version)
        if not decision or self.decisions is None:
            return
        facts = self.decisions(decision, number)
        if facts is None:
            if number is not None and self.decisions(decision, None) is not None:
                self.add(
                    gettext_noop("decision '%(decision)s' has no version %(version)s"),
                    el,
                    decision=decision,
                    version=number,
                )
            else:
                self.add(
                    gettext_noop("decision '%(decision)s' is not deployed (deploy its DMN file first)"),
                    el,
                    decision=decision,
                )
            return
        if mapping in ("singleEntry", "collectEntries") and len(facts.outputs) != 1:
            self.add(
                gettext_noop(
                    "camunda:mapDecisionResult '%(mapping)s' takes the one output of a decision, but "
                    "decision '%(decision)s' (version %(version)s) has %(count)s outputs (%(outputs)s): "
                    "use singleResult or resultList"
                ),
                el,
                mapping=mapping,
                decision=decision,
                version=facts.version,
                count=len(facts.outputs),
                outputs=", ".join(facts.outputs),
            )

    def check_callActivity(self, el: Any) -> None:
        called = (el.get("calledElement") or "").strip()
        if not called:
            self.add(gettext_noop("call activity without calledElement"), el)
        elif WRAPPED.match(called):
            self.add(
                gettext_noop("calledElement '%(called)s': an expression cannot choose the called process"),
                el,
                called=called,
            )
        elif called not in self.callable_ids:
            self.add(gettext_noop("called process '%(called)s' is not deployed"), el, called=called)

    def check_form_key(self, el: Any) -> None:
        key = (camunda_attr(el, "formKey") or "").strip()
        if self.form_check is not None:
            for text in self.form_check(key, camunda_properties(el), local(el)):
                self.add(text.msgid, el, **text.params)
            return
        if key and self.form_exists is not None and not self.form_exists(key):
            self.add(gettext_noop("form '%(key)s' does not exist"), el, key=key)

    def check_message_ref(self, el: Any, *, required: bool, owner: Any = None) -> None:
        ref = el.get("messageRef")
        if not ref:
            if required:
                self.add(
                    gettext_noop("needs a messageRef naming a bpmn:message"),
                    owner if owner is not None else el,
                )
        elif ref not in self.messages:
            self.add(
                gettext_noop("messageRef '%(ref)s' does not name a bpmn:message"),
                owner if owner is not None else el,
                ref=ref,
            )
        elif not self.messages[ref].get("name"):
            self.add(gettext_noop("message '%(ref)s' has no name"), self.messages[ref], ref=ref)

    # -------------------------------------------------------------------------- events, multi-instance

    def check_event_definition(self, el: Any) -> None:
        name = local(el)
        owner = el.getparent()
        if name not in SUPPORTED_EVENT_DEFINITIONS:
            self.add(
                gettext_noop(
                    "bpmn:%(name)s is not supported (SpiffWorkflow would treat the event as a plain event)"
                ),
                owner,
                name=name,
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
                self.add(
                    gettext_noop("%(attr)s '%(ref)s' does not name an element"), owner, attr=attr, ref=ref
                )
        elif name == "conditionalEventDefinition":
            cond = el.find(f"{B}condition")
            self.expression(
                cond.text if cond is not None else None, owner, msg(gettext_noop("event condition"))
            )

    def check_timer(self, timer: Any, owner: Any) -> None:
        parts = [c for c in timer if is_bpmn(c) and local(c) in TIMER_KINDS]
        if len(parts) != 1:
            self.add(gettext_noop("a timer needs exactly one of timeDate, timeDuration or timeCycle"), owner)
            return
        kind, text = local(parts[0]), parts[0].text
        try:
            expression, literal = normalize_timer(text, kind)
        except TimerTextError as exc:
            self.add(exc.msgid, owner, **exc.params)
            return
        if not literal:
            try:
                errors = check(expression)
            except ExpressionError as exc:
                errors = [exc]
            if errors:
                self.add(
                    gettext_noop("%(kind)s '%(value)s' is neither ISO 8601 nor an expression: %(error)s"),
                    owner,
                    kind=kind,
                    value=(text or "").strip(),
                    error=_expression_error(errors[0]),
                )

    def check_multi_instance(self, loop: Any) -> None:
        owner = loop.getparent()
        parts = multi_instance_parts(loop)
        if not parts["collection"] and not parts["cardinality"]:
            self.add(
                gettext_noop(
                    "a multi-instance step needs camunda:collection (or loopDataInputRef) naming a list "
                    "variable, or loopCardinality"
                ),
                owner,
            )
        if parts["collection"] and not VARIABLE.match(parts["collection"]):
            self.add(
                gettext_noop("the multi-instance collection '%(collection)s' must name a variable"),
                owner,
                collection=parts["collection"],
            )
        if parts["element_variable"] and not VARIABLE.match(parts["element_variable"]):
            self.add(
                gettext_noop("the element variable '%(variable)s' must be a variable name"),
                owner,
                variable=parts["element_variable"],
            )
        if parts["cardinality"] and not parts["collection"]:
            self.expression(parts["cardinality"], owner, msg(gettext_noop("loop cardinality")))
        cond = loop.find(f"{B}completionCondition")
        if cond is not None:
            self.expression(cond.text, owner, msg(gettext_noop("completion condition")))


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


def camunda_properties(el: Any) -> dict[str, str]:
    """The ``camunda:properties`` of an element (the first value of a name wins)."""
    properties: dict[str, str] = {}
    for ns in CAMUNDA_NAMESPACES:
        for prop in el.findall(f"{B}extensionElements/{{{ns}}}properties/{{{ns}}}property"):
            if prop.get("name"):
                properties.setdefault(prop.get("name"), prop.get("value") or "")
    return properties


def collect_problems(
    root: Any,
    *,
    called_ids: Collection[str],
    form_exists: Callable[[str], bool] | None,
    functions: Collection[str] | None,
    form_check: FormCheck | None = None,
    decisions: DecisionLookup | None = None,
) -> list[Problem]:
    """Every problem of the document, in document order (problems without a line last)."""
    found = Checker(
        root,
        called_ids=called_ids,
        form_exists=form_exists,
        functions=functions,
        form_check=form_check,
        decisions=decisions,
    ).run()
    return sorted(found, key=lambda p: p.line if p.line is not None else 10**9)
