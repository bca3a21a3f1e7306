"""The API's bilingual error vocabulary, shared by every router (the handlers are in medoa/api).

One error shape for the whole API::

    {"detail": "<中文>", "detail_en": "<English>",
     "errors": [{"field": "username", "message": "<中文>", "message_en": "<English>", "type": "missing"}]}

Endpoints raise ``HttpError(status, gettext_lazy("English message"))``: a lazy message is
answered in both languages. Validators in schemas raise ``ValueError(gettext_lazy(...))`` for the
same effect on ``value_error``. This lives in ``core`` so that engines and modules can build error
bodies without importing the API layer above them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override
from ninja import Schema
from ninja.errors import HttpError

if TYPE_CHECKING:
    from medoa.core.access.models import User

ZH = "zh-hans"
EN = "en"
SOURCES = {"body", "query", "path", "form", "header", "cookie", "file"}
BODY_SOURCES = {"body", "form", "file"}
UNPARSABLE_BODY = "Cannot parse request body"

# pydantic error type → message (an English msgid with the error context's names as %-fields).
MESSAGES: dict[str, Any] = {
    "missing": gettext_lazy("This field is required."),
    "extra_forbidden": gettext_lazy("This field is not allowed."),
    "string_type": gettext_lazy("Must be text."),
    "string_too_short": gettext_lazy("Must have at least %(min_length)s characters."),
    "string_too_long": gettext_lazy("Must have at most %(max_length)s characters."),
    "string_pattern_mismatch": gettext_lazy("Does not have the expected format."),
    "string_unicode": gettext_lazy("Must be valid Unicode text."),
    "int_type": gettext_lazy("Must be a whole number."),
    "int_parsing": gettext_lazy("Must be a whole number."),
    "int_parsing_size": gettext_lazy("The number is too large."),
    "int_from_float": gettext_lazy("Must be a whole number."),
    "float_type": gettext_lazy("Must be a number."),
    "float_parsing": gettext_lazy("Must be a number."),
    "finite_number": gettext_lazy("Must be a finite number."),
    "decimal_type": gettext_lazy("Must be a decimal number."),
    "decimal_parsing": gettext_lazy("Must be a decimal number."),
    "decimal_max_digits": gettext_lazy("Must have at most %(max_digits)s digits."),
    "decimal_max_places": gettext_lazy("Must have at most %(decimal_places)s decimal places."),
    "decimal_whole_digits": gettext_lazy("Must have at most %(whole_digits)s digits before the point."),
    "bool_type": gettext_lazy("Must be true or false."),
    "bool_parsing": gettext_lazy("Must be true or false."),
    "greater_than": gettext_lazy("Must be greater than %(gt)s."),
    "greater_than_equal": gettext_lazy("Must be at least %(ge)s."),
    "less_than": gettext_lazy("Must be less than %(lt)s."),
    "less_than_equal": gettext_lazy("Must be at most %(le)s."),
    "multiple_of": gettext_lazy("Must be a multiple of %(multiple_of)s."),
    "enum": gettext_lazy("Must be one of: %(expected)s."),
    "literal_error": gettext_lazy("Must be one of: %(expected)s."),
    "date_type": gettext_lazy("Must be a date (YYYY-MM-DD)."),
    "date_parsing": gettext_lazy("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": gettext_lazy("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_inexact": gettext_lazy("Must be a date without a time of day."),
    "date_past": gettext_lazy("Must be a date in the past."),
    "date_future": gettext_lazy("Must be a date in the future."),
    "datetime_type": gettext_lazy("Must be a date and time (ISO 8601, e.g. 2026-03-01T08:30:00+08:00)."),
    "datetime_parsing": gettext_lazy("Must be a date and time (ISO 8601, e.g. 2026-03-01T08:30:00+08:00)."),
    "datetime_from_date_parsing": gettext_lazy(
        "Must be a date and time (ISO 8601, e.g. 2026-03-01T08:30:00+08:00)."
    ),
    "datetime_past": gettext_lazy("Must be a time in the past."),
    "datetime_future": gettext_lazy("Must be a time in the future."),
    "timezone_aware": gettext_lazy("Must include a time zone."),
    "timezone_naive": gettext_lazy("Must not include a time zone."),
    "time_type": gettext_lazy("Must be a time of day (HH:MM)."),
    "time_parsing": gettext_lazy("Must be a time of day (HH:MM)."),
    "time_delta_type": gettext_lazy("Must be a duration."),
    "time_delta_parsing": gettext_lazy("Must be a duration."),
    "uuid_type": gettext_lazy("Must be a UUID."),
    "uuid_parsing": gettext_lazy("Must be a UUID."),
    "url_type": gettext_lazy("Must be a URL."),
    "url_parsing": gettext_lazy("Must be a URL."),
    "url_scheme": gettext_lazy("The URL scheme is not allowed."),
    "json_invalid": gettext_lazy("The request body is not valid JSON."),
    "json_type": gettext_lazy("Must be a JSON string."),
    "list_type": gettext_lazy("Must be a list."),
    "tuple_type": gettext_lazy("Must be a list."),
    "set_type": gettext_lazy("Must be a list of distinct values."),
    "too_short": gettext_lazy("Must have at least %(min_length)s items."),
    "too_long": gettext_lazy("Must have at most %(max_length)s items."),
    "dict_type": gettext_lazy("Must be an object."),
    "model_type": gettext_lazy("Must be an object."),
    "model_attributes_type": gettext_lazy("Must be an object."),
    "dataclass_type": gettext_lazy("Must be an object."),
    "none_required": gettext_lazy("Must be empty (null)."),
    "bytes_type": gettext_lazy("Must be text."),
    "bytes_too_short": gettext_lazy("Must have at least %(min_length)s bytes."),
    "bytes_too_long": gettext_lazy("Must have at most %(max_length)s bytes."),
    "union_tag_invalid": gettext_lazy("Has an unknown type: %(tag)s."),
    "union_tag_not_found": gettext_lazy("Must say which type it is (%(discriminator)s)."),
    "frozen_field": gettext_lazy("This field cannot be changed."),
    "is_instance_of": gettext_lazy("Has the wrong type."),
}
FALLBACK = gettext_lazy("This value is not valid.")
# ninja's own English messages, so that they are answered in both languages too.
NINJA_MESSAGES: dict[str, Any] = {
    "Unauthorized": gettext_lazy("Authentication required: send a valid bearer token."),
    "Forbidden": gettext_lazy("You do not have permission to do this."),
    "Too many requests.": gettext_lazy("Too many requests. Please wait and try again."),
    "Not Found": gettext_lazy("Not found."),
}
VALUE_ERROR_PREFIXES = ("Value error, ", "Assertion failed, ")


def in_both(message: Any, params: dict[str, Any] | None = None) -> tuple[str, str]:
    """``message`` (a lazy or plain English msgid) in Chinese and in English."""

    def render() -> str:
        text = str(message) if isinstance(message, Promise) else _(str(message))
        if params:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                text = text % params
        return text

    with override(ZH):
        zh = render()
    with override(EN):
        en = render()
    return zh, en


def loc_to_field(loc: Iterable[Any] | None) -> str:
    """``("body", "payload", "staff", 0, "name")`` → ``"staff.0.name"``."""
    parts = [str(p) for p in (loc or [])]
    if parts and parts[0] in SOURCES:
        source, parts = parts[0], parts[1:]
        if source in BODY_SOURCES and len(parts) > 1:
            parts = parts[1:]  # the name of the endpoint's body parameter
    return ".".join(parts)


def _ctx_params(ctx: dict[str, Any] | None) -> dict[str, Any]:
    return {k: (v if isinstance(v, int | float) else str(v)) for k, v in (ctx or {}).items()}


def translate_error(err: dict[str, Any], original: Any = None) -> dict[str, str]:
    """One pydantic error as ``{"field", "message", "message_en", "type"}``."""
    kind = str(err.get("type", ""))
    field = loc_to_field(err.get("loc"))
    if kind in {"value_error", "assertion_error"}:
        cause = original if isinstance(original, Exception) else None
        text: Any = cause.args[0] if cause is not None and cause.args else str(err.get("msg", ""))
        if isinstance(text, str):
            for prefix in VALUE_ERROR_PREFIXES:
                text = text.removeprefix(prefix)
        if isinstance(text, Promise):
            zh, en = in_both(text)
        else:
            zh = en = str(text) or str(FALLBACK)
        return {"field": field, "message": zh, "message_en": en, "type": kind}
    message = MESSAGES.get(kind)
    if message is None:
        zh, _en = in_both(FALLBACK)
        detail = str(err.get("msg", ""))
        return {"field": field, "message": f"{zh}（{detail}）", "message_en": detail or _en, "type": kind}
    zh, en = in_both(message, _ctx_params(err.get("ctx")))
    return {"field": field, "message": zh, "message_en": en, "type": kind}


def error_body(message: Any, *, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    zh, en = in_both(message)
    body: dict[str, Any] = {"detail": zh, "detail_en": en}
    if errors is not None:
        body["errors"] = errors
    return body


def http_error(status: int, message: Any, **extra: Any) -> HttpError:
    """An HttpError with a lazy English message: the API's handler answers it in Chinese and
    English (``error_body``); ``extra`` keys (``errors``, ``problems`` …) are added to the body."""
    error = HttpError(status, message)
    if extra:
        error.extra = extra  # type: ignore[attr-defined]
    return error


def api_user(request: HttpRequest) -> User:
    """The user the request authenticated as; 401 (answered with WWW-Authenticate) if none."""
    from medoa.core.access.models import User  # (models load after this module)

    user = request.user
    if not isinstance(user, User):
        raise http_error(401, gettext_lazy("Authentication required: send a valid bearer token."))
    return user


# --- the error shape, for the routers' response documentation ------------------------------------


class ErrorOut(Schema):
    detail: str
    detail_en: str


class FieldErrorOut(Schema):
    field: str
    message: str
    message_en: str
    type: str


class InvalidOut(ErrorOut):
    errors: list[FieldErrorOut] = []
