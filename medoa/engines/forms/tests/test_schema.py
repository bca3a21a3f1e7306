"""parse_schema: every problem form-js would refuse is named with its path and code."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils.translation import override

from medoa.engines.forms.schema import (
    DATA_TYPES,
    LAYOUT_TYPES,
    MEDOA_TYPES,
    SchemaError,
    compile_js_pattern,
    parse_schema,
)


def problems(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(SchemaError) as info:
        parse_schema(raw)
    return [(p.path, p.code) for p in info.value.problems]


def tf(key: str, **extra: Any) -> dict[str, Any]:
    return {"type": "textfield", "key": key, **extra}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], [("", "not_object")]),
        ({}, [("components", "no_components")]),
        ({"components": {}}, [("components", "no_components")]),
        ({"components": [1]}, [("components[0]", "not_object")]),
        ({"components": [{"type": "foo", "key": "a"}]}, [("components[0].type", "unknown_type")]),
        ({"components": [{"key": "a"}]}, [("components[0].type", "unknown_type")]),
        ({"components": [{"type": "textfield"}]}, [("components[0].key", "key_missing")]),
        ({"components": [tf("a b")]}, [("components[0].key", "bad_key")]),
        ({"components": [tf("a..b")]}, [("components[0].key", "bad_key")]),
        ({"components": [tf("姓名")]}, [("components[0].key", "bad_key")]),
        ({"components": [tf("items.0")]}, [("components[0].key", "bad_key")]),
        ({"components": [tf("a"), tf("a")]}, [("components[1].key", "duplicate_key")]),
        ({"components": [tf("a"), tf("a.b")]}, [("components[1].key", "duplicate_key")]),
        ({"components": [tf("a.b"), tf("a")]}, [("components[1].key", "duplicate_key")]),
        (
            {"components": [{"type": "group", "path": "g", "components": [tf("x")]}, tf("g.x")]},
            [("components[1].key", "duplicate_key")],
        ),
        (
            {"components": [{"type": "dynamiclist", "path": "l", "components": [tf("x")]}, tf("l")]},
            [("components[1].key", "duplicate_key")],
        ),
        (
            {"components": [{"type": "dynamiclist", "isRepeating": True, "components": []}]},
            [("components[0].path", "key_missing")],
        ),
        ({"components": [tf("a", id="x"), tf("b", id="x")]}, [("components[1].id", "duplicate_id")]),
        ({"components": [tf("a", validate=[])]}, [("components[0].validate", "bad_validate")]),
        (
            {"components": [tf("a", validate={"required": "yes"})]},
            [("components[0].validate.required", "bad_validate")],
        ),
        (
            {"components": [tf("a", validate={"minLength": -1})]},
            [("components[0].validate.minLength", "bad_validate")],
        ),
        (
            {"components": [tf("a", validate={"maxLength": 1.5})]},
            [("components[0].validate.maxLength", "bad_validate")],
        ),
        (
            {"components": [tf("a", validate={"minLength": 5, "maxLength": 2})]},
            [("components[0].validate.minLength", "bad_validate")],
        ),
        (
            {"components": [{"type": "number", "key": "n", "validate": {"min": 5, "max": 1}}]},
            [("components[0].validate.min", "bad_validate")],
        ),
        (
            {"components": [{"type": "number", "key": "n", "validate": {"min": "5"}}]},
            [("components[0].validate.min", "bad_validate")],
        ),
        (
            {"components": [tf("a", validate={"pattern": "(("})]},
            [("components[0].validate.pattern", "bad_pattern")],
        ),
        (
            {"components": [tf("a", validate={"pattern": 5})]},
            [("components[0].validate.pattern", "bad_pattern")],
        ),
        (
            {"components": [tf("a", validate={"validationType": "zip"})]},
            [("components[0].validate.validationType", "bad_validate")],
        ),
        (
            {"components": [tf("a", conditional={"hide": "=x +"})]},
            [("components[0].conditional.hide", "feel")],
        ),
        ({"components": [tf("a", label="=foo(")]}, [("components[0].label", "feel")]),
        ({"components": [tf("a", readonly="=unknownfn(1)")]}, [("components[0].readonly", "feel")]),
        ({"components": [tf("a", disabled="yes")]}, [("components[0].disabled", "bad_value")]),
        ({"components": [{"type": "expression", "key": "e"}]}, [("components[0].expression", "feel")]),
        (
            {"components": [{"type": "expression", "key": "e", "expression": "=1 +"}]},
            [("components[0].expression", "feel")],
        ),
        (
            {"components": [{"type": "select", "key": "s", "values": "a"}]},
            [("components[0].values", "bad_options")],
        ),
        (
            {"components": [{"type": "select", "key": "s", "values": [{"label": "A"}]}]},
            [("components[0].values[0]", "bad_options")],
        ),
        (
            {
                "components": [
                    {
                        "type": "radio",
                        "key": "s",
                        "values": [{"label": "A", "value": "a"}, {"label": "B", "value": "a"}],
                    }
                ]
            },
            [("components[0].values[1].value", "bad_options")],
        ),
        (
            {"components": [{"type": "select", "key": "s", "valuesKey": "bad key"}]},
            [("components[0].valuesKey", "bad_key")],
        ),
        (
            {"components": [{"type": "select", "key": "s", "valuesExpression": "=["}]},
            [("components[0].valuesExpression", "feel")],
        ),
        (
            {"components": [{"type": "select", "key": "s", "valuesKey": "k", "valuesExpression": "=l"}]},
            [("components[0].valuesExpression", "bad_options")],
        ),
        (
            {"components": [{"type": "datetime", "key": "d", "subtype": "week"}]},
            [("components[0].subtype", "bad_value")],
        ),
        (
            {"components": [{"type": "datetime", "key": "d", "validate": {"min": "soon"}}]},
            [("components[0].validate.min", "bad_validate")],
        ),
        (
            {"components": [{"type": "number", "key": "n", "decimalDigits": -1}]},
            [("components[0].decimalDigits", "bad_value")],
        ),
        (
            {"components": [{"type": "number", "key": "n", "increment": 0}]},
            [("components[0].increment", "bad_value")],
        ),
        (
            {"components": [{"type": "medoa-attachment", "key": "f", "maxFiles": 0}]},
            [("components[0].maxFiles", "bad_value")],
        ),
        (
            {"components": [{"type": "group", "components": [{"type": "nope"}, tf("a"), tf("a")]}]},
            [
                ("components[0].components[0].type", "unknown_type"),
                ("components[0].components[2].key", "duplicate_key"),
            ],
        ),
    ],
)
def test_refused(raw: Any, expected: list[tuple[str, str]]) -> None:
    assert problems(raw) == expected


def test_every_problem_is_listed_with_a_translatable_message() -> None:
    raw = {
        "components": [
            {"type": "foo"},
            tf("a"),
            tf("a"),
            tf("b", validate={"minLength": 5, "maxLength": 2}),
            tf("c", conditional={"hide": "=a +"}),
        ]
    }
    with pytest.raises(SchemaError) as info:
        parse_schema(raw)
    found = info.value.problems
    assert [(p.path, p.code) for p in found] == [
        ("components[0].type", "unknown_type"),
        ("components[2].key", "duplicate_key"),
        ("components[3].validate.minLength", "bad_validate"),
        ("components[4].conditional.hide", "feel"),
    ]
    with override("en"):
        assert str(found[0].message) == "unknown field type 'foo'"
        assert (
            str(found[3].message)
            == "the FEEL expression does not compile: unexpected end of expression at position 3"
        )
    with override("zh-hans"):
        assert str(found[0].message) == "未知的字段类型“foo”"
        assert str(found[3].message) == "FEEL 表达式无法编译：位置 3 出现意外的 表达式结尾"


def test_every_type_is_accepted() -> None:
    comps: list[dict[str, Any]] = []
    for i, t in enumerate(sorted(DATA_TYPES | LAYOUT_TYPES)):
        comp: dict[str, Any] = {"type": t, "id": f"c{i}"}
        if t in DATA_TYPES:
            comp["key"] = f"k{i}"
        if t == "expression":
            comp["expression"] = "=1 + 1"
        if t in ("group", "dynamiclist"):
            comp["path"] = f"p{i}"
            comp["components"] = [tf("inner")]
        comps.append(comp)
    schema = parse_schema({"components": comps})
    assert {f.type for f in schema.walk()} == DATA_TYPES | LAYOUT_TYPES
    assert {f.type for f in schema.input_fields()} >= MEDOA_TYPES


def test_fields_keys_paths_and_reporting() -> None:
    schema = parse_schema(
        {
            "id": "f1",
            "components": [
                tf("name", properties={"medoa:report": "true"}),
                {"type": "group", "path": "address", "components": [tf("city"), tf("geo.lat")]},
                {"type": "group", "components": [tf("loose")]},
                {
                    "type": "dynamiclist",
                    "path": "items",
                    "isRepeating": True,
                    "components": [
                        {"type": "number", "key": "amount", "properties": {"medoa:report": "true"}}
                    ],
                },
                {"type": "text", "text": "Hello"},
            ],
        }
    )
    assert schema.id == "f1"
    assert [f.key for f in schema.input_fields()] == [
        "name",
        "address.city",
        "address.geo.lat",
        "loose",
        "items",
        "items[].amount",
    ]
    assert schema.field("address.geo.lat").local_path == ("address", "geo", "lat")
    assert schema.field("items[].amount").local_path == ("amount",)
    assert schema.field("items").repeat is True
    assert schema.reporting == ("name", "items[].amount")
    # two groups may share a path (form-js merges them)
    parse_schema(
        {
            "components": [
                {"type": "group", "path": "g", "components": [tf("a")]},
                {"type": "group", "path": "g", "components": [tf("b")]},
            ]
        }
    )
    # the same key in two lists is fine
    parse_schema(
        {
            "components": [
                {"type": "dynamiclist", "path": "l1", "components": [tf("x")]},
                {"type": "dynamiclist", "path": "l2", "components": [tf("x")]},
            ]
        }
    )


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^C-[0-9]+$", "C-123", True),
        ("^C-[0-9]+$", "C-123\n", False),  # JS "$" is the very end (Python's would accept the newline)
        ("(true|false)", "untrue", True),  # not anchored: RegExp.test
        ("\\d+", "١٢", False),  # JS \d is ASCII
        ("^\\w+$", "中文", False),
        ("^[\\w-]+$", "a-b_c", True),
        ("^(?<y>\\d{4})$", "2024", True),
        ("^\\p$", "p", True),  # no u flag: \p is "p"
        ("[^]", "\n", True),
        ("\\/", "a/b", True),
        ("^\\u4e2d$", "中", True),
    ],
)
def test_js_patterns(pattern: str, text: str, matches: bool) -> None:
    assert (compile_js_pattern(pattern).search(text) is not None) is matches
