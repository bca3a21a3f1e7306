"""Deploy checks: every problem in one pass, each with its element and line; the spec cache."""

from __future__ import annotations

import threading

import pytest
from django.utils import translation

from medoa.engines.flow.spiff import (
    DefinitionInvalid,
    Problem,
    Workflow,
    cached_definition,
    clear_definition_cache,
    parse_definition,
)

from .bpmn import chain, doc, proc, read, user


def problems(xml: str, **kwargs: object) -> list[tuple[str, str, int | None, str]]:
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(xml, **kwargs)  # type: ignore[arg-type]
    return [(p.element_type, p.element_id, p.line, p.message_en) for p in info.value.problems]


SEVERAL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="x">
  <bpmn:process id="bad" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="cg" />
    <bpmn:complexGateway id="cg" />
    <bpmn:sequenceFlow id="f2" sourceRef="cg" targetRef="t1" />
    <bpmn:userTask id="t1" name="No assignee" />
    <bpmn:sequenceFlow id="f3" sourceRef="t1" targetRef="end" />
    <bpmn:sequenceFlow id="f3b" sourceRef="t1" targetRef="t2" />
    <bpmn:sequenceFlow sourceRef="t2" targetRef="end" />
    <bpmn:userTask id="t2" camunda:assignee="x">
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="signers">
        <bpmn:completionCondition>nr_approved &gt;= </bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:intermediateCatchEvent id="w"><bpmn:timerEventDefinition>
      <bpmn:timeDuration>0 0/5 * * * ?</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="sc"><bpmn:script>import os</bpmn:script></bpmn:scriptTask>
    <bpmn:businessRuleTask id="rules" camunda:decisionRef="d1" />
    <bpmn:callActivity id="call" calledElement="elsewhere" />
    <bpmn:userTask id="t3" camunda:assignee="x" camunda:formKey="missing_form" />
    <bpmn:sequenceFlow id="f9" sourceRef="t3" targetRef="nowhere" />
    <bpmn:exclusiveGateway id="gw" />
    <bpmn:sequenceFlow id="g1" sourceRef="gw" targetRef="end" />
    <bpmn:sequenceFlow id="g2" sourceRef="gw" targetRef="t3" />
    <bpmn:endEvent id="end"><bpmn:compensateEventDefinition /></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_every_problem_is_reported_in_one_pass_with_element_and_line() -> None:
    found = problems(SEVERAL, form_exists=lambda key: key != "missing_form", functions=["notify"])
    assert found == [
        (
            "complexGateway",
            "cg",
            7,
            "bpmn:complexGateway: complex gateways are not supported: "
            "use an exclusive, inclusive or parallel gateway",
        ),
        (
            "userTask",
            "t1",
            9,
            "2 outgoing flows leave this userTask: split the flow with a gateway "
            "(SpiffWorkflow runs one outgoing flow per task)",
        ),
        (
            "userTask",
            "t1",
            9,
            "user task without assignment: "
            "set camunda:assignee, camunda:candidateUsers or camunda:candidateGroups",
        ),
        (
            "sequenceFlow",
            "",
            12,
            "bpmn:sequenceFlow without id (SpiffWorkflow would silently drop it and what follows)",
        ),
        ("userTask", "t2", 13, "completion condition 'nr_approved >=' does not parse: invalid syntax"),
        (
            "intermediateCatchEvent",
            "w",
            18,
            "timeDuration '0 0/5 * * * ?' is a cron expression; cron is not supported: use an ISO 8601 "
            "repeating interval such as R/2026-01-05T08:00:00+08:00/P1D",
        ),
        (
            "scriptTask",
            "sc",
            21,
            "script tasks run a registered function named by their script; 'import os' is not one "
            "(no code from a model ever runs)",
        ),
        (
            "businessRuleTask",
            "rules",
            22,
            "business rule task without camunda:resultVariable: name the variable that receives the "
            "decision's result",
        ),
        ("callActivity", "call", 23, "called process 'elsewhere' is not deployed"),
        ("userTask", "t3", 24, "form 'missing_form' does not exist"),
        ("sequenceFlow", "f9", 25, "targetRef 'nowhere' does not name an element"),
        (
            "sequenceFlow",
            "g1",
            27,
            "flow leaving exclusiveGateway 'gw' has no condition and is not the gateway's default",
        ),
        (
            "sequenceFlow",
            "g2",
            28,
            "flow leaving exclusiveGateway 'gw' has no condition and is not the gateway's default",
        ),
        (
            "endEvent",
            "end",
            29,
            "bpmn:compensateEventDefinition is not supported "
            "(SpiffWorkflow would treat the event as a plain event)",
        ),
    ]


def test_condition_that_tries_to_escape_is_refused_at_deploy() -> None:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="gw" default="f2"/>'
            '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
            + chain("s", "gw")
            + '<bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="e1"><bpmn:conditionExpression>'
            "__import__('os').system('id')</bpmn:conditionExpression></bpmn:sequenceFlow>"
            '<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="e2"/>',
        )
    )
    assert problems(xml) == [
        (
            "sequenceFlow",
            "f1",
            4,
            "condition '__import__('os').system('id')' does not parse: calling '__import__' is not allowed",
        ),
    ]


@pytest.mark.parametrize(
    "condition",
    ["().__class__.__bases__[0].__subclasses__()", "open('/etc/passwd').read()", "eval('1')", "x.__dict__"],
)
def test_sandbox_escapes_are_refused_at_deploy(condition: str) -> None:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="gw" default="f2"/>'
            '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
            + chain("s", "gw")
            + f'<bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="e1"><bpmn:conditionExpression>'
            f"{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>"
            '<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="e2"/>',
        )
    )
    found = problems(xml)
    assert found
    assert all(f[:2] == ("sequenceFlow", "f1") and "does not parse" in f[3] for f in found)


def test_malformed_xml_names_the_line() -> None:
    assert problems(
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n<bpmn:process id="p">'
    ) == [("", "", 2, "malformed XML: Premature end of data in tag process line 2, line 2, column 22")]


def test_not_bpmn_and_empty_input() -> None:
    assert problems("<html/>") == [
        ("", "", 1, "not a BPMN 2.0 document (the root element must be bpmn:definitions)")
    ]
    assert problems(b"   ") == [("", "", None, "the BPMN file is empty")]


def test_external_entities_are_refused() -> None:
    xml = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + doc(
            proc("p", '<bpmn:startEvent id="s" name="&x;"/><bpmn:endEvent id="e"/>' + chain("s", "e"))
        ).split("?>", 1)[1]
    )
    assert problems(xml) == [
        ("", "", 4, "malformed XML: Attribute references external entity 'x', line 4, column 34")
    ]


def test_xml_schema_errors_are_all_reported() -> None:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:endEvent id="e"/>'
            + chain("s", "e")
            + '<bpmn:foo id="x"/><bpmn:bar/>',
        )
    )
    assert problems(xml) == [
        (
            "",
            "",
            4,
            "The file does not follow the BPMN schema: Element 'bpmn:foo': This element is not expected.",
        ),
        ("foo", "x", 4, "bpmn:foo is not supported"),
        ("bar", "", 4, "bpmn:bar is not supported"),
    ]
    xml = doc(proc("p", '<bpmn:startEvent id="s" foo="1"/><bpmn:endEvent id="e"/>' + chain("s", "e")))
    assert problems(xml) == [
        (
            "",
            "",
            4,
            "The file does not follow the BPMN schema: Element 'bpmn:startEvent', attribute 'foo': "
            "The attribute 'foo' is not allowed.",
        )
    ]


def test_no_executable_process() -> None:
    xml = doc('<bpmn:process id="p" isExecutable="false"><bpmn:startEvent id="s"/></bpmn:process>')
    assert problems(xml) == [("", "", None, 'no executable process (isExecutable="true") in this file')]


def test_unreachable_element_is_reported() -> None:
    xml = doc(proc("p", '<bpmn:startEvent id="s"/><bpmn:endEvent id="e"/>' + user("lost") + chain("s", "e")))
    assert problems(xml) == [
        ("userTask", "lost", 4, "not reachable from a start event (SpiffWorkflow would ignore it)")
    ]


def test_first_executable_process_is_the_main_one() -> None:
    xml = doc(
        '<bpmn:process id="draft" isExecutable="false"><bpmn:startEvent id="x"/></bpmn:process>',
        proc(
            "real", '<bpmn:startEvent id="s"/>' + user("t") + '<bpmn:endEvent id="e"/>' + chain("s", "t", "e")
        ),
    )
    assert parse_definition(xml).process_id == "real"


def test_user_task_assignment_in_the_activiti_namespace_counts() -> None:
    parsed = parse_definition(
        doc(
            proc(
                "p",
                '<bpmn:startEvent id="s"/><bpmn:userTask id="t" xmlns:act="http://activiti.org/bpmn" '
                'act:candidateUsers="kermit, gonzo" act:candidateGroups="management"/>'
                '<bpmn:endEvent id="e"/>' + chain("s", "t", "e"),
            )
        )
    )
    assert parsed.user_tasks["t"].candidate_users == ["kermit", "gonzo"]
    assert parsed.user_tasks["t"].candidate_groups == ["management"]


def test_service_task_without_a_function_is_refused() -> None:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:serviceTask id="x"/><bpmn:endEvent id="e"/>'
            + chain("s", "x", "e"),
        )
    )
    assert problems(xml) == [
        (
            "serviceTask",
            "x",
            4,
            "service task names no function: set camunda:class, camunda:delegateExpression, "
            'camunda:expression or camunda:type="external" with camunda:topic',
        )
    ]


def test_problem_str_and_dict() -> None:
    p = Problem("form '%(key)s' does not exist", {"key": "x"}, "t3", "userTask", 24)
    assert str(p) == "line 24: userTask 't3': form 'x' does not exist"
    assert p.as_dict() == {
        "message": "表单“x”不存在",
        "message_en": "form 'x' does not exist",
        "element_id": "t3",
        "element_type": "userTask",
        "line": 24,
    }


def test_problems_are_told_in_the_active_language() -> None:
    # given a problem whose parameters are translatable too (the wrapper of an expression error)
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="gw" default="f2"/>'
            '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
            + chain("s", "gw")
            + '<bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="e1"><bpmn:conditionExpression>'
            "days &gt;</bpmn:conditionExpression></bpmn:sequenceFlow>"
            '<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="e2"/><bpmn:foo id="x"/>',
        )
    )
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(xml)
    schema, condition, unsupported = info.value.problems

    # then each renders in the language active when it is read; the details from lxml and the
    # expression language stay English inside the translated wrapper
    with translation.override("zh-hans"):
        assert (
            schema.message
            == "文件不符合 BPMN 规范（XML Schema）：Element 'bpmn:foo': This element is not expected."
        )
        assert condition.message.startswith("条件“days >”无法解析：")
        assert unsupported.message == "不支持 bpmn:foo"
    with translation.override("en"):
        assert unsupported.message == "bpmn:foo is not supported"
    assert condition.message_en.startswith("condition 'days >' does not parse: ")
    assert schema.msgid == "The file does not follow the BPMN schema: %(detail)s"


def test_expression_errors_in_problems_are_told_in_chinese() -> None:
    # given a condition the expression language refuses (a lambda)
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="gw" default="f2"/>'
            '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
            + chain("s", "gw")
            + '<bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="e1"><bpmn:conditionExpression>'
            "(lambda: 1)()</bpmn:conditionExpression></bpmn:sequenceFlow>"
            '<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="e2"/>',
        )
    )
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(xml)
    (problem,) = info.value.problems

    # then the rules engine's catalog translates the reason, the construct's name included
    with translation.override("zh-hans"):
        assert problem.message == "条件“(lambda: 1)()”无法解析：不允许使用 lambda"
    assert problem.message_en == "condition '(lambda: 1)()' does not parse: lambda is not allowed"


def test_cached_definition_parses_once_per_version() -> None:
    clear_definition_cache()
    calls = []

    def loader() -> tuple[str, dict]:
        calls.append(1)
        return read("leave.bpmn"), {}

    first = cached_definition(101, "a", loader)
    second = cached_definition(101, "a", loader)
    assert first is second
    assert len(calls) == 1
    assert cached_definition(102, "a", loader) is not first
    assert len(calls) == 2
    Workflow.start(first, {"initiator": "bob", "days": 1})


def test_cached_definition_keys_on_the_checksum_too() -> None:
    # given version id 5 cached for one document (then rolled back: SQLite reuses the id)
    clear_definition_cache()
    first = cached_definition(5, "sum-a", lambda: (read("leave.bpmn"), {}))
    other = doc(
        proc(
            "other",
            '<bpmn:startEvent id="s"/>' + user("t") + '<bpmn:endEvent id="e"/>' + chain("s", "t", "e"),
        )
    )

    # when id 5 comes back for another document
    second = cached_definition(5, "sum-b", lambda: (other, {}))

    # then the other document is parsed, and the first stays cached under its own checksum
    assert (first.process_id, second.process_id) == ("leave", "other")
    assert cached_definition(5, "sum-a", lambda: pytest.fail("parsed again")) is first
    clear_definition_cache()


def test_cached_definition_is_thread_safe_and_bounded() -> None:
    clear_definition_cache()
    results = []

    def work(version: int) -> None:
        results.append(cached_definition(version % 3, "a", lambda: (read("leave.bpmn"), {})))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in results}) == 3
    for version in range(300):
        cached_definition(1000 + version, "a", lambda: (read("leave.bpmn"), {}))
    from medoa.engines.flow.spiff import definition

    assert len(definition._cache) == 256
    clear_definition_cache()


def test_cached_definition_skips_deploy_only_checks() -> None:
    xml = doc(
        proc(
            "p",
            '<bpmn:startEvent id="s"/><bpmn:scriptTask id="calc"><bpmn:script>flowtest.nothing</bpmn:script>'
            "</bpmn:scriptTask>"
            + user("t", extra='camunda:formKey="f"')
            + '<bpmn:endEvent id="e"/>'
            + chain("s", "calc", "t", "e"),
        )
    )
    clear_definition_cache()
    parsed = cached_definition(7, "a", lambda: (xml, {}))
    assert parsed.process_id == "p"
    clear_definition_cache()
