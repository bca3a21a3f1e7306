"""The registries: names, patterns, and payload validation naming every field at fault."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation
from pydantic import BaseModel

from medoa.core.events.errors import EventPayloadInvalid, UnknownEventType
from medoa.core.events.registry import (
    EventType,
    EventTypeRegistry,
    Subscriber,
    SubscriberRegistry,
    event_types,
    retry_delay,
)

from .conftest import BedReleased


def _noop(event: Any) -> None:
    return None


class Empty(BaseModel):
    pass


@pytest.mark.parametrize(
    "name", ["bed.released", "Res.bed.released", "res.bed.", "res..bed.x", "res.bed.released!"]
)
def test_event_type_names_must_be_app_entity_participle(name: str) -> None:
    registry = EventTypeRegistry()
    with pytest.raises(ValueError, match=r"<app>\.<entity>\.<past participle>"):
        registry.register(EventType(name, Empty))


def test_a_type_registered_twice_differently_is_refused_and_the_same_twice_is_fine() -> None:
    registry = EventTypeRegistry()
    first = EventType("res.bed.released", Empty)
    registry.register(first)
    registry.register(first)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(EventType("res.bed.released", BedReleased))
    assert [t.name for t in registry] == ["res.bed.released"]


def test_payload_schema_must_be_a_pydantic_model() -> None:
    with pytest.raises(TypeError, match="pydantic model"):
        EventTypeRegistry().register(EventType("res.bed.released", dict))  # type: ignore[arg-type]


def test_unknown_type_names_the_type_field() -> None:
    with pytest.raises(UnknownEventType) as caught, translation.override("en"):
        EventTypeRegistry().get("res.bed.exploded")
    assert caught.value.field == "type"
    with translation.override("en"):
        assert str(caught.value) == "Unknown event type: res.bed.exploded."


def test_payload_errors_name_each_field_in_both_languages() -> None:
    event_type = EventType("res.bed.released", BedReleased)

    with pytest.raises(EventPayloadInvalid) as caught:
        event_type.validate({"bed": "", "clean_minutes": "soon", "colour": "red"})

    errors = {e["field"]: (e["type"], e["message_en"]) for e in caught.value.errors}
    assert errors == {
        "payload.bed": ("string_too_short", "Must have at least 1 characters."),
        "payload.ward": ("missing", "This field is required."),
        "payload.clean_minutes": ("int_parsing", "Must be a whole number."),
        "payload.colour": ("extra_forbidden", "This field is not allowed."),
    }
    assert caught.value.field == "payload.bed"
    assert all(e["message"] and e["message"] != e["message_en"] for e in caught.value.errors)


def test_a_payload_that_is_not_an_object_is_refused_as_payload() -> None:
    with pytest.raises(EventPayloadInvalid) as caught:
        EventType("res.bed.released", BedReleased).validate(["bed", "12"])
    assert [(e["field"], e["type"]) for e in caught.value.errors] == [("payload", "model_type")]


def test_validated_payload_is_normalised_json() -> None:
    data = EventType("res.bed.released", BedReleased).validate({"bed": "12", "ward": "W1"})
    assert data == {"bed": "12", "ward": "W1", "clean_minutes": 30}


def test_the_hr_certificate_type_is_registered_by_org() -> None:
    event_type = event_types.get("hr.certificate.expiring")
    assert event_type.validate({"staff": " zhang ", "certificate": "ACLS", "expires_on": "2026-03-01"}) == {
        "staff": "zhang",
        "certificate": "ACLS",
        "expires_on": "2026-03-01",
    }
    with pytest.raises(EventPayloadInvalid) as caught:
        event_type.validate({"staff": "zhang", "certificate": "ACLS", "expires_on": "2026-02-30"})
    assert [(e["field"], e["type"]) for e in caught.value.errors] == [
        ("payload.expires_on", "date_from_datetime_parsing")
    ]


@pytest.mark.parametrize(
    ("patterns", "hears"),
    [
        (("res.bed.released",), ["res.bed.released"]),
        (("res.*",), ["res.bed.released", "res.room.booked"]),
        (("res.bed.*",), ["res.bed.released"]),
        (("*",), ["res.bed.released", "res.room.booked", "resx.bed.released"]),
        (("resx.bed.released", "res.room.*"), ["res.room.booked", "resx.bed.released"]),
    ],
)
def test_subscriber_patterns(patterns: tuple[str, ...], hears: list[str]) -> None:
    registry = SubscriberRegistry()
    registry.register(Subscriber("test.listener", patterns, _noop))
    names = ["res.bed.released", "res.room.booked", "resx.bed.released"]
    assert [n for n in names if registry.for_type(n)] == hears


def test_for_type_cache_is_cleared_when_a_subscriber_registers() -> None:
    registry = SubscriberRegistry()
    assert registry.for_type("res.bed.released") == ()
    sub = registry.register(Subscriber("test.listener", ("res.*",), _noop))
    assert registry.for_type("res.bed.released") == (sub,)


@pytest.mark.parametrize(
    ("name", "patterns"),
    [
        ("Listener", ("res.*",)),
        ("test.listener", ()),
        ("test.listener", "res.*"),
        ("test.listener", ("res.*.bed",)),
    ],
)
def test_bad_subscribers_are_refused(name: str, patterns: Any) -> None:
    with pytest.raises(ValueError):
        SubscriberRegistry().register(Subscriber(name, patterns, _noop))


def test_retry_delay_doubles_up_to_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4, 12, 30)] == [5.0, 10.0, 20.0, 40.0, 3600.0, 3600.0]
