"""Business-rule tasks: DMN decisions (the rules engine) evaluated by processes.

A ``bpmn:businessRuleTask`` with ``camunda:decisionRef`` runs when the token reaches it, in the
engine call that reached it; its ``camunda:mapDecisionResult`` result goes into
``camunda:resultVariable``. The decision version is pinned when the process version is deployed.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import reverse

from medoa.core.org.models import Staff
from medoa.engines.flow import services
from medoa.engines.flow.choices import EventKind, IncidentStatus, InstanceStatus
from medoa.engines.flow.errors import FlowInputError
from medoa.engines.flow.models import Incident, ProcessEvent, ProcessInstance, ProcessVersion
from medoa.engines.flow.selectors import parsed_version
from medoa.engines.flow.spiff import DefinitionInvalid, clear_definition_cache
from medoa.engines.flow.spiff.engine import map_decision_result
from medoa.engines.rules import services as rules
from medoa.engines.rules.dmn import DecisionResult

from .conftest import FakeClock, open_steps, open_task, snapshot

pytestmark = pytest.mark.django_db

DMN_NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def dmn(*decisions: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{DMN_NS}" id="defs" name="D" '
        f'namespace="urn:medoa:test">\n' + "\n".join(decisions) + "\n</definitions>\n"
    )


def rule(rid: str, inputs: list[str], outputs: list[str]) -> str:
    cells = "".join(f"<inputEntry><text>{t}</text></inputEntry>" for t in inputs)
    cells += "".join(f"<outputEntry><text>{t}</text></outputEntry>" for t in outputs)
    return f'<rule id="{rid}">{cells}</rule>'


def leave_approver(*, vice_after: int = 3, overlap: bool = False) -> str:
    """Who approves a leave: the department head, or the vice dean for long leaves (UNIQUE).
    ``overlap`` adds a rule that overlaps another (a table mistake: UNIQUE has no answer)."""
    rules_ = [
        rule("r1", ['"sick"', f"&lt;= {vice_after}"], ['"head"']),
        rule("r2", ['"sick"', f"&gt; {vice_after}"], ['"vice"']),
        rule("r3", ['"annual"', "&lt;= 5"], ['"head"']),
        rule("r4", ['"annual"', "&gt; 5"], ['"vice"']),
    ]
    if overlap:
        rules_.append(rule("r5", ['"annual"', "&gt; 10"], ['"dean"']))
    return dmn(
        '<decision id="leave_approver" name="Leave approver"><decisionTable id="t" hitPolicy="UNIQUE">'
        '<input id="i1" label="Leave type"><inputExpression id="e1" typeRef="string"><text>leave_type</text>'
        '</inputExpression></input><input id="i2" label="Days"><inputExpression id="e2" typeRef="number">'
        '<text>days</text></inputExpression></input><output id="o1" name="approver_level" typeRef="string"/>'
        + "".join(rules_)
        + "</decisionTable></decision>"
    )


FEES = dmn(
    '<decision id="fee_codes" name="Fee codes"><decisionTable id="t1" hitPolicy="COLLECT">'
    '<input id="i1" label="Amount"><inputExpression id="e1" typeRef="number"><text>amount</text>'
    '</inputExpression></input><output id="o1" name="code" typeRef="string"/>'
    + rule("c1", ["&gt;= 0"], ['"A"'])
    + rule("c2", ["&gt; 100"], ['"B"'])
    + "</decisionTable></decision>",
    '<decision id="fee_detail" name="Fee detail"><decisionTable id="t2" hitPolicy="FIRST">'
    '<input id="i2" label="Amount"><inputExpression id="e2" typeRef="number"><text>amount</text>'
    '</inputExpression></input><output id="o2" name="code" typeRef="string"/>'
    '<output id="o3" name="rate" typeRef="number"/>'
    + rule("d1", ["&gt; 100"], ['"B"', "0.2"])
    + rule("d2", ["&gt;= 0"], ['"A"', "0.1"])
    + "</decisionTable></decision>",
)

# A DRD: the discount requires the customer's level, decided from their points.
DISCOUNT = dmn(
    '<decision id="customer_level" name="Customer level"><decisionTable id="t1" hitPolicy="FIRST">'
    '<input id="i1" label="Points"><inputExpression id="e1" typeRef="number"><text>points</text>'
    '</inputExpression></input><output id="o1" name="level" typeRef="string"/>'
    + rule("l1", ["&gt;= 1000"], ['"gold"'])
    + rule("l2", ["-"], ['"silver"'])
    + "</decisionTable></decision>",
    '<decision id="discount" name="Discount"><informationRequirement id="ir">'
    '<requiredDecision href="#customer_level"/></informationRequirement>'
    '<decisionTable id="t2" hitPolicy="UNIQUE"><input id="i2" label="Level">'
    '<inputExpression id="e2" typeRef="string"><text>level</text></inputExpression></input>'
    '<output id="o2" name="rate" typeRef="number"/>'
    + rule("x1", ['"gold"'], ["0.15"])
    + rule("x2", ['"silver"'], ["0.05"])
    + "</decisionTable></decision>",
)


def bpmn(process_id: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="urn:t">\n'
        f'<bpmn:process id="{process_id}" name="{process_id}" isExecutable="true">\n{body}\n'
        "</bpmn:process>\n</bpmn:definitions>\n"
    )


def chain(*steps: str, start: str = '<bpmn:startEvent id="start" />') -> str:
    """``start`` → each step (in order, their ids read from ``id="…"``) → end."""
    ids = ["start"] + [s.split('id="', 1)[1].split('"', 1)[0] for s in steps] + ["end"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{n}" sourceRef="{a}" targetRef="{b}" />'
        for n, (a, b) in enumerate(pairwise(ids))
    )
    return start + "".join(steps) + '<bpmn:endEvent id="end" />' + flows


def brt(step: str, decision: str, variable: str, mapping: str, extra: str = "") -> str:
    return (
        f'<bpmn:businessRuleTask id="{step}" name="{step.title()}" camunda:decisionRef="{decision}" '
        f'camunda:resultVariable="{variable}" camunda:mapDecisionResult="{mapping}" {extra}/>'
    )


LEAVE = bpmn(
    "dmn_leave",
    '<bpmn:startEvent id="start" camunda:initiator="applicant" />'
    '<bpmn:userTask id="submit" name="Submit" camunda:assignee="${initiator}" />'
    + brt("decide", "leave_approver", "approver_level", "singleEntry")
    + '<bpmn:exclusiveGateway id="gw" default="f_head" />'
    '<bpmn:userTask id="head_approve" name="Head approves" camunda:candidateGroups="dept_head" />'
    '<bpmn:userTask id="vice_approve" name="Vice dean approves" camunda:candidateGroups="vice_dean" />'
    '<bpmn:endEvent id="end" />'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="submit" />'
    '<bpmn:sequenceFlow id="f2" sourceRef="submit" targetRef="decide" />'
    '<bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="gw" />'
    '<bpmn:sequenceFlow id="f_vice" sourceRef="gw" targetRef="vice_approve">'
    '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">approver_level == "vice"'
    "</bpmn:conditionExpression></bpmn:sequenceFlow>"
    '<bpmn:sequenceFlow id="f_head" sourceRef="gw" targetRef="head_approve" />'
    '<bpmn:sequenceFlow id="f4" sourceRef="head_approve" targetRef="end" />'
    '<bpmn:sequenceFlow id="f5" sourceRef="vice_approve" targetRef="end" />',
)

CHECK = '<bpmn:userTask id="check" name="Check" camunda:candidateGroups="dept_head" />'


@pytest.fixture
def it(person: Callable[..., Staff]) -> Staff:
    """Deploys the decision tables (``rules.decision.design``)."""
    return person("it", username="it_dmn")


@pytest.fixture(autouse=True)
def _fresh_specs() -> None:
    clear_definition_cache()


def deploy_process(people: SimpleNamespace, xml: str) -> ProcessVersion:
    return services.definition_deploy(actor=people.admin.user, xml=xml)


def start(people: SimpleNamespace, key: str, **variables: Any) -> ProcessInstance:
    return services.instance_start(actor=people.nurse.user, definition_key=key, variables=variables)


def decision_events(instance: ProcessInstance) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (e.step_id, e.step_name, e.data)
        for e in ProcessEvent.objects.filter(instance=instance, kind=EventKind.DECISION).order_by("id")
    ]


# --- deploy ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("english")
def test_deploy_refuses_business_rule_tasks_it_cannot_run(people: SimpleNamespace, it: Staff) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver())
    rules.decision_deploy(actor=it.user, xml=FEES)
    xml = bpmn(
        "dmn_bad",
        chain(
            '<bpmn:businessRuleTask id="no_ref" camunda:resultVariable="x" />',
            brt("unknown", "no_such_decision", "x", "singleEntry"),
            brt(
                "old",
                "leave_approver",
                "x",
                "singleEntry",
                'camunda:decisionRefBinding="version" camunda:decisionRefVersion="7"',
            ),
            brt("wide", "fee_detail", "x", "singleEntry"),
            '<bpmn:businessRuleTask id="no_var" camunda:decisionRef="leave_approver" />',
            brt("bad_map", "leave_approver", "x", "firstEntry"),
            brt("tag", "leave_approver", "x", "singleEntry", 'camunda:decisionRefBinding="versionTag"'),
            brt("expr", "${which}", "x", "singleEntry"),
        ),
    )
    before = ProcessVersion.objects.count()
    with pytest.raises(DefinitionInvalid) as info:
        deploy_process(people, xml)
    assert [(p.element_type, p.element_id, p.message_en) for p in info.value.problems] == [
        (
            "businessRuleTask",
            "no_ref",
            "business rule task without camunda:decisionRef (the id of a deployed DMN decision)",
        ),
        (
            "businessRuleTask",
            "unknown",
            "decision 'no_such_decision' is not deployed (deploy its DMN file first)",
        ),
        ("businessRuleTask", "old", "decision 'leave_approver' has no version 7"),
        (
            "businessRuleTask",
            "wide",
            "camunda:mapDecisionResult 'singleEntry' takes the one output of a decision, but decision "
            "'fee_detail' (version 1) has 2 outputs (code, rate): use singleResult or resultList",
        ),
        (
            "businessRuleTask",
            "no_var",
            "business rule task without camunda:resultVariable: name the variable that receives the "
            "decision's result",
        ),
        (
            "businessRuleTask",
            "bad_map",
            "camunda:mapDecisionResult 'firstEntry' is not one of singleEntry, singleResult, "
            "collectEntries, resultList",
        ),
        (
            "businessRuleTask",
            "tag",
            "camunda:decisionRefBinding 'versionTag' is not supported (use latest, or version with "
            "camunda:decisionRefVersion)",
        ),
        (
            "businessRuleTask",
            "expr",
            "camunda:decisionRef '${which}': an expression cannot choose the decision",
        ),
    ]
    assert ProcessVersion.objects.count() == before


def test_deploy_pins_the_latest_decision_version_in_the_metadata(people: SimpleNamespace, it: Staff) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver())
    rules.decision_deploy(actor=it.user, xml=leave_approver(vice_after=10))
    version = deploy_process(people, LEAVE)
    assert version.metadata["decision_tasks"] == {
        "decide": {
            "id": "decide",
            "name": "Decide",
            "decision": "leave_approver",
            "binding": "latest",
            "version": 2,
            "result_variable": "approver_level",
            "mapping": "singleEntry",
            "process_id": "dmn_leave",
        }
    }
    assert version.metadata["steps"]["decide"]["type"] == "businessRuleTask"


# --- run ------------------------------------------------------------------------------------------


def test_a_leave_gateway_branches_on_the_decision(people: SimpleNamespace, it: Staff) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver())
    deploy_process(people, LEAVE)
    short = start(people, "dmn_leave", leave_type="sick", days=2)
    long = start(people, "dmn_leave", leave_type="sick", days=5)
    services.task_act(actor=people.nurse.user, task=open_task(short, "submit"), action="complete")
    services.task_act(actor=people.nurse.user, task=open_task(long, "submit"), action="complete")
    assert open_steps(short) == [("head_approve", "head")]
    assert open_steps(long) == [("vice_approve", "vice")]
    short.refresh_from_db()
    long.refresh_from_db()
    assert short.variables["approver_level"] == "head"
    assert long.variables["approver_level"] == "vice"
    assert decision_events(long) == [
        (
            "decide",
            "Decide",
            {
                "decision": "leave_approver",
                "version": 1,
                "result_variable": "approver_level",
                "mapping": "singleEntry",
                "value": "vice",
                "matched_rules": [2],
            },
        )
    ]
    kinds = list(ProcessEvent.objects.filter(instance=long).order_by("id").values_list("kind", flat=True))
    assert kinds == ["started", "task_created", "completed", "decision", "task_created"]


def test_a_running_instance_keeps_the_decision_version_it_was_deployed_with(
    people: SimpleNamespace, it: Staff
) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver())  # v1: more than 3 days → vice dean
    deploy_process(people, LEAVE)
    before = start(people, "dmn_leave", leave_type="sick", days=5)
    rules.decision_deploy(actor=it.user, xml=leave_approver(vice_after=10))  # v2: more than 10
    services.task_act(actor=people.nurse.user, task=open_task(before, "submit"), action="complete")
    assert open_steps(before) == [("vice_approve", "vice")]  # still v1

    deploy_process(people, LEAVE)  # the next process version pins v2
    after = start(people, "dmn_leave", leave_type="sick", days=5)
    services.task_act(actor=people.nurse.user, task=open_task(after, "submit"), action="complete")
    assert open_steps(after) == [("head_approve", "head")]
    assert [e[2]["version"] for e in decision_events(before) + decision_events(after)] == [1, 2]

    clear_definition_cache()  # reloaded from the database, the pin holds
    assert parsed_version(before.version).decision_tasks["decide"].version == 1


def test_an_explicit_version_binding(people: SimpleNamespace, it: Staff) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver())
    rules.decision_deploy(actor=it.user, xml=leave_approver(vice_after=10))
    xml = bpmn(
        "dmn_v1",
        chain(
            brt(
                "decide",
                "leave_approver",
                "level",
                "singleEntry",
                'camunda:decisionRefBinding="version" camunda:decisionRefVersion="1"',
            ),
            CHECK,
        ),
    )
    version = deploy_process(people, xml)
    assert version.metadata["decision_tasks"]["decide"]["version"] == 1
    instance = start(people, "dmn_v1", leave_type="sick", days=5)
    assert instance.variables["level"] == "vice"


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (
            50,
            {
                "codes": ["A"],
                "rows": [{"code": "A"}],
                "detail": {"code": "A", "rate": 0.1},
                "code": "A",
            },
        ),
        (-1, {"codes": [], "rows": [], "detail": None, "code": None}),
    ],
)
def test_every_result_mapping(
    people: SimpleNamespace, it: Staff, amount: int, expected: dict[str, Any]
) -> None:
    rules.decision_deploy(actor=it.user, xml=FEES)
    deploy_process(
        people,
        bpmn(
            "dmn_modes",
            chain(
                brt("codes", "fee_codes", "codes", "collectEntries"),
                brt("rows", "fee_codes", "rows", "resultList"),
                brt("detail", "fee_detail", "detail", "singleResult"),
                brt("code", "fee_codes", "code", "singleEntry"),
                CHECK,
            ),
        ),
    )
    instance = start(people, "dmn_modes", amount=amount)
    assert {k: instance.variables[k] for k in expected} == expected
    assert [e[0] for e in decision_events(instance)] == ["codes", "rows", "detail", "code"]


def test_collect_entries_and_result_list_of_several_rules(people: SimpleNamespace, it: Staff) -> None:
    rules.decision_deploy(actor=it.user, xml=FEES)
    deploy_process(
        people,
        bpmn(
            "dmn_many",
            chain(
                brt("codes", "fee_codes", "codes", "collectEntries"),
                brt("rows", "fee_codes", "rows", "resultList"),
                brt("detail", "fee_detail", "detail", "singleResult"),
                CHECK,
            ),
        ),
    )
    instance = start(people, "dmn_many", amount=150)
    assert instance.variables["codes"] == ["A", "B"]
    assert instance.variables["rows"] == [{"code": "A"}, {"code": "B"}]
    assert instance.variables["detail"] == {"code": "B", "rate": 0.2}


def test_a_decision_requiring_another(people: SimpleNamespace, it: Staff) -> None:
    deployed = rules.decision_deploy(actor=it.user, xml=DISCOUNT)
    assert [v.definition.key for v in deployed] == ["customer_level", "discount"]
    deploy_process(people, bpmn("dmn_drd", chain(brt("rate", "discount", "rate", "singleEntry"), CHECK)))
    gold = start(people, "dmn_drd", points=1500)
    silver = start(people, "dmn_drd", points=20)
    assert (gold.variables["rate"], silver.variables["rate"]) == (0.15, 0.05)


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("english")
def test_an_evaluation_error_fails_the_action_that_reached_it(people: SimpleNamespace, it: Staff) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver(overlap=True))
    deploy_process(people, LEAVE)
    instance = start(people, "dmn_leave", leave_type="annual", days=12)
    task = open_task(instance, "submit")
    counts = snapshot()
    with pytest.raises(FlowInputError) as info:
        services.task_act(actor=people.nurse.user, task=task, action="complete")
    assert str(info.value.message) == (
        "Step “Decide (decide)” could not run: decision 'leave_approver' (version 1) has no answer: "
        "the hit policy UNIQUE allows one matching rule, but rules 4, 5 matched"
    )
    assert snapshot() == counts  # nothing saved: the submit task is still open
    assert open_steps(instance) == [("submit", "nurse")]


@pytest.mark.usefixtures("english")
def test_a_result_that_does_not_fit_its_mapping_refuses_the_start(people: SimpleNamespace, it: Staff) -> None:
    rules.decision_deploy(actor=it.user, xml=FEES)
    deploy_process(people, bpmn("dmn_one", chain(brt("code", "fee_codes", "code", "singleEntry"), CHECK)))
    with pytest.raises(FlowInputError) as info:
        start(people, "dmn_one", amount=150)
    assert str(info.value.message) == (
        "Step “Code (code)” could not run: the result of decision 'fee_codes' (version 1): "
        "singleEntry needs at most one result, but the decision gave 2 (rules 1, 2)"
    )
    assert not ProcessInstance.objects.filter(definition__key="dmn_one").exists()


def test_an_evaluation_error_in_the_worker_opens_an_incident(
    people: SimpleNamespace, it: Staff, clock: FakeClock
) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver(overlap=True))
    xml = bpmn(
        "dmn_timer",
        chain(
            '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>"
            "</bpmn:intermediateCatchEvent>",
            brt("decide", "leave_approver", "level", "singleEntry"),
            CHECK,
        ),
    )
    deploy_process(people, xml)
    instance = start(people, "dmn_timer", leave_type="annual", days=12)
    clock.advance(hours=2)
    services.flow_tick(now=clock.now())
    instance.refresh_from_db()
    incident = Incident.objects.get(instance=instance)
    assert (incident.status, incident.step_id) == (IncidentStatus.OPEN, "decide")
    assert "decision 'leave_approver' (version 1) has no answer" in incident.message
    assert (instance.status, instance.has_incident) == (InstanceStatus.RUNNING, True)
    assert open_steps(instance) == []


# --- the mapping alone ----------------------------------------------------------------------------


def result(value: Any, selected: list[int]) -> DecisionResult:
    return DecisionResult("d", "D", "COLLECT", "", value, {}, [], selected)


@pytest.mark.usefixtures("english")
def test_map_decision_result_follows_camunda() -> None:
    two = result([{"a": 1, "b": 2}], [1])
    assert map_decision_result(two, "singleResult") == ({"a": 1, "b": 2}, None)
    assert map_decision_result(two, "resultList") == ([{"a": 1, "b": 2}], None)
    value, problem = map_decision_result(two, "collectEntries")
    assert value is None and problem is not None
    assert problem.english == "collectEntries needs one output per result, but a result has 2 (a, b)"
    assert map_decision_result(result({"total": 7}, [1, 2]), "singleEntry") == (7, None)  # an aggregate
    assert map_decision_result(result(None, []), "singleEntry") == (None, None)
    many = result([{"a": 1}, {"a": 2}], [1, 2])
    assert map_decision_result(many, "collectEntries") == ([1, 2], None)
    _value, problem = map_decision_result(many, "singleResult")
    assert problem is not None
    assert problem.english == "singleResult needs at most one result, but the decision gave 2 (rules 1, 2)"


def test_deploy_problems_and_failures_read_in_chinese(people: SimpleNamespace, it: Staff) -> None:
    rules.decision_deploy(actor=it.user, xml=FEES)
    with pytest.raises(DefinitionInvalid) as info:
        deploy_process(people, bpmn("dmn_zh", chain(brt("d", "missing", "x", "singleEntry"), CHECK)))
    assert [p.message for p in info.value.problems] == ["决策“missing”尚未部署（请先部署其 DMN 文件）"]
    deploy_process(people, bpmn("dmn_zh", chain(brt("code", "fee_codes", "code", "singleEntry"), CHECK)))
    with pytest.raises(FlowInputError) as failed:
        start(people, "dmn_zh", amount=150)
    assert str(failed.value.message).endswith(
        "决策“fee_codes”（版本 1）的结果：singleEntry 最多只能有一个结果，但决策给出了 2 个（规则 1, 2）"
    )


def test_a_called_process_evaluates_the_version_pinned_by_its_caller(
    people: SimpleNamespace, it: Staff
) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver())
    called = (
        '<bpmn:startEvent id="c_start" />'
        + brt("decide", "leave_approver", "level", "singleEntry")
        + '<bpmn:endEvent id="c_end" />'
        '<bpmn:sequenceFlow id="c1" sourceRef="c_start" targetRef="decide" />'
        '<bpmn:sequenceFlow id="c2" sourceRef="decide" targetRef="c_end" />'
    )
    deploy_process(people, bpmn("dmn_called", called))
    rules.decision_deploy(actor=it.user, xml=leave_approver(vice_after=10))
    caller = deploy_process(
        people, bpmn("dmn_caller", chain('<bpmn:callActivity id="call" calledElement="dmn_called" />', CHECK))
    )
    assert caller.metadata["decision_tasks"]["decide"]["version"] == 2
    instance = start(people, "dmn_caller", leave_type="sick", days=5)
    assert [e[2]["value"] for e in decision_events(instance)] == ["head"]  # v2: vice after 10 days


def test_the_history_shows_the_decision(people: SimpleNamespace, it: Staff, client: Any) -> None:
    rules.decision_deploy(actor=it.user, xml=FEES)
    codes = brt("codes", "fee_codes", "codes", "collectEntries")
    deploy_process(people, bpmn("dmn_page", chain(codes, CHECK)))
    instance = start(people, "dmn_page", amount=150)
    client.force_login(people.nurse.user)
    page = client.get(reverse("flow:instance_detail", args=[instance.pk])).content.decode()
    assert "已执行决策" in page
    assert "决策 fee_codes（版本 1）→ codes：" in page
    assert "[&#x27;A&#x27;, &#x27;B&#x27;]" in page


def test_a_migrated_instance_takes_the_decision_version_of_its_new_process_version(
    people: SimpleNamespace, it: Staff
) -> None:
    rules.decision_deploy(actor=it.user, xml=leave_approver())
    deploy_process(people, LEAVE)
    instance = start(people, "dmn_leave", leave_type="sick", days=5)
    rules.decision_deploy(actor=it.user, xml=leave_approver(vice_after=10))
    newer = deploy_process(people, LEAVE)
    services.instance_migrate(actor=people.admin.user, instance=instance, version=newer)
    services.task_act(actor=people.nurse.user, task=open_task(instance, "submit"), action="complete")
    assert open_steps(instance) == [("head_approve", "head")]
    assert [e[2]["version"] for e in decision_events(instance)] == [2]
