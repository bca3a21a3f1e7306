"""DMN decision tables: every hit policy table-driven, S-FEEL entries, defaults, several outputs,
DRDs and literal expressions, the expression-language fallback, refusals with what and where, and
the bounds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from medoa.engines.rules import dmn
from medoa.engines.rules.dmn import DmnEvaluationError, DmnInvalid, evaluate_decision, parse_dmn, to_json

NS13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def table(
    hit_policy: str | None,
    rules: list[tuple[list[str], list[str]]],
    *,
    inputs: list[str] = ("x",),  # type: ignore[assignment]
    outputs: list[str] = ("y",),  # type: ignore[assignment]
    aggregation: str | None = None,
    output_values: dict[str, str] | None = None,
    defaults: dict[str, str] | None = None,
    ns: str = NS13,
    decision_id: str = "d",
) -> str:
    hp = f' hitPolicy="{hit_policy}"' if hit_policy else ""
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    ins = "".join(
        f'<input id="in{n}" label="{name}">'
        f'<inputExpression id="ie{n}"><text>{name}</text></inputExpression></input>'
        for n, name in enumerate(inputs)
    )
    outs = ""
    for n, name in enumerate(outputs):
        values = (output_values or {}).get(name)
        default = (defaults or {}).get(name)
        outs += (
            f'<output id="out{n}" name="{name}">'
            + (f"<outputValues><text>{values}</text></outputValues>" if values else "")
            + (f"<defaultOutputEntry><text>{default}</text></defaultOutputEntry>" if default else "")
            + "</output>"
        )
    body = ""
    for r, (tests, results) in enumerate(rules, start=1):
        body += f'<rule id="r{r}">'
        body += "".join(f"<inputEntry><text><![CDATA[{t}]]></text></inputEntry>" for t in tests)
        body += "".join(f"<outputEntry><text><![CDATA[{o}]]></text></outputEntry>" for o in results)
        body += "</rule>"
    return (
        f'<definitions xmlns="{ns}" id="defs" name="t" namespace="urn:t">'
        f'<decision id="{decision_id}" name="D"><decisionTable id="t"{hp}{agg}>{ins}{outs}{body}'
        "</decisionTable></decision></definitions>"
    )


def run(xml: str, inputs: dict[str, Any], decision: str = "d") -> Any:
    return to_json(evaluate_decision(parse_dmn(xml), decision, inputs).value)


SCORE_RULES = [
    (["< 10"], ['"low"']),
    (["[10..20]"], ['"mid"']),
    (["> 15"], ['"high"']),
]


@pytest.mark.parametrize(
    ("policy", "x", "expected"),
    [
        (None, 5, {"y": "low"}),  # UNIQUE is the default
        ("UNIQUE", 12, {"y": "mid"}),
        ("UNIQUE", 30, {"y": "high"}),
        ("UNIQUE", None, None),  # nothing matches
        ("FIRST", 17, {"y": "mid"}),
        ("RULE ORDER", 17, [{"y": "mid"}, {"y": "high"}]),
        ("COLLECT", 17, [{"y": "mid"}, {"y": "high"}]),
        ("COLLECT", 5, [{"y": "low"}]),
        ("COLLECT", "text", []),
    ],
)
def test_hit_policies_single_output(policy: str | None, x: Any, expected: Any) -> None:
    assert run(table(policy, SCORE_RULES), {"x": x}) == expected


def test_unique_with_two_matches_names_the_rules() -> None:
    with pytest.raises(DmnEvaluationError) as caught:
        run(table("UNIQUE", SCORE_RULES), {"x": 17})
    assert caught.value.message_en == "the hit policy UNIQUE allows one matching rule, but rules 2, 3 matched"
    assert caught.value.rule_ids == ["r2", "r3"]
    assert caught.value.decision_id == "d"


def test_any_agreeing_and_disagreeing() -> None:
    xml = table("ANY", [(["< 10"], ['"a"']), (["< 20"], ['"a"']), (["> 5"], ['"b"'])])
    assert run(xml, {"x": 3}) == {"y": "a"}
    with pytest.raises(DmnEvaluationError) as caught:
        run(xml, {"x": 7})
    assert caught.value.message_en == (
        "the hit policy ANY needs matching rules to agree, but rules 1 and 3 give different outputs"
    )


PRIORITY_RULES = [
    (["-"], ['"ACCEPT"', '"NONE"']),
    (["< 18"], ['"DECLINE"', '"NONE"']),
    (["< 25"], ['"REFER"', '"LEVEL 1"']),
    (["< 21"], ['"REFER"', '"LEVEL 2"']),
]
PRIORITY_VALUES = {"routing": '"DECLINE","REFER","ACCEPT"', "level": '"LEVEL 2","LEVEL 1","NONE"'}


@pytest.mark.parametrize(
    ("policy", "age", "expected"),
    [
        ("PRIORITY", 30, {"routing": "ACCEPT", "level": "NONE"}),
        ("PRIORITY", 22, {"routing": "REFER", "level": "LEVEL 1"}),
        ("PRIORITY", 20, {"routing": "REFER", "level": "LEVEL 2"}),  # second output breaks the tie
        ("PRIORITY", 17, {"routing": "DECLINE", "level": "NONE"}),
        (
            "OUTPUT ORDER",
            17,
            [
                {"routing": "DECLINE", "level": "NONE"},
                {"routing": "REFER", "level": "LEVEL 2"},
                {"routing": "REFER", "level": "LEVEL 1"},
                {"routing": "ACCEPT", "level": "NONE"},
            ],
        ),
        (
            "RULE ORDER",
            17,
            [
                {"routing": "ACCEPT", "level": "NONE"},
                {"routing": "DECLINE", "level": "NONE"},
                {"routing": "REFER", "level": "LEVEL 1"},
                {"routing": "REFER", "level": "LEVEL 2"},
            ],
        ),
    ],
)
def test_priority_and_output_order(policy: str, age: int, expected: Any) -> None:
    xml = table(
        policy, PRIORITY_RULES, inputs=["age"], outputs=["routing", "level"], output_values=PRIORITY_VALUES
    )
    assert run(xml, {"age": age}) == expected


def test_priority_output_not_in_its_values_is_an_error() -> None:
    xml = table("PRIORITY", [(["-"], ['"MAYBE"'])], output_values={"y": '"YES","NO"'})
    with pytest.raises(DmnEvaluationError) as caught:
        run(xml, {"x": 1})
    assert caught.value.message_en == (
        "rule 1 gives “MAYBE” for the output “y”, which is not among its output values "
        "(the priority list of PRIORITY)"
    )


COLLECT_RULES = [(["< 10"], ["10"]), (["< 20"], ["20"]), (["< 30"], ["30"]), (["< 40"], ["30"])]


@pytest.mark.parametrize(
    ("aggregation", "x", "expected"),
    [
        ("SUM", 5, 90),
        ("SUM", 25, 60),
        ("SUM", 50, None),
        ("MIN", 15, 20),
        ("MAX", 5, 30),
        ("MAX", 50, None),
        ("COUNT", 5, 4),
        ("COUNT", 35, 1),
        ("COUNT", 50, 0),
    ],
)
def test_collect_aggregations(aggregation: str, x: int, expected: Any) -> None:
    assert run(table("COLLECT", COLLECT_RULES, aggregation=aggregation), {"x": x}) == {"y": expected}


def test_sum_of_text_is_an_error_and_min_of_text_is_not() -> None:
    rules = [(["-"], ['"a"']), (["-"], ['"b"'])]
    with pytest.raises(DmnEvaluationError) as caught:
        run(table("COLLECT", rules, aggregation="SUM"), {"x": 1})
    assert caught.value.message_en == "SUM needs numbers, but an output is “a”"
    assert run(table("COLLECT", rules, aggregation="MIN"), {"x": 1}) == {"y": "a"}


@pytest.mark.parametrize(
    ("entry", "value", "hit"),
    [
        ("< 5", 4, True),
        ("< 5", 5, False),
        ("<= 5", 5, True),
        ("[1..10]", 10, True),
        ("]1..10[", 10, False),
        ("(1..10)", 1, False),
        ('"A","B"', "B", True),
        ('"A","B"', "C", False),
        ('not("X")', "Y", True),
        ('not("X")', "X", False),
        ('not("X", "Y")', "Y", False),
        ("-", None, True),
        ("", "anything", True),
        ("true", True, True),
        ("true", False, False),
        ('[date("2026-01-01")..date("2026-12-31")]', "2026-06-01", True),
        ("> limit", 11, True),  # another input of the context
        ("? > 3", 4, True),
        ("< 5", None, False),
    ],
)
def test_s_feel_input_entries(entry: str, value: Any, hit: bool) -> None:
    xml = (
        table("FIRST", [([entry], ['"hit"'])]).replace(
            '<inputExpression id="ie0">', '<inputExpression id="ie0" typeRef="date">'
        )
        if "date" in entry
        else table("FIRST", [([entry], ['"hit"'])])
    )
    assert run(xml, {"x": value, "limit": 10}) == ({"y": "hit"} if hit else None)


def test_outputs_are_feel_expressions_over_the_inputs() -> None:
    xml = table("UNIQUE", [(["> 0"], ["x * 2", '"n" + string(x)'])], outputs=["double", "label"])
    assert run(xml, {"x": 21}) == {"double": 42, "label": "n21"}


def test_default_output_values_when_nothing_matches() -> None:
    xml = table("UNIQUE", [(["> 0"], ['"pos"', "1"])], outputs=["sign", "n"], defaults={"sign": '"none"'})
    assert run(xml, {"x": -1}) == {"sign": "none", "n": None}
    assert run(xml, {"x": 1}) == {"sign": "pos", "n": 1}
    collect = table("COLLECT", [(["> 0"], ['"pos"'])], outputs=["sign"], defaults={"sign": '"none"'})
    assert run(collect, {"x": -1}) == [{"sign": "none"}]


def test_result_records_matched_and_selected_rules() -> None:
    xml = table(
        "PRIORITY",
        PRIORITY_RULES,
        inputs=["age"],
        outputs=["routing", "level"],
        output_values=PRIORITY_VALUES,
    )
    result = evaluate_decision(parse_dmn(xml), "d", {"age": 20})
    assert [m.number for m in result.matched] == [1, 3, 4]
    assert result.selected == [4]
    assert result.as_dict()["inputs"] == {"age": 20}


DRD = f"""<definitions xmlns="{NS13}" id="drd" name="drd" namespace="urn:t">
  <decision id="bmi" name="BMI">
    <variable name="bmi"/>
    <literalExpression id="le1"><text>weight / (height * height)</text></literalExpression>
  </decision>
  <decision id="category" name="Category">
    <informationRequirement><requiredDecision href="#bmi"/></informationRequirement>
    <decisionTable id="t1">
      <input id="i1" label="BMI">
        <inputExpression id="e1" typeRef="number"><text>bmi</text></inputExpression></input>
      <output id="o1" name="category"/>
      <rule id="c1">
        <inputEntry><text>&lt; 18.5</text></inputEntry>
        <outputEntry><text>"under"</text></outputEntry></rule>
      <rule id="c2">
        <inputEntry><text>[18.5..25[</text></inputEntry>
        <outputEntry><text>"normal"</text></outputEntry></rule>
      <rule id="c3">
        <inputEntry><text>&gt;= 25</text></inputEntry>
        <outputEntry><text>"over"</text></outputEntry></rule>
    </decisionTable>
  </decision>
  <decision id="advice" name="Advice">
    <informationRequirement><requiredDecision href="#category"/></informationRequirement>
    <informationRequirement><requiredDecision href="#bmi"/></informationRequirement>
    <decisionTable id="t2" hitPolicy="COLLECT">
      <input id="i2" label="Category">
        <inputExpression id="e2"><text>category</text></inputExpression></input>
      <output id="o2" name="advice"/>
      <rule id="a1">
        <inputEntry><text>"over"</text></inputEntry>
        <outputEntry><text>"diet"</text></outputEntry></rule>
      <rule id="a2">
        <inputEntry><text>"over","under"</text></inputEntry>
        <outputEntry><text>"dietitian"</text></outputEntry></rule>
      <rule id="a3">
        <inputEntry><text>-</text></inputEntry>
        <outputEntry><text>"BMI " + string(decimal(bmi, 1))</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""


def test_drd_evaluates_required_decisions_once_each() -> None:
    model = parse_dmn(DRD)
    assert model.requiring_order() == ["bmi", "category", "advice"]
    result = evaluate_decision(model, "advice", {"weight": 90, "height": 1.8})
    assert to_json(result.value) == [{"advice": "diet"}, {"advice": "dietitian"}, {"advice": "BMI 27.8"}]
    assert sorted(result.required) == ["bmi", "category"]
    assert result.required["category"].required["bmi"] is result.required["bmi"]
    assert to_json(result.required["category"].value) == {"category": "over"}
    assert to_json(evaluate_decision(model, "bmi", {"weight": 45, "height": 1.5}).value) == {"bmi": 20}


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            DRD.replace(
                'href="#bmi"/></informationRequirement>\n    <decisionTable id="t1">',
                'href="#advice"/></informationRequirement>\n    <decisionTable id="t1">',
            ),
            (
                "decision",
                "category",
                "the decisions require each other in a cycle: category → advice → category",
            ),
        ),
        (
            DRD.replace('<requiredDecision href="#category"/>', '<requiredDecision href="#nowhere"/>'),
            ("decision", "advice", "it requires the decision “nowhere”, which is not in this file"),
        ),
        (
            table("SOMETIMES", SCORE_RULES),
            (
                "decisionTable",
                "t",
                "the hit policy “SOMETIMES” is not one of UNIQUE, FIRST, PRIORITY, ANY, "
                "COLLECT, RULE ORDER, OUTPUT ORDER",
            ),
        ),
        (
            table("FIRST", SCORE_RULES, aggregation="SUM"),
            ("decisionTable", "t", "an aggregation (SUM) needs the hit policy COLLECT, not FIRST"),
        ),
        (
            table("COLLECT", [(["-"], ["1", "2"])], outputs=["a", "b"], aggregation="MAX"),
            ("decisionTable", "t", "an aggregation (MAX) needs a table with one output, not 2"),
        ),
        (
            table("PRIORITY", SCORE_RULES),
            (
                "decisionTable",
                "t",
                "the hit policy PRIORITY needs output values (a priority list) on an output",
            ),
        ),
        (
            table("UNIQUE", [(["< < 3"], ['"a"'])]),
            (
                "inputEntry",
                "",
                "the input entry “< < 3” of rule 1 is not a valid unary test: unexpected '<' at position 2",
            ),
        ),
        (
            table("UNIQUE", [(["< 3"], ["if x then"])]),
            (
                "outputEntry",
                "",
                "the output entry “if x then” is not valid FEEL: unexpected end of expression at position 9",
            ),
        ),
        (
            table("UNIQUE", [(["< 3", "1"], ['"a"'])]),
            (
                "rule",
                "r1",
                "rule 1 has 2 input entries and 1 output entries; the table has 1 inputs and 1 outputs",
            ),
        ),
        (
            f'<definitions xmlns="{NS13}" id="x" namespace="u"><decision id="d" name="D">'
            '<context id="ctx"/></decision></definitions>',
            (
                "context",
                "ctx",
                "the boxed expression <context> is not supported (decision tables and literal "
                "expressions are)",
            ),
        ),
        (
            f'<definitions xmlns="{NS13}" id="x" namespace="u"><businessKnowledgeModel id="bkm"/>'
            '<decision id="d" name="D"><literalExpression><text>1</text></literalExpression></decision>'
            "</definitions>",
            ("businessKnowledgeModel", "bkm", "business knowledge models are not supported"),
        ),
        (
            table("UNIQUE", SCORE_RULES).replace(
                '<inputExpression id="ie0">', '<inputExpression id="ie0" expressionLanguage="javascript">'
            ),
            (
                "inputExpression",
                "ie0",
                "the expression language “javascript” is not supported (FEEL or python)",
            ),
        ),
        (
            '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="x"/>',
            (
                "definitions",
                "",
                "not a DMN document (the root element must be the definitions of DMN 1.1 to 1.5)",
            ),
        ),
        (
            f'<definitions xmlns="{NS13}" id="x" namespace="u"/>',
            ("definitions", "x", "the file has no decision"),
        ),
    ],
)
def test_refusals_name_what_and_where(xml: str, expected: tuple[str, str, str]) -> None:
    with pytest.raises(DmnInvalid) as caught:
        parse_dmn(xml)
    first = caught.value.problems[0]
    assert (first.element_type, first.element_id, first.message_en) == expected
    assert first.line is not None


def test_refusal_line_numbers_point_at_the_element() -> None:
    xml = DRD.replace("<text>&lt; 18.5</text>", "<text>&lt; &lt; 18.5</text>")
    with pytest.raises(DmnInvalid) as caught:
        parse_dmn(xml)
    [problem] = caught.value.problems
    line = xml[: xml.index("&lt; &lt; 18.5")].count("\n") + 1
    assert problem.line == line
    assert str(problem).startswith(f"line {line}: inputEntry")


def test_malformed_xml_names_the_line() -> None:
    with pytest.raises(DmnInvalid) as caught:
        parse_dmn(f'<definitions xmlns="{NS13}">\n<decision id="a">\n</definitions>')
    [problem] = caught.value.problems
    assert problem.message_en.startswith("malformed XML: ")
    assert problem.line == 3


def test_entities_are_not_expanded() -> None:
    xml = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + table(
        "UNIQUE", [(["-"], ['"&x;"'])]
    ).replace('"&x;"', "&x;")
    try:
        result = run(xml, {"x": 1})
    except DmnInvalid:
        return
    assert "root:" not in str(result)


def test_our_expression_language_where_feel_refuses_or_where_named() -> None:
    # Flowable/JUEL style single quotes, SpiffWorkflow style subscripts: FEEL refuses, ours accepts
    xml = table("UNIQUE", [(["-"], ["'quoted'"])], inputs=["item['x']"])
    assert run(xml, {"item": {"x": 1}}) == {"y": "quoted"}
    named = table("UNIQUE", [(["-"], ["x == 1"])]).replace(
        "<outputEntry>", '<outputEntry expressionLanguage="python">'
    )
    assert run(named, {"x": 1}) == {"y": True}
    feel_named = table("UNIQUE", [(["-"], ["'quoted'"])]).replace(
        "<outputEntry>", '<outputEntry expressionLanguage="feel">'
    )
    with pytest.raises(DmnInvalid):
        parse_dmn(feel_named)


def test_a_failing_expression_names_rule_and_output() -> None:
    xml = table("UNIQUE", [(["-"], ["missing_name + 1"])]).replace(
        "<outputEntry>", '<outputEntry expressionLanguage="python">'
    )
    with pytest.raises(DmnEvaluationError) as caught:
        run(xml, {"x": 1})
    assert caught.value.message_en.startswith("rule 1, output “y”: ")
    assert "missing_name" in caught.value.message_en


def test_dates_in_and_out() -> None:
    xml = table("UNIQUE", [(['>= date("2026-01-01")'], ['x + duration("P30D")'])]).replace(
        '<inputExpression id="ie0">', '<inputExpression id="ie0" typeRef="date">'
    )
    result = evaluate_decision(parse_dmn(xml), "d", {"x": "2026-03-01"})
    assert result.value == {"y": dt.date(2026, 3, 31)}
    assert to_json(result.value) == {"y": "2026-03-31"}


@pytest.mark.parametrize(
    "version",
    [
        "20151101/dmn.xsd",
        "20151101",
        "20180521/MODEL/",
        "20191111/MODEL/",
        "20211108/MODEL/",
        "20230324/MODEL/",
    ],
)
def test_every_dmn_namespace(version: str) -> None:
    ns = f"https://www.omg.org/spec/DMN/{version}"
    if version.startswith(("2015", "2018")):
        ns = ns.replace("https", "http")
    assert run(table("UNIQUE", SCORE_RULES, ns=ns), {"x": 1}) == {"y": "low"}


def test_bounds_on_rules_and_size() -> None:
    many = table("COLLECT", [(["-"], ["1"])] * (dmn.MAX_RULES + 1))
    with pytest.raises(DmnInvalid) as caught:
        parse_dmn(many)
    assert caught.value.problems[0].message_en == "a decision table may have at most 2000 rules"
    with pytest.raises(DmnInvalid) as caught:
        parse_dmn(b" " * (dmn.MAX_XML_BYTES + 1))
    assert caught.value.problems[0].message_en == "the DMN file is larger than 2 MB"


def test_work_budget_of_an_expression_stops_cleanly() -> None:
    xml = table("UNIQUE", [(["-"], ["count(for a in 1..100000, b in 1..100000 return a)"])])
    with pytest.raises(DmnEvaluationError) as caught:
        run(xml, {"x": 1})
    assert "too much work" in caught.value.message_en
