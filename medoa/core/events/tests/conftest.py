"""Fixtures of the event bus's tests: test event types and subscribers registered for one test (and
removed after it), people holding the bus's roles, and a handler whose effect is an audit entry (an
append-only row: a handler run twice would show as two entries)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from medoa.core.access.grants import sync_role_grants
from medoa.core.audit.models import AuditEntry
from medoa.core.audit.services import audit_record
from medoa.core.events.models import Event
from medoa.core.events.registry import EventType, Subscriber, event_types, subscribers
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import staff_with_roles

HANDLED = "events.test.handled"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class BedReleased(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bed: str = Field(..., min_length=1, max_length=20)
    ward: str
    clean_minutes: int = Field(30, ge=0, le=600)


BED_RELEASED = EventType("testres.bed.released", BedReleased, label="Bed released")
BED_CLEANED = EventType("testres.bed.cleaned", BedReleased, label="Bed cleaned")
INTERNAL = EventType("testres.bed.audited", BedReleased, label="internal", api_publish=False)


def record_effect(subscriber: str) -> Callable[[Event], None]:
    """A handler whose database effect is one audit entry naming the event and the subscriber."""

    def handle(event: Event) -> None:
        audit_record(
            actor=None,
            actor_name="test",
            action=HANDLED,
            target=("events.event", event.pk, subscriber),
        )

    return handle


def effects(subscriber: str | None = None) -> list[int]:
    """Event ids handled, one per audit entry (sorted), optionally for one subscriber."""
    qs = AuditEntry.objects.filter(action=HANDLED)
    if subscriber is not None:
        qs = qs.filter(target_repr=subscriber)
    return sorted(int(i) for i in qs.values_list("target_id", flat=True))


@pytest.fixture
def bus_types() -> Iterator[None]:
    for t in (BED_RELEASED, BED_CLEANED, INTERNAL):
        event_types.register(t)
    yield
    for t in (BED_RELEASED, BED_CLEANED, INTERNAL):
        event_types.unregister(t.name)


@pytest.fixture
def subscribe(bus_types: None) -> Iterator[Callable[..., Subscriber]]:
    """``subscribe("testres.housekeeping", ("testres.bed.released",), handle=…)``; removed after."""
    names: list[str] = []

    def add(
        name: str, patterns: tuple[str, ...], handle: Callable[[Event], None] | None = None, **kw: Any
    ) -> Subscriber:
        sub = Subscriber(name, patterns, handle or record_effect(name), **kw)
        subscribers.register(sub)
        names.append(name)
        return sub

    yield add
    for name in names:
        subscribers.unregister(name)


@pytest.fixture
def people(db: Any, staff_factory: Any, department_factory: Any) -> SimpleNamespace:
    sync_role_grants()
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    ward = department_factory(code="W1", name_zh="心内一病区", name_en="Ward 1", parent=root)

    def person(username: str, *codes: str) -> Staff:
        # administrators sign in with TOTP
        return staff_with_roles(
            *codes, department=ward, root=root, totp_secret=TOTP_SECRET, user__username=username
        )

    return SimpleNamespace(
        admin=person("admin_sun", "sys_admin"),
        it=person("it_zhou", "it"),
        nurse=person("nurse_li", "nurse"),
        hr=person("hr_wu", "hr"),
    )


@pytest.fixture(autouse=True)
def _only_test_subscribers() -> Iterator[None]:
    """The bus's tests count deliveries: the apps' own subscribers (the rule engine's
    ``rules.evaluate`` hears every type) are set aside during them, then put back in their order."""
    saved = list(subscribers)
    for sub in saved:
        subscribers.unregister(sub.name)
    yield
    for sub in list(subscribers):
        subscribers.unregister(sub.name)
    for sub in saved:
        subscribers.register(sub)
