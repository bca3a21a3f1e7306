"""API error bodies: every error in Chinese and English, with the field; bad JSON is never a 500."""

from __future__ import annotations

import datetime
from enum import Enum
from typing import Any, Literal

import pytest
from django.test import Client
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medoa.api.errors import loc_to_field, translate_error

TOKEN_URL = "/api/v1/auth/token"


def post_raw(client: Client, data: str, content_type: str = "application/json") -> Any:
    return client.post(TOKEN_URL, data=data, content_type=content_type)


@pytest.mark.django_db
def test_missing_fields_are_named_in_both_languages(client: Client) -> None:
    # When
    response = client.post(TOKEN_URL, {}, content_type="application/json")
    # Then
    assert response.status_code == 422
    assert response.json() == {
        "detail": "请求无效。",
        "detail_en": "The request is not valid.",
        "errors": [
            {
                "field": "username",
                "message": "此字段为必填项。",
                "message_en": "This field is required.",
                "type": "missing",
            },
            {
                "field": "password",
                "message": "此字段为必填项。",
                "message_en": "This field is required.",
                "type": "missing",
            },
        ],
    }


@pytest.mark.django_db
def test_ill_typed_and_out_of_range_fields(client: Client) -> None:
    # When
    response = client.post(
        TOKEN_URL, {"username": "", "password": 12345, "otp": "1" * 11}, content_type="application/json"
    )
    # Then
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "username",
            "message": "至少需要 1 个字符。",
            "message_en": "Must have at least 1 characters.",
            "type": "string_too_short",
        },
        {
            "field": "password",
            "message": "必须是文本。",
            "message_en": "Must be text.",
            "type": "string_type",
        },
        {
            "field": "otp",
            "message": "最多 10 个字符。",
            "message_en": "Must have at most 10 characters.",
            "type": "string_too_long",
        },
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data", ['{"username": "doc", "password": ', "not json at all", "\xff\xfe", "{'a': 1}"]
)
def test_broken_json_is_a_clear_400(client: Client, data: str) -> None:
    # When
    response = post_raw(client, data)
    # Then
    assert response.status_code == 400
    assert response.json() == {
        "detail": "请求体不是有效的 JSON。",
        "detail_en": "The request body is not valid JSON.",
        "errors": [
            {
                "field": "",
                "message": "请求体不是有效的 JSON。",
                "message_en": "The request body is not valid JSON.",
                "type": "json_invalid",
            }
        ],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "null", "42"])
def test_json_that_is_not_an_object_names_the_missing_fields(client: Client, data: str) -> None:
    response = post_raw(client, data)
    assert response.status_code == 422
    assert [(e["field"], e["type"]) for e in response.json()["errors"]] == [
        ("username", "missing"),
        ("password", "missing"),
    ]


# --- every common pydantic error type ---------------------------------------------------------


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = 0
    ratio: float = 0
    level: int = Field(1, ge=1, le=5)
    code: str = Field("AB", pattern=r"^[A-Z]{2}$")
    colour: Colour = Colour.RED
    kind: Literal["a", "b"] = "a"
    day: datetime.date = datetime.date(2026, 1, 1)
    at: datetime.datetime = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    note: str = "x"

    @field_validator("note")
    @classmethod
    def note_not_shouting(cls, value: str) -> str:
        if value.isupper():
            raise ValueError(gettext_lazy("This value is not valid."))
        if value == "plain":
            raise ValueError("a plain message")
        return value


def first_error(**data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        Probe(**data)
    err = info.value.errors(include_url=False)[0]
    err["loc"] = ("body", "payload", *err["loc"])
    return translate_error(err, (err.get("ctx") or {}).get("error"))


@pytest.mark.parametrize(
    ("data", "kind", "zh", "en"),
    [
        ({"count": "many"}, "int_parsing", "必须是整数。", "Must be a whole number."),
        ({"ratio": "half"}, "float_parsing", "必须是数字。", "Must be a number."),
        ({"level": 0}, "greater_than_equal", "不能小于 1。", "Must be at least 1."),
        ({"level": 9}, "less_than_equal", "不能大于 5。", "Must be at most 5."),
        ({"code": "abc"}, "string_pattern_mismatch", "格式不正确。", "Does not have the expected format."),
        (
            {"colour": "green"},
            "enum",
            "必须是以下值之一：'red' or 'blue'。",
            "Must be one of: 'red' or 'blue'.",
        ),
        ({"kind": "c"}, "literal_error", "必须是以下值之一：'a' or 'b'。", "Must be one of: 'a' or 'b'."),
        (
            {"day": "2026-13-45"},
            "date_from_datetime_parsing",
            "必须是日期（YYYY-MM-DD）。",
            "Must be a date (YYYY-MM-DD).",
        ),
        (
            {"at": "yesterday"},
            "datetime_from_date_parsing",
            "必须是日期时间（ISO 8601，例如 2026-03-01T08:30:00+08:00）。",
            "Must be a date and time (ISO 8601, e.g. 2026-03-01T08:30:00+08:00).",
        ),
        ({"surprise": 1}, "extra_forbidden", "不允许此字段。", "This field is not allowed."),
        ({"note": "LOUD"}, "value_error", "该值无效。", "This value is not valid."),
        ({"note": "plain"}, "value_error", "a plain message", "a plain message"),
    ],
)
def test_common_error_types_are_translated(data: dict[str, Any], kind: str, zh: str, en: str) -> None:
    error = first_error(**data)
    assert error["type"] == kind
    assert (error["message"], error["message_en"]) == (zh, en)
    assert error["field"] == next(iter(data))


def test_unknown_error_types_fall_back_to_pydantics_words() -> None:
    error = translate_error({"type": "brand_new", "loc": ("query", "page"), "msg": "Something odd"})
    assert error == {
        "field": "page",
        "message": "该值无效。（Something odd）",
        "message_en": "Something odd",
        "type": "brand_new",
    }


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("body", "payload", "username"), "username"),
        (("body", "payload", "staff", 0, "name"), "staff.0.name"),
        (("body", "payload"), "payload"),
        (("query", "page"), "page"),
        (("path", "id"), "id"),
        ((), ""),
    ],
)
def test_loc_to_field(loc: tuple[Any, ...], field: str) -> None:
    assert loc_to_field(loc) == field
