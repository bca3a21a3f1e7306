"""validate(): the rules as a table (one field, one value → the errors), then dynamic lists,
conditions, computed fields, references, read-only fields and the cleaned data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from django.utils.translation import override

from medoa.engines.forms.schema import parse_schema
from medoa.engines.forms.validation import MISSING, validate

OPTS = [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}, {"label": "One", "value": 1}]
TODAY = timezone.localdate()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()


def errors_of(
    component: dict[str, Any], value: Any, context: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    schema = parse_schema({"components": [{"key": "f", **component}]})
    data = {} if value is MISSING else {"f": value}
    result = validate(schema, data, context=context)
    assert result.valid is (not result.errors)
    return [(e.field, e.code) for e in result.errors]


REQ = {"validate": {"required": True}}


@pytest.mark.parametrize(
    ("component", "value", "expected"),
    [
        # required (form-js: undefined, null, "", unchecked checkbox, empty list)
        ({"type": "textfield", **REQ}, MISSING, ["required"]),
        ({"type": "textfield", **REQ}, None, ["required"]),
        ({"type": "textfield", **REQ}, "", ["required"]),
        ({"type": "textfield", **REQ}, " ", []),
        ({"type": "textfield", **REQ}, "x", []),
        ({"type": "textarea", **REQ}, "", ["required"]),
        ({"type": "number", **REQ}, None, ["required"]),
        ({"type": "number", **REQ}, 0, []),
        ({"type": "checkbox", **REQ}, False, ["required"]),
        ({"type": "checkbox", **REQ}, True, []),
        ({"type": "checklist", "values": OPTS, **REQ}, [], ["required"]),
        ({"type": "taglist", "values": OPTS, **REQ}, ["a"], []),
        ({"type": "select", "values": OPTS, **REQ}, None, ["required"]),
        ({"type": "radio", "values": OPTS, **REQ}, "a", []),
        ({"type": "datetime", **REQ}, "", ["required"]),
        ({"type": "textfield", "validate": {"required": False}}, MISSING, []),
        # lengths: trimmed, UTF-16 units, only for non-empty values
        ({"type": "textfield", "validate": {"minLength": 3}}, "ab", ["min_length"]),
        ({"type": "textfield", "validate": {"minLength": 3}}, " ab ", ["min_length"]),
        ({"type": "textfield", "validate": {"minLength": 3}}, "abc", []),
        ({"type": "textfield", "validate": {"minLength": 3}}, "", []),
        ({"type": "textfield", "validate": {"maxLength": 3}}, "abcd", ["max_length"]),
        ({"type": "textfield", "validate": {"maxLength": 3}}, "  abc  ", []),
        ({"type": "textfield", "validate": {"maxLength": 3}}, "中文字", []),
        ({"type": "textfield", "validate": {"maxLength": 3}}, "😀😀", ["max_length"]),
        ({"type": "textarea", "validate": {"minLength": 2, "maxLength": 4}}, "abcde", ["max_length"]),
        # pattern: a JS RegExp, not anchored
        ({"type": "textfield", "validate": {"pattern": "^C-[0-9]+$"}}, "C-12", []),
        ({"type": "textfield", "validate": {"pattern": "^C-[0-9]+$"}}, "X-12", ["pattern"]),
        ({"type": "textfield", "validate": {"pattern": "^C-[0-9]+$"}}, "C-12\n", ["pattern"]),
        ({"type": "textfield", "validate": {"pattern": "(true|false)"}}, "untrue", []),
        ({"type": "textfield", "validate": {"pattern": "(true|false)"}}, "yes", ["pattern"]),
        ({"type": "textfield", "validate": {"pattern": "^x$"}}, "", []),
        ({"type": "textfield", "validate": {"required": True, "pattern": "^x$"}}, "", ["required"]),
        ({"type": "textfield", "validate": {"validationType": "email"}}, "a@b.cn", []),
        ({"type": "textfield", "validate": {"validationType": "email"}}, "a@", ["pattern"]),
        ({"type": "textfield", "validate": {"validationType": "phone"}}, "+8613800138000", []),
        ({"type": "textfield", "validate": {"validationType": "phone"}}, "13800138000", ["pattern"]),
        # numbers
        ({"type": "number", "validate": {"min": 0, "max": 10}}, -1, ["min"]),
        ({"type": "number", "validate": {"min": 0, "max": 10}}, 11, ["max"]),
        ({"type": "number", "validate": {"min": 0, "max": 10}}, 10, []),
        ({"type": "number", "validate": {"min": 1}}, 0, ["min"]),
        ({"type": "number", "validate": {"min": 1.5}}, 1.25, ["min"]),
        ({"type": "number", "validate": {"min": "=lower"}}, 3, ["min"]),
        ({"type": "number", "decimalDigits": 0}, 1.5, ["decimal_digits"]),
        ({"type": "number", "decimalDigits": 2}, 1.25, []),
        ({"type": "number", "decimalDigits": 2}, 1.255, ["decimal_digits"]),
        ({"type": "number", "increment": 0.5}, 1.5, []),
        ({"type": "number", "increment": 0.5}, 1.3, ["increment"]),
        ({"type": "number", "increment": "5"}, 12, ["increment"]),
        ({"type": "number", "serializeToString": True}, "12.5", []),
        ({"type": "number", "serializeToString": True, "validate": {"max": 10}}, "12.5", ["max"]),
        ({"type": "number"}, "12", ["type"]),
        ({"type": "number"}, True, ["type"]),
        ({"type": "number"}, [1], ["type"]),
        ({"type": "number", "serializeToString": True}, "twelve", ["type"]),
        # types
        ({"type": "textfield"}, 12, ["type"]),
        ({"type": "textfield"}, {"a": 1}, ["type"]),
        ({"type": "textfield"}, "x" * 100_001, ["max_length"]),
        ({"type": "checkbox"}, "true", ["type"]),
        ({"type": "checklist", "values": OPTS}, "a", ["type"]),
        # options
        ({"type": "select", "values": OPTS}, "a", []),
        ({"type": "select", "values": OPTS}, "c", ["not_an_option"]),
        ({"type": "select", "values": OPTS}, 1, []),
        ({"type": "select", "values": OPTS}, 1.0, []),
        ({"type": "select", "values": OPTS}, True, ["not_an_option"]),
        ({"type": "select", "values": OPTS}, "1", ["not_an_option"]),
        ({"type": "radio", "values": OPTS}, ["a"], ["not_an_option"]),
        ({"type": "checklist", "values": OPTS}, ["a", "b"], []),
        ({"type": "checklist", "values": OPTS}, ["a", "z"], ["not_an_option"]),
        ({"type": "taglist", "values": OPTS}, ["z", "y"], ["not_an_option", "not_an_option"]),
        ({"type": "select", "valuesKey": "choices"}, "x", []),
        ({"type": "select", "valuesKey": "choices"}, "a", ["not_an_option"]),
        ({"type": "select", "valuesKey": "missing"}, "x", ["not_an_option"]),
        ({"type": "checklist", "valuesExpression": '=concatenate(choices, ["y"])'}, ["x", "y"], []),
        ({"type": "checklist", "valuesExpression": "=choices"}, ["y"], ["not_an_option"]),
        # dates and times
        ({"type": "datetime", "subtype": "date"}, "2024-02-29", []),
        ({"type": "datetime", "subtype": "date"}, "2023-02-29", ["type"]),
        ({"type": "datetime", "subtype": "date"}, "2024-2-1", ["type"]),
        ({"type": "datetime", "subtype": "date"}, 20240201, ["type"]),
        ({"type": "datetime", "subtype": "time"}, "10:30", []),
        ({"type": "datetime", "subtype": "time"}, "10:30+08:00", []),
        ({"type": "datetime", "subtype": "time"}, "10:30Z", []),
        ({"type": "datetime", "subtype": "time"}, "24:00", ["type"]),
        ({"type": "datetime", "subtype": "datetime"}, "2024-01-01T10:30", []),
        ({"type": "datetime", "subtype": "datetime"}, "2024-01-01T10:30:00Z", []),
        ({"type": "datetime", "subtype": "datetime"}, "2024-01-01", ["type"]),
        ({"type": "datetime", "subtype": "date", "disallowPassedDates": True}, YESTERDAY, ["date_min"]),
        ({"type": "datetime", "subtype": "date", "disallowPassedDates": True}, TODAY.isoformat(), []),
        (
            {"type": "datetime", "subtype": "datetime", "disallowPassedDates": True},
            YESTERDAY + "T23:59",
            ["date_min"],
        ),
        (
            {"type": "datetime", "subtype": "date", "validate": {"min": "2024-01-01"}},
            "2023-12-31",
            ["date_min"],
        ),
        (
            {"type": "datetime", "subtype": "date", "validate": {"max": "2024-01-01"}},
            "2024-01-02",
            ["date_max"],
        ),
        (
            {"type": "datetime", "subtype": "date", "validate": {"min": "2024-01-01", "max": "2024-12-31"}},
            "2024-06-01",
            [],
        ),
        (
            {"type": "datetime", "subtype": "datetime", "validate": {"max": "2024-01-01"}},
            "2024-01-01T23:00",
            [],
        ),
        (
            {"type": "datetime", "subtype": "time", "validate": {"min": "08:00", "max": "18:00"}},
            "07:59",
            ["date_min"],
        ),
        ({"type": "datetime", "subtype": "date", "validate": {"min": "=today()"}}, YESTERDAY, ["date_min"]),
        # MedOA fields: types (existence is checked with references, below)
        ({"type": "medoa-staff"}, 5, []),
        ({"type": "medoa-staff"}, "5", ["type"]),
        ({"type": "medoa-staff"}, True, ["type"]),
        ({"type": "medoa-staff", "multiple": True}, [1, 2], []),
        ({"type": "medoa-staff", "multiple": True}, 1, ["type"]),
        ({"type": "medoa-department"}, "ICU", []),
        ({"type": "medoa-department"}, 3, ["type"]),
        ({"type": "medoa-attachment"}, ["t1", "t2"], []),
        ({"type": "medoa-attachment", "maxFiles": 1}, ["t1", "t2"], ["too_many"]),
        ({"type": "medoa-attachment", "multiple": False}, "t1", []),
        ({"type": "medoa-attachment", **REQ}, [], ["required"]),
        ({"type": "medoa-signature"}, "sig1", []),
        ({"type": "medoa-signature"}, 1, ["type"]),
        ({"type": "filepicker"}, "files::abc", []),
    ],
)
def test_rule(component: dict[str, Any], value: Any, expected: list[str]) -> None:
    context = {"choices": [{"label": "X", "value": "x"}], "lower": 5}
    assert errors_of(component, value, context) == [("f", code) for code in expected]


def test_messages_are_translated_and_name_the_limit() -> None:
    schema = parse_schema({"components": [{"type": "textfield", "key": "f", "validate": {"maxLength": 3}}]})
    error = validate(schema, {"f": "abcd"}).errors[0]
    with override("en"):
        assert error.as_dict() == {
            "field": "f",
            "code": "max_length",
            "message": "Enter at most 3 characters.",
        }
    with override("zh-hans"):
        assert str(error.message) == "最多只能输入 3 个字符。"


def test_not_an_object() -> None:
    schema = parse_schema({"components": [{"type": "textfield", "key": "f"}]})
    result = validate(schema, ["f"])
    assert (result.valid, result.data, [(e.field, e.code) for e in result.errors]) == (
        False,
        {},
        [("", "type")],
    )


def test_cleaned_data_drops_unknown_keys_and_keeps_types() -> None:
    schema = parse_schema(
        {
            "components": [
                {"type": "textfield", "key": "name"},
                {"type": "number", "key": "age"},
                {"type": "group", "path": "address", "components": [{"type": "textfield", "key": "city"}]},
                {"type": "textfield", "key": "meta.source"},
                {"type": "text", "text": "hello"},
                {"type": "button", "action": "submit"},
            ]
        }
    )
    result = validate(
        schema,
        {
            "name": "Li",
            "age": 30,
            "evil": "x",
            "address": {"city": "Hangzhou", "zip": "310000"},
            "meta": {"source": "w"},
        },
    )
    assert result.valid
    assert result.data == {"name": "Li", "age": 30, "address": {"city": "Hangzhou"}, "meta": {"source": "w"}}


DYNAMIC = {
    "components": [
        {"type": "number", "key": "limit"},
        {
            "type": "dynamiclist",
            "path": "items",
            "isRepeating": True,
            "components": [
                {"type": "textfield", "key": "name", "validate": {"required": True}},
                {"type": "number", "key": "amount", "validate": {"min": 1}},
                {"type": "checkbox", "key": "urgent"},
                {
                    "type": "textfield",
                    "key": "why",
                    "conditional": {"hide": "=not(this.urgent)"},
                    "validate": {"required": True},
                },
                {
                    "type": "textfield",
                    "key": "over",
                    "conditional": {"hide": "=this.amount <= limit"},
                    "validate": {"required": True},
                },
                {
                    "type": "textfield",
                    "key": "first",
                    "conditional": {"hide": "=i[1] != 1"},
                    "validate": {"required": True},
                },
                {"type": "expression", "key": "line", "expression": "=this.amount * 2"},
                {
                    "type": "dynamiclist",
                    "path": "parts",
                    "isRepeating": True,
                    "components": [
                        {"type": "number", "key": "qty", "validate": {"required": True}},
                        {
                            "type": "textfield",
                            "key": "note",
                            "conditional": {"hide": "=parent.this.urgent != true"},
                            "validate": {"required": True},
                        },
                    ],
                },
            ],
        },
    ]
}


def test_dynamic_list_rows_are_validated_with_their_paths_and_scopes() -> None:
    schema = parse_schema(DYNAMIC)
    data = {
        "limit": 10,
        "items": [
            {
                "name": "a",
                "amount": 5,
                "urgent": False,
                "why": "dropped",
                "first": "yes",
                "line": 999,
                "parts": [{"qty": 1, "note": "x"}],
            },
            {"name": "", "amount": 0, "urgent": True, "parts": [{"qty": None}, {}]},
            {"name": "c", "amount": 20, "urgent": True, "why": "w", "over": "o"},
            "not a row",
        ],
    }
    result = validate(schema, data)
    assert [(e.field, e.code) for e in result.errors] == [
        ("items[1].name", "required"),
        ("items[1].amount", "min"),
        ("items[1].why", "required"),
        ("items[1].parts[0].qty", "required"),
        ("items[1].parts[0].note", "required"),
        ("items[1].parts[1].qty", "required"),
        ("items[1].parts[1].note", "required"),
        ("items[3]", "type"),
    ]
    assert result.data["items"][0] == {
        "name": "a", "amount": 5, "urgent": False, "first": "yes", "line": 10, "parts": [{"qty": 1}],
    }  # fmt: skip
    assert result.data["items"][2]["line"] == 40


def test_dynamic_list_types_and_size() -> None:
    schema = parse_schema(DYNAMIC)
    assert [(e.field, e.code) for e in validate(schema, {"items": {"name": "a"}}).errors] == [
        ("items", "type")
    ]
    too_many = {"items": [{"name": "a", "first": "f"}] * 1001}
    assert [(e.field, e.code) for e in validate(schema, too_many).errors] == [("items", "too_many")]
    assert validate(schema, {"items": []}).valid
    assert validate(schema, {}).data == {}


def test_hidden_fields_are_not_required_and_their_values_are_dropped() -> None:
    schema = parse_schema(
        {
            "components": [
                {"type": "checkbox", "key": "other"},
                {
                    "type": "textfield",
                    "key": "detail",
                    "conditional": {"hide": "=other != true"},
                    "validate": {"required": True},
                },
                {
                    "type": "group",
                    "path": "g",
                    "conditional": {"hide": "=other = true"},
                    "components": [{"type": "textfield", "key": "x", "validate": {"required": True}}],
                },
                {"type": "textfield", "key": "broken", "conditional": {"hide": "=count(1) > 0"}},
            ]
        }
    )
    result = validate(schema, {"other": False, "detail": "secret", "g": {"x": ""}, "broken": "kept"})
    assert [(e.field, e.code) for e in result.errors] == [("g.x", "required")]
    assert result.data == {"other": False, "g": {"x": ""}, "broken": "kept"}
    result = validate(schema, {"other": True, "g": {"x": ""}})
    assert [(e.field, e.code) for e in result.errors] == [("detail", "required")]
    assert result.data == {"other": True}


def test_conditions_read_the_input_context() -> None:
    schema = parse_schema(
        {
            "components": [
                {
                    "type": "textfield",
                    "key": "note",
                    "conditional": {"hide": '=role = "nurse"'},
                    "validate": {"required": True},
                }
            ]
        }
    )
    assert validate(schema, {}, context={"role": "nurse"}).valid
    assert not validate(schema, {}, context={"role": "doctor"}).valid
    # a submitted key that is no field cannot steer a condition
    assert not validate(schema, {"role": "nurse"}, context={"role": "doctor"}).valid


def test_computed_fields_are_filled_by_the_server() -> None:
    schema = parse_schema(
        {
            "components": [
                {"type": "number", "key": "a"},
                {"type": "number", "key": "b"},
                {"type": "expression", "key": "total", "expression": "=a + b"},
                {"type": "expression", "key": "summary.big", "expression": "=total > 10"},
                {
                    "type": "textfield",
                    "key": "why",
                    "conditional": {"hide": "=summary.big != true"},
                    "validate": {"required": True},
                },
                {"type": "expression", "key": "when", "expression": '=date("2024-01-01")'},
            ]
        }
    )
    data = {"a": 4, "b": 9, "total": 1, "summary": {"big": False}}
    result = validate(schema, data)
    assert [(e.field, e.code) for e in result.errors] == [("why", "required")]
    assert result.data == {"a": 4, "b": 9, "total": 13, "summary": {"big": True}, "when": "2024-01-01"}
    assert data["summary"] == {"big": False}  # the caller's data is not written to


def test_disabled_fields_are_not_validated_nor_kept() -> None:
    schema = parse_schema(
        {
            "components": [
                {"type": "textfield", "key": "a", "disabled": True, "validate": {"required": True}},
                {"type": "textfield", "key": "b", "disabled": "=lock", "validate": {"required": True}},
            ]
        }
    )
    result = validate(schema, {"a": "x"}, context={"lock": True})
    assert (result.valid, result.data) == (True, {})
    assert [(e.field, e.code) for e in validate(schema, {}, context={"lock": False}).errors] == [
        ("b", "required")
    ]
    assert validate(schema, {}, previous={"a": "old"}, context={"lock": True}).data == {"a": "old"}


def test_defaults_fill_absent_fields_of_a_new_record() -> None:
    schema = parse_schema(
        {"components": [{"type": "select", "key": "lang", "values": OPTS, "defaultValue": "a"}]}
    )
    assert validate(schema, {}).data == {"lang": "a"}
    assert validate(schema, {"lang": "b"}).data == {"lang": "b"}


def test_schema_readonly_fields_keep_their_value() -> None:
    schema = parse_schema(
        {
            "components": [
                {"type": "textfield", "key": "code", "readonly": True, "defaultValue": "C-1"},
                {"type": "number", "key": "score", "readonly": "=locked"},
            ]
        }
    )
    assert validate(schema, {"code": "C-1"}).data == {"code": "C-1"}
    result = validate(schema, {"code": "C-2"})
    assert [(e.field, e.code) for e in result.errors] == [("code", "readonly")]
    result = validate(
        schema, {"code": "C-1", "score": 5}, previous={"code": "C-1", "score": 3}, context={"locked": True}
    )
    assert [(e.field, e.code) for e in result.errors] == [("score", "readonly")]
    assert result.data == {"code": "C-1", "score": 3}
    assert validate(schema, {"code": "C-1", "score": 5}, context={"locked": False}).valid


class FakeDatabase:
    """The References protocol over sets (the database one is tested in test_services)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def existing_staff(self, ids: set[int]) -> set[int]:
        self.calls.append("staff")
        return ids & {1, 2}

    def existing_departments(self, codes: set[str]) -> set[str]:
        self.calls.append("department")
        return codes & {"ICU"}

    def usable_attachments(self, ids: set[str]) -> set[str]:
        self.calls.append("attachment")
        return ids & {"t1"}


def test_references_are_checked_in_one_call_per_kind() -> None:
    schema = parse_schema(
        {
            "components": [
                {"type": "medoa-staff", "key": "nurse"},
                {"type": "medoa-staff", "key": "team", "multiple": True},
                {"type": "medoa-department", "key": "dept"},
                {"type": "medoa-attachment", "key": "files"},
                {"type": "medoa-signature", "key": "sign"},
                {
                    "type": "dynamiclist",
                    "path": "rows",
                    "components": [{"type": "medoa-staff", "key": "who"}],
                },
            ]
        }
    )
    refs = FakeDatabase()
    data = {
        "nurse": 1,
        "team": [2, 3],
        "dept": "ER",
        "files": ["t1", "t9"],
        "sign": "t1",
        "rows": [{"who": 4}],
    }
    result = validate(schema, data, references=refs)
    assert [(e.field, e.code) for e in result.errors] == [
        ("team", "not_found"),
        ("dept", "not_found"),
        ("files", "not_found"),
        ("rows[0].who", "not_found"),
    ]
    assert sorted(refs.calls) == ["attachment", "department", "staff"]
    assert validate(schema, data).valid  # no database: types only
