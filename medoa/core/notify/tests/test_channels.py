"""Outside channels: the worker turns committed notifications into deliveries by the recipient's
preferences and quiet hours, and sends them to a real local HTTP server standing in for the SMS
and IM gateways (DingTalk's and our own signatures checked), retrying failures."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from medoa.core.notify.models import DeliveryStatus, Notification, NotificationDelivery
from medoa.core.notify.services import (
    RETRY_BACKOFF,
    deliveries_send,
    notification_send,
    notifications_dispatch,
    preference_update,
    quiet_until,
)

pytestmark = pytest.mark.django_db


class Gateway:
    """A local HTTP server recording each POST; ``answers`` pops the status/body to give."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, bytes]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append({"path": self.path, "headers": self.headers, "body": body})
                status, answer = gateway.answers.pop(0) if gateway.answers else (200, b'{"errcode": 0}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    g = Gateway()
    yield g
    g.close()


@pytest.fixture
def nurse(staff_factory: Any) -> Any:
    return staff_factory(email="li.na@hospital.test", phone="13800000001", user__username="n_lina")


def _deliveries() -> list[tuple[str, str, int]]:
    return list(NotificationDelivery.objects.order_by("channel").values_list("channel", "status", "attempts"))


def test_nothing_goes_outside_when_the_deployment_offers_no_channel(nurse: Any) -> None:
    [n] = notification_send(recipients=[nurse.user], title="x", urgent=True)

    assert n.dispatch_pending is False
    assert notifications_dispatch() == 0
    assert _deliveries() == []


def test_send_is_one_insert_whatever_the_channels(
    nurse: Any, staff_factory: Any, django_assert_num_queries: Any
) -> None:
    people = [nurse.user, *[staff_factory().user for _ in range(9)]]
    # one statement: on PostgreSQL it also sends the NOTIFY that goes out with the commit
    with override_settings(MEDOA_NOTIFY_CHANNELS="email,sms,im"), django_assert_num_queries(1):
        sent = notification_send(recipients=people, title="新任务：请审批", kind="task")

    assert len(sent) == 10
    assert all(n.dispatch_pending for n in sent)


@override_settings(
    MEDOA_NOTIFY_CHANNELS="email,sms,im",
    MEDOA_NOTIFY_IM_STYLE="dingtalk",
    MEDOA_NOTIFY_IM_SECRET="SECdemo",
    MEDOA_NOTIFY_SMS_SECRET="sms-secret",
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
)
def test_urgent_notification_goes_out_on_every_channel_signed(
    nurse: Any, gateway: Gateway, settings: Any
) -> None:
    settings.MEDOA_NOTIFY_IM_URL = f"{gateway.url}/robot/send?access_token=abc"
    settings.MEDOA_NOTIFY_SMS_URL = f"{gateway.url}/sms"
    [n] = notification_send(
        recipients=[nurse.user],
        title="危急值：血钾 6.8",
        body="3 床 张三",
        link="/q/9/",
        urgent=True,
        kind="critical",
    )

    assert notifications_dispatch() == 1
    assert deliveries_send() == 3

    assert _deliveries() == [("email", "sent", 1), ("im", "sent", 1), ("sms", "sent", 1)]
    assert [(m.subject, m.to, m.body) for m in mail.outbox] == [
        ("危急值：血钾 6.8", ["li.na@hospital.test"], "危急值：血钾 6.8\n3 床 张三\n/q/9/")
    ]
    by_path = {r["path"].split("?")[0]: r for r in gateway.requests}
    im, sms = by_path["/robot/send"], by_path["/sms"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(im["path"]).query)
    ts = query["timestamp"][0]
    expected = base64.b64encode(
        hmac.new(b"SECdemo", f"{ts}\nSECdemo".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected]
    assert query["access_token"] == ["abc"]
    assert json.loads(im["body"]) == {
        "msgtype": "text",
        "text": {"content": "危急值：血钾 6.8\n3 床 张三\n/q/9/"},
        "at": {"atMobiles": ["13800000001"]},
    }
    assert json.loads(sms["body"]) == {"phone": "13800000001", "text": "危急值：血钾 6.8\n3 床 张三\n/q/9/"}
    sig = hmac.new(
        b"sms-secret", f"{sms['headers']['X-MedOA-Timestamp']}.".encode() + sms["body"], hashlib.sha256
    )
    assert sms["headers"]["X-MedOA-Signature"] == f"sha256={sig.hexdigest()}"
    assert Notification.objects.get(pk=n.pk).dispatch_pending is False


@override_settings(MEDOA_NOTIFY_CHANNELS="im", MEDOA_NOTIFY_IM_STYLE="wecom")
def test_a_failing_gateway_is_retried_with_backoff_then_failed_and_the_inbox_copy_stays(
    nurse: Any, gateway: Gateway, settings: Any, caplog: Any
) -> None:
    settings.MEDOA_NOTIFY_IM_URL = f"{gateway.url}/cgi-bin/webhook/send?key=k"
    [n] = notification_send(recipients=[nurse.user], title="停电通知", urgent=True)
    notifications_dispatch()
    gateway.answers = [(500, b"down")] + [(200, b'{"errcode": 93000, "errmsg": "invalid webhook url"}')] * 9

    before = timezone.now()
    deliveries_send()
    d = NotificationDelivery.objects.get()
    assert (d.status, d.attempts, d.last_error) == ("pending", 1, "gateway answered 500")
    assert RETRY_BACKOFF[0] - 1 <= (d.next_attempt_at - before).total_seconds() <= RETRY_BACKOFF[0] + 5
    assert deliveries_send() == 0  # not due yet

    for attempt in range(2, len(RETRY_BACKOFF) + 2):
        NotificationDelivery.objects.update(next_attempt_at=timezone.now())
        assert deliveries_send() == 1
    d.refresh_from_db()

    assert (d.status, d.attempts) == (DeliveryStatus.FAILED, len(RETRY_BACKOFF) + 1)
    assert d.last_error.startswith('gateway refused: {"errcode": 93000')
    assert json.loads(gateway.requests[0]["body"]) == {
        "msgtype": "text",
        "text": {"content": "停电通知", "mentioned_mobile_list": ["13800000001"]},
    }
    assert len(gateway.requests) == len(RETRY_BACKOFF) + 1
    assert "giving up" in caplog.text
    assert Notification.objects.filter(pk=n.pk, recipient=nurse.user).exists()


@override_settings(MEDOA_NOTIFY_CHANNELS="im", MEDOA_NOTIFY_IM_STYLE="generic", MEDOA_NOTIFY_IM_SECRET="s3")
def test_preferences_choose_channels_per_kind_and_quiet_hours_hold_back_all_but_urgent(
    nurse: Any, gateway: Gateway, settings: Any
) -> None:
    settings.MEDOA_NOTIFY_IM_URL = f"{gateway.url}/im"
    now = timezone.localtime()
    start = (now - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    preference_update(
        user=nurse.user,
        channels={"task": ["im", "sms"], "*": []},
        quiet_start=start,
        quiet_end=end,
        language="zh-hans",
    )
    notification_send(recipients=[nurse.user], title="新任务", kind="task", link="/flow/tasks/1/")
    notification_send(recipients=[nurse.user], title="周会", kind="info")
    notification_send(recipients=[nurse.user], title="紧急任务", kind="task", urgent=True)

    assert notifications_dispatch() == 3
    held = NotificationDelivery.objects.get(notification__title="新任务")
    urgent = NotificationDelivery.objects.get(notification__title="紧急任务")
    assert NotificationDelivery.objects.count() == 2  # "周会" goes nowhere outside; sms is not offered
    assert held.next_attempt_at > timezone.now() + dt.timedelta(minutes=55)
    assert deliveries_send() == 1

    [req] = gateway.requests
    assert json.loads(req["body"]) == {
        "user": "n_lina",
        "title": "紧急任务",
        "body": "",
        "link": "",
        "kind": "task",
    }
    assert req["headers"]["X-MedOA-Signature"].startswith("sha256=")
    assert urgent.pk != held.pk


def test_quiet_hours_wrap_past_midnight(nurse: Any) -> None:
    pref = preference_update(
        user=nurse.user, channels={}, quiet_start=dt.time(22, 0), quiet_end=dt.time(7, 0), language="en"
    )
    tz = timezone.get_current_timezone()

    at_23 = dt.datetime(2026, 3, 1, 23, 30, tzinfo=tz)
    at_6 = dt.datetime(2026, 3, 2, 6, 0, tzinfo=tz)
    at_noon = dt.datetime(2026, 3, 2, 12, 0, tzinfo=tz)

    assert quiet_until(pref, at_23) == dt.datetime(2026, 3, 2, 7, 0, tzinfo=tz)
    assert quiet_until(pref, at_6) == dt.datetime(2026, 3, 2, 7, 0, tzinfo=tz)
    assert quiet_until(pref, at_noon) is None
