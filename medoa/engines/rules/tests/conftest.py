"""Fixtures of the rule engine's tests: people holding roles in a small hospital, a test event type
and test actions registered for one test (removed after it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from medoa.core.access.grants import sync_role_grants
from medoa.core.events import publish
from medoa.core.events.registry import EventType, event_types
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import person_maker
from medoa.engines.rules.registry import ActionContext, RuleAction, rule_actions

TOTP_SECRET = "JBSWY3DPEHPK3PXP"


class Ping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = 0
    who: str = ""


PING = EventType("testrules.ping.sent", Ping, label="ping")
PONG = EventType("testrules.pong.sent", Ping, label="pong")


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = PING.name


def _republish(ctx: ActionContext, params: TargetParams) -> dict[str, Any]:
    event = publish(params.target, {"n": int(ctx.payload.get("n", 0)) + 1})
    return {"published": event.pk}


def _boom(ctx: ActionContext, params: NoParams) -> dict[str, Any]:
    raise RuntimeError("the module refused")


CALLS: list[tuple[int | None, int]] = []


def _record(ctx: ActionContext, params: NoParams) -> dict[str, Any]:
    CALLS.append((ctx.event.pk if ctx.event is not None else None, ctx.rule.pk))
    return {"n": len(CALLS)}


# Declares what it publishes (the save-time check sees it).
REPUBLISH = RuleAction(
    "testrules.republish", "republish", TargetParams, run=_republish, publishes_for=lambda p: (p.target,)
)
# Publishes without saying so (a module that lies): only the run-time check can stop it.
SNEAKY = RuleAction("testrules.sneaky", "sneaky", TargetParams, run=_republish)
BOOM = RuleAction("testrules.boom", "boom", NoParams, run=_boom)
RECORD = RuleAction("testrules.record", "record", NoParams, run=_record)
FLOW_ALL = RuleAction("testrules.flowish", "flowish", NoParams, run=_record, publishes=("testrules.*",))


@pytest.fixture(autouse=True)
def grants(db: Any) -> None:
    sync_role_grants()


@pytest.fixture
def test_types() -> Iterator[None]:
    for t in (PING, PONG):
        event_types.register(t)
    for a in (REPUBLISH, SNEAKY, BOOM, RECORD, FLOW_ALL):
        rule_actions.register(a)
    CALLS.clear()
    yield
    for t in (PING, PONG):
        event_types.unregister(t.name)
    for a in (REPUBLISH, SNEAKY, BOOM, RECORD, FLOW_ALL):
        rule_actions.unregister(a.key)


@pytest.fixture
def person(department_factory: Any) -> Callable[..., Staff]:
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    ward = department_factory(code="W1", name_zh="一病区", name_en="Ward 1", kind="ward", parent=root)
    return person_maker(default=ward, root=root, totp_secret=TOTP_SECRET)


@pytest.fixture
def designer(person: Callable[..., Staff]) -> Staff:
    return person("it", username="it_zhang")
