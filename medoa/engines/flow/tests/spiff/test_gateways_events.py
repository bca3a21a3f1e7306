"""Parallel and inclusive gateways, message catch events, call activities, script tasks."""

from __future__ import annotations

import pytest

from medoa.engines.flow.registry import service_functions
from medoa.engines.flow.spiff import DefinitionInvalid, EngineError, Workflow, parse_definition

from .bpmn import chain, doc, flow, proc, user


def steps(wf: Workflow) -> list[str]:
    return sorted(t.step_id for t in wf.ready_user_tasks())


def complete(wf: Workflow, step: str, **data: object) -> None:
    (task,) = [t for t in wf.ready_user_tasks() if t.step_id == step]
    wf.complete_user_task(task.spiff_id, dict(data))


PARALLEL = doc(
    proc(
        "p",
        '<bpmn:startEvent id="s"/><bpmn:parallelGateway id="fork"/>'
        + user("a")
        + user("b")
        + '<bpmn:parallelGateway id="join"/>'
        + user("c")
        + '<bpmn:endEvent id="e"/>'
        + chain("s", "fork", "a", "join", "c", "e")
        + flow("f2", "fork", "b")
        + flow("f3", "b", "join"),
    )
)


def test_parallel_gateway_waits_for_both_branches() -> None:
    wf = Workflow.start(parse_definition(PARALLEL), {})
    assert steps(wf) == ["a", "b"]
    complete(wf, "a", from_a=1)
    assert steps(wf) == ["b"]
    complete(wf, "b", from_b=2)
    assert steps(wf) == ["c"]
    assert wf.variables() == {"from_a": 1, "from_b": 2}
    complete(wf, "c")
    assert wf.completed is True


def inclusive(x: int) -> Workflow:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:inclusiveGateway id="fork" default="f3"/>'
            + user("c1")
            + user("c2")
            + user("c3")
            + '<bpmn:inclusiveGateway id="join"/><bpmn:endEvent id="e"/>'
            + flow("f0", "s", "fork")
            + flow("f1", "fork", "c1", "x &gt; 1")
            + flow("f2", "fork", "c2", "${x &gt; 3}")
            + flow("f3", "fork", "c3")
            + flow("g1", "c1", "join")
            + flow("g2", "c2", "join")
            + flow("g3", "c3", "join")
            + chain("join", "e"),
        )
    )
    return Workflow.start(parse_definition(xml), {"x": x})


def test_inclusive_gateway_takes_every_true_branch() -> None:
    wf = inclusive(5)
    assert steps(wf) == ["c1", "c2"]
    complete(wf, "c1")
    assert wf.completed is False
    complete(wf, "c2")
    assert wf.completed is True


def test_inclusive_gateway_one_branch_and_default() -> None:
    assert steps(inclusive(2)) == ["c1"]
    assert steps(inclusive(0)) == ["c3"]


def test_condition_on_a_missing_variable_is_an_engine_error() -> None:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="gw" default="f2"/>'
            + '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
            + chain("s", "gw")
            + flow("f1", "gw", "e1", "amount &gt; 100")
            + flow("f2", "gw", "e2"),
        )
    )
    with pytest.raises(EngineError) as info:
        Workflow.start(parse_definition(xml), {})
    assert info.value.step_id == "gw"
    assert "name 'amount' is not defined" in info.value.message


MESSAGES = doc(
    '<bpmn:message id="m_lab" name="lab_result"/>',
    proc(
        "p",
        """<bpmn:startEvent id="s"/>
        <bpmn:intermediateCatchEvent id="wait_lab"><bpmn:messageEventDefinition messageRef="m_lab"/>
        </bpmn:intermediateCatchEvent>"""
        + user("review")
        + '<bpmn:endEvent id="e"/>'
        + chain("s", "wait_lab", "review", "e"),
    ),
)


def test_message_catch_merges_the_payload_into_the_variables() -> None:
    # given an instance waiting for a message
    parsed = parse_definition(MESSAGES)
    assert parsed.message_catches == {"lab_result"}
    wf = Workflow.start(parsed, {"order": "A1"})
    assert wf.waiting_messages() == {"lab_result"}
    # when another message is sent, nothing happens
    assert wf.send_message("other", {"x": 1}) is False
    # when the awaited message arrives (after a save and load)
    wf = Workflow.load(parsed, wf.dump())
    assert wf.send_message("lab_result", {"value": 7.2, "critical": True}) is True
    # then its variables are the instance's
    (review,) = wf.ready_user_tasks()
    assert review.step_id == "review"
    assert review.data == {"order": "A1", "value": 7.2, "critical": True}
    assert wf.waiting_messages() == set()
    assert wf.send_message("lab_result", {}) is False


def test_message_start_event_waits_for_its_message() -> None:
    xml = doc(
        '<bpmn:message id="m" name="referral"/>',
        proc(
            "p",
            '<bpmn:startEvent id="s"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>'
            + user("triage")
            + '<bpmn:endEvent id="e"/>'
            + chain("s", "triage", "e"),
        ),
    )
    parsed = parse_definition(xml)
    assert parsed.message_starts == {"referral"}
    assert parsed.message_catches == set()
    wf = Workflow.start(parsed, {"ward": "W1"})
    assert wf.waiting_messages() == {"referral"}
    assert wf.send_message("referral", {"patient": "P9"}) is True
    assert wf.ready_user_tasks()[0].data == {"ward": "W1", "patient": "P9"}


def test_message_throw_and_receive_task_inside_one_instance() -> None:
    xml = doc(
        '<bpmn:message id="m" name="ping"/>',
        proc(
            "p",
            """<bpmn:startEvent id="s"/><bpmn:parallelGateway id="fork"/>
            <bpmn:receiveTask id="wait" messageRef="m"/>
            <bpmn:intermediateThrowEvent id="send"><bpmn:messageEventDefinition messageRef="m"
               camunda:expression="${{'pong': order}}"/></bpmn:intermediateThrowEvent>
            <bpmn:parallelGateway id="join"/>"""
            + user("after")
            + '<bpmn:endEvent id="e"/>'
            + chain("s", "fork", "wait", "join", "after", "e")
            + flow("f1", "fork", "send")
            + flow("f2", "send", "join"),
        ),
    )
    wf = Workflow.start(parse_definition(xml), {"order": "A1"})
    assert steps(wf) == ["after"]
    assert wf.variables()["pong"] == "A1"


MAIN = doc(
    proc(
        "main",
        '<bpmn:startEvent id="s"/><bpmn:callActivity id="call" calledElement="review_proc"/>'
        + user("after", "${initiator}")
        + '<bpmn:endEvent id="e"/>'
        + chain("s", "call", "after", "e"),
    )
)
REVIEW = doc(
    proc(
        "review_proc",
        '<bpmn:startEvent id="ss"/>'
        + user("review", "${reviewer}")
        + '<bpmn:endEvent id="se"/>'
        + chain("ss", "review", "se"),
    )
)


def test_call_activity_runs_the_called_process() -> None:
    # given a process calling another one
    parsed = parse_definition(MAIN, called={"review_proc": REVIEW})
    assert parsed.called_processes == {"review_proc"}
    assert sorted(parsed.user_tasks) == ["after", "review"]
    assert parsed.user_tasks["review"].process_id == "review_proc"
    assert parsed.user_tasks["review"].assignee == "${reviewer}"
    wf = Workflow.start(parsed, {"reviewer": "carol", "initiator": "bob"})
    # then the called process's task is ready with the caller's data
    (review,) = wf.ready_user_tasks()
    assert review.step_id == "review"
    assert review.data == {"reviewer": "carol", "initiator": "bob"}
    wf = Workflow.load(parsed, wf.dump())
    wf.complete_user_task(review.spiff_id, {"reviewed": True})
    # and its result comes back
    (after,) = wf.ready_user_tasks()
    assert after.step_id == "after"
    assert after.data["reviewed"] is True


def test_call_activity_target_must_be_provided() -> None:
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(MAIN)
    assert [(p.element_id, p.element_type, p.message_en) for p in info.value.problems] == [
        ("call", "callActivity", "called process 'review_proc' is not deployed")
    ]


def test_second_process_in_the_file_is_available_to_call_activities() -> None:
    xml = MAIN.replace("</bpmn:definitions>", REVIEW.split("?>", 1)[1].split(">", 1)[1])
    parsed = parse_definition(xml)
    assert parsed.process_id == "main"
    wf = Workflow.start(parsed, {"reviewer": "carol", "initiator": "bob"})
    assert steps(wf) == ["review"]


SCRIPT = doc(
    proc(
        "p",
        '<bpmn:startEvent id="s"/><bpmn:scriptTask id="calc"><bpmn:script>flowtest.double</bpmn:script>'
        "</bpmn:scriptTask>" + user("check") + '<bpmn:endEvent id="e"/>' + chain("s", "calc", "check", "e"),
    )
)


@pytest.fixture
def double() -> object:
    def fn(variables: dict) -> dict:
        return {"doubled": variables["n"] * 2}

    service_functions.register("flowtest.double", fn)
    yield fn
    service_functions._items.pop("flowtest.double")


def test_script_task_runs_a_registered_function(double: object) -> None:
    parsed = parse_definition(SCRIPT, functions=["flowtest.double"])
    wf = Workflow.start(parsed, {"n": 21})
    assert wf.ready_user_tasks()[0].data == {"n": 21, "doubled": 42}


def test_script_task_naming_an_unknown_function_is_refused() -> None:
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(SCRIPT, functions=["other"])
    assert [(p.element_id, p.message_en) for p in info.value.problems] == [
        (
            "calc",
            "script tasks run a registered function named by their script; 'flowtest.double' is not one "
            "(no code from a model ever runs)",
        )
    ]


def test_service_task_waits_for_the_worker() -> None:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/>'
            '<bpmn:serviceTask id="notify" camunda:type="external" camunda:topic="finance.notify"/>'
            + user("after")
            + '<bpmn:endEvent id="e"/>'
            + chain("s", "notify", "after", "e"),
        )
    )
    parsed = parse_definition(xml)
    assert parsed.service_tasks == {"notify": "finance.notify"}
    wf = Workflow.start(parsed, {"amount": 10})
    (job,) = wf.ready_service_tasks()
    assert (job.step_id, job.function, job.data) == ("notify", "finance.notify", {"amount": 10})
    assert wf.ready_user_tasks() == []
    wf = Workflow.load(parsed, wf.dump())
    wf.complete_service_task(job.spiff_id, {"notified": True})
    assert wf.ready_service_tasks() == []
    assert wf.ready_user_tasks()[0].data == {"amount": 10, "notified": True}
    with pytest.raises(EngineError):
        wf.complete_service_task(job.spiff_id, {})
