"""Workflow variables are JSON: the rule that turns Python values into JSON values.

Everything that enters a workflow (start variables, task results, message payloads, service
function results) and everything :meth:`Workflow.variables` hands out goes through
:func:`json_safe`, so the saved state is always plain JSON:

* ``None``, ``bool``, ``int``, ``float`` (finite), ``str`` stay as they are;
* ``datetime``/``date``/``time`` become ISO 8601 strings;
* ``Decimal`` becomes an ``int`` when it is integral, else a ``float``; ``UUID`` becomes a string;
* ``timedelta`` becomes its length in seconds (a float);
* ``list``/``tuple``/``set``/``frozenset`` become lists (sets sorted when their items allow it);
* ``dict`` keeps its ``str`` keys (other int/float/bool keys become strings) and converts values;
* anything else (objects, functions, modules, bytes, NaN/infinity) is DROPPED (from dicts and lists).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

_DROP = object()


def _convert(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _DROP
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            return _DROP
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, bool | int | float):
                key = str(key)
            if not isinstance(key, str):
                continue
            converted = _convert(item)
            if converted is not _DROP:
                out[key] = converted
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = [c for c in (_convert(i) for i in value) if c is not _DROP]
        if isinstance(value, set | frozenset):
            with contextlib.suppress(TypeError):
                items.sort()
        return items
    return _DROP


def json_value(value: Any) -> Any:
    """One value converted by the same rule (None when it would be dropped)."""
    converted = _convert(value)
    return None if converted is _DROP else converted


def json_safe(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of ``values`` (see the module docstring for the rule)."""
    if not values:
        return {}
    converted = _convert(values)
    return converted if isinstance(converted, dict) else {}
