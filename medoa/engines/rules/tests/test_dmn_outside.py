"""Every DMN file from outside the project (../shared/data/dmn) evaluates to the outputs its source
states (SOURCES.md records them: Camunda's DRG example, Flowable's hit-policy tests, the DMN
spec's risk-rating example through Flowable, SpiffWorkflow's tables), and the dmn-js fixture
without stated outputs is checked against its own rule descriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medoa.engines.rules.dmn import DmnEvaluationError, evaluate_decision, parse_dmn, to_json

DINNER = "dinner-drg__camunda-examples__dinnerDecisions.dmn"


def _evaluate(shared_data: Path, name: str, decision: str, inputs: dict[str, Any]) -> Any:
    model = parse_dmn((shared_data / "dmn" / name).read_bytes())
    return to_json(evaluate_decision(model, decision, inputs).value)


def _column(rows: list[dict[str, Any]], name: str) -> list[Any]:
    return [row[name] for row in rows]


def test_every_outside_file_parses(shared_data: Path) -> None:
    files = sorted((shared_data / "dmn").glob("*.dmn"))
    assert len(files) == 11
    versions = {f.name: parse_dmn(f.read_bytes()).dmn_version for f in files}
    assert versions[DINNER] == "1.1"
    assert versions["allowed-values-not__dmnjs__AllowedValues.dmn"] == "1.3"


@pytest.mark.parametrize(
    ("inputs", "beverages"),
    [
        ({"season": "Spring", "guestCount": 10, "guestsWithChildren": False}, ["Guiness", "Water"]),
        (
            {"season": "Winter", "guestCount": 7, "guestsWithChildren": True},
            ["Bordeaux", "Apple Juice", "Water"],
        ),
        ({"season": "Summer", "guestCount": 14, "guestsWithChildren": False}, ["Pinot Noir", "Water"]),
    ],
)
def test_camunda_dinner_drg(shared_data: Path, inputs: dict[str, Any], beverages: list[str]) -> None:
    # beverages (COLLECT) requires dish (UNIQUE): evaluating one evaluates the other
    model = parse_dmn((shared_data / "dmn" / DINNER).read_bytes())
    assert model.decisions["beverages"].required == ("dish",)
    result = evaluate_decision(model, "beverages", inputs)
    assert _column(to_json(result.value), "beverages") == beverages
    assert list(result.required) == ["dish"]


@pytest.mark.parametrize(
    ("name", "inputs", "expected"),
    [
        (
            "hp-collect-count__flowable__HitPolicyCollectTest.collectHitPolicyCOUNT.dmn",
            {"inputVariable1": 5},
            {"outputVariable1": 4},
        ),
        (
            "hp-collect-min__flowable__HitPolicyCollectTest.collectHitPolicyMIN.dmn",
            {"inputVariable1": 5},
            {"outputVariable1": 10},
        ),
        (
            "hp-collect-max__flowable__HitPolicyCollectTest.collectHitPolicyMAX.dmn",
            {"inputVariable1": 5},
            {"outputVariable1": 30},
        ),
        (
            "hp-first__flowable__HitPolicyFirstTest.firstHitPolicy.dmn",
            {"inputVariable1": 11},
            {"outputVariable1": "gt 10", "outputVariable2": "result2"},
        ),
        (
            "hp-any__flowable__HitPolicyAnyTest.anyHitPolicy.dmn",
            {"inputVariable1": 2},
            {"outputVariable1": 10, "outputVariable2": "result1"},
        ),
        (
            "spiff-integer__spiff__test_integer_decision.dmn",
            {"x": 3},
            {"y": "A"},
        ),
    ],
)
def test_single_results_as_sources_state(
    shared_data: Path, name: str, inputs: dict[str, Any], expected: dict[str, Any]
) -> None:
    model = parse_dmn((shared_data / "dmn" / name).read_bytes())
    [decision] = list(model.decisions)
    assert to_json(evaluate_decision(model, decision, inputs).value) == expected


def test_flowable_any_with_disagreeing_rules_is_an_error(shared_data: Path) -> None:
    with pytest.raises(DmnEvaluationError) as caught:
        _evaluate(
            shared_data,
            "hp-any__flowable__HitPolicyAnyTest.anyHitPolicy.dmn",
            "decision1",
            {"inputVariable1": 15},
        )
    assert caught.value.message_en == (
        "the hit policy ANY needs matching rules to agree, but rules 2 and 3 give different outputs"
    )


def test_risk_rating_output_order(shared_data: Path) -> None:
    rows = _evaluate(
        shared_data,
        "hp-output-order-risk__flowable__risk_rating_spec_example.dmn",
        "RiskRatingDecisionTable",
        {"age": 17, "riskcategory": "HIGH", "debtreview": True},
    )
    assert [[r["routing"], r["reason"], r["reviewlevel"]] for r in rows] == [
        ["DECLINE", "Applicant too young", "NONE"],
        ["REFER", "Applicant under debt review", "LEVEL 2"],
        ["REFER", "High risk application", "LEVEL 1"],
        ["ACCEPT", "Acceptable", "NONE"],
    ]


@pytest.mark.parametrize(
    ("inputs", "names"),
    [({"type": "stooge"}, ["Larry", "Mo", "Curly", "Shemp"]), ({"type": "farmer"}, ["Elmer Fudd"])],
)
def test_spiff_collect(shared_data: Path, inputs: dict[str, Any], names: list[str]) -> None:
    rows = _evaluate(
        shared_data, "spiff-collect__spiff__collect_hit.dmn", "Decision_ExclusiveAMCheck", inputs
    )
    assert _column(rows, "name") == names


@pytest.mark.parametrize(("x", "y"), [(3, "A"), (4, "B"), (5, "C"), (6, "D"), (9, "D")])
def test_spiff_multi_instance_table_reads_item_x(shared_data: Path, x: int, y: str) -> None:
    # ``item['x']`` is Python (SpiffWorkflow's language): FEEL refuses it, our expression language
    # takes it; the output is named "item.y". The BPMN test expects 'D' for the item with x = 6.
    rows = _evaluate(
        shared_data,
        "spiff-integer-multi__spiff__test_integer_decision_multi.dmn",
        "IntegerDecisionStringOutputTable",
        {"item": {"x": x}},
    )
    assert rows == {"item.y": y}


@pytest.mark.parametrize(
    ("status", "total", "expected"),
    [
        ("silver", 999, {"result": "notok", "reason": "how can you have two medals at the same time?"}),
        ("gold", 5, {"result": "ok", "reason": "you get anything you want"}),
        ("platinum", 5, {"result": "notok", "reason": "you suck"}),
        ("", 5, {"result": "notok", "reason": "you suck"}),
    ],
)
def test_dmn_js_allowed_values_fixture(shared_data: Path, status: str, total: int, expected: Any) -> None:
    # The dmn-js UI fixture states no outputs; its rules say what they mean. "silver" matches rule 2
    # (< 1000) and rule 6 ("bronze", "silver"): a UNIQUE violation, as the table is written.
    name = "allowed-values-not__dmnjs__AllowedValues.dmn"
    if status == "silver":
        with pytest.raises(DmnEvaluationError) as caught:
            _evaluate(shared_data, name, "decision", {"status": status, "sum": total})
        assert caught.value.rule_ids == ["rule2", "rule6"]
        return
    assert _evaluate(shared_data, name, "decision", {"status": status, "sum": total}) == expected
