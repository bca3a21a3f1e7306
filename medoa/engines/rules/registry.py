"""The registry of rule actions, filled in ``AppConfig.ready()`` by the apps that offer them.

An action has a key (``"<app>.<verb>"``), a label, a pydantic model for its parameters (checked when
a rule is saved: a rule never holds parameters its action would refuse), ``run(ctx, params)``
which does the work inside the event's delivery transaction and returns a small JSON-ready outcome
for the execution log, ``preview(ctx, params)`` which says what ``run`` would do without doing it
(the dry run), and ``publishes``: the event types (names or patterns such as ``"flow.*"``) its run
may publish — the rule editor refuses a rule whose action may publish the event that triggers it::

    rule_actions.register(RuleAction(
        "resources.bed_status_set", _("Set a bed's status"), BedStatusParams, run=bed_status_set_action,
        publishes=("resources.bed.status_changed",),
    ))

This module imports no models, so that any app's ``apps.py`` may import it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

KEY_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


@dataclass
class ActionContext:
    """What an action sees: the triggering event (``None`` for a schedule or a pasted payload in a
    dry run), its type and payload, the rule and its version, ``variables`` (``event`` and
    ``payload`` for expressions; decision actions add their outputs under their ``as`` name) and
    ``template_variables`` (the payload's fields and ``event_id``/``event_type``/``rule``, plus the
    outputs of earlier decision actions: what ``{name}`` in a title or body may use)."""

    event: Any
    event_type: str
    payload: dict[str, Any]
    rule: Any
    version: int
    variables: dict[str, Any]
    template_variables: dict[str, Any]
    scheduled_for: dt.datetime | None = None
    dry_run: bool = False
    action_index: int = 0

    @property
    def idempotency_key(self) -> str:
        """A key unique to this action of this rule for this event (or scheduled time)."""
        origin = f"event:{self.event.pk}" if self.event is not None else f"at:{self.scheduled_for}"
        return f"{origin}:rule:{getattr(self.rule, 'pk', 0)}:action:{self.action_index}"


class ActionFailed(Exception):
    """An action could not do its work; ``message`` is a lazy translation (an English msgid),
    recorded in the execution log. Other exceptions are recorded too (their text)."""

    def __init__(self, message: Any) -> None:
        self.message = message
        super().__init__(str(message))


@dataclass(frozen=True)
class RuleAction:
    key: str
    label: Any
    params: type[BaseModel]
    run: Callable[[ActionContext, Any], Mapping[str, Any] | None]
    preview: Callable[[ActionContext, Any], Mapping[str, Any]] | None = None
    publishes: tuple[str, ...] = ()
    # Event types a run may publish that depend on the parameters (a "publish an event" action).
    publishes_for: Callable[[Any], tuple[str, ...]] | None = None
    # Further checks at save (a template or a process that must exist): raise ActionFailed.
    check: Callable[[Any], None] | None = None
    description: Any = ""
    order: int = 100

    def may_publish(self, params: Any) -> tuple[str, ...]:
        extra = self.publishes_for(params) if self.publishes_for is not None else ()
        return (*self.publishes, *extra)


class RuleActionRegistry:
    def __init__(self) -> None:
        self._items: dict[str, RuleAction] = {}

    def register(self, action: RuleAction) -> RuleAction:
        if not KEY_RE.fullmatch(action.key) or len(action.key) > 100:
            raise ValueError(f"rule action {action.key!r}: name it '<app>.<verb>' (lowercase, dotted)")
        if not (isinstance(action.params, type) and issubclass(action.params, BaseModel)):
            raise TypeError(f"rule action {action.key!r}: params must be a pydantic model class")
        known = self._items.get(action.key)
        if known is not None and known != action:
            raise ValueError(f"rule actions: {action.key!r} is already registered")
        self._items[action.key] = action
        return action

    def unregister(self, key: str) -> None:
        """For tests that register an action of their own."""
        self._items.pop(key, None)

    def get(self, key: str) -> RuleAction | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[RuleAction]:
        return iter(sorted(self._items.values(), key=lambda a: (a.order, a.key)))

    def __len__(self) -> int:
        return len(self._items)


def pattern_matches(pattern: str, type_name: str) -> bool:
    """``"*"``, ``"flow.*"`` or a full name, as subscribers match types."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return type_name.startswith(pattern[:-1])
    return pattern == type_name


rule_actions = RuleActionRegistry()
