"""The leave model: submit → department head → vice dean when days > 3; rejection ends it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from medoa.engines.flow.spiff import ParsedDefinition, UserTaskInfo, Workflow, parse_definition

from .bpmn import chain, doc, proc, read, user


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


def _jsonb_order(state: dict) -> dict:
    """``state`` with every object's keys as PostgreSQL's jsonb returns them (shorter keys first,
    then bytewise): task ids all have the same length, so the tasks come back sorted by id."""
    if isinstance(state, dict):
        return {k: _jsonb_order(state[k]) for k in sorted(state, key=lambda k: (len(k), k.encode()))}
    if isinstance(state, list):
        return [_jsonb_order(v) for v in state]
    return state


def _children_first(state: dict) -> dict:
    out = dict(state)
    out["tasks"] = dict(reversed(list(state["tasks"].items())))
    out["subprocesses"] = {k: _children_first(v) for k, v in state.get("subprocesses", {}).items()}
    return out


@pytest.mark.parametrize("reorder", [_jsonb_order, _children_first], ids=["jsonb", "children-first"])
def test_load_restores_task_data_whatever_the_order_of_the_saved_tasks(
    leave: ParsedDefinition, reorder: Any
) -> None:
    # given an instance waiting for the head, its state saved with the tasks out of tree order
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5})
    (submit,) = wf.ready_user_tasks()
    wf.complete_user_task(submit.spiff_id, {"reason": "flu"})
    state = reorder(json.loads(json.dumps(wf.dump())))
    assert list(state["tasks"]) != list(wf.dump()["tasks"])
    saved = json.dumps(state)

    # when it is loaded
    again = Workflow.load(leave, state)

    # then every task has its data (SpiffWorkflow rebuilds it from the parent's), and the
    # state handed in is left as it was
    (head,) = again.ready_user_tasks()
    assert head.data == {"initiator": "bob", "days": 5, "reason": "flu"}
    assert again.variables() == {"initiator": "bob", "days": 5, "reason": "flu"}
    assert json.dumps(state) == saved
    again.complete_user_task(head.spiff_id, {"approved": True})
    (vice,) = again.ready_user_tasks()
    assert vice.data["reason"] == "flu"


def test_load_restores_subprocess_task_data_out_of_order() -> None:
    # given an embedded subprocess waiting at its user task, saved children first
    sub = (
        '<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>'
        + user("inner")
        + '<bpmn:endEvent id="se"/>'
        + chain("ss", "inner", "se")
        + "</bpmn:subProcess>"
    )
    parsed = parse_definition(
        doc(proc("p", '<bpmn:startEvent id="s"/>' + sub + '<bpmn:endEvent id="e"/>' + chain("s", "sub", "e")))
    )
    wf = Workflow.start(parsed, {"ward": "W1", "beds": 3})
    assert wf.dump()["subprocesses"]
    state = _children_first(json.loads(json.dumps(wf.dump())))

    # when it is loaded
    again = Workflow.load(parsed, state)

    # then the inner task still sees the variables
    (inner,) = again.ready_user_tasks()
    assert (inner.step_id, inner.data) == ("inner", {"ward": "W1", "beds": 3})
