"""Field permissions per process step: what the browser gets, and what validate() refuses."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.engines.forms.permissions import check_permissions, data_for_step, schema_for_step
from medoa.engines.forms.schema import FormSchema, parse_schema
from medoa.engines.forms.validation import validate

RAW: dict[str, Any] = {
    "components": [
        {"type": "textfield", "key": "applicant", "validate": {"required": True}},
        {"type": "number", "key": "days"},
        {"type": "textarea", "key": "head_opinion", "validate": {"required": True}},
        {"type": "textfield", "key": "salary"},
        {"type": "group", "path": "hr", "components": [{"type": "textfield", "key": "grade"}]},
        {
            "type": "dynamiclist",
            "path": "items",
            "components": [{"type": "textfield", "key": "name"}, {"type": "number", "key": "cost"}],
        },
    ]
}
STORED: dict[str, Any] = {
    "applicant": "Wang",
    "days": 3,
    "head_opinion": "",
    "salary": "9000",
    "hr": {"grade": "B"},
    "items": [{"name": "book", "cost": 10}, {"name": "pen", "cost": 2}],
}
# the head nurse's step: she writes her opinion; the request is read-only; salary is not hers to see
HEAD_NURSE = {
    "applicant": "readonly",
    "days": "readonly",
    "salary": "hidden",
    "items[].cost": "hidden",
    "hr": "hidden",
}


@pytest.fixture
def schema() -> FormSchema:
    return parse_schema(RAW)


def test_schema_for_step_removes_hidden_and_marks_readonly(schema: FormSchema) -> None:
    raw = schema_for_step(schema, HEAD_NURSE)
    comps = raw["components"]
    assert [c.get("key") or c.get("path") for c in comps] == ["applicant", "days", "head_opinion", "items"]
    assert [c.get("readonly") for c in comps] == [True, True, None, None]
    assert [c["key"] for c in comps[3]["components"]] == ["name"]
    assert "readonly" not in RAW["components"][0]  # the schema itself is untouched
    assert schema_for_step(schema, None) == RAW


def test_data_for_step_never_sends_hidden_values(schema: FormSchema) -> None:
    assert data_for_step(schema, STORED, HEAD_NURSE) == {
        "applicant": "Wang",
        "days": 3,
        "head_opinion": "",
        "items": [{"name": "book"}, {"name": "pen"}],
    }
    assert STORED["salary"] == "9000" and STORED["items"][0]["cost"] == 10
    assert data_for_step(schema, STORED, {}) == STORED


def test_the_step_as_the_browser_sends_it_back_is_valid(schema: FormSchema) -> None:
    sent = data_for_step(schema, STORED, HEAD_NURSE)
    sent["head_opinion"] = "Agreed"
    result = validate(schema, sent, permissions=HEAD_NURSE, previous=STORED)
    assert result.errors == []
    assert result.data == {**STORED, "head_opinion": "Agreed"}  # hidden and read-only values kept


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"days": 30}, [("days", "readonly")]),
        ({"applicant": "Li"}, [("applicant", "readonly")]),
        ({"salary": "1"}, [("salary", "hidden")]),
        ({"salary": "9000"}, [("salary", "hidden")]),
        ({"hr": {"grade": "A"}}, [("hr.grade", "hidden")]),
        ({"items": [{"name": "book", "cost": 99}, {"name": "pen"}]}, [("items[0].cost", "hidden")]),
        ({"head_opinion": ""}, [("head_opinion", "required")]),
    ],
)
def test_crafted_requests_are_refused(
    schema: FormSchema, change: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    sent = {**data_for_step(schema, STORED, HEAD_NURSE), "head_opinion": "Agreed", **change}
    result = validate(schema, sent, permissions=HEAD_NURSE, previous=STORED)
    assert [(e.field, e.code) for e in result.errors] == expected
    assert (
        result.data["days"] == 3 and result.data["salary"] == "9000" and result.data["hr"] == {"grade": "B"}
    )


def test_a_readonly_list_is_compared_whole(schema: FormSchema) -> None:
    perms = {"items": "readonly"}
    same = validate(schema, {**STORED, "head_opinion": "x"}, permissions=perms, previous=STORED)
    assert same.valid
    changed = {**STORED, "head_opinion": "x", "items": [{"name": "book", "cost": 10}]}
    result = validate(schema, changed, permissions=perms, previous=STORED)
    assert [(e.field, e.code) for e in result.errors] == [("items", "readonly")]
    assert result.data["items"] == STORED["items"]


def test_check_permissions(schema: FormSchema) -> None:
    assert check_permissions(schema, HEAD_NURSE) == []
    assert check_permissions(schema, {"days": "secret", "nope": "hidden"}) == [
        "'days': unknown permission 'secret'",
        "unknown field 'nope'",
    ]
