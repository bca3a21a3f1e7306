"""Timers: boundary (interrupting, non-interrupting, cycles), intermediate, timer start events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medoa.engines.flow.spiff import DefinitionInvalid, Workflow, parse_definition

from .bpmn import chain, doc, flow, proc, user
from .conftest import FakeClock


def boundary(interrupting: bool, timer: str = "<bpmn:timeDuration>PT2H</bpmn:timeDuration>") -> str:
    return doc(
        proc(
            "p",
            f"""<bpmn:startEvent id="s"/>{user("approve")}<bpmn:endEvent id="e"/>
            <bpmn:boundaryEvent id="bt" attachedToRef="approve" cancelActivity="{str(interrupting).lower()}">
              <bpmn:timerEventDefinition>{timer}</bpmn:timerEventDefinition></bpmn:boundaryEvent>
            {user("escalate", "boss")}<bpmn:endEvent id="e2"/>"""
            + chain("s", "approve", "e")
            + chain("bt", "escalate", "e2"),
        )
    )


def steps(wf: Workflow) -> list[str]:
    return sorted(t.step_id for t in wf.ready_user_tasks())


def test_interrupting_boundary_timer_cancels_the_task(clock: FakeClock) -> None:
    # given a task with a 2 hour interrupting timer
    wf = Workflow.start(parse_definition(boundary(True)), {})
    assert steps(wf) == ["approve"]
    assert wf.next_due() == clock.current + timedelta(hours=2)
    # when one hour passes nothing happens
    clock.advance(hours=1)
    wf.refresh_timers()
    assert steps(wf) == ["approve"]
    # when the second hour passes, the task is cancelled and the escalation is ready
    clock.advance(hours=1, seconds=1)
    wf.refresh_timers()
    assert steps(wf) == ["escalate"]
    assert wf.next_due() is None
    (escalate,) = wf.ready_user_tasks()
    wf.complete_user_task(escalate.spiff_id, {})
    assert wf.completed is True


def test_non_interrupting_boundary_timer_keeps_the_task(clock: FakeClock) -> None:
    parsed = parse_definition(boundary(False))
    wf = Workflow.start(parsed, {})
    clock.advance(hours=2, seconds=1)
    wf = Workflow.load(parsed, wf.dump())
    wf.refresh_timers()
    assert steps(wf) == ["approve", "escalate"]
    for task in wf.ready_user_tasks():
        wf.complete_user_task(task.spiff_id, {})
    assert wf.completed is True


def test_cycle_boundary_reminds_twice(clock: FakeClock) -> None:
    # given a non-interrupting R2/PT1H reminder
    wf = Workflow.start(parse_definition(boundary(False, "<bpmn:timeCycle>R2/PT1H</bpmn:timeCycle>")), {})
    assert wf.next_due() == clock.current + timedelta(hours=1)
    shares = []
    for _ in range(3):
        clock.advance(hours=1, seconds=1)
        wf.refresh_timers()
        shares.append(sorted(t.step_id for t in wf.ready_user_tasks()))
    # then it fired twice and no more
    assert shares == [
        ["approve", "escalate"],
        ["approve", "escalate", "escalate"],
        ["approve", "escalate", "escalate"],
    ]


def test_intermediate_timer_with_an_expression_and_next_due(clock: FakeClock) -> None:
    xml = doc(
        proc(
            "p",
            """<bpmn:startEvent id="s"/>
            <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>
              <bpmn:timeDate>${deadline}</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"""
            + user("after")
            + '<bpmn:endEvent id="e"/>'
            + chain("s", "wait", "after", "e"),
        )
    )
    wf = Workflow.start(parse_definition(xml), {"deadline": "2026-03-03T08:00:00+08:00"})
    assert steps(wf) == []
    assert wf.next_due() == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    clock.current = datetime(2026, 3, 3, 0, 0, 1, tzinfo=UTC)
    wf.refresh_timers()
    assert steps(wf) == ["after"]
    assert wf.next_due() is None


def test_intermediate_timer_duration_computed_by_an_expression(clock: FakeClock) -> None:
    xml = doc(
        proc(
            "p",
            """<bpmn:startEvent id="s"/>
            <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>
              <bpmn:timeDuration>${hours(wait_hours)}</bpmn:timeDuration></bpmn:timerEventDefinition>
            </bpmn:intermediateCatchEvent><bpmn:endEvent id="e"/>"""
            + chain("s", "wait", "e"),
        )
    )
    wf = Workflow.start(parse_definition(xml), {"wait_hours": 3})
    assert wf.next_due() == clock.current + timedelta(hours=3)


def test_naive_time_date_is_read_in_the_hospital_time_zone(clock: FakeClock, settings) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    xml = doc(
        proc(
            "p",
            """<bpmn:startEvent id="s"/><bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>
              <bpmn:timeDate>2026-03-04T09:00:00</bpmn:timeDate></bpmn:timerEventDefinition>
            </bpmn:intermediateCatchEvent><bpmn:endEvent id="e"/>"""
            + chain("s", "wait", "e"),
        )
    )
    wf = Workflow.start(parse_definition(xml), {})
    assert wf.next_due() == datetime(2026, 3, 4, 1, 0, tzinfo=UTC)


def test_timer_start_event_moves_to_the_definition(clock: FakeClock) -> None:
    # given a weekly timer start event
    xml = doc(
        proc(
            "weekly",
            """<bpmn:startEvent id="s"><bpmn:timerEventDefinition>
              <bpmn:timeCycle>R/2026-01-05T08:00:00+08:00/P7D</bpmn:timeCycle>
            </bpmn:timerEventDefinition></bpmn:startEvent>"""
            + user("check")
            + '<bpmn:endEvent id="e"/>'
            + chain("s", "check", "e"),
        )
    )
    parsed = parse_definition(xml)
    # then the schedule is on the definition for the worker
    assert parsed.timer_start == "R/2026-01-05T08:00:00+08:00/P7D"
    assert parsed.metadata["timer_start"] == "R/2026-01-05T08:00:00+08:00/P7D"
    # and an instance starts at once, with no timer of its own
    wf = Workflow.start(parsed, {})
    assert steps(wf) == ["check"]
    assert wf.next_due() is None


def test_timer_start_event_needs_a_literal() -> None:
    xml = doc(
        proc(
            "p",
            """<bpmn:startEvent id="s"><bpmn:timerEventDefinition>
              <bpmn:timeDate>${when}</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:startEvent>
            <bpmn:endEvent id="e"/>"""
            + chain("s", "e"),
        )
    )
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(xml)
    assert [(p.element_id, p.message_en) for p in info.value.problems] == [
        (
            "s",
            "a timer start event needs a literal ISO 8601 date, duration or cycle "
            "(there are no variables before the instance starts)",
        )
    ]


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (
            "timeCycle",
            "0 0/5 * * * ?",
            "timeCycle '0 0/5 * * * ?' is a cron expression; cron is not supported: use an ISO 8601 "
            "repeating interval such as R/2026-01-05T08:00:00+08:00/P1D",
        ),
        ("timeDuration", "P1W2D", "timeDuration 'P1W2D' is not a valid ISO 8601 duration (e.g. PT2H, P3D)"),
        ("timeDuration", "", "empty timeDuration"),
        (
            "timeDuration",
            "${hours(}",
            "timeDuration '${hours(}' is neither ISO 8601 nor an expression: ",
        ),
    ],
)
def test_bad_timer_text_is_refused(kind: str, text: str, message: str) -> None:
    xml = doc(
        proc(
            "p",
            f"""<bpmn:startEvent id="s"/><bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>
              <bpmn:{kind}>{text}</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
            <bpmn:endEvent id="e"/>"""
            + chain("s", "wait", "e"),
        )
    )
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(xml)
    (found,) = info.value.problems
    assert found.element_id == "wait"
    assert found.element_type == "intermediateCatchEvent"
    assert found.line == 4
    assert found.message_en.startswith(message)


def test_event_based_gateway_timer_wins(clock: FakeClock) -> None:
    wf = Workflow.start(parse_definition(EVENT_GATEWAY), {})
    assert wf.waiting_messages() == {"cancel_request"}
    assert wf.next_due() == clock.current + timedelta(hours=1)
    clock.advance(hours=1, seconds=1)
    wf.refresh_timers()
    assert steps(wf) == ["remind"]
    assert wf.waiting_messages() == set()


def test_event_based_gateway_message_wins(clock: FakeClock) -> None:
    wf = Workflow.start(parse_definition(EVENT_GATEWAY), {})
    assert wf.send_message("cancel_request", {"reason": "duplicate"}) is True
    assert steps(wf) == ["confirm_cancel"]
    assert wf.ready_user_tasks()[0].data == {"reason": "duplicate"}
    assert wf.next_due() is None


EVENT_GATEWAY = doc(
    '<bpmn:message id="m_cancel" name="cancel_request"/>',
    proc(
        "p",
        """<bpmn:startEvent id="s"/><bpmn:eventBasedGateway id="g"/>
        <bpmn:intermediateCatchEvent id="got_cancel"><bpmn:messageEventDefinition messageRef="m_cancel"/>
        </bpmn:intermediateCatchEvent>
        <bpmn:intermediateCatchEvent id="timeout"><bpmn:timerEventDefinition>
          <bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"""
        + user("confirm_cancel")
        + user("remind")
        + '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
        + chain("s", "g", "got_cancel", "confirm_cancel", "e1")
        + flow("f9", "g", "timeout")
        + chain("timeout", "remind", "e2"),
    ),
)


def test_migration_keeps_when_a_waiting_timer_is_due(clock: FakeClock) -> None:
    # given an instance whose 2 hour timer started at 08:00
    v1 = parse_definition(boundary(True))
    wf = Workflow.start(v1, {})
    due = wf.next_due()
    # when it migrates an hour later to a version with one more step after the escalation
    clock.advance(hours=1)
    v2 = parse_definition(
        boundary(True).replace(
            '<bpmn:sequenceFlow id="f_escalate_e2" sourceRef="escalate" targetRef="e2"></bpmn:sequenceFlow>',
            user("record", "clerk")
            + flow("f_escalate_e2", "escalate", "record")
            + flow("f_record_e2", "record", "e2"),
        )
    )
    assert "record" in v2.user_tasks
    wf.migrate(v2)
    # then the timer is still due at 10:00, and the new version's path is taken when it fires
    assert wf.next_due() == due
    clock.advance(hours=1, seconds=1)
    wf.refresh_timers()
    assert steps(wf) == ["escalate"]
    (escalate,) = wf.ready_user_tasks()
    wf.complete_user_task(escalate.spiff_id, {})
    assert steps(wf) == ["record"]
