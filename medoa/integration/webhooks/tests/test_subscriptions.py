"""Subscriptions: validation (URL scheme, private addresses, event types, secret), the secret
encrypted at rest, the pages and the API with their permissions."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Staff
from medoa.integration.webhooks import services
from medoa.integration.webhooks.models import Subscription

from .conftest import PING, Receiver

pytestmark = pytest.mark.django_db


def _fields(exc: services.WebhookError) -> set[str]:
    return {f for f, _m in exc.errors}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8000/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://192.168.1.1/",
        "http://0.0.0.0/",
    ],
)
def test_private_addresses_are_refused_by_default(it_staff: Staff, settings: Any, url: str) -> None:
    settings.MEDOA_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(services.WebhookError) as caught:
        services.subscription_create(actor=it_staff.user, name="x", event_types=[PING.name], url=url)
    assert _fields(caught.value) == {"url"}
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "file:///etc/passwd", "javascript:alert(1)", "http://u:p@example.org/"]
)
def test_only_http_and_https(it_staff: Staff, url: str) -> None:
    with pytest.raises(services.WebhookError) as caught:
        services.subscription_create(actor=it_staff.user, name="x", event_types=[PING.name], url=url)
    assert "url" in _fields(caught.value)


def test_event_types_and_secret_are_checked(it_staff: Staff, receiver: Receiver) -> None:
    with pytest.raises(services.WebhookError) as caught:
        services.subscription_create(
            actor=it_staff.user,
            name="",
            event_types=["no.such.type", "Bad Pattern"],
            url=receiver.url,
            secret="short",
        )
    assert _fields(caught.value) == {"name", "event_types", "secret"}
    sub, secret = services.subscription_create(
        actor=it_staff.user, name="all clinical", event_types=["clinical.*", "*"], url=receiver.url
    )
    assert len(secret) >= 32
    assert sub.event_types == ["clinical.*", "*"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_subscription WHERE id = %s", [sub.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("enc1:") and secret not in stored
    assert Subscription.objects.get().secret == secret
    assert AuditEntry.objects.filter(action="integration.webhook.created").count() == 1


def test_a_doctor_may_not_manage_webhooks(person: Any, receiver: Receiver) -> None:
    doctor = person("doctor", username="doc")
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.subscription_create(actor=doctor.user, name="x", event_types=[PING.name], url=receiver.url)
    client = Client()
    client.force_login(doctor.user)
    assert client.get("/integration/webhooks/").status_code == 403
    assert client.post("/integration/webhooks/new/", {"name": "x"}).status_code == 403
    assert not Subscription.objects.exists()


def _no_inline(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert ' style="' not in html


@pytest.mark.django_db(transaction=True)  # the test send runs outside any transaction
def test_pages_create_show_the_secret_once_then_edit_disable_and_test(
    it_staff: Staff, receiver: Receiver
) -> None:
    client = Client()
    client.force_login(it_staff.user)
    assert client.get("/integration/webhooks/").status_code == 200
    page = client.get("/integration/webhooks/new/")
    assert page.status_code == 200
    _no_inline(page.content.decode())
    bad = client.post(
        "/integration/webhooks/new/", {"name": "x", "event_types": PING.name, "url": "ftp://x/"}
    )
    assert bad.status_code == 400
    assert "http" in bad.content.decode()
    created = client.post(
        "/integration/webhooks/new/",
        {"name": "bed board", "event_types": f"{PING.name}, clinical.*", "url": receiver.url},
    )
    assert created.status_code == 201
    sub = Subscription.objects.get()
    assert sub.secret in created.content.decode()
    assert sub.event_types == [PING.name, "clinical.*"]
    detail = client.get(f"/integration/webhooks/{sub.pk}/")
    assert detail.status_code == 200
    _no_inline(detail.content.decode())
    assert sub.secret not in detail.content.decode()
    edited = client.post(
        f"/integration/webhooks/{sub.pk}/edit/",
        {"name": "bed board 2", "event_types": "clinical.*", "url": receiver.url},
    )
    assert edited.status_code == 302
    sub.refresh_from_db()
    assert (sub.name, sub.event_types) == ("bed board 2", ["clinical.*"])
    assert client.post(f"/integration/webhooks/{sub.pk}/test/").status_code == 302
    assert len(receiver.requests) == 1
    assert client.post(f"/integration/webhooks/{sub.pk}/enabled/", {"enabled": "0"}).status_code == 302
    sub.refresh_from_db()
    assert sub.enabled is False
    log_page = client.get(f"/integration/webhooks/{sub.pk}/").content.decode()
    assert 'data-ok="1"' in log_page


@pytest.mark.django_db(transaction=True)
def test_api_permission_matrix_and_create(
    it_staff: Staff, person: Any, api_as: Any, receiver: Receiver
) -> None:
    body = {"name": "lis", "event_types": [PING.name], "url": receiver.url}
    anonymous = Client().post("/api/v1/integration/webhooks", data=body, content_type="application/json")
    assert anonymous.status_code == 401
    doctor = api_as(person("doctor", username="doc"))
    assert (
        doctor.post("/api/v1/integration/webhooks", data=body, content_type="application/json").status_code
        == 403
    )
    assert doctor.get("/api/v1/integration/webhooks").status_code == 403
    assert not Subscription.objects.exists()
    it = api_as(it_staff)
    bad = it.post(
        "/api/v1/integration/webhooks", data={**body, "url": "gopher://x"}, content_type="application/json"
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["url"]
    assert bad.json()["errors"][0]["message"] == "不允许使用此 URL：只允许 http 和 https URL。"
    assert (
        bad.json()["errors"][0]["message_en"]
        == "This URL is not allowed: Only http and https URLs are allowed."
    )
    created = it.post("/api/v1/integration/webhooks", data=body, content_type="application/json")
    assert created.status_code == 201
    data = created.json()
    assert data["owner"] == "it_zhao" and data["enabled"] is True and len(data["secret"]) >= 32
    sid = data["id"]
    listed = it.get("/api/v1/integration/webhooks").json()
    assert [s["id"] for s in listed] == [sid] and "secret" not in listed[0]
    changed = it.put(
        f"/api/v1/integration/webhooks/{sid}",
        data={**body, "name": "lis 2", "secret": "x" * 20},
        content_type="application/json",
    )
    assert changed.status_code == 200 and changed.json()["name"] == "lis 2"
    assert Subscription.objects.get().secret == "x" * 20
    tested = it.post(f"/api/v1/integration/webhooks/{sid}/test")
    assert tested.status_code == 200 and tested.json()["ok"] is True
    assert it.post(f"/api/v1/integration/webhooks/{sid}/disable").json()["enabled"] is False
    assert it.post(f"/api/v1/integration/webhooks/{sid}/enable").json()["enabled"] is True
    log = it.get(f"/api/v1/integration/webhooks/{sid}/attempts").json()
    assert log["count"] == 1 and log["items"][0]["test"] is True
    assert it.get("/api/v1/integration/webhooks/999999").status_code == 404
    assert json.loads(receiver.requests[0].body)["type"] == "webhooks.test.sent"


def test_the_fan_out_costs_no_query_when_no_subscription_matches(
    it_staff: Staff, receiver: Receiver, django_assert_num_queries: Any
) -> None:
    from medoa.core.events.models import Event

    from .conftest import OTHER

    services.subscription_create(
        actor=it_staff.user, name="other", event_types=[OTHER.name], url=receiver.url
    )
    ping = Event.objects.create(type=PING.name, payload={"n": 1})
    other = Event.objects.create(type=OTHER.name, payload={"n": 2})
    services._enabled_subscriptions()  # the per-process cache, warm
    with django_assert_num_queries(0):
        services.fan_out(ping)
    with django_assert_num_queries(1):
        services.fan_out(other)
