"""Server-side validation of a form submission, as the form-js viewer validates it in the browser
(``Form.validate`` / ``Validator.validateField`` / ``ConditionChecker``), and never trusting it.

What the viewer does and we do the same way:

* ``required``: ``null``, missing, ``""``, an unchecked checkbox and an empty list are empty
  (``"  "`` is not);
* ``minLength``/``maxLength`` count the trimmed text in UTF-16 units (JavaScript ``length``);
* ``pattern`` is a JavaScript ``RegExp`` NOT anchored (``new RegExp(p).test(v)``): ``^…$`` in the
  pattern anchors it; applied to non-empty values only;
* ``min``/``max`` apply to numbers (0 included); ``decimalDigits`` and ``increment`` to number
  fields; ``validationType`` ``email``/``phone`` with form-js' patterns;
* ``conditional.hide`` is evaluated (FEEL) with form-js' expression context: the form's data (the
  input ``context`` overlaid with the submitted fields) at the top level, plus ``this`` (the root
  data, or the current row inside a dynamic list), ``parent`` (the enclosing scope's context),
  ``i`` (1-based row indexes) and ``_this_``/``_parent_``/``_i_``. A hidden field (or one inside a
  hidden group or list) is not validated and its value is dropped; only ``true`` hides;
* ``disabled`` fields are not validated and not kept (the viewer does not submit them);
* expression fields are computed here, whatever the client sent.

What the browser cannot be trusted with and we add: type checks (``type``), options within the
field's options (static ``values``, ``valuesKey`` from the input ``context``, ``valuesExpression``),
dates and times well-formed and within ``disallowPassedDates`` and ``validate.min``/``max`` (ISO
text), read-only fields unchanged (``readonly`` in the schema, or per process step through
``permissions``), hidden-by-permission fields not submitted, MedOA references that exist.
Unknown keys are dropped (the viewer submits only its fields). Error paths are data paths with
0-based row indexes: ``items[2].amount``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.utils import timezone
from django.utils.translation import gettext_noop

from medoa.engines.forms.schema import Field, FormSchema, lazy_message
from medoa.engines.rules.feel import FeelError, FeelExpression

__all__ = ["MAX_ROWS", "FieldError", "References", "ValidationResult", "validate"]

MAX_ROWS = 1000  # rows of one dynamic list
MAX_TEXT = 100_000  # characters of one text value

EMAIL_RE = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
PHONE_RE = re.compile(r"\+[1-9][0-9]{6,14}")  # E.164
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?")

_M_REQUIRED = gettext_noop("This field is required.")
_M_MIN_LENGTH = gettext_noop("Enter at least %(limit)s characters.")
_M_MAX_LENGTH = gettext_noop("Enter at most %(limit)s characters.")
_M_PATTERN = gettext_noop("The value must match the pattern %(pattern)s.")
_M_MIN = gettext_noop("The value must be at least %(limit)s.")
_M_MAX = gettext_noop("The value must be at most %(limit)s.")
_M_DATE_MIN = gettext_noop("The date must not be before %(limit)s.")
_M_DATE_MAX = gettext_noop("The date must not be after %(limit)s.")
_M_NOT_OPTION = gettext_noop("%(value)s is not one of the options.")
_M_TYPE_TEXT = gettext_noop("Enter text.")
_M_TYPE_NUMBER = gettext_noop("Enter a number.")
_M_TYPE_BOOL = gettext_noop("The value must be true or false.")
_M_TYPE_LIST = gettext_noop("The value must be a list.")
_M_TYPE_ROW = gettext_noop("Each row must be an object.")
_M_TYPE_DATE = gettext_noop("Enter a valid date (YYYY-MM-DD).")
_M_TYPE_TIME = gettext_noop("Enter a valid time (HH:MM).")
_M_TYPE_DATETIME = gettext_noop("Enter a valid date and time (YYYY-MM-DDTHH:MM).")
_M_TYPE_OBJECT = gettext_noop("The submitted data must be an object.")
_M_TYPE_STAFF = gettext_noop("Choose a person (a staff id).")
_M_TYPE_DEPARTMENT = gettext_noop("Choose a department (a department code).")
_M_TYPE_ATTACHMENT = gettext_noop("Upload a file (an attachment id).")
_M_DECIMALS_INT = gettext_noop("The value must be a whole number.")
_M_DECIMALS = gettext_noop("The value must have at most %(digits)s decimal digits.")
_M_INCREMENT = gettext_noop("Choose a valid value; the two nearest valid values are %(low)s and %(high)s.")
_M_EMAIL = gettext_noop("Enter a valid email address.")
_M_PHONE = gettext_noop("Enter a valid international phone number (e.g. +8613800138000).")
_M_READONLY = gettext_noop("This field is read-only; its value cannot be changed.")
_M_HIDDEN = gettext_noop("This field cannot be submitted at this step.")
_M_NOT_FOUND_STAFF = gettext_noop("Person %(value)s does not exist or is no longer active.")
_M_NOT_FOUND_DEPARTMENT = gettext_noop("Department %(value)s does not exist.")
_M_NOT_FOUND_ATTACHMENT = gettext_noop("Attachment %(value)s does not exist or cannot be used here.")
_M_TOO_MANY_FILES = gettext_noop("Attach at most %(limit)s files.")
_M_TOO_MANY_ROWS = gettext_noop("Add at most %(limit)s rows.")
_M_TOO_LONG = gettext_noop("The text is too long (at most %(limit)s characters).")


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: Any  # lazy translatable text

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": str(self.message)}


@dataclass
class ValidationResult:
    valid: bool
    data: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)


class References(Protocol):
    """What validation needs to know from the database (``forms.references`` implements it)."""

    def existing_staff(self, ids: set[int]) -> set[int]: ...

    def existing_departments(self, codes: set[str]) -> set[str]: ...

    def usable_attachments(self, ids: set[str]) -> set[str]: ...


class _Missing:
    __slots__ = ()


MISSING: Any = _Missing()


# --- values ---------------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and math.isfinite(v))


def js_string(v: Any) -> str:
    """JavaScript ``String(v)`` for JSON values."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, list):
        return ",".join("" if x is None else js_string(x) for x in v)
    if isinstance(v, dict):
        return "[object Object]"
    return str(v)


def _js_length(s: str) -> int:
    """JavaScript ``length``: UTF-16 code units."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le")) // 2


def _option_key(v: Any) -> Any:
    """Equality as form-js' ``isEqual`` (1 and 1.0 equal, true and 1 not)."""
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float)):
        return ("n", float(v))
    if isinstance(v, str):
        return ("s", v)
    if v is None:
        return ("z", None)
    return ("j", json.dumps(v, sort_keys=True, ensure_ascii=False))


def _options_from(value: Any) -> frozenset[Any] | None:
    """Option values from a valuesKey/valuesExpression result: ``[{label, value}]`` or primitives."""
    if not isinstance(value, list):
        return None
    out = set()
    for opt in value:
        if isinstance(opt, Mapping):
            if "value" in opt:
                out.add(_option_key(opt["value"]))
        elif opt is not None:
            out.add(_option_key(opt))
    return frozenset(out)


def _count_decimals(v: Any) -> int:
    if type(v) is int:
        return 0
    if type(v) is float:
        text = repr(v)
        if "e" not in text and "n" not in text:
            _, _, tail = text.partition(".")
            return 0 if tail == "0" else len(tail)
    try:
        d = Decimal(js_string(v) if not isinstance(v, str) else v.strip())
    except InvalidOperation:
        return 0
    exp = d.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _get(row: Any, path: tuple[str, ...]) -> Any:
    v = row
    for seg in path:
        if type(v) is not dict and not isinstance(v, Mapping):
            return MISSING
        v = v.get(seg, MISSING)
        if v is MISSING:
            return MISSING
    return v


def _set(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    d = out
    for seg in path[:-1]:
        nxt = d.get(seg)
        if not isinstance(nxt, dict):
            nxt = d[seg] = {}
        d = nxt
    d[path[-1]] = value


def _display(prefix: str, path: tuple[str, ...]) -> str:
    return prefix + ".".join(path)


# --- expression context (form-js' buildExpressionContext) -----------------------------------------


class _Context(Mapping[str, Any]):
    """``{this, parent, i, ...data, _this_, _parent_, _i_}`` without copying the data."""

    __slots__ = ("_data", "_special")

    def __init__(self, data: Mapping[str, Any], this: Any, parent: Any, indexes: list[int]) -> None:
        self._data = data
        self._special = {
            "this": this,
            "parent": parent,
            "i": indexes,
            "_this_": this,
            "_parent_": parent,
            "_i_": indexes,
        }

    def get(self, key: str, default: Any = None) -> Any:
        if key[0] == "_" and key in self._special:
            return self._special[key]
        v = self._data.get(key, MISSING)
        if v is not MISSING:
            return v
        return self._special.get(key, default)

    def __getitem__(self, key: str) -> Any:
        v = self.get(key, MISSING)
        if v is MISSING:
            raise KeyError(key)
        return v

    def __iter__(self) -> Iterator[str]:
        yield from {**self._special, **self._data}

    def __len__(self) -> int:
        return len({**self._special, **self._data})

    def __bool__(self) -> bool:
        return True


def _evaluate(expr: FeelExpression, ctx: Mapping[str, Any]) -> Any:
    """form-js' FeelExpressionLanguage.evaluate: errors give null."""
    try:
        return expr.evaluate(ctx)
    except FeelError:
        return None


def _flag(value: bool | FeelExpression, ctx: Callable[[], Mapping[str, Any]]) -> bool:
    if isinstance(value, bool):
        return value
    return _evaluate(value, ctx()) is True


# --- per-field checks (compiled once per schema) --------------------------------------------------

Check = Callable[[Any, str, "_Run", "_Scope"], Any]  # returns the cleaned value (errors go to run)


@dataclass(eq=False)
class _Node:
    field: Field
    kind: str  # "value" | "computed" | "group" | "list" | "layout"
    path: tuple[str, ...]
    children: list[_Node]
    check: Check | None = None
    needs_ctx: bool = False  # the subtree evaluates FEEL
    simple: bool = False  # an input at a one-segment path: no condition, flags, default or exclusion
    name: str = ""  # the one segment of a simple node
    dotted: str = ""  # the path for error messages

    def __post_init__(self) -> None:
        self.dotted = ".".join(self.path)
        f = self.field
        self.simple = (
            self.kind == "value"
            and len(self.path) == 1
            and f.hide is None
            and f.disabled is False
            and f.readonly is False
            and not f.has_default
            and not f.do_not_submit
        )
        self.name = self.path[0] if self.path else ""


def _plan(schema: FormSchema) -> list[_Node]:
    plan = schema.cache.get("plan")
    if plan is None:
        plan = [_node(f) for f in schema.fields]
        schema.cache["plan"] = plan
    return plan


def _node(f: Field) -> _Node:
    children = [_node(c) for c in f.children]
    uses_feel = (
        f.hide is not None
        or not isinstance(f.disabled, bool)
        or not isinstance(f.readonly, bool)
        or f.options_expression is not None
        or f.expression is not None
        or isinstance(f.minimum, FeelExpression)
        or isinstance(f.maximum, FeelExpression)
        or not isinstance(f.required, bool)
    )
    needs = uses_feel or any(c.needs_ctx for c in children)
    if f.repeat:
        return _Node(f, "list", f.local_path, children, needs_ctx=needs)
    if f.type == "group" or f.type == "dynamiclist":
        return _Node(f, "group", f.local_path, children, needs_ctx=needs)
    if not f.data:
        return _Node(f, "layout", (), [], needs_ctx=False)
    if f.type == "expression":
        return _Node(f, "computed", f.local_path, [], needs_ctx=True)
    return _Node(f, "value", f.local_path, [], check=_compile_check(f), needs_ctx=needs)


def _compile_check(f: Field) -> Check:
    t = f.type
    required = f.required
    lo, hi = f.min_length, f.max_length
    pattern, pattern_source = f.pattern, f.pattern_source
    minimum, maximum = f.minimum, f.maximum
    vtype = f.validation_type

    def text_rules(v: str, where: str, run: _Run) -> None:
        if pattern is not None and v and pattern.search(v) is None:
            run.error(where, "pattern", _M_PATTERN, pattern=pattern_source)
        if lo is not None or hi is not None:
            n = _js_length(v.strip())
            if lo is not None and v and n < lo:
                run.error(where, "min_length", _M_MIN_LENGTH, limit=lo)
            if hi is not None and v and n > hi:
                run.error(where, "max_length", _M_MAX_LENGTH, limit=hi)
        if vtype == "email" and v and not EMAIL_RE.fullmatch(v):
            run.error(where, "pattern", _M_EMAIL)
        elif vtype == "phone" and v and not PHONE_RE.fullmatch(v):
            run.error(where, "pattern", _M_PHONE)

    def is_required(scope: _Scope) -> bool:
        if isinstance(required, bool):
            return required
        return _evaluate(required, scope.ctx()) is True

    def bound(b: Any, scope: _Scope) -> Any:
        return _evaluate(b, scope.ctx()) if isinstance(b, FeelExpression) else b

    if t in ("textfield", "textarea", "filepicker", "medoa-signature"):
        is_ref = t == "medoa-signature"

        def check_text(v: Any, where: str, run: _Run, scope: _Scope) -> Any:
            if v is None or v is MISSING or v == "":
                if is_required(scope):
                    run.error(where, "required", _M_REQUIRED)
                return v
            if not isinstance(v, str):
                run.error(where, "type", _M_TYPE_ATTACHMENT if is_ref else _M_TYPE_TEXT)
                return None
            if len(v) > MAX_TEXT:
                run.error(where, "max_length", _M_TOO_LONG, limit=MAX_TEXT)
                return None
            text_rules(v, where, run)
            if is_ref:
                run.reference("attachment", where, [v])
            return v

        return check_text

    if t == "number":
        dd, inc, as_text = f.decimal_digits, f.increment, f.serialize_to_string
        inc_d = Decimal(str(inc)) if inc is not None else None

        def check_number(v: Any, where: str, run: _Run, scope: _Scope) -> Any:
            if v is None or v is MISSING or v == "":
                if is_required(scope):
                    run.error(where, "required", _M_REQUIRED)
                return v
            num: Any = v
            if isinstance(v, str):
                if not as_text:
                    run.error(where, "type", _M_TYPE_NUMBER)
                    return None
                try:
                    num = float(v) if not re.fullmatch(r"-?\d+", v.strip()) else int(v)
                except ValueError:
                    num = None
                if num is None or not _is_number(num):
                    run.error(where, "type", _M_TYPE_NUMBER)
                    return None
            elif not _is_number(v):
                run.error(where, "type", _M_TYPE_NUMBER)
                return None
            if num:
                if dd is not None and _count_decimals(v) > dd:
                    if dd == 0:
                        run.error(where, "decimal_digits", _M_DECIMALS_INT)
                    else:
                        run.error(where, "decimal_digits", _M_DECIMALS, digits=dd)
                if inc_d is not None:
                    d = Decimal(js_string(num))
                    off = d % inc_d
                    if off < 0:
                        off += inc_d
                    if off != 0:
                        low = d - off
                        run.error(where, "increment", _M_INCREMENT, low=str(low), high=str(low + inc_d))
            if pattern is not None and num and pattern.search(js_string(v)) is None:
                run.error(where, "pattern", _M_PATTERN, pattern=pattern_source)
            mn, mx = bound(minimum, scope), bound(maximum, scope)
            if _is_number(mn) and num < mn:
                run.error(where, "min", _M_MIN, limit=js_string(mn))
            if _is_number(mx) and num > mx:
                run.error(where, "max", _M_MAX, limit=js_string(mx))
            return v

        return check_number

    if t == "checkbox":

        def check_checkbox(v: Any, where: str, run: _Run, scope: _Scope) -> Any:
            if v is MISSING or v is None:
                if is_required(scope):
                    run.error(where, "required", _M_REQUIRED)
                return v
            if not isinstance(v, bool):
                run.error(where, "type", _M_TYPE_BOOL)
                return None
            if v is False and is_required(scope):
                run.error(where, "required", _M_REQUIRED)
            return v

        return check_checkbox

    if t in ("radio", "select", "checklist", "taglist"):
        multi = t in ("checklist", "taglist")
        static = frozenset(_option_key(o) for o in f.options) if f.options is not None else None
        okey, oexpr = f.options_key, f.options_expression

        def options(scope: _Scope, run: _Run) -> frozenset[Any]:
            if static is not None:
                return static
            if oexpr is not None:
                return _options_from(_evaluate(oexpr, scope.ctx())) or frozenset()
            return _options_from(run.context.get(okey)) or frozenset()

        def check_options(v: Any, where: str, run: _Run, scope: _Scope) -> Any:
            if v is MISSING or v is None or v == "" or (multi and v == []):
                if is_required(scope):
                    run.error(where, "required", _M_REQUIRED)
                return v
            opts = options(scope, run)
            if multi:
                if not isinstance(v, list):
                    run.error(where, "type", _M_TYPE_LIST)
                    return None
                for x in v:
                    if _option_key(x) not in opts:
                        run.error(
                            where, "not_an_option", _M_NOT_OPTION, value=json.dumps(x, ensure_ascii=False)
                        )
                return v
            if _option_key(v) not in opts:
                run.error(where, "not_an_option", _M_NOT_OPTION, value=json.dumps(v, ensure_ascii=False))
            return v

        return check_options

    if t == "datetime":
        sub = f.subtype or "date"
        passed = f.disallow_passed_dates

        def parse(v: str) -> tuple[str, str] | None:
            """(date part, time part) when ``v`` is well-formed for the subtype."""
            date_part, time_part = "", ""
            if sub == "date":
                date_part = v
            elif sub == "time":
                time_part = v
            else:
                date_part, sep, time_part = v.partition("T")
                if not sep:
                    return None
            if date_part:
                if not _DATE_RE.fullmatch(date_part):
                    return None
                try:
                    dt.date.fromisoformat(date_part)
                except ValueError:
                    return None
            if time_part:
                m = _TIME_RE.fullmatch(time_part)
                if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
                    return None
            return date_part, time_part

        type_msg = {"date": _M_TYPE_DATE, "time": _M_TYPE_TIME, "datetime": _M_TYPE_DATETIME}[sub]

        def check_datetime(v: Any, where: str, run: _Run, scope: _Scope) -> Any:
            if v is MISSING or v is None or v == "":
                if is_required(scope):
                    run.error(where, "required", _M_REQUIRED)
                return v
            parts = parse(v) if isinstance(v, str) else None
            if parts is None:
                run.error(where, "type", type_msg)
                return None
            date_part, time_part = parts
            if passed and date_part and date_part < run.today():
                run.error(where, "date_min", _M_DATE_MIN, limit=run.today())
            mn, mx = bound(minimum, scope), bound(maximum, scope)
            if isinstance(mn, (dt.date, dt.time)):
                mn = mn.isoformat()
            if isinstance(mx, (dt.date, dt.time)):
                mx = mx.isoformat()
            comparable = date_part or time_part
            if isinstance(mn, str) and comparable < mn[: len(comparable)]:
                run.error(where, "date_min", _M_DATE_MIN, limit=mn)
            if isinstance(mx, str) and comparable[: len(mx)] > mx:
                run.error(where, "date_max", _M_DATE_MAX, limit=mx)
            return v

        return check_datetime

    if t in ("medoa-staff", "medoa-department", "medoa-attachment"):
        multiple = f.multiple
        kind = {"medoa-staff": "staff", "medoa-department": "department", "medoa-attachment": "attachment"}[t]
        msg = {"staff": _M_TYPE_STAFF, "department": _M_TYPE_DEPARTMENT, "attachment": _M_TYPE_ATTACHMENT}[
            kind
        ]
        max_files = f.max_files

        def ok(x: Any) -> bool:
            if kind == "staff":
                return isinstance(x, int) and not isinstance(x, bool) and x > 0
            return isinstance(x, str) and 0 < len(x) <= 200

        def check_reference(v: Any, where: str, run: _Run, scope: _Scope) -> Any:
            if v is MISSING or v is None or v == "" or v == []:
                if is_required(scope):
                    run.error(where, "required", _M_REQUIRED)
                return v
            items = v if multiple else [v]
            if multiple and not isinstance(v, list):
                run.error(where, "type", _M_TYPE_LIST)
                return None
            if not all(ok(x) for x in items):
                run.error(where, "type", msg)
                return None
            if kind == "attachment" and len(items) > max_files:
                run.error(where, "too_many", _M_TOO_MANY_FILES, limit=max_files)
                return None
            run.reference(kind, where, items)
            return v

        return check_reference

    def check_any(v: Any, where: str, run: _Run, scope: _Scope) -> Any:  # pragma: no cover - all typed
        return None if v is MISSING else v

    return check_any


# --- the run --------------------------------------------------------------------------------------


class _Scope:
    """One data scope: the root or a dynamic-list row; builds its FEEL context on first use."""

    __slots__ = ("_ctx", "base", "indexes", "parent", "prefix", "raw", "run")

    def __init__(
        self,
        run: _Run,
        raw: Mapping[str, Any],
        base: Any,
        prefix: str,
        parent: _Scope | None,
        indexes: list[int],
    ) -> None:
        self.run = run
        self.raw = raw  # the submitted row (working data at the root)
        self.base = base  # the previous row (readonly baseline) or MISSING
        self.prefix = prefix
        self.parent = parent
        self.indexes = indexes
        self._ctx: _Context | None = None

    def ctx(self) -> _Context:
        if self._ctx is None:
            parent_ctx = self.parent.ctx() if self.parent is not None else None
            this = self.run.working if self.parent is None else self.raw
            self._ctx = _Context(self.run.working, this, parent_ctx, self.indexes)
        return self._ctx


class _Run:
    def __init__(
        self,
        references: References | None,
        permissions: Mapping[str, str] | None,
        previous: Mapping[str, Any] | None,
        context: Mapping[str, Any],
    ) -> None:
        self.errors: list[FieldError] = []
        self.references = references
        self.permissions = permissions or {}
        self.previous = previous
        self.context = context
        self.working: dict[str, Any] = {}
        self.refs: list[tuple[str, str, list[Any]]] = []
        self._today: str | None = None

    def error(self, where: str, code: str, msgid: str, **params: Any) -> None:
        self.errors.append(FieldError(where, code, lazy_message(msgid, **params)))

    def reference(self, kind: str, where: str, items: list[Any]) -> None:
        if self.references is not None:
            self.refs.append((kind, where, items))

    def today(self) -> str:
        if self._today is None:
            self._today = timezone.localdate().isoformat()
        return self._today

    def check_references(self) -> None:
        if not self.refs or self.references is None:
            return
        wanted: dict[str, set[Any]] = {"staff": set(), "department": set(), "attachment": set()}
        for kind, _, items in self.refs:
            wanted[kind].update(items)
        found: dict[str, set[Any]] = {
            "staff": self.references.existing_staff(wanted["staff"]) if wanted["staff"] else set(),
            "department": self.references.existing_departments(wanted["department"])
            if wanted["department"]
            else set(),
            "attachment": self.references.usable_attachments(wanted["attachment"])
            if wanted["attachment"]
            else set(),
        }
        msgs = {
            "staff": _M_NOT_FOUND_STAFF,
            "department": _M_NOT_FOUND_DEPARTMENT,
            "attachment": _M_NOT_FOUND_ATTACHMENT,
        }
        for kind, where, items in self.refs:
            for x in items:
                if x not in found[kind]:
                    self.error(where, "not_found", msgs[kind], value=x)

    # walking
    def walk(
        self, nodes: list[_Node], scope: _Scope, out: dict[str, Any], inherited: str | None = None
    ) -> None:
        """``inherited``: the permission of an enclosing group ("readonly"/"hidden" apply to all in it)."""
        permissions = self.permissions
        raw_row = scope.raw
        fast_row = type(raw_row) is dict
        for n in nodes:
            if n.simple and not permissions and inherited is None:
                # the common case: a plain input at a one-segment path, no condition, no default
                raw = raw_row.get(n.name, MISSING) if fast_row else _get(raw_row, n.path)
                value = n.check(raw, scope.prefix + n.dotted, self, scope)  # type: ignore[misc]
                if value is not MISSING:
                    out[n.name] = value
                continue
            f = n.field
            if f.hide is not None and _evaluate(f.hide, scope.ctx()) is True:
                continue
            kind = n.kind
            if kind == "layout":
                continue
            if f.disabled is not False and _flag(f.disabled, scope.ctx):
                self.keep_previous(n, scope, out)
                continue
            if kind == "group":
                level = permissions.get(f.key) if permissions and f.key else None
                self.walk(n.children, scope, out, level if level in ("readonly", "hidden") else inherited)
                continue
            perm = inherited or (permissions.get(f.key) if permissions else None)
            raw = _get(raw_row, n.path)
            if perm == "hidden":
                if raw is not MISSING:
                    self.error(scope.prefix + n.dotted, "hidden", _M_HIDDEN)
                self.keep_previous(n, scope, out)
                continue
            readonly = perm == "readonly" or (f.readonly is not False and _flag(f.readonly, scope.ctx))
            if readonly:
                base = self.baseline(n, scope)
                if raw is not MISSING and not _same(raw, base):
                    self.error(scope.prefix + n.dotted, "readonly", _M_READONLY)
                if base is not MISSING:
                    _set(out, n.path, base)
                continue
            if kind == "computed":
                if scope.parent is None:  # computed before the walk, as the viewer has it
                    value = _get(self.working, n.path)
                else:
                    assert f.expression is not None
                    value = _json_value(_evaluate(f.expression, scope.ctx()))
                if not f.do_not_submit:
                    _set(out, n.path, value)
                continue
            if raw is MISSING and f.has_default and self.previous is None:
                raw = f.default
            if kind == "list":
                self.walk_list(n, scope, raw, out)
                continue
            assert n.check is not None
            value = n.check(raw, scope.prefix + n.dotted, self, scope)
            if f.do_not_submit:
                continue
            if value is not MISSING:
                _set(out, n.path, value)

    def walk_list(self, n: _Node, scope: _Scope, raw: Any, out: dict[str, Any]) -> None:
        where = _display(scope.prefix, n.path)
        if raw is MISSING or raw is None:
            return
        if not isinstance(raw, list):
            self.error(where, "type", _M_TYPE_LIST)
            return
        if len(raw) > MAX_ROWS:
            self.error(where, "too_many", _M_TOO_MANY_ROWS, limit=MAX_ROWS)
            return
        base_rows = _get(scope.base, n.path) if scope.base is not MISSING else MISSING
        rows: list[dict[str, Any]] = []
        for i, row in enumerate(raw):
            if type(row) is not dict and not isinstance(row, Mapping):
                self.error(f"{where}[{i}]", "type", _M_TYPE_ROW)
                continue
            base = base_rows[i] if isinstance(base_rows, list) and i < len(base_rows) else MISSING
            inner = _Scope(self, row, base, f"{where}[{i}].", scope, [*scope.indexes, i + 1])
            out_row: dict[str, Any] = {}
            self.walk(n.children, inner, out_row)
            rows.append(out_row)
        _set(out, n.path, rows)

    def baseline(self, n: _Node, scope: _Scope) -> Any:
        """The value a read-only field keeps: the previous record's, else the input data's or default."""
        if self.previous is not None:
            return _get(scope.base, n.path) if scope.base is not MISSING else MISSING
        if scope.parent is None:
            v = _get(self.context, n.path)
            if v is not MISSING:
                return v
        f = n.field
        return f.default if f.has_default else MISSING

    def keep_previous(self, n: _Node, scope: _Scope, out: dict[str, Any]) -> None:
        if self.previous is None or scope.base is MISSING or n.kind in ("layout",):
            return
        if n.kind == "group":
            for c in n.children:
                self.keep_previous(c, scope, out)
            return
        v = _get(scope.base, n.path)
        if v is not MISSING:
            _set(out, n.path, v)


def _same(a: Any, b: Any) -> bool:
    if b is MISSING:
        return a is None or a == "" or a == []
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _json_value(v: Any) -> Any:
    """A FEEL result as JSON (dates as ISO text, durations as ISO 8601)."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _json_value(x) for k, x in v.items()}
    return None


def _root_computed(schema: FormSchema) -> list[tuple[tuple[str, ...], FeelExpression]]:
    """Expression fields outside dynamic lists, in schema order."""
    found = schema.cache.get("root_computed")
    if found is None:
        found = []

        def visit(nodes: list[_Node]) -> None:
            for n in nodes:
                if n.kind == "computed" and n.field.expression is not None:
                    found.append((n.path, n.field.expression))
                elif n.kind == "group":
                    visit(n.children)

        visit(_plan(schema))
        schema.cache["root_computed"] = found
    return found


def _roots(schema: FormSchema) -> frozenset[str]:
    roots = schema.cache.get("roots")
    if roots is None:
        roots = frozenset(
            f.local_path[0] for f in schema.walk() if f.local_path and "[]" not in f.key.split(".")[0]
        )
        schema.cache["roots"] = roots
    return roots


def validate(
    schema: FormSchema,
    data: Any,
    *,
    references: References | None = None,
    permissions: Mapping[str, str] | None = None,
    previous: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> ValidationResult:
    """Validate ``data`` (a submission) against ``schema``; the result's ``data`` is what to store.

    ``permissions`` maps field keys to ``"editable" | "readonly" | "hidden"`` (this process step);
    ``previous`` is the stored record (read-only and hidden fields keep its values); ``context`` is
    the input data the form was opened with (process variables: ``valuesKey`` options, values the
    FEEL expressions read).
    """
    ctx_data: Mapping[str, Any] = context or {}
    run = _Run(references, permissions, previous, ctx_data)
    if not isinstance(data, Mapping):
        run.error("", "type", _M_TYPE_OBJECT)
        return ValidationResult(False, {}, run.errors)
    roots = _roots(schema)
    # the form's data state: the input data overlaid with the submitted fields (unknown keys dropped)
    working = dict(ctx_data)
    for k, v in data.items():
        if k in roots:
            working[k] = v
    run.working = working
    root = _Scope(run, working, previous if previous is not None else MISSING, "", None, [])
    for path, expr in _root_computed(schema):
        value = _json_value(_evaluate(expr, root.ctx()))
        if len(path) > 1:  # copy the nested dicts on the way: never write into the caller's data
            d = working
            for seg in path[:-1]:
                nxt = d.get(seg)
                d[seg] = nxt = dict(nxt) if isinstance(nxt, Mapping) else {}
                d = nxt
            d[path[-1]] = value
        else:
            working[path[0]] = value
    out: dict[str, Any] = {}
    run.walk(_plan(schema), root, out)
    run.check_references()
    return ValidationResult(not run.errors, out, run.errors)
