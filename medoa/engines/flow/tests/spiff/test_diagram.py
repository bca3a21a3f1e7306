"""What the diagram colours: the elements completed, the sequence flows taken, the events waited at."""

from __future__ import annotations

import json

from lxml import etree

from medoa.engines.flow.spiff import Workflow, parse_definition

from .bpmn import chain, doc, flow, proc, read, user
from .conftest import FakeClock
from .test_gateways_events import MESSAGES, PARALLEL, complete
from .test_timers import boundary


def test_leave_path_with_start_gateway_and_end_event() -> None:
    # given a short leave approved by the head
    parsed = parse_definition(read("leave.bpmn"))
    wf = Workflow.start(parsed, {"initiator": "bob", "days": 1})
    assert (wf.completed_steps(), wf.waiting_steps()) == (["start"], [])
    flows_at_submit = wf.taken_flows()
    complete(wf, "submit")
    complete(wf, "head_approve", approved=True)

    # then the start event, the tasks, the gateway and the end event reached are done, and the
    # path goes through the flow the gateway chose (not the vice dean's nor the rejection's)
    assert wf.completed_steps() == ["end_ok", "gw", "head_approve", "start", "submit"]
    flows = wf.taken_flows()
    ids = {el: fid for fid, el in _flows_by_target(read("leave.bpmn")).items()}
    assert flows_at_submit == [ids["submit"]]
    assert set(flows) == {ids["submit"], ids["head_approve"], ids["gw"], ids["end_ok"]}
    assert flows == sorted(flows)


def _flows_by_target(xml: str) -> dict[str, str]:
    """flow id → target id (the leave model has one flow into each target used here)."""
    root = etree.fromstring(xml.encode())
    return {
        el.get("id"): el.get("targetRef")
        for el in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}sequenceFlow")
    }


def test_parallel_join_counts_every_branch_that_arrived() -> None:
    parsed = parse_definition(PARALLEL)
    wf = Workflow.start(parsed, {})
    complete(wf, "a")
    # branch a waits at the join: the flow into it is taken, b's is not yet
    assert "f_a_join" in wf.taken_flows() and "f3" not in wf.taken_flows()
    complete(wf, "b")

    # after a save and load, both flows into the join are taken and the join is done
    again = Workflow.load(parsed, json.loads(json.dumps(wf.dump())))
    assert again.taken_flows() == ["f2", "f3", "f_a_join", "f_fork_a", "f_join_c", "f_s_fork"]
    assert {"fork", "join", "a", "b"} <= set(again.completed_steps())


def test_waiting_timers_and_messages(clock: FakeClock) -> None:
    # a boundary timer waits on its active task
    wf = Workflow.start(parse_definition(boundary(True)), {})
    assert wf.waiting_steps() == ["bt"]
    clock.advance(hours=3)
    wf.refresh_timers()
    # when it fires, the task is interrupted: the timer and the path from it are done
    assert wf.waiting_steps() == []
    assert "bt" in wf.completed_steps()
    assert wf.taken_flows() == ["f_bt_escalate", "f_s_approve"]

    # a message catch waits until its message comes
    parsed = parse_definition(MESSAGES)
    wf = Workflow.start(parsed, {})
    assert (wf.waiting_steps(), wf.taken_flows()) == (["wait_lab"], ["f_s_wait_lab"])
    wf.send_message("lab_result", {})
    assert wf.waiting_steps() == []
    assert wf.taken_flows() == ["f_s_wait_lab", "f_wait_lab_review"]


def test_path_inside_an_embedded_subprocess() -> None:
    sub = (
        '<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>'
        + user("inner")
        + '<bpmn:endEvent id="se"/>'
        + chain("ss", "inner", "se")
        + "</bpmn:subProcess>"
    )
    parsed = parse_definition(
        doc(
            proc(
                "p",
                '<bpmn:startEvent id="s"/>'
                + sub
                + user("after")
                + chain("s", "sub")
                + flow("out", "sub", "after")
                + '<bpmn:endEvent id="e"/>'
                + chain("after", "e"),
            )
        )
    )
    wf = Workflow.start(parsed, {})
    complete(wf, "inner")

    assert {"ss", "inner", "se", "sub"} <= set(wf.completed_steps())
    assert wf.taken_flows() == ["f_inner_se", "f_s_sub", "f_ss_inner", "out"]
