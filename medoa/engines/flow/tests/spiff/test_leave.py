"""The leave model: submit → department head → vice dean when days > 3; rejection ends it."""

from __future__ import annotations

import json

import pytest

from medoa.engines.flow.spiff import ParsedDefinition, UserTaskInfo, Workflow, parse_definition

from .bpmn import read


@pytest.fixture(scope="module")
def leave() -> ParsedDefinition:
    return parse_definition(read("leave.bpmn"))


def run(parsed: ParsedDefinition, variables: dict, votes: list[bool], *, persist: bool = True) -> tuple:
    wf = Workflow.start(parsed, variables)
    path = []
    while not wf.completed:
        (task,) = wf.ready_user_tasks()
        path.append(task.step_id)
        if persist:
            wf = Workflow.load(parsed, json.loads(json.dumps(wf.dump())))
        wf.complete_user_task(task.spiff_id, {"approved": votes[len(path) - 1]})
    return path, wf


def test_metadata_reads_camunda_assignment_form_keys_and_properties(leave: ParsedDefinition) -> None:
    # given the leave model / when parsed / then
    assert leave.process_id == "leave"
    assert leave.name == "Leave request"
    assert leave.start_form_key == "leave_form"
    assert leave.initiator_variable == "initiator"
    assert sorted(leave.user_tasks) == ["head_approve", "submit", "vice_approve"]
    assert leave.user_tasks["head_approve"] == UserTaskInfo(
        id="head_approve",
        name="Dept head approves",
        assignee=None,
        candidate_users=["alice", "${deputy}"],
        candidate_groups=["dept_head", "hr"],
        form_key="approve_form",
        due_date="P2D",
        countersign=None,
        properties={"escalation": "notify_leader", "remind_before": "PT1H"},
        process_id="leave",
    )
    assert leave.user_tasks["submit"].assignee == "${initiator}"
    assert leave.service_tasks == {}
    assert leave.called_processes == set()
    assert leave.timer_start is None
    assert leave.message_starts == set()
    assert leave.message_catches == set()
    assert leave.metadata["user_tasks"]["vice_approve"]["candidate_groups"] == ["vice_dean"]
    assert leave.metadata["steps"]["gw"] == {"name": "gw", "type": "exclusiveGateway", "process_id": "leave"}
    assert json.loads(json.dumps(leave.metadata)) == leave.metadata


def test_short_leave_needs_only_the_department_head(leave: ParsedDefinition) -> None:
    path, wf = run(leave, {"initiator": "bob", "days": 2}, [True, True])
    assert path == ["submit", "head_approve"]
    assert wf.completed is True
    assert wf.variables() == {"initiator": "bob", "days": 2, "approved": True}


def test_long_leave_goes_to_the_vice_dean(leave: ParsedDefinition) -> None:
    path, wf = run(leave, {"initiator": "bob", "days": 5}, [True, True, True])
    assert path == ["submit", "head_approve", "vice_approve"]
    assert wf.variables()["approved"] is True


def test_rejection_by_the_head_ends_the_process(leave: ParsedDefinition) -> None:
    path, wf = run(leave, {"initiator": "bob", "days": 5}, [True, False])
    assert path == ["submit", "head_approve"]
    assert wf.completed is True
    assert wf.variables()["approved"] is False


def test_rejection_by_the_vice_dean(leave: ParsedDefinition) -> None:
    path, wf = run(leave, {"initiator": "bob", "days": 9}, [True, True, False], persist=False)
    assert path == ["submit", "head_approve", "vice_approve"]
    assert wf.completed is True


def test_ready_task_carries_its_data_and_a_stable_id_across_load(leave: ParsedDefinition) -> None:
    # given a started instance
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5, "reason": "flu"})
    (submit,) = wf.ready_user_tasks()
    # then
    assert submit.step_id == "submit"
    assert submit.name == "Submit"
    assert submit.data == {"initiator": "bob", "days": 5, "reason": "flu"}
    assert submit.countersign_parent is None
    assert submit.countersign_item is None
    assert wf.completed is False
    assert wf.variables() == {"initiator": "bob", "days": 5, "reason": "flu"}
    # when it is dumped and loaded
    again = Workflow.load(leave, wf.dump())
    # then the task keeps its id
    assert [t.spiff_id for t in again.ready_user_tasks()] == [submit.spiff_id]
    again.complete_user_task(submit.spiff_id, {"approved": True, "comment": "please"})
    (head,) = again.ready_user_tasks()
    assert head.step_id == "head_approve"
    assert head.data == {
        "initiator": "bob",
        "days": 5,
        "reason": "flu",
        "approved": True,
        "comment": "please",
    }
