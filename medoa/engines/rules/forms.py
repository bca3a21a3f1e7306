"""The rule editor's form, without JavaScript: the rule's fields, and per action a type and the
parameters of that type as inputs built from the action's parameter model (its JSON schema):

* text and numbers → an input; a true/false → a checkbox; a list of texts → one input, comma
  separated; a mapping (name → expression) → a text area, one ``name = expression`` per line.

Posted fields are ``a-<i>-type``, ``a-<i>-delete``, ``a-<i>-p-<param>``; ``action_count`` says how
many blocks there are (the last is the empty "add an action" block).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from django.utils.translation import pgettext

from .registry import RuleAction, rule_actions

RULE_TEXT_FIELDS = ("name", "description", "trigger_kind", "event_type", "schedule", "condition")
MAX_ACTIONS = 20


@dataclass
class ParamField:
    name: str
    label: str
    widget: str  # text, number, checkbox, list, mapping, select
    value: Any
    help: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False
    error: str = ""


def _kind(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if kind is None and "anyOf" in spec:  # Optional[...]
        kinds = [s.get("type") for s in spec["anyOf"] if s.get("type") != "null"]
        kind = kinds[0] if kinds else "string"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if kind == "array":
        return "list"
    if kind == "object":
        return "mapping"
    return "text"


def display_value(widget: str, value: Any) -> Any:
    if widget == "list":
        return ", ".join(str(v) for v in value or [])
    if widget == "mapping":
        return "\n".join(f"{k} = {v}" for k, v in (value or {}).items())
    if widget == "checkbox":
        return bool(value)
    return "" if value is None else value


ACTION_CONTEXT = "rule action"


def param_fields(action: RuleAction, params: dict[str, Any], errors: dict[str, str]) -> list[ParamField]:
    schema = action.params.model_json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, spec in schema.get("properties", {}).items():
        widget = _kind(spec)
        value = params.get(name, spec.get("default"))
        fields.append(
            ParamField(
                name=name,
                # the parameters' names and descriptions are English msgids (context "rule action")
                label=pgettext(ACTION_CONTEXT, spec.get("title") or name.replace("_", " ")),
                widget=widget,
                value=display_value(widget, value),
                help=pgettext(ACTION_CONTEXT, spec["description"]) if spec.get("description") else "",
                required=name in required,
                error=errors.get(name, ""),
            )
        )
    return fields


def _parse_param(widget: str, raw: str | None) -> Any:
    text = (raw or "").strip()
    if widget == "checkbox":
        return raw is not None
    if widget == "list":
        return [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]
    if widget == "mapping":
        out: dict[str, str] = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            key, _eq, value = line.partition("=")
            out[key.strip()] = value.strip()
        return out
    if widget == "number":
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def parse_actions(post: QueryDict) -> list[dict[str, Any]]:
    """The actions the editor posted, in order (deleted and empty blocks left out)."""
    try:
        count = min(int(post.get("action_count", "0")), MAX_ACTIONS + 1)
    except ValueError:
        count = 0
    actions = []
    for i in range(count):
        key = (post.get(f"a-{i}-type") or "").strip()
        if not key or post.get(f"a-{i}-delete"):
            continue
        action = rule_actions.get(key)
        if action is None:
            actions.append({"type": key, "params": {}})
            continue
        params: dict[str, Any] = {}
        schema = action.params.model_json_schema()
        for name, spec in schema.get("properties", {}).items():
            widget = _kind(spec)
            value = _parse_param(widget, post.get(f"a-{i}-p-{name}"))
            if value is None or value in ("", [], {}):
                continue  # the model's default
            params[name] = value
        actions.append({"type": key, "params": params})
    return actions


def parse_rule(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {name: (post.get(name) or "").strip() for name in RULE_TEXT_FIELDS}
    data["priority"] = (post.get("priority") or "100").strip()
    data["enabled"] = post.get("enabled") == "on"
    data["actions"] = parse_actions(post)
    return data


def action_blocks(actions: list[dict[str, Any]], errors: dict[str, str]) -> list[dict[str, Any]]:
    """One block per action plus an empty one to add an action; ``errors`` by field path
    (``actions.0.params.title``)."""
    blocks = []
    for i, item in enumerate([*actions, {"type": "", "params": {}}]):
        action = rule_actions.get(item.get("type", ""))
        prefix = f"actions.{i}.params."
        param_errors = {k[len(prefix) :]: v for k, v in errors.items() if k.startswith(prefix)}
        block_errors = [
            v for k, v in errors.items() if k in (f"actions.{i}", f"actions.{i}.type", f"actions.{i}.params")
        ]
        blocks.append(
            {
                "index": i,
                "type": item.get("type", ""),
                "action": action,
                "fields": param_fields(action, item.get("params") or {}, param_errors) if action else [],
                "errors": block_errors,
                "is_new": i == len(actions),
            }
        )
    return blocks
