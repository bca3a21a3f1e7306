"""The BPMN files from outside the project (../shared/data/bpmn, see its SOURCES.md).

Files that use what MedOA supports deploy (with their companion files as called processes) and run
to their first wait state; the others are refused with the precise reason, naming the element.

Where MedOA differs from the research table (flow-research.md §8), on purpose:

* a user task without any assignment is refused at deploy (nobody would ever see it). Files whose
  ONLY problems are such tasks are also run after giving those tasks a candidate group, to show
  the rest of the model works;
* ``bpmn:task`` and ``bpmn:manualTask`` pass through (Camunda 7's behaviour) instead of waiting;
* JUEL ``!x``/``#{…}`` conditions parse (the expression language translates them), but JUEL
  method calls on Java beans (``${bean.method(x)}``, ``dateTime().plusDays(2)``) are refused;
* a ``camunda:dueDate`` is checked at deploy (ISO 8601 or an expression that parses);
* with several executable processes (collaborations), the first is the process; the others are
  only available to call activities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from medoa.engines.flow.spiff import DefinitionInvalid, Workflow, parse_definition

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
ACTIVITI = "{http://activiti.org/bpmn}"
NO_ASSIGNMENT = "user task without assignment"
NO_RESULT_VARIABLE = "business rule task without camunda:resultVariable"


@dataclass(frozen=True)
class Run:
    """Start with ``variables``; expect these ready user steps, service steps and awaited messages."""

    variables: dict[str, Any] = field(default_factory=dict)
    ready: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    messages: set[str] = field(default_factory=set)
    timer: bool = False


@dataclass(frozen=True)
class Expected:
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (type, id, message start)
    run: Run | None = None  # the file as is (no problems), or after assigning its user tasks
    companions: tuple[str, ...] = ()
    at_least: int = 0  # for the kitchen sink: the problems listed are among at least this many


def unassigned(*ids: str) -> list[tuple[str, str, str]]:
    return [("userTask", i, NO_ASSIGNMENT) for i in ids]


def no_id_flows(count: int) -> list[tuple[str, str, str]]:
    return [("sequenceFlow", "", "bpmn:sequenceFlow without id")] * count


JUEL_DUE = "camunda:dueDate expression 'dateTime()"
EVENT_GATEWAY = (
    "event-gateway__camunda-platform__EventBasedGatewayTest.testCatchSignalAndMessageAndTimer.bpmn20.xml"
)
MI_COMPLETION = (
    "mi-parallel-completion__camunda-platform__"
    "MultiInstanceTest.testParallelUserTasksBasedOnCollection.bpmn20.xml"
)
SAMPLES: dict[str, Expected] = {
    "business-rule-gateway__spiff__ExclusiveGatewayIfElseAndDecision.bpmn": Expected(
        [("businessRuleTask", "TaskDecision", NO_RESULT_VARIABLE)]
    ),
    "business-rule-mi__spiff__DMNMultiInstance.bpmn": Expected(
        [
            ("businessRuleTask", "Task_067fajl", "a multi-instance business rule task is not supported"),
            ("businessRuleTask", "Task_067fajl", NO_RESULT_VARIABLE),
            (
                "scriptTask",
                "Activity_0qh0jpg",
                "script tasks run a registered function named by their script",
            ),
        ]
    ),
    "candidates__camunda-platform__DelegateTaskTest.testGetCandidates.bpmn20.xml": Expected(
        unassigned("task2"), Run(ready=["task1"])
    ),
    "escalation__camunda-platform__TaskServiceTest.handleUserTaskEscalation.bpmn20.xml": Expected(
        unassigned(
            "after-303",
            "after-304",
            "throw-escalation",
            "Task_0k75ype",
            "after-301",
            "after-302",
            "after-305",
            "after-306",
        ),
        Run(ready=["after-303", "after-304", "throw-escalation"]),
    ),
    EVENT_GATEWAY: Expected(no_id_flows(10)),
    "identity-links__camunda-platform__user-task-identity-links.bpmn": Expected(
        unassigned("UserTask_2"), Run(ready=["UserTask_1", "UserTask_2", "UserTask_3"])
    ),
    "invoice-payment-error-escalation__camunda-examples__invoicePayment.bpmn": Expected(
        unassigned("Task_16y91ka", "Task_1a2twqz", "Task_0q869n2"), Run(ready=["Task_16y91ka"])
    ),
    "invoice-signavio__camunda-platform__testInvoiceProcessSignavio.bpmn": Expected(
        [("", "", 'no executable process (isExecutable="true") in this file')]
    ),
    "invoice__camunda-platform__invoice.v1.bpmn": Expected(
        [
            ("dataStore", "FinancialAccountingSystem", "data stores are not supported"),
            (
                "dataStoreReference",
                "DataStoreReference_1",
                "bpmn:dataStoreReference: data stores are not supported",
            ),
            ("userTask", "approveInvoice", JUEL_DUE),
            ("userTask", "prepareBankTransfer", JUEL_DUE),
        ],
        companions=("invoice__camunda-platform__reviewInvoice.bpmn",),
    ),
    "invoice__camunda-platform__invoice.v2.bpmn": Expected(
        [
            ("dataStore", "FinancialAccountingSystem", "data stores are not supported"),
            (
                "dataStoreReference",
                "DataStoreReference_1",
                "bpmn:dataStoreReference: data stores are not supported",
            ),
            ("userTask", "approveInvoice", JUEL_DUE),
            ("userTask", "prepareBankTransfer", JUEL_DUE),
        ],
        companions=("invoice__camunda-platform__reviewInvoice.bpmn",),
    ),
    "invoice__camunda-platform__reviewInvoice.bpmn": Expected(
        [
            (
                "userTask",
                "reviewInvoice",
                "camunda:dueDate expression 'dateTime().plusDays(2).toDate()' does not parse",
            )
        ]
    ),
    "job-announcement__camunda-examples__camunda-testing-job-announcement-publication.bpmn": Expected(
        run=Run(
            {"jobAnnouncementId": 7, "twitter": True, "facebook": False},
            services=["publish_announcement_website"],
        )
    ),
    "job-announcement__camunda-examples__camunda-testing-job-announcement.bpmn": Expected(
        [
            ("userTask", "review", "camunda:assignee expression 'jobAnnouncementService.findRequester"),
            ("userTask", "correct", "camunda:assignee expression 'jobAnnouncementService.findEditor"),
        ],
        companions=("job-announcement__camunda-examples__camunda-testing-job-announcement-publication.bpmn",),
    ),
    "kitchen-sink__bpmnjs__kitchen-sink.bpmn": Expected(
        [
            ("businessRuleTask", "Activity_1ketqts", "business rule task without camunda:decisionRef"),
            ("businessRuleTask", "Activity_1ketqts", NO_RESULT_VARIABLE),
            ("complexGateway", "Gateway_0im7nvs", "bpmn:complexGateway: complex gateways are not supported"),
            ("startEvent", "Event_09uyr4s", "bpmn:compensateEventDefinition is not supported"),
            ("intermediateCatchEvent", "Event_0a3nmhs", "bpmn:linkEventDefinition is not supported"),
            (
                "adHocSubProcess",
                "Activity_08egzqv",
                "bpmn:adHocSubProcess: ad-hoc subprocesses are not supported",
            ),
            ("dataStoreReference", "DataStoreReference_1wvmfek", "bpmn:dataStoreReference: data stores"),
            ("callActivity", "Activity_1ivfc6a", "call activity without calledElement"),
            ("serviceTask", "Activity_1ldvx66", "service task names no function"),
            ("scriptTask", "Activity_011s9cd", "script task without a script"),
            ("userTask", "Activity_1a96i3e", NO_ASSIGNMENT),
        ],
        at_least=40,
    ),
    "loan-granting__camunda-examples__loan-granting.bpmn": Expected(
        [
            (
                "startEvent",
                "StartEvent_1",
                "timeCycle '0/5 0/1 * 1/1 * ?' is a cron expression; cron is not supported",
            )
        ]
    ),
    "message-boundary__spiff__MessageBoundary.bpmn": Expected(
        unassigned("Activity_Interrupt"), Run(ready=["Activity_Interrupt"])
    ),
    "message-correlation__spiff__correlation.bpmn": Expected(run=Run(messages={"proc_2_response"})),
    "message-start__camunda-examples__message_start_process.bpmn": Expected(
        unassigned("UserTask_1"), Run(messages={"instantiationMessage"})
    ),
    "mi-collection__c7to8__MultiInstancesUserTaskCollection.bpmn": Expected(
        unassigned("Activity_Coll_Para_Reviews", "Activity_Coll_Seq_Reviews", "Activity_Final_Review"),
        Run(
            {"listOfColors": ["red", "green"]},
            ready=["Activity_Coll_Para_Reviews", "Activity_Coll_Para_Reviews", "Activity_Coll_Seq_Reviews"],
            timer=True,
        ),
    ),
    MI_COMPLETION: (
        Expected(
            run=Run(
                {"assigneeList": ["kermit", "gonzo", "fozzie", "mispiggy", "bigbird"]}, ready=["miTasks"] * 5
            )
        )
    ),
    "payment-error-boundary__c7to8__payment_process.bpmn": Expected(
        run=Run({"amount": 42}, services=["Activity_0qnr1ol"])
    ),
    "sales-lead-error__camunda-platform__reviewSalesLead.bpmn20.xml": Expected(
        run=Run({"initiator": "kermit"}, ready=["provideNewSalesLead"])
    ),
    "timer-boundary-nonint__spiff__timer-non-interrupt-boundary.bpmn": Expected(
        unassigned("Activity_Work", "GetReason"), Run(ready=["Activity_Work"], timer=True)
    ),
    "timer-start-cycle__spiff__timer-cycle-start.bpmn": Expected(
        [
            (
                "scriptTask",
                "Refill_Coffee",
                "script tasks run a registered function named by their script; 'print('refill count",
            )
        ]
    ),
}


def process_ids(xml: bytes) -> list[str]:
    return [p.get("id") for p in etree.fromstring(xml).iter(f"{BPMN}process") if p.get("id")]


def assign_everyone(xml: bytes) -> bytes:
    """The same model with a candidate group on every user task that has no assignment."""
    root = etree.fromstring(xml)
    for task in root.iter(f"{BPMN}userTask"):
        names = ("assignee", "candidateUsers", "candidateGroups")
        if not any(task.get(f"{ns}{n}") for ns in (CAMUNDA, ACTIVITI) for n in names):
            task.set(f"{CAMUNDA}candidateGroups", "dept_head")
    return etree.tostring(root)


def test_every_sample_file_has_an_expected_outcome(shared_data: Path) -> None:
    files = {p.name for p in (shared_data / "bpmn").iterdir() if p.name != "SOURCES.md"}
    assert files == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_file(shared_data: Path, name: str) -> None:
    folder = shared_data / "bpmn"
    expected = SAMPLES[name]
    xml = (folder / name).read_bytes()
    called = {
        pid: (folder / c).read_bytes()
        for c in expected.companions
        for pid in process_ids((folder / c).read_bytes())
    }

    if expected.problems:
        with pytest.raises(DefinitionInvalid) as info:
            parse_definition(xml, called=called)
        found = [(p.element_type, p.element_id, p.message_en) for p in info.value.problems]
        assert all(p.line for p in info.value.problems if p.element_id), found
        if expected.at_least:
            assert len(found) >= expected.at_least
            for kind, element, start in expected.problems:
                assert any(f[:2] == (kind, element) and f[2].startswith(start) for f in found), (
                    kind,
                    element,
                    found,
                )
        else:
            assert [(k, i) for k, i, _m in found] == [(k, i) for k, i, _m in expected.problems]
            for (_k, _i, message), (_ek, _ei, start) in zip(found, expected.problems, strict=True):
                assert message.startswith(start), (message, start)
        if expected.run is None:
            return
        assert all(m.startswith(NO_ASSIGNMENT) for _k, _i, m in found)
        xml = assign_everyone(xml)

    assert expected.run is not None
    parsed = parse_definition(xml, called=called)
    wf = Workflow.start(parsed, dict(expected.run.variables))
    wf = Workflow.load(parsed, wf.dump())
    assert sorted(t.step_id for t in wf.ready_user_tasks()) == sorted(expected.run.ready)
    assert [t.step_id for t in wf.ready_service_tasks()] == expected.run.services
    assert wf.waiting_messages() == expected.run.messages
    assert (wf.next_due() is not None) is expected.run.timer
    assert wf.completed is False
    for task in wf.ready_user_tasks():
        assert task.step_id in parsed.user_tasks
    for job in wf.ready_service_tasks():
        assert job.function == parsed.service_tasks[job.step_id] != ""


def test_message_start_sample_starts_on_its_message(shared_data: Path) -> None:
    xml = assign_everyone(
        (shared_data / "bpmn" / "message-start__camunda-examples__message_start_process.bpmn").read_bytes()
    )
    parsed = parse_definition(xml)
    assert parsed.message_starts == {"instantiationMessage"}
    wf = Workflow.start(parsed, {})
    assert wf.send_message("instantiationMessage", {"customer": "c1"}) is True
    (task,) = wf.ready_user_tasks()
    assert (task.step_id, task.data) == ("UserTask_1", {"customer": "c1"})


def test_mi_parallel_completion_sample_finishes_at_sixty_percent(shared_data: Path) -> None:
    parsed = parse_definition((shared_data / "bpmn" / MI_COMPLETION).read_bytes())
    wf = Workflow.start(parsed, {"assigneeList": ["kermit", "gonzo", "fozzie", "mispiggy", "bigbird"]})
    for task in wf.ready_user_tasks()[:3]:
        wf.complete_user_task(task.spiff_id, {"approved": True})
    assert wf.completed is True
    values = wf.variables()
    assert (values["approved"], values["nr_completed"], values["nr_instances"]) == (True, 3, 5)
