"""The built-in actions for real: the demo certificate rule end to end (publish → dispatcher →
notifications to the person and 人事处 in their languages), a supervised task (acknowledgement and
escalation), a signed webhook to a local HTTP server, a DMN decision feeding a later action,
flow.start's checks; and the cron parser."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from medoa.core.events import publish
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.notify.models import Notification, NotificationPreference
from medoa.core.org.models import Staff
from medoa.engines.rules import engine, services
from medoa.engines.rules.cron import CronError, parse_cron
from medoa.engines.rules.demo import DEMO_RULES, demo_load
from medoa.engines.rules.errors import RuleInvalid
from medoa.engines.rules.models import Rule, RuleEvaluation, RuleExecution

from .conftest import PING

CERT = DEMO_RULES[0]


def _demo_data() -> dict[str, Any]:
    return {k: v for k, v in CERT.items() if k != "template_key"}


@pytest.mark.django_db(transaction=True)
def test_demo_certificate_rule_end_to_end(designer: Staff, person: Callable[..., Staff]) -> None:
    doctor = person("doctor", username="dr_wang")
    hr1 = person("hr", username="hr_wu")
    hr2 = person("hr", username="hr_zhao")
    NotificationPreference.objects.create(user=hr2.user, language="en")
    rule = services.rule_create(actor=designer.user, data=_demo_data())
    soon = (timezone.localdate() + dt.timedelta(days=20)).isoformat()
    later = (timezone.localdate() + dt.timedelta(days=90)).isoformat()
    with transaction.atomic():
        event = publish(
            "hr.certificate.expiring",
            {"staff": "dr_wang", "certificate": "执业证书", "expires_on": soon},
            key=f"cert:dr_wang:执业证书:{soon}",
        )
        far = publish(
            "hr.certificate.expiring", {"staff": "dr_wang", "certificate": "ACLS", "expires_on": later}
        )
    dispatch_until_idle()
    got = {
        n.recipient.username: (n.title, n.body, n.kind)
        for n in Notification.objects.select_related("recipient").order_by("pk")
    }
    assert got == {
        "dr_wang": (
            "证书即将到期：执业证书",
            f"dr_wang 的执业证书将于 {soon} 到期，请及时办理延续。",
            "reminder",
        ),
        "hr_wu": (
            "证书即将到期：执业证书",
            f"dr_wang 的执业证书将于 {soon} 到期，请及时办理延续。",
            "reminder",
        ),
        "hr_zhao": (
            "Certificate expiring: 执业证书",
            f"dr_wang's 执业证书 expires on {soon}; please arrange its renewal.",
            "reminder",
        ),
    }
    run = RuleExecution.objects.get(event=event, rule=rule)
    assert (run.status, run.actions[0]["ok"]) == ("done", True)
    assert sorted(run.actions[0]["outcome"]["recipients"]) == ["dr_wang", "hr_wu", "hr_zhao"]
    assert not RuleExecution.objects.filter(event=far).exists()
    assert RuleEvaluation.objects.get(event=far).not_matched == [rule.pk]
    assert {doctor.user.pk, hr1.user.pk, hr2.user.pk} == set(
        Notification.objects.values_list("recipient", flat=True)
    )


@pytest.mark.django_db
def test_demo_loader_is_idempotent_and_enables_only_the_certificate_rule(
    person: Callable[..., Staff],
) -> None:

    person("sys_admin", username="admin")
    demo_load(password="x")
    demo_load(password="x")
    rules = {r.template_key: (r.enabled, r.event_type) for r in Rule.objects.all()}
    assert rules == {
        "demo.certificate_expiring": (True, "hr.certificate.expiring"),
        "demo.critical_value": (False, "clinical.critical_value.received"),
        "demo.or_overrun": (False, "resources.or.overrun"),
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("test_types")
def test_supervised_task_requires_ack_and_escalates_to_the_role(
    designer: Staff, person: Callable[..., Staff]
) -> None:
    person("nurse", username="nurse_li")
    services.rule_create(
        actor=designer.user,
        data={
            "name": "督办",
            "event_type": PING.name,
            "actions": [
                {
                    "type": "rules.supervise",
                    "params": {
                        "payload_fields": ["who"],
                        "title": "请处理 {n}",
                        "ack_within_minutes": 15,
                        "escalate_roles": ["head_nurse"],
                    },
                }
            ],
            "enabled": True,
        },
    )
    before = timezone.now()
    engine.evaluate_event(publish(PING.name, {"n": 7, "who": "nurse_li"}))
    note = Notification.objects.get()
    assert (note.recipient.username, note.title, note.requires_ack, note.escalate_to) == (
        "nurse_li",
        "请处理 7",
        True,
        {"role": "head_nurse"},
    )
    assert note.ack_by is not None
    assert dt.timedelta(minutes=14) < note.ack_by - before < dt.timedelta(minutes=16)


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    answer = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(_Hook.answer)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    _Hook.received = []
    _Hook.answer = 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
@pytest.mark.usefixtures("test_types")
def test_webhook_is_signed_idempotent_by_event_and_recorded(
    designer: Staff, hook_url: str, settings: Any
) -> None:
    settings.MEDOA_RULES_WEBHOOK_SECRET = "s3cret"
    rule = services.rule_create(
        actor=designer.user,
        data={
            "name": "hook",
            "event_type": PING.name,
            "actions": [{"type": "rules.webhook", "params": {"url": hook_url, "timeout_seconds": 2}}],
            "enabled": True,
        },
    )
    event = publish(PING.name, {"n": 1})
    engine.evaluate_event(event)
    headers, body = _Hook.received[0]
    sent = json.loads(body)
    assert sent["event"] == {
        "id": event.pk,
        "type": PING.name,
        "payload": {"n": 1, "who": ""},
        "created_at": event.created_at.isoformat(),
    }
    assert sent["rule"] == {"id": rule.pk, "name": "hook", "version": 1}
    assert headers["idempotency-key"] == f"event:{event.pk}:rule:{rule.pk}:action:0"
    ts = headers["x-medoa-timestamp"]
    expected = hmac.new(b"s3cret", f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["x-medoa-signature"] == f"sha256={expected}"
    row = RuleExecution.objects.get(event=event)
    assert (row.status, row.actions[0]["outcome"]["status"], row.actions[0]["outcome"]["signed"]) == (
        "done",
        200,
        True,
    )

    _Hook.answer = 500
    second = publish(PING.name, {"n": 2})
    engine.evaluate_event(second)  # a failure is logged, not raised
    row = RuleExecution.objects.get(event=second)
    assert (row.status, row.actions) == (
        "failed",
        [{"type": "rules.webhook", "ok": False, "error": "the webhook answered 500"}],
    )


TRIAGE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="D" namespace="urn:t">
  <decision id="ping_level" name="级别">
    <decisionTable id="t" hitPolicy="FIRST">
      <input id="i1" label="n">
        <inputExpression id="e1" typeRef="number"><text>n</text></inputExpression></input>
      <output id="o1" name="level" typeRef="string"/>
      <rule id="r1"><inputEntry><text>&gt; 5</text></inputEntry>
        <outputEntry><text>"高"</text></outputEntry></rule>
      <rule id="r2"><inputEntry><text>-</text></inputEntry><outputEntry><text>"低"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


@pytest.mark.django_db
@pytest.mark.usefixtures("test_types")
def test_decision_outputs_feed_the_next_action(designer: Staff, person: Callable[..., Staff]) -> None:
    person("sys_admin", username="dmn_admin")
    services.decision_deploy(actor=designer.user, xml=TRIAGE)
    person("nurse", username="nurse_li")
    services.rule_create(
        actor=designer.user,
        data={
            "name": "decide then notify",
            "event_type": PING.name,
            "actions": [
                {"type": "rules.decide", "params": {"decision": "ping_level", "inputs": {"n": "payload.n"}}},
                {"type": "rules.notify", "params": {"payload_fields": ["who"], "title": "级别：{level}"}},
            ],
            "enabled": True,
        },
    )
    engine.evaluate_event(publish(PING.name, {"n": 9, "who": "nurse_li"}))
    assert list(Notification.objects.values_list("title", flat=True)) == ["级别：高"]
    row = RuleExecution.objects.get()
    assert row.actions[0]["outcome"] == {"inputs": {"n": 9}, "outputs": {"level": "高"}}


@pytest.mark.django_db
@pytest.mark.usefixtures("test_types")
def test_flow_start_refuses_an_unknown_process_when_enabled(designer: Staff) -> None:
    action = {"type": "flow.start", "params": {"process": "no_such", "initiator": "it_zhang"}}
    data = {"name": "start", "event_type": PING.name, "actions": [action], "enabled": True}
    with pytest.raises(RuleInvalid) as info:
        services.rule_create(actor=designer.user, data=data)
    assert [(e["field"], e["message_en"]) for e in info.value.errors] == [
        ("actions.0.params", "There is no such process.")
    ]
    bad = {**action, "params": {"process": "x", "initiator": "a", "initiator_field": "who"}}
    with pytest.raises(RuleInvalid) as info:
        services.rule_create(actor=designer.user, data={**data, "actions": [bad], "enabled": False})
    assert [e["field"] for e in info.value.errors] == ["actions.0.params"]


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("*/15 * * * *", "2026-03-01 10:07", "2026-03-01 10:15"),
        ("0 8 * * *", "2026-03-01 08:00", "2026-03-02 08:00"),
        ("30 7 1 * *", "2026-01-31 12:00", "2026-02-01 07:30"),
        ("0 9 * * 1-5", "2026-02-27 10:00", "2026-03-02 09:00"),  # Friday → Monday
        ("0 9 * * 0", "2026-02-27 10:00", "2026-03-01 09:00"),  # Sunday
        ("0 9 * * 7", "2026-02-27 10:00", "2026-03-01 09:00"),  # 7 is Sunday too
        ("0 0 13 * 5", "2026-03-01 00:00", "2026-03-06 00:00"),  # day 13 OR a Friday
        ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),
        ("5,35 1-2 * * *", "2026-03-01 01:35", "2026-03-01 02:05"),
    ],
)
def test_cron_next_after(schedule: str, after: str, expected: str, settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    start = dt.datetime.fromisoformat(after).replace(tzinfo=tz)
    got = parse_cron(schedule).next_after(start)
    assert got.strftime("%Y-%m-%d %H:%M") == expected


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * * *", "a schedule has five fields: minute hour day-of-month month day-of-week"),
        ("60 * * * *", "minute: “60” is outside 0–59"),
        ("* 5-3 * * *", "hour: “5-3” is outside 0–23"),
        ("*/0 * * * *", "minute: the step in “*/0” must be a positive number"),
        ("MON * * * *", "minute: “MON” is not a number, a range or *"),
        ("0 0 31 2 *", "the schedule never matches a date"),
    ],
)
def test_cron_refuses(schedule: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(schedule)
    assert str(info.value) == message
