"""退回 (return to an earlier step), cancel, migration, and the saved state."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest

from medoa.engines.flow.spiff import EngineError, ParsedDefinition, Workflow, parse_definition

from .bpmn import chain, doc, flow, proc, read, user


@pytest.fixture(scope="module")
def leave() -> ParsedDefinition:
    return parse_definition(read("leave.bpmn"))


def complete(wf: Workflow, step: str, **data: object) -> None:
    (task,) = [t for t in wf.ready_user_tasks() if t.step_id == step]
    wf.complete_user_task(task.spiff_id, dict(data))


def steps(wf: Workflow) -> list[str]:
    return sorted(t.step_id for t in wf.ready_user_tasks())


def test_return_to_the_submitter_keeps_the_data(leave: ParsedDefinition) -> None:
    # given a leave at the vice dean
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5})
    (submit,) = wf.ready_user_tasks()
    complete(wf, "submit", reason="flu", approved=True)
    complete(wf, "head_approve", approved=True, head_comment="ok")
    (vice,) = wf.ready_user_tasks()
    assert [s for _id, s in wf.completed_user_steps()] == ["submit", "head_approve"]
    assert wf.completed_user_steps()[0][0] == submit.spiff_id
    assert wf.can_return_to("submit") is True
    assert wf.can_return_to("head_approve") is True
    assert wf.can_return_to("vice_approve") is False
    # when the vice dean returns it to the submitter
    removed = wf.return_to("submit", {"returned_from": "vice_approve"})
    # then the submit step is ready again, with the same spiff id and the data kept
    assert vice.spiff_id in removed
    assert submit.spiff_id not in removed
    (again,) = wf.ready_user_tasks()
    assert again.spiff_id == submit.spiff_id
    assert again.data == {
        "initiator": "bob",
        "days": 5,
        "reason": "flu",
        "approved": True,
        "head_comment": "ok",
        "returned_from": "vice_approve",
    }
    # and the process runs again from there (after a save and load)
    wf = Workflow.load(leave, wf.dump())
    complete(wf, "submit", approved=True)
    assert steps(wf) == ["head_approve"]
    assert [s for _id, s in wf.completed_user_steps()] == ["submit"]


def test_return_is_refused_inside_parallel_branches() -> None:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/>'
            + user("pre")
            + '<bpmn:parallelGateway id="fork"/>'
            + user("a")
            + user("b")
            + '<bpmn:parallelGateway id="join"/>'
            + user("c")
            + '<bpmn:endEvent id="e"/>'
            + chain("s", "pre", "fork", "a", "join", "c", "e")
            + flow("f2", "fork", "b")
            + flow("f3", "b", "join"),
        )
    )
    wf = Workflow.start(parse_definition(xml), {})
    complete(wf, "pre")
    complete(wf, "a")
    # b is still active: returning to a would leave b's token running
    assert wf.can_return_to("a") is False
    with pytest.raises(EngineError, match="a parallel branch that does not follow it is still active"):
        wf.return_to("a", {})
    assert steps(wf) == ["b"]
    # returning to the step before the fork closes both branches
    assert wf.can_return_to("pre") is True
    wf.return_to("pre", {})
    assert steps(wf) == ["pre"]


def test_return_to_a_step_never_completed_is_refused(leave: ParsedDefinition) -> None:
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5})
    with pytest.raises(EngineError, match="has not been completed"):
        wf.return_to("head_approve", {})


def test_cancel_ends_the_instance(leave: ParsedDefinition) -> None:
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5})
    wf.cancel()
    assert wf.completed is True
    assert wf.ready_user_tasks() == []
    wf = Workflow.load(leave, wf.dump())
    assert wf.completed is True
    assert wf.variables()["days"] == 5


def v2_with_hr_record() -> ParsedDefinition:
    xml = read("leave.bpmn").replace(
        '<bpmn:sequenceFlow id="f3" sourceRef="head_approve" targetRef="gw" />',
        '<bpmn:sequenceFlow id="f3" sourceRef="head_approve" targetRef="hr_record" />'
        '<bpmn:userTask id="hr_record" camunda:candidateGroups="hr"/>'
        '<bpmn:sequenceFlow id="f3b" sourceRef="hr_record" targetRef="gw" />',
    )
    return parse_definition(xml)


def test_migrate_to_a_version_with_an_extra_step(leave: ParsedDefinition) -> None:
    # given a v1 instance waiting at the department head
    wf = Workflow.start(leave, {"initiator": "bob", "days": 2})
    complete(wf, "submit", approved=True)
    (head,) = wf.ready_user_tasks()
    v2 = v2_with_hr_record()
    # when it moves to v2
    wf.migrate(v2)
    # then it continues on v2 (the extra step comes after the head)
    wf = Workflow.load(v2, wf.dump())
    assert steps(wf) == ["head_approve"]
    assert wf.ready_user_tasks()[0].spiff_id == head.spiff_id
    complete(wf, "head_approve", approved=True)
    assert steps(wf) == ["hr_record"]
    complete(wf, "hr_record")
    assert wf.completed is True


def test_migrate_is_refused_when_an_active_step_was_removed(leave: ParsedDefinition) -> None:
    wf = Workflow.start(leave, {"initiator": "bob", "days": 2})
    complete(wf, "submit", approved=True)
    before = wf.dump()
    v3 = parse_definition(
        read("leave.bpmn")
        .replace('id="head_approve"', 'id="head_check"')
        .replace('"head_approve"', '"head_check"')
    )
    with pytest.raises(EngineError) as info:
        wf.migrate(v3)
    assert info.value.step_id == "head_approve"
    assert (
        info.value.message == "the new version has no step 'head_approve', which is active in this instance"
    )
    assert wf.dump() == before


def test_state_only_dump_is_smaller_than_the_full_serialization(leave: ParsedDefinition) -> None:
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5, "reason": "x" * 50})
    complete(wf, "submit", approved=True)
    state = json.dumps(wf.dump())
    full = wf.dump_full()
    assert "spec" not in wf.dump()
    assert len(state) < len(full) * 0.6
    assert json.loads(state) == wf.dump()


def test_load_keeps_task_ids_and_state(leave: ParsedDefinition) -> None:
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5})
    complete(wf, "submit", approved=True)
    state = json.loads(json.dumps(wf.dump()))
    copy = dict(state)
    again = Workflow.load(leave, state)
    assert state == copy  # load does not consume the caller's dict
    assert again.ready_user_tasks() == wf.ready_user_tasks()
    assert again.completed_user_steps() == wf.completed_user_steps()
    assert again.dump() == wf.dump()


def test_load_of_a_broken_state_is_an_engine_error(leave: ParsedDefinition) -> None:
    with pytest.raises(EngineError, match="the saved state cannot be loaded"):
        Workflow.load(leave, {"tasks": {}})


def test_variables_are_json(leave: ParsedDefinition) -> None:
    wf = Workflow.start(
        leave,
        {
            "initiator": "bob",
            "days": decimal.Decimal("5"),
            "rate": decimal.Decimal("1.5"),
            "start": datetime.date(2026, 3, 2),
            "at": datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC),
            "tags": {"b", "a"},
            "skip": object(),
            "nested": {"ok": [1, (2, 3)], 4: "four"},
        },
    )
    assert wf.variables() == {
        "initiator": "bob",
        "days": 5,
        "rate": 1.5,
        "start": "2026-03-02",
        "at": "2026-03-02T08:00:00+00:00",
        "tags": ["a", "b"],
        "nested": {"ok": [1, [2, 3]], "4": "four"},
    }
    assert json.loads(json.dumps(wf.dump()))["serializer_version"]


def test_return_keeps_values_changed_after_the_start(leave: ParsedDefinition) -> None:
    # given the submitter changed the days when submitting
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5})
    complete(wf, "submit", approved=True, days=3)
    # when the head returns it
    wf.return_to("submit", {"returned_from": "head_approve"})
    # then the submitter sees the days as they are now, not as they were at the start
    assert wf.ready_user_tasks()[0].data == {
        "initiator": "bob",
        "days": 3,
        "approved": True,
        "returned_from": "head_approve",
    }


COUNTERSIGN = doc(
    proc(
        "cs",
        '<bpmn:startEvent id="s"/>'
        + user("submit")
        + '<bpmn:userTask id="sign" camunda:assignee="${signer}"><bpmn:multiInstanceLoopCharacteristics '
        'camunda:collection="signers" camunda:elementVariable="signer"/></bpmn:userTask>'
        + user("after")
        + '<bpmn:endEvent id="e"/>'
        + chain("s", "submit", "sign", "after", "e"),
    )
)


def test_return_to_a_countersign_starts_a_new_round() -> None:
    # given a countersign that ended with one rejection
    parsed = parse_definition(COUNTERSIGN)
    wf = Workflow.start(parsed, {"signers": ["u1", "u2"]})
    complete(wf, "submit", x=1)
    for share in wf.ready_user_tasks():
        wf.complete_user_task(share.spiff_id, {"approved": share.countersign_item == "u1"})
    assert [s for _i, s in wf.completed_user_steps()] == ["submit", "sign"]
    assert wf.variables()["approved"] is False
    # when the next step returns to the countersign
    wf.return_to("sign", {"again": True})
    # then both signers sign again, without the previous round's outcome
    shares = wf.ready_user_tasks()
    assert sorted(t.countersign_item for t in shares) == ["u1", "u2"]
    assert all(
        t.data == {"signers": ["u1", "u2"], "x": 1, "again": True, "signer": t.countersign_item}
        for t in shares
    )
    wf = Workflow.load(parsed, wf.dump())
    for share in wf.ready_user_tasks():
        wf.complete_user_task(share.spiff_id, {"approved": True})
    values = wf.variables()
    assert (values["approved"], values["nr_approved"], values["nr_rejected"]) == (True, 2, 0)
    assert steps(wf) == ["after"]


def test_return_from_inside_a_countersign_closes_every_share() -> None:
    wf = Workflow.start(parse_definition(COUNTERSIGN), {"signers": ["u1", "u2"]})
    complete(wf, "submit", x=1)
    first, second = wf.ready_user_tasks()
    wf.complete_user_task(first.spiff_id, {"approved": True})
    assert wf.can_return_to("submit") is True
    removed = wf.return_to("submit", {"x": 2})
    assert second.spiff_id in removed
    assert [(t.step_id, t.data) for t in wf.ready_user_tasks()] == [
        ("submit", {"signers": ["u1", "u2"], "x": 2})
    ]


SUBPROCESS = doc(
    proc(
        "p",
        '<bpmn:startEvent id="s"/>'
        + user("prepare")
        + '<bpmn:subProcess id="review"><bpmn:startEvent id="rs"/>'
        + user("check")
        + user("sign_off")
        + '<bpmn:endEvent id="re"/>'
        + chain("rs", "check", "sign_off", "re")
        + "</bpmn:subProcess>"
        + user("archive")
        + '<bpmn:endEvent id="e"/>'
        + chain("s", "prepare", "review", "archive", "e"),
    )
)


def test_embedded_subprocess_runs_and_returns_cross_its_boundary() -> None:
    # given an instance inside an embedded subprocess
    parsed = parse_definition(SUBPROCESS)
    assert sorted(parsed.user_tasks) == ["archive", "check", "prepare", "sign_off"]
    assert parsed.user_tasks["check"].process_id == "p"
    wf = Workflow.start(parsed, {})
    complete(wf, "prepare", draft=1)
    complete(wf, "check", checked=True)
    assert steps(wf) == ["sign_off"]
    # then a return to a step inside the subprocess and to one before it are both possible
    assert wf.can_return_to("check") is True
    assert wf.can_return_to("prepare") is True
    wf.return_to("check", {"note": "again"})
    assert steps(wf) == ["check"]
    assert wf.ready_user_tasks()[0].data["note"] == "again"
    wf = Workflow.load(parsed, wf.dump())
    complete(wf, "check", checked=True)
    wf.return_to("prepare", {})
    assert steps(wf) == ["prepare"]
    complete(wf, "prepare")
    complete(wf, "check")
    complete(wf, "sign_off")
    assert steps(wf) == ["archive"]
    assert wf.can_return_to("check") is True
    complete(wf, "archive")
    assert wf.completed is True


def test_unknown_or_finished_task_ids_are_engine_errors(leave: ParsedDefinition) -> None:
    wf = Workflow.start(leave, {"initiator": "bob", "days": 5})
    (submit,) = wf.ready_user_tasks()
    with pytest.raises(EngineError, match=r"no task .* in this instance"):
        wf.complete_user_task(uuid.uuid4(), {})
    wf.complete_user_task(submit.spiff_id, {"approved": True})
    with pytest.raises(EngineError, match=r"is not a ready user task \(COMPLETED\)") as info:
        wf.complete_user_task(submit.spiff_id, {})
    assert info.value.step_id == "submit"
    with pytest.raises(EngineError, match="no task"):
        wf.add_countersigner(uuid.uuid4(), "u1")
    with pytest.raises(EngineError, match="only to a running parallel countersign"):
        wf.add_countersigner(submit.spiff_id, "u1")
