"""POST/GET /api/v1/events and redeliver: permission matrices, 202 with the same id for the same
key, 422 naming the field, 409 on a reused key; nothing written when refused."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from medoa.core.audit.models import AuditEntry
from medoa.core.events import publish
from medoa.core.events.models import Delivery, Event

URL = "/api/v1/events"
BODY = {"type": "testres.bed.released", "payload": {"bed": "12", "ward": "W1"}, "key": "his:adt:0001"}


@pytest.fixture
def housekeeping(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.*",))


def _post(client: Client, body: Any) -> Any:
    return client.post(URL, body, content_type="application/json")


# --- POST ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("nurse", 403), ("hr", 403), ("it", 202), ("admin", 202)]
)
def test_publish_permission_matrix(
    api_as: Callable[..., Client], people: SimpleNamespace, housekeeping: None, who: str | None, status: int
) -> None:
    response = _post(api_as(getattr(people, who) if who else None), BODY)

    assert response.status_code == status
    if status == 202:
        event = Event.objects.get()
        assert response.json() == {
            "id": event.pk,
            "type": "testres.bed.released",
            "key": "his:adt:0001",
            "created_at": response.json()["created_at"],
        }
        assert event.actor_id == getattr(people, who).user.pk
        assert Delivery.objects.count() == 1
    else:
        assert Event.objects.count() == 0 and Delivery.objects.count() == 0


@pytest.mark.django_db
def test_the_same_key_answers_the_same_id_and_delivers_once(
    api_as: Callable[..., Client], people: SimpleNamespace, housekeeping: None
) -> None:
    client = api_as(people.it)

    first = _post(client, BODY)
    again = _post(client, BODY)

    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["id"] == again.json()["id"]
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_for_another_payload_is_409(
    api_as: Callable[..., Client], people: SimpleNamespace, housekeeping: None
) -> None:
    client = api_as(people.it)
    first = _post(client, BODY).json()

    response = _post(client, {**BODY, "payload": {"bed": "13", "ward": "W1"}})

    assert response.status_code == 409
    body = response.json()
    assert (
        body["detail_en"]
        == f"This key was used before for another event (testres.bed.released #{first['id']})."
    )
    assert [e["field"] for e in body["errors"]] == ["key"]
    assert Event.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**BODY, "type": "testres.bed.exploded"}, [("type", "Unknown event type: testres.bed.exploded.")]),
        (
            {**BODY, "payload": {"bed": "", "clean_minutes": -1}},
            [
                ("payload.bed", "Must have at least 1 characters."),
                ("payload.ward", "This field is required."),
                ("payload.clean_minutes", "Must be at least 0."),
            ],
        ),
        ({**BODY, "payload": ["bed"]}, [("payload", "Must be an object.")]),
        ({"payload": {}}, [("type", "This field is required.")]),
        ({**BODY, "key": ""}, [("key", "Must have at least 1 characters.")]),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api_as: Callable[..., Client],
    people: SimpleNamespace,
    housekeeping: None,
    body: dict[str, Any],
    fields: list[tuple[str, str]],
) -> None:
    response = _post(api_as(people.it), body)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["field"], e["message_en"]) for e in errors] == fields
    assert all(e["message"] != e["message_en"] for e in errors)  # answered in Chinese too
    assert Event.objects.count() == 0 and Delivery.objects.count() == 0


@pytest.mark.django_db
def test_the_hr_certificate_event_through_the_api(
    api_as: Callable[..., Client], people: SimpleNamespace
) -> None:
    body = {
        "type": "hr.certificate.expiring",
        "payload": {"staff": "nurse_li", "certificate": "执业证书", "expires_on": "2026-03-01"},
        "key": "hr:cert:nurse_li:执业证书:2026-03-01",
    }

    response = _post(api_as(people.admin), body)

    assert response.status_code == 202
    assert Event.objects.get(pk=response.json()["id"]).payload == body["payload"]


@pytest.mark.django_db
def test_a_type_closed_to_the_api_is_403(
    api_as: Callable[..., Client], people: SimpleNamespace, bus_types: None
) -> None:
    response = _post(api_as(people.admin), {**BODY, "type": "testres.bed.audited"})

    assert response.status_code == 403
    assert response.json()["detail_en"] == "This event type cannot be published through the API."
    assert Event.objects.count() == 0


# --- GET -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("nurse", 403), ("hr", 403), ("it", 200), ("admin", 200)]
)
def test_list_permission_matrix(
    api_as: Callable[..., Client], people: SimpleNamespace, housekeeping: None, who: str | None, status: int
) -> None:
    publish("testres.bed.released", BODY["payload"])
    response = api_as(getattr(people, who) if who else None).get(URL)
    assert response.status_code == status


@pytest.mark.django_db
def test_list_filters_and_counts(
    api_as: Callable[..., Client], people: SimpleNamespace, housekeeping: None
) -> None:
    released = publish("testres.bed.released", {"bed": "12", "ward": "W1"}, key="k1", actor=people.it.user)
    cleaned = publish("testres.bed.cleaned", {"bed": "12", "ward": "W1"})
    Delivery.objects.filter(event=cleaned).update(status="dead", attempts=8)
    client = api_as(people.admin)

    everything = client.get(URL).json()
    by_type = client.get(URL, {"type": "testres.bed.released"}).json()
    by_prefix = client.get(URL, {"type": "testres.*"}).json()
    dead = client.get(URL, {"status": "dead"}).json()
    by_key = client.get(URL, {"key": "k1"}).json()
    future = client.get(URL, {"since": "2099-01-01T00:00:00+08:00"}).json()

    assert everything["count"] == 2
    assert [e["id"] for e in everything["items"]] == [cleaned.pk, released.pk]
    assert everything["items"][1] == {
        "id": released.pk,
        "type": "testres.bed.released",
        "key": "k1",
        "payload": {"bed": "12", "ward": "W1", "clean_minutes": 30},
        "actor": "it_zhou",
        "created_at": everything["items"][1]["created_at"],
        "cause": None,
        "depth": 0,
        "deliveries": {"pending": 1, "delivered": 0, "failed": 0, "dead": 0},
    }
    assert [e["id"] for e in by_type["items"]] == [released.pk]
    assert by_prefix["count"] == 2
    assert [e["id"] for e in dead["items"]] == [cleaned.pk]
    assert [e["id"] for e in by_key["items"]] == [released.pk]
    assert future == {"count": 0, "items": []}
    assert client.get(URL, {"status": "lost"}).status_code == 422


@pytest.mark.django_db
def test_get_one_event_with_its_deliveries(
    api_as: Callable[..., Client], people: SimpleNamespace, housekeeping: None
) -> None:
    event = publish("testres.bed.released", BODY["payload"])
    delivery = Delivery.objects.get()

    response = api_as(people.it).get(f"{URL}/{event.pk}")

    assert response.status_code == 200
    assert response.json()["delivery_list"] == [
        {
            "id": delivery.pk,
            "subscriber": "testres.housekeeping",
            "status": "pending",
            "attempts": 0,
            "last_error": "",
            "next_attempt_at": response.json()["delivery_list"][0]["next_attempt_at"],
            "delivered_at": None,
        }
    ]
    assert api_as(people.it).get(f"{URL}/{event.pk + 1}").status_code == 404
    assert api_as(people.nurse).get(f"{URL}/{event.pk}").status_code == 403


# --- redeliver -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "status"), [(None, 401), ("nurse", 403), ("it", 403), ("admin", 200)])
def test_redeliver_permission_matrix(
    api_as: Callable[..., Client], people: SimpleNamespace, housekeeping: None, who: str | None, status: int
) -> None:
    publish("testres.bed.released", BODY["payload"])
    Delivery.objects.update(status="dead", attempts=8)
    delivery = Delivery.objects.get()

    response = api_as(getattr(people, who) if who else None).post(f"{URL}/deliveries/{delivery.pk}/redeliver")

    assert response.status_code == status
    delivery.refresh_from_db()
    if status == 200:
        assert response.json()["status"] == "pending"
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert AuditEntry.objects.filter(action="events.delivery.redelivered").count() == 1
    else:
        assert (delivery.status, delivery.attempts) == ("dead", 8)
        assert not AuditEntry.objects.filter(action="events.delivery.redelivered").exists()


@pytest.mark.django_db
def test_redeliver_a_delivered_one_is_409(
    api_as: Callable[..., Client], people: SimpleNamespace, housekeeping: None
) -> None:
    publish("testres.bed.released", BODY["payload"])
    Delivery.objects.update(status="delivered", attempts=1)

    response = api_as(people.admin).post(f"{URL}/deliveries/{Delivery.objects.get().pk}/redeliver")

    assert response.status_code == 409
    assert (
        response.json()["detail_en"]
        == "Only a failed or dead delivery can be redelivered; this one is Delivered."
    )
