"""Countersign (会签): parallel and sequential multi-instance user tasks with completion conditions."""

from __future__ import annotations

import pytest

from medoa.engines.flow.spiff import (
    CountersignInfo,
    EngineError,
    ParsedDefinition,
    Workflow,
    parse_definition,
)

from .bpmn import chain, doc, flow, proc


def countersign(
    *, sequential: bool = False, condition: str | None = None, standard: bool = False
) -> ParsedDefinition:
    cond = f"<bpmn:completionCondition>{condition}</bpmn:completionCondition>" if condition else ""
    if standard:
        loop = (
            f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}">'
            '<bpmn:loopDataInputRef>signers</bpmn:loopDataInputRef><bpmn:inputDataItem name="signer"/>'
            f"{cond}</bpmn:multiInstanceLoopCharacteristics>"
        )
    else:
        loop = (
            f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}" '
            f'camunda:collection="${{signers}}" camunda:elementVariable="signer">{cond}'
            "</bpmn:multiInstanceLoopCharacteristics>"
        )
    xml = doc(
        proc(
            "cs",
            f"""<bpmn:startEvent id="s"/>
            <bpmn:userTask id="sign" name="Countersign" camunda:assignee="${{signer}}">{loop}</bpmn:userTask>
            <bpmn:exclusiveGateway id="gw" default="f_no"/>
            <bpmn:userTask id="buy" camunda:candidateGroups="equipment"/>
            <bpmn:endEvent id="e"/><bpmn:endEvent id="e_no"/>"""
            + chain("s", "sign", "gw")
            + flow("f_yes", "gw", "buy", "approved")
            + flow("f_no", "gw", "e_no")
            + chain("buy", "e"),
        )
    )
    return parse_definition(xml)


def vote(wf: Workflow, who: str, approved: bool, parsed: ParsedDefinition | None = None) -> Workflow:
    (share,) = [t for t in wf.ready_user_tasks() if t.countersign_item == who]
    wf.complete_user_task(share.spiff_id, {"approved": approved, "comment": f"{who}: {approved}"})
    return Workflow.load(parsed, wf.dump()) if parsed is not None else wf


def signers(wf: Workflow) -> list[str]:
    return sorted(t.countersign_item for t in wf.ready_user_tasks() if t.step_id == "sign")


def outcome(wf: Workflow) -> dict:
    values = wf.variables()
    return {k: values[k] for k in ("approved", "nr_instances", "nr_completed", "nr_approved", "nr_rejected")}


def test_metadata_describes_the_countersign() -> None:
    parsed = countersign(condition="nr_completed &gt;= 1")
    assert parsed.user_tasks["sign"].countersign == CountersignInfo(
        collection="signers",
        element_variable="signer",
        completion_condition="nr_completed >= 1",
        sequential=False,
    )


def test_parallel_all_must_sign() -> None:
    # given three signers
    parsed = countersign()
    wf = Workflow.start(parsed, {"signers": ["u1", "u2", "u3"], "title": "CT scanner"})
    shares = wf.ready_user_tasks()
    assert sorted(t.countersign_item for t in shares) == ["u1", "u2", "u3"]
    assert len({t.countersign_parent for t in shares}) == 1
    assert shares[0].data == {
        "signers": ["u1", "u2", "u3"],
        "title": "CT scanner",
        "signer": shares[0].countersign_item,
    }
    # when all three approve (saving between votes)
    for who in ("u1", "u2", "u3"):
        wf = vote(wf, who, True, parsed)
    # then the countersign is approved and every vote is kept
    assert [t.step_id for t in wf.ready_user_tasks()] == ["buy"]
    assert outcome(wf) == {
        "approved": True,
        "nr_instances": 3,
        "nr_completed": 3,
        "nr_approved": 3,
        "nr_rejected": 0,
    }
    assert wf.variables()["votes"] == [
        {"who": "u1", "approved": True, "comment": "u1: True"},
        {"who": "u2", "approved": True, "comment": "u2: True"},
        {"who": "u3", "approved": True, "comment": "u3: True"},
    ]
    assert "signer" not in wf.variables()


def test_parallel_all_with_one_rejection_is_rejected() -> None:
    wf = Workflow.start(countersign(), {"signers": ["u1", "u2", "u3"]})
    for who, ok in (("u1", True), ("u2", False), ("u3", True)):
        wf = vote(wf, who, ok)
    assert wf.completed is True
    assert outcome(wf) == {
        "approved": False,
        "nr_instances": 3,
        "nr_completed": 3,
        "nr_approved": 2,
        "nr_rejected": 1,
    }


def test_or_sign_first_vote_decides() -> None:
    wf = Workflow.start(countersign(condition="nr_completed &gt;= 1"), {"signers": ["u1", "u2", "u3"]})
    wf = vote(wf, "u2", True)
    assert [t.step_id for t in wf.ready_user_tasks()] == ["buy"]
    assert outcome(wf) == {
        "approved": True,
        "nr_instances": 3,
        "nr_completed": 1,
        "nr_approved": 1,
        "nr_rejected": 0,
    }


def test_or_sign_rejection_decides_too() -> None:
    wf = Workflow.start(countersign(condition="nr_completed &gt;= 1"), {"signers": ["u1", "u2"]})
    wf = vote(wf, "u1", False)
    assert wf.completed is True
    assert outcome(wf)["approved"] is False


def test_ratio_two_thirds_reached_despite_a_rejection() -> None:
    parsed = countersign(condition="nr_approved / nr_instances &gt;= 2/3")
    wf = Workflow.start(parsed, {"signers": ["u1", "u2", "u3"]})
    wf = vote(wf, "u1", True, parsed)
    wf = vote(wf, "u2", False, parsed)
    assert signers(wf) == ["u3"]
    wf = vote(wf, "u3", True, parsed)
    assert outcome(wf) == {
        "approved": True,
        "nr_instances": 3,
        "nr_completed": 3,
        "nr_approved": 2,
        "nr_rejected": 1,
    }


def test_ratio_two_thirds_ends_early() -> None:
    wf = Workflow.start(
        countersign(condition="nr_approved / nr_instances &gt;= 2/3"), {"signers": ["u1", "u2", "u3"]}
    )
    wf = vote(wf, "u1", True)
    wf = vote(wf, "u3", True)
    assert [t.step_id for t in wf.ready_user_tasks()] == ["buy"]
    assert outcome(wf)["nr_completed"] == 2


def test_one_rejection_ends_it() -> None:
    condition = "nr_rejected &gt; 0 or nr_approved / nr_instances &gt;= 2/3"
    wf = Workflow.start(countersign(condition=condition), {"signers": ["u1", "u2", "u3"]})
    wf = vote(wf, "u2", False)
    assert wf.completed is True
    assert outcome(wf) == {
        "approved": False,
        "nr_instances": 3,
        "nr_completed": 1,
        "nr_approved": 0,
        "nr_rejected": 1,
    }


def test_camunda_counter_names_work() -> None:
    parsed = countersign(condition="${nrOfCompletedInstances/nrOfInstances &gt;= 0.6}", standard=True)
    wf = Workflow.start(parsed, {"signers": ["u1", "u2", "u3", "u4", "u5"]})
    for who in ("u1", "u2"):
        wf = vote(wf, who, True)
    assert len(signers(wf)) == 3
    wf = vote(wf, "u3", True)
    assert [t.step_id for t in wf.ready_user_tasks()] == ["buy"]
    assert outcome(wf)["nr_instances"] == 5


def test_sequential_one_signer_at_a_time() -> None:
    parsed = countersign(sequential=True, condition="nr_rejected &gt; 0")
    wf = Workflow.start(parsed, {"signers": ["u1", "u2", "u3"]})
    assert signers(wf) == ["u1"]
    wf = vote(wf, "u1", True, parsed)
    assert signers(wf) == ["u2"]
    assert wf.ready_user_tasks()[0].data.get("approved") is None
    wf = vote(wf, "u2", False, parsed)
    assert wf.completed is True
    assert outcome(wf) == {
        "approved": False,
        "nr_instances": 3,
        "nr_completed": 2,
        "nr_approved": 1,
        "nr_rejected": 1,
    }


def test_sequential_all_approve() -> None:
    parsed = countersign(sequential=True, standard=True)
    wf = Workflow.start(parsed, {"signers": ["u1", "u2"]})
    wf = vote(wf, "u1", True, parsed)
    wf = vote(wf, "u2", True, parsed)
    assert outcome(wf) == {
        "approved": True,
        "nr_instances": 2,
        "nr_completed": 2,
        "nr_approved": 2,
        "nr_rejected": 0,
    }


def test_add_countersigner_alongside() -> None:
    # given a running parallel countersign of two
    parsed = countersign()
    wf = Workflow.start(parsed, {"signers": ["u1", "u2"]})
    parent = wf.ready_user_tasks()[0].countersign_parent
    # when a third signer is added
    new_id = wf.add_countersigner(parent, "u9")
    wf = Workflow.load(parsed, wf.dump())
    # then there are three shares and all must sign
    assert signers(wf) == ["u1", "u2", "u9"]
    assert [t.spiff_id for t in wf.ready_user_tasks() if t.countersign_item == "u9"] == [new_id]
    wf = vote(wf, "u1", True)
    wf = vote(wf, "u2", True)
    assert signers(wf) == ["u9"]
    wf = vote(wf, "u9", True)
    assert outcome(wf) == {
        "approved": True,
        "nr_instances": 3,
        "nr_completed": 3,
        "nr_approved": 3,
        "nr_rejected": 0,
    }


def test_add_countersigner_refusals() -> None:
    wf = Workflow.start(countersign(), {"signers": ["u1", "u2"]})
    parent = wf.ready_user_tasks()[0].countersign_parent
    with pytest.raises(EngineError, match="'u1' is already signing this step"):
        wf.add_countersigner(parent, "u1")
    seq = Workflow.start(countersign(sequential=True), {"signers": ["u1", "u2"]})
    with pytest.raises(EngineError, match="only to a running parallel countersign"):
        seq.add_countersigner(seq.ready_user_tasks()[0].countersign_parent, "u9")


@pytest.mark.parametrize(
    ("signers_value", "message"),
    [
        (None, "variable 'signers' (the collection) is missing"),
        ([], "variable 'signers' must be a non-empty list, not []"),
        ("u1,u2", "variable 'signers' must be a non-empty list, not 'u1,u2'"),
    ],
)
def test_missing_or_empty_collection_is_a_clear_engine_error(signers_value: object, message: str) -> None:
    variables = {} if signers_value is None else {"signers": signers_value}
    with pytest.raises(EngineError) as info:
        Workflow.start(countersign(), variables)
    assert info.value.step_id == "sign"
    assert message in info.value.message
