"""The event log pages: who may see them, filters, the detail with payload and deliveries, and
redelivery (a permission of its own, audited)."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from medoa.core.audit.models import AuditEntry
from medoa.core.events import publish
from medoa.core.events.models import Delivery, Event
from medoa.core.org.models import Staff


@pytest.fixture
def login(client: Client) -> Callable[[Staff], Client]:
    def sign_in(staff: Staff) -> Client:
        client.force_login(staff.user)
        return client

    return sign_in


@pytest.fixture
def two_events(subscribe: Callable[..., Any]) -> tuple[Event, Event]:
    subscribe("testres.housekeeping", ("testres.*",), label="Housekeeping")
    released = publish("testres.bed.released", {"bed": "12", "ward": "心内一病区"}, key="his:1")
    cleaned = publish("testres.bed.cleaned", {"bed": "12", "ward": "W1"})
    Delivery.objects.filter(event=cleaned).update(
        status="dead", attempts=8, last_error="Traceback …\nValueError: no bed 12"
    )
    Event.objects.filter(pk=released.pk).update(created_at=timezone.now() - timedelta(days=2))
    return released, cleaned


def _rows(response: Any) -> list[int]:
    html = response.content.decode()
    return [int(part.split('"', 1)[0]) for part in html.split('data-event="')[1:]]


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "status"), [("nurse", 403), ("hr", 403), ("it", 200), ("admin", 200)])
def test_the_log_needs_events_view(
    login: Callable[[Staff], Client], people: SimpleNamespace, two_events: Any, who: str, status: int
) -> None:
    assert login(getattr(people, who)).get("/events/").status_code == status


@pytest.mark.django_db
def test_anonymous_is_sent_to_sign_in(client: Client, db: Any) -> None:
    response = client.get("/events/")
    assert response.status_code == 302
    assert "/events/" in response["Location"]


@pytest.mark.django_db
def test_the_log_lists_and_filters(
    login: Callable[[Staff], Client], people: SimpleNamespace, two_events: tuple[Event, Event]
) -> None:
    released, cleaned = two_events
    client = login(people.it)
    yesterday = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    everything = client.get("/events/")
    assert _rows(everything) == [cleaned.pk, released.pk]
    assert "事件日志" in everything.content.decode()
    assert _rows(client.get("/events/", {"type": "testres.bed.released"})) == [released.pk]
    assert _rows(client.get("/events/", {"type": "testres.*"})) == [cleaned.pk, released.pk]
    assert _rows(client.get("/events/", {"status": "dead"})) == [cleaned.pk]
    assert _rows(client.get("/events/", {"status": "pending"})) == [released.pk]
    assert _rows(client.get("/events/", {"since": yesterday})) == [cleaned.pk]
    assert _rows(client.get("/events/", {"until": yesterday})) == [released.pk]
    bad = client.get("/events/", {"status": "lost"})
    assert bad.status_code == 400
    assert _rows(bad) == []


@pytest.mark.django_db
def test_the_detail_shows_payload_and_every_delivery(
    login: Callable[[Staff], Client], people: SimpleNamespace, two_events: tuple[Event, Event]
) -> None:
    released, cleaned = two_events

    page = html.unescape(login(people.admin).get(f"/events/{cleaned.pk}/").content.decode())

    assert '"ward": "W1"' in page and '"clean_minutes": 30' in page
    assert 'data-subscriber="testres.housekeeping"' in page
    assert "Housekeeping" in page
    assert 'data-status="dead"' in page and "死信" in page
    assert "ValueError: no bed 12" in page
    assert f'data-redeliver="{Delivery.objects.get(event=cleaned).pk}"' in page
    # A pending delivery offers no redelivery; IT sees the page but not the button.
    assert "data-redeliver" not in login(people.admin).get(f"/events/{released.pk}/").content.decode()
    assert "data-redeliver" not in login(people.it).get(f"/events/{cleaned.pk}/").content.decode()
    assert login(people.it).get(f"/events/{cleaned.pk + 100}/").status_code == 404


@pytest.mark.django_db
def test_redeliver_from_the_page(
    login: Callable[[Staff], Client], people: SimpleNamespace, two_events: tuple[Event, Event]
) -> None:
    _released, cleaned = two_events
    delivery = Delivery.objects.get(event=cleaned)

    response = login(people.admin).post(f"/events/deliveries/{delivery.pk}/redeliver/", follow=True)

    assert response.redirect_chain == [(f"/events/{cleaned.pk}/", 302)]
    assert "已重新排队投递给 testres.housekeeping。" in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert (
        AuditEntry.objects.filter(action="events.delivery.redelivered", actor=people.admin.user).count() == 1
    )


@pytest.mark.django_db
def test_redeliver_is_refused_without_the_permission_and_for_a_pending_delivery(
    login: Callable[[Staff], Client], people: SimpleNamespace, two_events: tuple[Event, Event]
) -> None:
    released, cleaned = two_events
    dead = Delivery.objects.get(event=cleaned)
    pending = Delivery.objects.get(event=released)

    assert login(people.it).post(f"/events/deliveries/{dead.pk}/redeliver/").status_code == 403
    refused = login(people.admin).post(f"/events/deliveries/{pending.pk}/redeliver/", follow=True)

    assert "只有失败或死信的投递可以重新投递" in refused.content.decode()
    assert list(Delivery.objects.order_by("id").values_list("status", "attempts")) == [
        ("pending", 0),
        ("dead", 8),
    ]
    assert not AuditEntry.objects.filter(action="events.delivery.redelivered").exists()


@pytest.mark.django_db
def test_the_menu_shows_the_log_to_its_readers_only(
    login: Callable[[Staff], Client], people: SimpleNamespace
) -> None:
    assert 'href="/events/"' in login(people.it).get("/").content.decode()
    assert 'href="/events/"' not in login(people.nurse).get("/").content.decode()
