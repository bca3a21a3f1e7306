"""Rules: the save-time checks (table), evaluation through the dispatcher, failures recorded not
raised, redelivery does not repeat actions, loops stopped at save and at run time, schedules fired
once per due time, the dry run changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from medoa.core.audit.models import AuditEntry
from medoa.core.events import publish
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.models import Event
from medoa.core.notify.models import Notification
from medoa.core.org.models import Staff
from medoa.engines.rules import engine, selectors, services
from medoa.engines.rules.errors import RuleInvalid, RulesPermissionDenied
from medoa.engines.rules.models import Rule, RuleEvaluation, RuleExecution, RuleVersion

from .conftest import CALLS, PING

pytestmark = pytest.mark.usefixtures("test_types")


def rule_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "ping rule",
        "trigger_kind": "event",
        "event_type": PING.name,
        "condition": "payload.n < 3",
        "actions": [{"type": "testrules.record", "params": {}}],
        "priority": 100,
        "enabled": True,
    }
    data.update(overrides)
    return data


def refused(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(RuleInvalid) as info:
        engine.rule_check(data)
    return [(e["field"], e["message_en"]) for e in info.value.errors]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": " "}, [("name", "Give the rule a name.")]),
        (
            {"event_type": "nobody.registers.this"},
            [("event_type", "Unknown event type: nobody.registers.this.")],
        ),
        ({"event_type": "Not A Type"}, [("event_type", "Unknown event type: Not A Type.")]),
        (
            {"trigger_kind": "schedule", "schedule": "61 * * * *"},
            [("schedule", "The schedule does not parse: minute: “61” is outside 0–59")],
        ),
        (
            {"condition": "payload.n <"},
            [("condition", "Line 1, column 12: invalid syntax")],
        ),
        (
            {"condition": "payload.n > 1 and\nbed == 2"},
            [("condition", "Line 2, column 1: name 'bed' is not defined")],
        ),
        (
            {"condition": "payload.__class__"},
            [("condition", "Line 1, column 9: attribute access to '__class__' is not allowed")],
        ),
        ({"actions": []}, [("actions", "Add at least one action.")]),
        (
            {"actions": [{"type": "nope.nothing", "params": {}}]},
            [("actions.0.type", "Unknown action type: nope.nothing.")],
        ),
        (
            {"actions": [{"type": "rules.notify", "params": {"users": ["x"], "title": "{a.b}"}}]},
            [("actions.0.params.title", "not a usable template: {a.b} is not a plain variable name")],
        ),
        (
            {"actions": [{"type": "rules.notify", "params": {"title": "hi"}}]},
            [("actions.0.params", "name at least one user, role or payload field")],
        ),
        (
            {"actions": [{"type": "rules.notify", "params": {"users": ["ghost"], "title": "hi"}}]},
            [("actions.0.params", "Unknown username.")],
        ),
        (
            {"actions": [{"type": "rules.notify", "params": {"roles": ["hr"], "template": "no.such"}}]},
            [("actions.0.params", "There is no message template with this key.")],
        ),
        (
            {"actions": [{"type": "testrules.republish", "params": {}}]},
            [
                (
                    "actions.0.type",
                    "This action may publish testrules.ping.sent, the event that triggers the rule: "
                    "it would trigger itself.",
                )
            ],
        ),
        (
            {"actions": [{"type": "testrules.flowish", "params": {}}]},
            [
                (
                    "actions.0.type",
                    "This action may publish testrules.ping.sent, the event that triggers the rule: "
                    "it would trigger itself.",
                )
            ],
        ),
        ({"priority": "high"}, [("priority", "The priority is a whole number from -10000 to 10000.")]),
    ],
)
def test_rule_check_refuses(overrides: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    got = refused(rule_data(**overrides))
    assert [(f, m.split(" (line")[0]) for f, m in got] == expected


@pytest.mark.django_db
def test_condition_error_carries_its_position() -> None:
    with pytest.raises(RuleInvalid) as info:
        engine.rule_check(rule_data(condition="payload.n >= 1 and (payload.n <"))
    error = info.value.errors[0]
    assert (error["field"], error["line"], error["column"], error["position"]) == ("condition", 1, 20, 19)
    assert error["message_en"] == "Line 1, column 20: '(' was never closed"
    assert error["message"].startswith("第 1 行第 20 列：")


@pytest.mark.django_db
def test_disabled_rule_is_a_draft_its_references_checked_when_enabled(designer: Staff) -> None:
    data = rule_data(event_type="nobody.registers.this", enabled=False)
    rule = services.rule_create(actor=designer.user, data=data)
    assert (rule.enabled, rule.version) == (False, 1)
    with pytest.raises(RuleInvalid):
        services.rule_update(actor=designer.user, rule_id=rule.pk, data={**data, "enabled": True})
    rule.refresh_from_db()
    assert (rule.enabled, rule.version, RuleVersion.objects.filter(rule=rule).count()) == (False, 1, 1)


@pytest.mark.django_db
def test_saving_writes_versions_and_audit(designer: Staff) -> None:
    rule = services.rule_create(actor=designer.user, data=rule_data())
    services.rule_update(actor=designer.user, rule_id=rule.pk, data=rule_data(priority=5))
    services.rule_update(actor=designer.user, rule_id=rule.pk, data=rule_data(priority=5))  # unchanged
    rule.refresh_from_db()
    assert rule.version == 2
    assert [(v.version, v.data["priority"]) for v in rule.versions.order_by("version")] == [(1, 100), (2, 5)]
    actions = AuditEntry.objects.filter(action__startswith="rules.rule.").order_by("pk")
    assert list(actions.values_list("action", flat=True)) == ["rules.rule.created", "rules.rule.updated"]


@pytest.mark.django_db
def test_save_needs_the_permission(person: Callable[..., Staff]) -> None:
    nurse = person("nurse", username="nurse_li")
    with pytest.raises(RulesPermissionDenied):
        services.rule_create(actor=nurse.user, data=rule_data())
    assert Rule.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rules_run_in_priority_order_with_their_conditions(designer: Staff) -> None:
    late = services.rule_create(actor=designer.user, data=rule_data(name="late", priority=200))
    early = services.rule_create(actor=designer.user, data=rule_data(name="early", priority=1))
    never = services.rule_create(
        actor=designer.user, data=rule_data(name="never", condition="payload.n > 100")
    )
    off = services.rule_create(actor=designer.user, data=rule_data(name="off", enabled=False))
    with transaction.atomic():
        event = publish(PING.name, {"n": 1})
    dispatch_until_idle()
    assert [(event.pk, early.pk), (event.pk, late.pk)] == CALLS
    rows = {
        r.rule_id: (r.status, r.matched, r.rule_version) for r in RuleExecution.objects.filter(event=event)
    }
    assert rows == {early.pk: ("done", True, 1), late.pk: ("done", True, 1)}
    summary = RuleEvaluation.objects.get(event=event)
    assert (summary.evaluated, summary.matched, summary.not_matched, summary.stopped) == (
        [[early.pk, 1], [never.pk, 1], [late.pk, 1]],
        [early.pk, late.pk],
        [never.pk],
        [],
    )
    assert (summary.event_type, summary.not_matched_count) == (PING.name, 1)
    assert off.pk not in rows


@pytest.mark.django_db(transaction=True)
def test_a_failing_action_is_recorded_and_the_others_still_run(designer: Staff) -> None:
    rule = services.rule_create(
        actor=designer.user,
        data=rule_data(
            actions=[
                {"type": "testrules.boom", "params": {}},
                {"type": "testrules.record", "params": {}},
            ]
        ),
    )
    with transaction.atomic():
        event = publish(PING.name, {"n": 0})
    dispatch_until_idle()
    row = RuleExecution.objects.get(event=event, rule=rule)
    assert row.status == "partial"
    assert row.actions == [
        {"type": "testrules.boom", "ok": False, "error": "RuntimeError: the module refused"},
        {"type": "testrules.record", "ok": True, "outcome": {"n": 1}},
    ]
    assert event.deliveries.get(subscriber="rules.evaluate").status == "delivered"


@pytest.mark.django_db
def test_a_redelivered_event_does_not_repeat_a_rule(designer: Staff) -> None:
    rule = services.rule_create(actor=designer.user, data=rule_data())
    event = publish(PING.name, {"n": 0})
    engine.evaluate_event(event)
    engine.evaluate_event(event)  # the same event again (a retry after a later subscriber failed)
    assert [(event.pk, rule.pk)] == CALLS
    assert RuleExecution.objects.filter(event=event).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rule_that_triggers_itself_at_run_time_is_stopped(designer: Staff) -> None:
    rule = services.rule_create(
        actor=designer.user,
        data=rule_data(condition="", actions=[{"type": "testrules.sneaky", "params": {}}]),
    )
    with transaction.atomic():
        first = publish(PING.name, {"n": 0})
    dispatch_until_idle()
    events = list(Event.objects.filter(type=PING.name).order_by("id"))
    assert [(e.pk == first.pk, e.depth, e.cause_id) for e in events] == [
        (True, 0, None),
        (False, 1, first.pk),
    ]
    rows = list(
        RuleExecution.objects.filter(rule=rule).order_by("id").values_list("event_id", "status", "error")
    )
    assert rows == [
        (first.pk, "done", ""),
        (
            events[1].pk,
            "stopped",
            "stopped: this rule already ran for an event that caused this one (a loop)",
        ),
    ]


@pytest.mark.django_db
def test_a_chain_deeper_than_the_limit_is_stopped(designer: Staff) -> None:
    rule = services.rule_create(actor=designer.user, data=rule_data(condition=""))
    event = publish(PING.name, {"n": 0})
    Event.objects.filter(pk=event.pk).update(depth=engine.MAX_CHAIN_DEPTH + 1)
    event.refresh_from_db()
    engine.evaluate_event(event)
    row = RuleExecution.objects.get(rule=rule)
    assert row.status == "stopped"
    assert "9 deep" in row.error
    assert CALLS == []


@pytest.mark.django_db
def test_a_condition_that_fails_is_logged_as_failed(designer: Staff) -> None:
    rule = services.rule_create(actor=designer.user, data=rule_data(condition="payload.missing > 1"))
    event = publish(PING.name, {"n": 0})
    engine.evaluate_event(event)
    row = RuleExecution.objects.get(rule=rule)
    assert (row.status, row.matched) == ("failed", False)
    assert row.error.startswith("condition: key 'missing' not found")
    assert CALLS == []


@pytest.mark.django_db
def test_a_schedule_fires_once_per_due_time(designer: Staff) -> None:
    rule = services.rule_create(
        actor=designer.user,
        data=rule_data(trigger_kind="schedule", schedule="*/5 * * * *", event_type="", condition=""),
    )
    assert rule.next_run_at is not None and rule.next_run_at > timezone.now()
    due = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    Rule.objects.filter(pk=rule.pk).update(next_run_at=due)
    assert engine.cron_job() == 1
    assert engine.cron_job() == 0
    row = RuleExecution.objects.get(rule=rule)
    assert (row.scheduled_for, row.status, row.event_id) == (due, "done", None)
    rule.refresh_from_db()
    assert rule.next_run_at is not None and rule.next_run_at > timezone.now()
    assert rule.next_run_at.minute % 5 == 0
    # a second worker that read the same due time before the first one moved it: nothing twice
    Rule.objects.filter(pk=rule.pk).update(next_run_at=due)
    assert engine.cron_job() == 0
    assert RuleExecution.objects.filter(rule=rule).count() == 1
    assert [(None, rule.pk)] == CALLS


@pytest.mark.django_db
def test_dry_run_shows_parts_and_actions_and_changes_nothing(
    designer: Staff, person: Callable[..., Staff]
) -> None:
    hr = person("hr", username="hr_wu")
    person("nurse", username="nurse_li")
    rule = services.rule_create(
        actor=designer.user,
        data=rule_data(
            condition="payload.n >= 1 and payload.who == 'nurse_li'",
            actions=[
                {
                    "type": "rules.notify",
                    "params": {"payload_fields": ["who"], "roles": ["hr"], "title": "ping {n} for {who}"},
                }
            ],
        ),
    )
    result = services.rule_dry_run(actor=designer.user, rule_id=rule.pk, payload={"n": 0, "who": "nurse_li"})
    assert result["matched"] is False
    assert result["condition"]["parts"] == [
        {"source": "payload.n >= 1", "value": False},
        {"source": "payload.who == 'nurse_li'", "value": True},
    ]
    assert result["actions"][0]["would_run"] is False
    preview = result["actions"][0]["preview"]
    assert {**preview, "recipients": sorted(preview["recipients"])} == {
        "recipients": sorted(["nurse_li", hr.user.username]),
        "title": "ping 0 for nurse_li",
        "body": "",
        "link": "",
    }
    event = publish(PING.name, {"n": 2, "who": "nurse_li"})
    past = services.rule_dry_run(actor=designer.user, rule_id=rule.pk, event_id=event.pk)
    assert (past["matched"], past["event"], past["actions"][0]["would_run"]) == (True, event.pk, True)
    assert Notification.objects.count() == 0
    assert RuleExecution.objects.count() == RuleEvaluation.objects.count() == 0


@pytest.mark.django_db
def test_dry_run_refuses_a_payload_that_does_not_match(designer: Staff) -> None:
    rule = services.rule_create(actor=designer.user, data=rule_data())
    with pytest.raises(RuleInvalid) as info:
        services.rule_dry_run(actor=designer.user, rule_id=rule.pk, payload={"n": "many"})
    assert [e["field"] for e in info.value.errors] == ["payload.n"]


@pytest.mark.django_db
def test_one_summary_per_event_even_on_redelivery_and_matched_actions_not_repeated(designer: Staff) -> None:
    hit = services.rule_create(actor=designer.user, data=rule_data(name="hit", condition="payload.n == 1"))
    miss = services.rule_create(actor=designer.user, data=rule_data(name="miss", condition="payload.n == 2"))
    event = publish(PING.name, {"n": 1})
    engine.evaluate_event(event)
    engine.evaluate_event(event)  # a redelivery: nothing new, nothing again
    assert list(RuleExecution.objects.values_list("event_id", "rule_id", "status")) == [
        (event.pk, hit.pk, "done")
    ]
    assert list(RuleEvaluation.objects.values_list("event_id", "evaluated", "matched", "not_matched")) == [
        (event.pk, [[hit.pk, 1], [miss.pk, 1]], [hit.pk], [miss.pk])
    ]
    assert [(event.pk, hit.pk)] == CALLS
    # A rule enabled between two deliveries is evaluated by the next one, into the same summary.
    late = services.rule_create(actor=designer.user, data=rule_data(name="late", condition="payload.n == 3"))
    engine.evaluate_event(event)
    engine.evaluate_event(event)
    summary = RuleEvaluation.objects.get()
    assert (summary.evaluated, summary.not_matched, summary.not_matched_count) == (
        [[hit.pk, 1], [miss.pk, 1], [late.pk, 1]],
        [miss.pk, late.pk],
        2,
    )
    assert RuleExecution.objects.count() == 1
    assert [(event.pk, hit.pk)] == CALLS


@pytest.mark.django_db
def test_the_log_says_whether_a_rule_was_evaluated_for_an_event_and_matched(
    designer: Staff, person: Callable[..., Staff]
) -> None:
    one = services.rule_create(actor=designer.user, data=rule_data(name="one", condition="payload.n == 1"))
    # more rules, so that a rule id is a prefix or part of another's (1 and 11, 2 and 12 …)
    others = [
        services.rule_create(actor=designer.user, data=rule_data(name=f"r{i}", condition="payload.n == 7"))
        for i in range(11)
    ]
    first = publish(PING.name, {"n": 1})
    second = publish(PING.name, {"n": 2})
    engine.evaluate_event(first)
    engine.evaluate_event(second)
    user = designer.user

    def seen(**filters: Any) -> list[tuple[int | None, int, str, int | None]]:
        log = selectors.execution_log(user=user, **filters)
        return [(e.event_id, e.rule_id, e.status, e.execution) for e in log[0 : len(log)]]

    done = RuleExecution.objects.get().pk
    assert seen(rule_id=one.pk) == [
        (second.pk, one.pk, "not_matched", None),
        (first.pk, one.pk, "done", done),
    ]
    assert seen(rule_id=one.pk, event_id=first.pk) == [(first.pk, one.pk, "done", done)]
    assert seen(rule_id=one.pk, event_id=second.pk) == [(second.pk, one.pk, "not_matched", None)]
    assert seen(rule_id=one.pk, status="done") == [(first.pk, one.pk, "done", done)]
    assert seen(rule_id=one.pk, status="not_matched") == [(second.pk, one.pk, "not_matched", None)]
    last = others[-1]
    assert seen(rule_id=last.pk) == [
        (second.pk, last.pk, "not_matched", None),
        (first.pk, last.pk, "not_matched", None),
    ]
    everything = selectors.execution_log(user=user)
    assert len(everything) == 1 + 11 + 12  # one done; 11 and 12 rules not matched
    assert [(e.event_id, e.status) for e in everything[0:3]] == [
        (second.pk, "not_matched"),
        (second.pk, "not_matched"),
        (second.pk, "not_matched"),
    ]
    assert {e.rule_name for e in everything[0:12]} == {"one"} | {f"r{i}" for i in range(11)}
    assert (everything[23:24][0].event_id, everything[23:24][0].status) in {
        (first.pk, "done"),
        (first.pk, "not_matched"),
    }
    assert sorted(e.status for e in everything[12:24]) == ["done"] + ["not_matched"] * 11
    nurse = person("nurse", username="nurse_li")
    assert len(selectors.execution_log(user=nurse.user, rule_id=one.pk)) == 0
