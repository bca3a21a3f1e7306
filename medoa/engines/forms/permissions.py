"""Field permissions per process step: each field is ``editable`` (the default), ``readonly`` or
``hidden``. ``permissions`` maps a field's key (:attr:`Field.key`: ``amount``, ``address.city``,
``items`` for a whole dynamic list, ``items[].amount`` for a column of it) to one of those.

* :func:`schema_for_step` gives the schema the browser gets: hidden components removed, read-only
  ones marked ``"readonly": true`` (a read-only group or list makes everything in it read-only in
  the viewer too);
* :func:`data_for_step` gives the data the browser gets: hidden fields' values removed, so they
  never reach it;
* :func:`medoa.engines.forms.validation.validate` enforces the same on the way back: a read-only
  field changed, or a hidden field submitted, is refused, and the stored values are kept.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from medoa.engines.forms.schema import Field, FormSchema

__all__ = [
    "EDITABLE",
    "HIDDEN",
    "LEVELS",
    "READONLY",
    "check_permissions",
    "data_for_step",
    "schema_for_step",
]

EDITABLE, READONLY, HIDDEN = "editable", "readonly", "hidden"
LEVELS = frozenset({EDITABLE, READONLY, HIDDEN})


def check_permissions(schema: FormSchema, permissions: Mapping[str, str]) -> list[str]:
    """The problems of a permission map: unknown keys, unknown levels (empty when fine)."""
    problems = []
    keys = {f.key for f in schema.walk() if f.key}  # fields, dynamic lists and groups with a path
    for key, level in permissions.items():
        if key not in keys:
            problems.append(f"unknown field '{key}'")
        elif level not in LEVELS:
            problems.append(f"'{key}': unknown permission '{level}'")
    return problems


def _level(permissions: Mapping[str, str] | None, f: Field) -> str:
    if not permissions or not f.key:
        return EDITABLE
    return permissions.get(f.key, EDITABLE)


def schema_for_step(schema: FormSchema, permissions: Mapping[str, str] | None) -> dict[str, Any]:
    """The raw schema for the browser at this step (a copy; the schema itself is untouched)."""
    raw = copy.deepcopy(schema.raw)
    if not permissions:
        return raw
    by_component = {id(f.component): f for f in schema.walk()}
    # the copy's components line up with the original's: walk both together
    raw["components"] = _filter_components(
        schema.raw.get("components", []), raw["components"], by_component, permissions
    )
    return raw


def _filter_components(
    originals: list[Any], copies: list[Any], by_component: dict[int, Field], permissions: Mapping[str, str]
) -> list[Any]:
    out = []
    for orig, comp in zip(originals, copies, strict=True):
        f = by_component.get(id(orig))
        level = _level(permissions, f) if f is not None else EDITABLE
        if level == HIDDEN:
            continue
        if isinstance(comp, dict):
            if level == READONLY:
                comp["readonly"] = True
            if isinstance(orig, dict) and isinstance(orig.get("components"), list):
                comp["components"] = _filter_components(
                    orig["components"], comp["components"], by_component, permissions
                )
        out.append(comp)
    return out


def data_for_step(
    schema: FormSchema, data: Mapping[str, Any] | None, permissions: Mapping[str, str] | None
) -> dict[str, Any]:
    """A copy of ``data`` without the values of fields hidden at this step."""
    result = copy.deepcopy(dict(data or {}))
    if not permissions or not any(level == HIDDEN for level in permissions.values()):
        return result
    _strip(schema.fields, result, permissions)
    return result


def _strip(fields: tuple[Field, ...], row: dict[str, Any], permissions: Mapping[str, str]) -> None:
    for f in fields:
        if f.data and _level(permissions, f) == HIDDEN:
            _remove(row, f.local_path)
            continue
        if f.repeat:
            rows = _lookup(row, f.local_path)
            if isinstance(rows, list):
                for r in rows:
                    if isinstance(r, dict):
                        _strip(f.children, r, permissions)
            continue
        if f.children:
            if _level(permissions, f) == HIDDEN:  # a hidden group hides what is in it
                _remove(row, f.local_path)
                continue
            _strip(f.children, row, permissions)


def _lookup(row: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    v: Any = row
    for seg in path:
        if not isinstance(v, Mapping):
            return None
        v = v.get(seg)
    return v


def _remove(row: dict[str, Any], path: tuple[str, ...]) -> None:
    if not path:
        return
    parent = _lookup(row, path[:-1]) if len(path) > 1 else row
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def without_paths(values: Mapping[str, Any], paths: set[str]) -> dict[str, Any]:
    """A copy of ``values`` (process variables, or a record's values) without the data at
    ``paths`` (``salary``, ``address.city``, ``items[].cost``)."""
    result = copy.deepcopy(dict(values))
    for path in paths:
        _strip_path(result, path.split("."))
    return result


def _strip_path(node: Any, parts: list[str]) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    repeated = head.endswith("[]")
    name = head[:-2] if repeated else head
    if not rest and not repeated:
        node.pop(name, None)
        return
    child = node.get(name)
    if repeated and isinstance(child, list):
        if not rest:
            node.pop(name, None)
            return
        for row in child:
            _strip_path(row, rest)
    elif not repeated:
        _strip_path(child, rest)
