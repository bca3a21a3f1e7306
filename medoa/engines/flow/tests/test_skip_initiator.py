"""No self-approval: the user-task property ``medoa:skipInitiator``.

``next`` — a step whose only approver would be the initiator is passed on (approved by the system,
with ``self_approval_skipped`` = the step id, recorded in the history); ``leader`` — it goes to the
initiator's leader one level up; among several candidates the initiator is simply left out.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from medoa.engines.flow import services
from medoa.engines.flow.choices import EventKind, InstanceStatus, TaskOutcome, TaskStatus
from medoa.engines.flow.errors import FlowInputError
from medoa.engines.flow.models import HumanTask, ProcessEvent

from .conftest import open_steps


def model(rule: str, first: str = 'camunda:candidateGroups="head_nurse"') -> str:
    prop = f'<camunda:property name="medoa:skipInitiator" value="{rule}" />' if rule else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="d" targetNamespace="t">
  <bpmn:process id="skip_test" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="第一级" {first}>
      <bpmn:extensionElements><camunda:properties>{prop}</camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gw" default="f4"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="second" name="第二级" camunda:candidateGroups="vice_dean">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first" />
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="gw" />
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="second">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >${{approved and self_approval_skipped == "first"}}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="end" />
    <bpmn:sequenceFlow id="f5" sourceRef="second" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def deploy(people: SimpleNamespace, xml: str) -> None:
    services.definition_deploy(actor=people.admin.user, xml=xml)


def start(by: object) -> object:
    return services.instance_start(
        actor=by.user,  # type: ignore[attr-defined]
        definition_key="skip_test",
        variables={"self_approval_skipped": ""},
    )


def test_next_passes_the_initiators_own_step_to_the_next_level(people: SimpleNamespace) -> None:
    deploy(people, model("next"))

    instance = start(people.head_nurse)

    assert open_steps(instance) == [("second", "vice")]  # 第二级: the vice dean
    passed = HumanTask.objects.get(instance=instance, task_def_id="first")
    assert (passed.status, passed.outcome, passed.completed_by) == (
        TaskStatus.COMPLETED,
        TaskOutcome.APPROVED,
        None,
    )
    event = ProcessEvent.objects.get(instance=instance, kind=EventKind.APPROVED)
    assert event.data == {"automatic": True, "reason": "initiator"}
    assert event.actor is None
    instance.refresh_from_db()
    assert instance.variables["self_approval_skipped"] == "first"


def test_next_changes_nothing_when_someone_else_approves(people: SimpleNamespace) -> None:
    deploy(people, model("next"))

    instance = start(people.nurse)

    assert open_steps(instance) == [("first", "head_nurse")]


def test_without_the_property_the_initiator_approves_their_own_step(people: SimpleNamespace) -> None:
    deploy(people, model(""))

    instance = start(people.head_nurse)

    assert open_steps(instance) == [("first", "head_nurse")]


def test_leader_gives_the_step_to_the_initiators_leader(people: SimpleNamespace) -> None:
    deploy(people, model("leader", 'camunda:candidateGroups="dept_head"'))

    instance = start(people.head)

    # the head of 心血管内科 has no head above in the test hospital but the dean at the root
    assert open_steps(instance) == [("first", "dean")]


def test_among_candidates_the_initiator_is_left_out(people: SimpleNamespace) -> None:
    deploy(people, model("next", 'camunda:candidateUsers="nurse,nurse2"'))

    instance = start(people.nurse)

    assert open_steps(instance) == [("first", "nurse2")]


def test_when_the_process_ends_by_passing_on_it_is_approved(people: SimpleNamespace) -> None:
    xml = model("next").replace('self_approval_skipped == "first"', "False")
    deploy(people, xml)

    instance = start(people.head_nurse)

    instance.refresh_from_db()
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, "approved")


def test_an_unknown_value_refuses_the_start_and_saves_nothing(people: SimpleNamespace) -> None:
    deploy(people, model("sideways"))

    with pytest.raises(FlowInputError) as err:
        start(people.head_nurse)

    assert "medoa:skipInitiator" in str(err.value.message)
    assert not HumanTask.objects.exists()
