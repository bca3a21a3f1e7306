"""POST /api/v1/events with a system API key: accepted for the event types its scopes name."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from medoa.core.access.system_keys import create_system_key, revoke_system_key
from medoa.core.events.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"
BODY = {
    "type": "hr.certificate.expiring",
    "payload": {"staff": "doc1", "certificate": "执业证书", "expires_on": "2026-12-31"},
    "key": "hr:cert:1",
}


@pytest.fixture
def it_user(person: Any) -> Any:
    return person("it", username="it1").user


def _post(raw: str, body: Any = BODY, header: str = "HTTP_AUTHORIZATION") -> Any:
    value = f"Bearer {raw}" if header == "HTTP_AUTHORIZATION" else raw
    return Client().post(URL, body, content_type="application/json", **{header: value})


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_a_key_whose_scope_matches_the_type_publishes(it_user: Any, header: str) -> None:
    # Given
    _key, raw = create_system_key(actor=it_user, name="HR feed", scopes=["events:publish:hr.*"])
    # When
    response = _post(raw, header=header)
    # Then
    assert response.status_code == 202, response.content
    event = Event.objects.get()
    assert response.json()["id"] == event.pk
    assert event.actor_id is None
    assert event.actor_name == "key:HR feed"
    assert event.type == "hr.certificate.expiring"


def test_the_same_key_again_gives_the_same_event(it_user: Any) -> None:
    _key, raw = create_system_key(actor=it_user, name="HR feed", scopes=["events:publish:hr.certificate.*"])
    first = _post(raw)
    second = _post(raw)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert Event.objects.count() == 1


def test_a_key_without_the_type_in_its_scope_is_refused_precisely(it_user: Any) -> None:
    # Given a key that may publish clinical events only
    _key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt", "events:publish:clinical.*"])
    # When
    response = _post(raw)
    # Then
    assert response.status_code == 403
    body = response.json()
    assert body["detail_en"] == (
        "This API key may not publish events of type “hr.certificate.expiring” "
        "(it needs the scope events:publish:hr.certificate.expiring)."
    )
    assert "hr.certificate.expiring" in body["detail"]
    assert Event.objects.count() == 0


def test_a_key_with_the_scope_still_needs_a_valid_payload(it_user: Any) -> None:
    _key, raw = create_system_key(actor=it_user, name="HR feed", scopes=["events:publish:hr.*"])
    response = _post(raw, {"type": "hr.certificate.expiring", "payload": {"staff": "doc1"}})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"payload.certificate", "payload.expires_on"}
    assert Event.objects.count() == 0


def test_a_revoked_key_is_refused_with_401(it_user: Any) -> None:
    key, raw = create_system_key(actor=it_user, name="HR feed", scopes=["events:publish:hr.*"])
    revoke_system_key(actor=it_user, key=key)
    response = _post(raw)
    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_an_unknown_key_is_refused_with_401() -> None:
    response = _post("msk_0123abcd_" + "x" * 43)
    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_a_system_key_does_not_open_the_event_log(it_user: Any) -> None:
    _key, raw = create_system_key(actor=it_user, name="HR feed", scopes=["events:publish:hr.*"])
    response = Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
