"""A FEEL (Friendly Enough Expression Language, DMN 1.3) subset: what form-js schemas write and what
DMN S-FEEL input entries need, evaluated in pure Python the way feelin (form-js' FEEL engine)
evaluates it in the browser.

form-js writes an expression as a string that starts with ``=`` (``conditional.hide``, the
expression field's ``expression``, ``valuesExpression``, ``readonly``/``disabled``, …); callers strip
the ``=`` before :func:`feel_compile`.

Own tokenizer and recursive-descent parser → a tree of small Python closures; nothing is handed to
``eval``/``exec``. Compiled expressions are cached by text (:func:`feel_compile` is an LRU cache).

What is understood:

* literals: numbers (``1``, ``-2.5``, ``.5``), strings (``"a"`` with ``\\"``, ``\\n``, ``\\t``,
  ``\\\\``, ``\\uXXXX`` escapes), ``true false null``; list ``[1, 2]`` and context ``{a: 1, "b c": 2}``
  literals; ranges ``[1..10]``, ``(1..10)``, ``]1..10[`` (in ``in`` tests and ``for`` loops);
* names and paths ``a.b.c`` (a path over a list maps it: ``orders.amount``); the properties
  ``year month day weekday hour minute second`` of dates/times and ``days hours minutes seconds`` of
  durations;
* arithmetic ``+ - * / **`` (``+`` joins strings; dates ± durations; date − date), unary ``-``;
* comparisons ``= != < <= > >=``, ``x between a and b``, ``x in <positive unary tests>``
  (``x in [1,2]``, ``x in (<5, >10)``, ``x in [1..5]``), ``and``/``or`` (three-valued), ``not(x)``;
* ``if c then a else b``, ``for x in l, y in 1..3 return e``, ``some x in l satisfies c``,
  ``every x in l satisfies c``;
* list filters ``l[item > 1]`` (a context element's entries are names in the filter, too) and
  indexes ``l[1]`` (1-based; ``l[-1]`` is the last element);
* built-in functions, see :data:`BUILTINS` (``string length``, ``upper case``, ``contains``,
  ``substring``, ``string join``, ``count``, ``sum``, ``min``, ``max``, ``mean``, ``abs``,
  ``floor``, ``ceiling``, ``decimal``, ``round half up``, ``number``, ``string``, ``is defined``,
  ``get value``, ``list contains``, ``append``, ``concatenate``, ``distinct values``, ``date``,
  ``time``, ``date and time``, ``duration``, ``today``, ``now`` …).

Null semantics are FEEL's: a missing name is ``null``; arithmetic and ordering comparisons with
``null`` or between unlike types give ``null``; ``=`` is ``true`` only for equal values of the same
kind (``null = null`` is ``true``); ``and`` is ``false`` if any side is ``false``, ``true`` if both
are ``true``, else ``null`` (``or`` likewise); ``if`` takes the ``else`` branch unless the condition
is exactly ``true``; a function given arguments of the wrong type returns ``null``.

Numbers are Python ``int``/``float`` (feelin uses JavaScript numbers, so ``0.1 + 0.2`` is the same
float in the browser and here).

Bounds: source length, nesting depth, node count; at evaluation a work budget (loop iterations and
list items created) so ``for x in 1..100000, y in 1..100000`` fails cleanly instead of running.

:func:`feel_unary_test` evaluates DMN input entries (``-``, ``< 5``, ``[1..10]``, ``"a","b"``,
``not("a")``, ``? > 3``) against a value.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

__all__ = [
    "BUILTINS",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_SOURCE_LENGTH",
    "MAX_WORK",
    "FeelError",
    "FeelExpression",
    "feel_compile",
    "feel_unary_test",
    "feel_unary_test_compile",
]

MAX_SOURCE_LENGTH = 4000
MAX_DEPTH = 60
MAX_NODES = 1000
MAX_WORK = 200_000  # loop iterations + list items created, per evaluation
MAX_STRING = 1_000_000  # characters a string function may produce


# --- errors ---------------------------------------------------------------------------------------

_M_TOO_LONG = gettext_noop("FEEL expression is too long (at most %(max)s characters)")
_M_EMPTY = gettext_noop("FEEL expression is empty")
_M_NOT_STRING = gettext_noop("FEEL expression must be a string")
_M_TOO_DEEP = gettext_noop("FEEL expression is nested too deeply (at most %(max)s levels)")
_M_TOO_BIG = gettext_noop("FEEL expression is too complex (at most %(max)s elements)")
_M_BAD_CHAR = gettext_noop("unexpected character '%(char)s' at position %(position)s")
_M_UNTERMINATED = gettext_noop("unterminated string starting at position %(position)s")
_M_BAD_ESCAPE = gettext_noop("invalid escape sequence at position %(position)s")
_M_EXPECTED = gettext_noop("expected %(expected)s at position %(position)s, found %(found)s")
_M_UNEXPECTED = gettext_noop("unexpected %(found)s at position %(position)s")
_M_UNKNOWN_FUNCTION = gettext_noop("unknown function '%(name)s' at position %(position)s")
_M_ARITY = gettext_noop(
    "function '%(name)s' takes %(expected)s arguments, got %(got)s (position %(position)s)"
)
_END = gettext_noop("end of expression")
_A_NAME = gettext_noop("a name")
_A_KEY = gettext_noop("a key")
_A_TYPE = gettext_noop("a type name")
_M_BUDGET = gettext_noop("FEEL expression does too much work (at most %(max)s steps)")


class FeelError(ValueError):
    """A FEEL expression that does not compile (``position`` names where) or ran out of budget.

    ``message`` is English; :meth:`translated` gives it in the active language.
    """

    def __init__(self, msgid: str, params: Mapping[str, Any] | None = None, *, position: int = 0) -> None:
        self.msgid = msgid
        self.params: dict[str, Any] = dict(params or {})
        self.message: str = msgid % self.params if self.params else msgid
        self.position: int = position
        super().__init__(self.message)

    def translated(self) -> str:
        text = gettext(self.msgid)
        if not self.params:
            return text
        params = dict(self.params)
        for name in ("expected", "found"):  # "end of expression", "a name" … are ours to translate
            if isinstance(params.get(name), str):
                params[name] = gettext(params[name])
        return text % params


class _BudgetExceeded(Exception):
    pass


# --- tokens ---------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME_START_RE = re.compile(r"[A-Za-z_?$\u00c0-\uffff]")
_NAME_RE = re.compile(r"[A-Za-z_?$\u00c0-\uffff][A-Za-z0-9_?$'\u00c0-\uffff]*")
_OPERATORS = (
    "..",
    "**",
    "<=",
    ">=",
    "!=",
    "=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
)
_KEYWORDS = frozenset(
    {"and", "or", "if", "then", "else", "for", "in", "return", "some", "every", "satisfies", "between",
     "true", "false", "null", "not", "instance", "of", "function"}
)  # fmt: skip


class _Tok:
    __slots__ = ("kind", "pos", "text", "value")

    def __init__(self, kind: str, text: str, pos: int, value: Any = None) -> None:
        self.kind = kind  # "num" "str" "name" "op" "end"
        self.text = text
        self.pos = pos
        self.value = value

    def describe(self) -> str:
        if self.kind == "end":
            return _END
        return f"'{self.text}'"


_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "/": "/", "b": "\b", "f": "\f"}


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t\r\n\u00a0\u3000":
            i += 1
            continue
        if src.startswith("//", i):  # line comment
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == '"':
            start, i = i, i + 1
            out: list[str] = []
            while True:
                if i >= n:
                    raise FeelError(_M_UNTERMINATED, {"position": start}, position=start)
                ch = src[i]
                if ch == '"':
                    i += 1
                    break
                if ch == "\\":
                    if i + 1 >= n:
                        raise FeelError(_M_UNTERMINATED, {"position": start}, position=start)
                    e = src[i + 1]
                    if e in _ESCAPES:
                        out.append(_ESCAPES[e])
                        i += 2
                    elif e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", src[i + 2 : i + 6]):
                        out.append(chr(int(src[i + 2 : i + 6], 16)))
                        i += 6
                    else:
                        raise FeelError(_M_BAD_ESCAPE, {"position": i}, position=i)
                    continue
                out.append(ch)
                i += 1
            toks.append(_Tok("str", src[start:i], start, "".join(out)))
            continue
        if c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            m = _NUMBER_RE.match(src, i)
            assert m is not None
            text = m.group()
            value: int | float = float(text) if any(ch in text for ch in ".eE") else int(text)
            toks.append(_Tok("num", text, i, value))
            i += len(text)
            continue
        if _NAME_START_RE.match(c):
            m = _NAME_RE.match(src, i)
            assert m is not None
            toks.append(_Tok("name", m.group(), i))
            i = m.end()
            continue
        if c == "`":  # backtick-quoted name
            j = src.find("`", i + 1)
            if j < 0:
                raise FeelError(_M_UNTERMINATED, {"position": i}, position=i)
            toks.append(_Tok("qname", src[i + 1 : j], i))
            i = j + 1
            continue
        for op in _OPERATORS:
            if src.startswith(op, i):
                toks.append(_Tok("op", op, i))
                i += len(op)
                break
        else:
            raise FeelError(_M_BAD_CHAR, {"char": c, "position": i}, position=i)
    toks.append(_Tok("end", "", n))
    return toks


# --- values and helpers ---------------------------------------------------------------------------


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


def _kind(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if _is_num(v):
        return "num"
    if isinstance(v, str):
        return "str"
    if isinstance(v, dt.datetime):
        return "datetime"
    if isinstance(v, dt.date):
        return "date"
    if isinstance(v, dt.time):
        return "time"
    if isinstance(v, dt.timedelta):
        return "duration"
    if isinstance(v, (list, tuple)):
        return "list"
    if isinstance(v, Mapping):
        return "context"
    return "other"


def _num(v: Any) -> float | int:
    return float(v) if isinstance(v, Decimal) else v


def feel_equal(a: Any, b: Any) -> bool | None:
    """FEEL ``=``: ``false`` when the kinds differ; ``null = null`` is ``true``."""
    if a is MISSING:
        a = None
    if b is MISSING:
        b = None
    if a is None or b is None:
        return a is None and b is None
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == "list":
        if len(a) != len(b):
            return False
        return all(feel_equal(x, y) is True for x, y in zip(a, b, strict=True))
    if ka == "context":
        if set(a) != set(b):
            return False
        return all(feel_equal(a[k], b[k]) is True for k in a)
    if ka == "num":
        return bool(_num(a) == _num(b))
    try:
        return bool(a == b)
    except TypeError:
        return False


_ORDERED = frozenset({"num", "str", "date", "datetime", "time", "duration"})


def _compare(a: Any, b: Any) -> int | None:
    ka, kb = _kind(a), _kind(b)
    if ka is None or ka != kb or ka not in _ORDERED:
        return None
    if ka == "num":
        a, b = _num(a), _num(b)
    try:
        return -1 if a < b else (1 if a > b else 0)
    except TypeError:  # naive vs aware datetimes
        return None


def _to_list(v: Any) -> list[Any]:
    if isinstance(v, list):
        return v
    if isinstance(v, tuple):
        return list(v)
    return [v]


class _Range:
    __slots__ = ("end", "end_incl", "start", "start_incl")

    def __init__(self, start: Any, end: Any, start_incl: bool, end_incl: bool) -> None:
        self.start, self.end, self.start_incl, self.end_incl = start, end, start_incl, end_incl

    def contains(self, v: Any) -> bool | None:
        lo = _compare(v, self.start) if self.start is not None else 1
        hi = _compare(v, self.end) if self.end is not None else -1
        if lo is None or hi is None:
            return None
        return (lo > 0 or (lo == 0 and self.start_incl)) and (hi < 0 or (hi == 0 and self.end_incl))

    def items(self, scope: _Scope) -> list[Any]:
        a, b = self.start, self.end
        if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or isinstance(b, bool):
            return []
        step = 1 if b >= a else -1
        if not self.start_incl:
            a += step
        if not self.end_incl:
            b -= step
        count = (b - a) * step + 1
        if count <= 0:
            return []
        scope.charge(count)
        return list(range(a, b + step, step))


class _Scope:
    """Name lookup: a chain of mappings; ``budget`` is shared by the whole evaluation."""

    __slots__ = ("budget", "parent", "vars")

    def __init__(self, variables: Mapping[str, Any], parent: _Scope | None, budget: list[int]) -> None:
        self.vars = variables
        self.parent = parent
        self.budget = budget

    def lookup(self, name: str) -> Any:
        s: _Scope | None = self
        while s is not None:
            v = s.vars.get(name, MISSING)
            if v is not MISSING:
                return v
            s = s.parent
        return MISSING

    def child(self, variables: Mapping[str, Any]) -> _Scope:
        return _Scope(variables, self, self.budget)

    def charge(self, n: int) -> None:
        self.budget[0] -= n
        if self.budget[0] < 0:
            raise _BudgetExceeded


Fn = Callable[[_Scope], Any]


def _val(v: Any) -> Any:
    return None if v is MISSING else v


# --- built-in functions ---------------------------------------------------------------------------


def _s(v: Any) -> bool:
    return isinstance(v, str)


def _str_of(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, (int, Decimal, str)):
        return str(v)
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return _duration_text(v)
    return None


def _duration_text(d: dt.timedelta) -> str:
    total = int(d.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    out = f"{sign}P"
    if days:
        out += f"{days}D"
    if h or m or s or not days:
        out += "T"
        if h:
            out += f"{h}H"
        if m:
            out += f"{m}M"
        if s or not (h or m):
            out += f"{s}S"
    return out


def _number_result(v: float | int | Decimal) -> int | float:
    if isinstance(v, Decimal):
        if v == v.to_integral_value():
            return int(v)
        return float(v)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        raise ValueError
    return v


def _nums(args: list[Any]) -> list[Any] | None:
    items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    if not all(_is_num(x) for x in items):
        return None
    return [_num(x) for x in items]


def _f_string_length(s: Any) -> Any:
    return len(s) if _s(s) else None


def _f_substring(s: Any, start: Any, length: Any = MISSING) -> Any:
    if not _s(s) or not _is_num(start) or (length is not MISSING and not _is_num(length)):
        return None
    start = int(start)
    idx = start - 1 if start > 0 else len(s) + start
    idx = max(idx, 0)
    if length is MISSING:
        return s[idx:]
    return s[idx : idx + max(int(length), 0)]


def _f_substring_before(s: Any, m: Any) -> Any:
    if not (_s(s) and _s(m)):
        return None
    i = s.find(m)
    return "" if i < 0 else s[:i]


def _f_substring_after(s: Any, m: Any) -> Any:
    if not (_s(s) and _s(m)):
        return None
    i = s.find(m)
    return "" if i < 0 else s[i + len(m) :]


def _f_string_join(lst: Any, delim: Any = MISSING, prefix: Any = MISSING, suffix: Any = MISSING) -> Any:
    if not isinstance(lst, (list, tuple)):
        return None
    parts = [x for x in lst if x is not None]
    if not all(_s(x) for x in parts):
        return None
    d = "" if delim is MISSING or delim is None else delim
    p = "" if prefix is MISSING or prefix is None else prefix
    q = "" if suffix is MISSING or suffix is None else suffix
    if not (_s(d) and _s(p) and _s(q)):
        return None
    out = p + d.join(parts) + q
    if len(out) > MAX_STRING:
        return None
    return out


def _f_count(lst: Any) -> Any:
    return len(lst) if isinstance(lst, (list, tuple)) else None


def _f_sum(*args: Any) -> Any:
    ns = _nums(list(args))
    if ns is None:
        return None
    return sum(ns) if ns else None


def _f_mean(*args: Any) -> Any:
    ns = _nums(list(args))
    if not ns:
        return None
    return sum(ns) / len(ns)


def _f_min(*args: Any) -> Any:
    items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    return _extreme(list(items), -1)


def _f_max(*args: Any) -> Any:
    items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    return _extreme(list(items), 1)


def _extreme(items: list[Any], sign: int) -> Any:
    if not items:
        return None
    best = items[0]
    for x in items[1:]:
        c = _compare(x, best)
        if c is None:
            return None
        if c * sign > 0:
            best = x
    if _compare(best, best) is None:
        return None
    return best


def _f_abs(n: Any) -> Any:
    if _is_num(n):
        return abs(n)
    if isinstance(n, dt.timedelta):
        return abs(n)
    return None


def _round(n: Any, scale: Any, mode: str) -> Any:
    if not _is_num(n) or (scale is not MISSING and not (_is_num(scale) and float(scale).is_integer())):
        return None
    sc = 0 if scale is MISSING else int(scale)
    if not -100 <= sc <= 100:
        return None
    d = Decimal(str(n)) if isinstance(n, float) else Decimal(n)
    q = d.quantize(Decimal(1).scaleb(-sc), rounding=mode)
    return _number_result(q)


def _f_floor(n: Any, scale: Any = MISSING) -> Any:
    return _round(n, scale, ROUND_FLOOR)


def _f_ceiling(n: Any, scale: Any = MISSING) -> Any:
    return _round(n, scale, ROUND_CEILING)


def _f_decimal(n: Any, scale: Any) -> Any:
    return _round(n, scale, ROUND_HALF_EVEN)


def _f_round_half_up(n: Any, scale: Any = MISSING) -> Any:
    return _round(n, scale, ROUND_HALF_UP)


def _f_round_half_down(n: Any, scale: Any = MISSING) -> Any:
    return _round(n, scale, ROUND_HALF_DOWN)


def _f_round_up(n: Any, scale: Any = MISSING) -> Any:
    if not _is_num(n):
        return None
    return _round(n, scale, ROUND_CEILING if n >= 0 else ROUND_FLOOR)


def _f_round_down(n: Any, scale: Any = MISSING) -> Any:
    if not _is_num(n):
        return None
    return _round(n, scale, ROUND_FLOOR if n >= 0 else ROUND_CEILING)


def _f_modulo(a: Any, b: Any) -> Any:
    if not (_is_num(a) and _is_num(b)) or b == 0:
        return None
    return _num(a) - _num(b) * math.floor(_num(a) / _num(b))


def _f_sqrt(n: Any) -> Any:
    if not _is_num(n) or n < 0:
        return None
    return math.sqrt(n)


def _f_odd(n: Any) -> Any:
    if not _is_num(n) or not float(n).is_integer():
        return None
    return int(n) % 2 == 1


def _f_even(n: Any) -> Any:
    if not _is_num(n) or not float(n).is_integer():
        return None
    return int(n) % 2 == 0


_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")


def _f_number(v: Any, grouping: Any = MISSING, decimal_sep: Any = MISSING) -> Any:
    if _is_num(v):
        return v
    if not _s(v):
        return None
    text = v
    if _s(grouping) and grouping:
        text = text.replace(grouping, "")
    if _s(decimal_sep) and decimal_sep:
        text = text.replace(decimal_sep, ".")
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    f = float(text)
    return int(f) if f.is_integer() and "." not in text and "e" not in text.lower() else f


def _f_string(v: Any) -> Any:
    return _str_of(v)


def _f_get_value(ctx: Any, key: Any) -> Any:
    if isinstance(ctx, Mapping) and _s(key):
        return ctx.get(key)
    return None


def _f_get_entries(ctx: Any) -> Any:
    if isinstance(ctx, Mapping):
        return [{"key": k, "value": v} for k, v in ctx.items()]
    return None


def _f_context_put(ctx: Any, key: Any, value: Any) -> Any:
    if isinstance(ctx, Mapping) and _s(key):
        out = dict(ctx)
        out[key] = value
        return out
    return None


def _f_list_contains(lst: Any, v: Any) -> Any:
    if not isinstance(lst, (list, tuple)):
        return None
    return any(feel_equal(x, v) is True for x in lst)


def _f_append(lst: Any, *items: Any) -> Any:
    if not isinstance(lst, (list, tuple)):
        return None
    return [*lst, *items]


def _f_concatenate(*lists: Any) -> Any:
    out: list[Any] = []
    for lst in lists:
        if not isinstance(lst, (list, tuple)):
            return None
        out.extend(lst)
    return out


def _f_distinct_values(lst: Any) -> Any:
    if not isinstance(lst, (list, tuple)):
        return None
    out: list[Any] = []
    for x in lst:
        if not any(feel_equal(x, y) is True for y in out):
            out.append(x)
    return out


def _f_flatten(lst: Any) -> Any:
    if not isinstance(lst, (list, tuple)):
        return None
    out: list[Any] = []

    def walk(items: Any, depth: int) -> None:
        for x in items:
            if isinstance(x, (list, tuple)) and depth < MAX_DEPTH:
                walk(x, depth + 1)
            else:
                out.append(x)

    walk(lst, 0)
    return out


def _f_reverse(lst: Any) -> Any:
    return list(reversed(lst)) if isinstance(lst, (list, tuple)) else None


def _f_index_of(lst: Any, v: Any) -> Any:
    if not isinstance(lst, (list, tuple)):
        return None
    return [i + 1 for i, x in enumerate(lst) if feel_equal(x, v) is True]


def _f_sublist(lst: Any, start: Any, length: Any = MISSING) -> Any:
    if not isinstance(lst, (list, tuple)) or not _is_num(start):
        return None
    start = int(start)
    idx = start - 1 if start > 0 else len(lst) + start
    if idx < 0 or idx >= len(lst):
        return None
    if length is MISSING:
        return list(lst[idx:])
    if not _is_num(length):
        return None
    return list(lst[idx : idx + int(length)])


def _f_insert_before(lst: Any, pos: Any, v: Any) -> Any:
    if not isinstance(lst, (list, tuple)) or not _is_num(pos):
        return None
    p = int(pos)
    idx = p - 1 if p > 0 else len(lst) + p
    if idx < 0 or idx > len(lst):
        return None
    out = list(lst)
    out.insert(idx, v)
    return out


def _f_remove(lst: Any, pos: Any) -> Any:
    if not isinstance(lst, (list, tuple)) or not _is_num(pos):
        return None
    p = int(pos)
    idx = p - 1 if p > 0 else len(lst) + p
    if idx < 0 or idx >= len(lst):
        return None
    out = list(lst)
    del out[idx]
    return out


def _f_all(*args: Any) -> Any:
    items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    return _and_all(list(items))


def _f_any(*args: Any) -> Any:
    items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    return _or_all(list(items))


def _and_all(items: list[Any]) -> bool | None:
    result: bool | None = True
    for x in items:
        if x is False:
            return False
        if x is not True:
            result = None
    return result


def _or_all(items: list[Any]) -> bool | None:
    result: bool | None = False
    for x in items:
        if x is True:
            return True
        if x is not False:
            result = None
    return result


def _f_product(*args: Any) -> Any:
    ns = _nums(list(args))
    if not ns:
        return None
    out: Any = 1
    for x in ns:
        out *= x
    return out


def _f_median(*args: Any) -> Any:
    ns = _nums(list(args))
    if not ns:
        return None
    s = sorted(ns)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _f_not(v: Any) -> Any:
    return (not v) if isinstance(v, bool) else None


def _f_upper(s: Any) -> Any:
    return s.upper() if _s(s) else None


def _f_lower(s: Any) -> Any:
    return s.lower() if _s(s) else None


def _f_contains(s: Any, m: Any) -> Any:
    return (m in s) if _s(s) and _s(m) else None


def _f_starts_with(s: Any, m: Any) -> Any:
    return s.startswith(m) if _s(s) and _s(m) else None


def _f_ends_with(s: Any, m: Any) -> Any:
    return s.endswith(m) if _s(s) and _s(m) else None


def _f_trim(s: Any) -> Any:
    return s.strip() if _s(s) else None


def _f_is_empty(v: Any) -> Any:
    if isinstance(v, (list, tuple, str)):
        return len(v) == 0
    return None


_DATE_RE = re.compile(r"-?\d{4,9}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}|@[A-Za-z_/+-]+)?")


def _parse_date(s: str) -> dt.date | None:
    if not _DATE_RE.fullmatch(s):
        return None
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        return None


def _tz(text: str | None) -> dt.tzinfo | None:
    if not text or text.startswith("@"):
        return None
    if text == "Z":
        return dt.UTC
    sign = 1 if text[0] == "+" else -1
    h, m = int(text[1:3]), int(text[4:6])
    if h > 18 or m > 59:
        raise ValueError
    return dt.timezone(sign * dt.timedelta(hours=h, minutes=m))


def _parse_time(s: str) -> dt.time | None:
    m = _TIME_RE.fullmatch(s)
    if not m:
        return None
    try:
        frac = (m.group(4) or "0").ljust(6, "0")[:6]
        return dt.time(
            int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), int(frac), tzinfo=_tz(m.group(5))
        )
    except ValueError:
        return None


def _parse_datetime(s: str) -> dt.datetime | dt.date | None:
    if "T" not in s:
        return None
    d, _, t = s.partition("T")
    day, tm = _parse_date(d), _parse_time(t)
    if day is None or tm is None:
        return None
    return dt.datetime.combine(day, tm)


def _f_date(*args: Any) -> Any:
    if len(args) == 1:
        v = args[0]
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, dt.date):
            return v
        if _s(v):
            return _parse_date(v)
        return None
    if len(args) == 3 and all(_is_num(x) and float(x).is_integer() for x in args):
        try:
            return dt.date(int(args[0]), int(args[1]), int(args[2]))
        except ValueError:
            return None
    return None


def _f_time(*args: Any) -> Any:
    if len(args) == 1:
        v = args[0]
        if isinstance(v, dt.datetime):
            return v.timetz()
        if isinstance(v, dt.time):
            return v
        if isinstance(v, dt.date):
            return dt.time(0, 0, tzinfo=dt.UTC)
        if _s(v):
            return _parse_time(v)
        return None
    if len(args) in (3, 4) and all(_is_num(x) for x in args[:3]):
        try:
            tz = None
            if len(args) == 4:
                off = args[3]
                if not isinstance(off, dt.timedelta):
                    return None
                tz = dt.timezone(off)
            sec = float(args[2])
            return dt.time(int(args[0]), int(args[1]), int(sec), round((sec % 1) * 1e6), tzinfo=tz)
        except ValueError:
            return None
    return None


def _f_date_and_time(*args: Any) -> Any:
    if len(args) == 1:
        v = args[0]
        if isinstance(v, dt.datetime):
            return v
        if isinstance(v, dt.date):
            return dt.datetime.combine(v, dt.time(0, 0))
        if _s(v):
            r = _parse_datetime(v)
            if r is None:
                d = _parse_date(v)
                return dt.datetime.combine(d, dt.time(0, 0)) if d else None
            return r
        return None
    if len(args) == 2 and isinstance(args[0], dt.date) and isinstance(args[1], dt.time):
        d = args[0].date() if isinstance(args[0], dt.datetime) else args[0]
        return dt.datetime.combine(d, args[1])
    return None


_DURATION_RE = re.compile(r"(-)?P(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")
_YM_DURATION_RE = re.compile(r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?")


def _f_duration(s: Any) -> Any:
    if not _s(s) or s in ("P", "-P", "PT", "-PT"):
        return None
    m = _DURATION_RE.fullmatch(s)
    if m:
        sign = -1 if m.group(1) else 1
        try:
            td = dt.timedelta(
                days=int(m.group(2) or 0),
                hours=int(m.group(3) or 0),
                minutes=int(m.group(4) or 0),
                seconds=float(m.group(5) or 0),
            )
        except OverflowError:
            return None
        return sign * td
    m = _YM_DURATION_RE.fullmatch(s)
    if m and (m.group(2) or m.group(3)):
        sign = -1 if m.group(1) else 1
        return _YearsMonths(sign * (int(m.group(2) or 0) * 12 + int(m.group(3) or 0)))
    return None


class _YearsMonths:
    """A years-and-months duration (``P1Y2M``): only added to / subtracted from dates."""

    __slots__ = ("months",)

    def __init__(self, months: int) -> None:
        self.months = months

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _YearsMonths) and other.months == self.months

    def __hash__(self) -> int:
        return hash(self.months)

    def add_to(self, d: dt.date, sign: int) -> dt.date | None:
        total = d.year * 12 + (d.month - 1) + sign * self.months
        y, mo = divmod(total, 12)
        if not 1 <= y <= 9999:
            return None
        day = min(d.day, calendar.monthrange(y, mo + 1)[1])
        return d.replace(year=y, month=mo + 1, day=day)


def _f_years_and_months_duration(a: Any, b: Any) -> Any:
    if not (isinstance(a, dt.date) and isinstance(b, dt.date)):
        return None
    months = (b.year - a.year) * 12 + (b.month - a.month)
    if months > 0 and b.day < a.day:
        months -= 1
    elif months < 0 and b.day > a.day:
        months += 1
    return _YearsMonths(months)


def _f_today() -> Any:
    return _local_now().date()


def _f_now() -> Any:
    return _local_now()


def _local_now() -> dt.datetime:
    return timezone.localtime()


def _f_day_of_week(d: Any) -> Any:
    if not isinstance(d, dt.date):
        return None
    return ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"][d.weekday()]


def _f_month_of_year(d: Any) -> Any:
    if not isinstance(d, dt.date):
        return None
    return ["January", "February", "March", "April", "May", "June", "July", "August", "September",
            "October", "November", "December"][d.month - 1]  # fmt: skip


def _f_day_of_year(d: Any) -> Any:
    return d.timetuple().tm_yday if isinstance(d, dt.date) else None


def _f_week_of_year(d: Any) -> Any:
    return d.isocalendar()[1] if isinstance(d, dt.date) else None


def _f_matches(s: Any, pattern: Any) -> Any:
    if not (_s(s) and _s(pattern)) or len(pattern) > 500:
        return None
    try:
        return re.search(pattern, s) is not None
    except re.error:
        return None


# name → (function, min args, max args or None for variadic)
BUILTINS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "not": (_f_not, 1, 1),
    "string length": (_f_string_length, 1, 1),
    "upper case": (_f_upper, 1, 1),
    "lower case": (_f_lower, 1, 1),
    "substring": (_f_substring, 2, 3),
    "substring before": (_f_substring_before, 2, 2),
    "substring after": (_f_substring_after, 2, 2),
    "contains": (_f_contains, 2, 2),
    "starts with": (_f_starts_with, 2, 2),
    "ends with": (_f_ends_with, 2, 2),
    "string join": (_f_string_join, 1, 4),
    "trim": (_f_trim, 1, 1),
    "matches": (_f_matches, 2, 2),
    "count": (_f_count, 1, 1),
    "sum": (_f_sum, 1, None),
    "min": (_f_min, 1, None),
    "max": (_f_max, 1, None),
    "mean": (_f_mean, 1, None),
    "median": (_f_median, 1, None),
    "product": (_f_product, 1, None),
    "all": (_f_all, 1, None),
    "any": (_f_any, 1, None),
    "abs": (_f_abs, 1, 1),
    "floor": (_f_floor, 1, 2),
    "ceiling": (_f_ceiling, 1, 2),
    "decimal": (_f_decimal, 2, 2),
    "round half up": (_f_round_half_up, 1, 2),
    "round half down": (_f_round_half_down, 1, 2),
    "round up": (_f_round_up, 1, 2),
    "round down": (_f_round_down, 1, 2),
    "modulo": (_f_modulo, 2, 2),
    "sqrt": (_f_sqrt, 1, 1),
    "odd": (_f_odd, 1, 1),
    "even": (_f_even, 1, 1),
    "number": (_f_number, 1, 3),
    "string": (_f_string, 1, 1),
    "get value": (_f_get_value, 2, 2),
    "get entries": (_f_get_entries, 1, 1),
    "context put": (_f_context_put, 3, 3),
    "list contains": (_f_list_contains, 2, 2),
    "append": (_f_append, 1, None),
    "concatenate": (_f_concatenate, 0, None),
    "distinct values": (_f_distinct_values, 1, 1),
    "flatten": (_f_flatten, 1, 1),
    "reverse": (_f_reverse, 1, 1),
    "index of": (_f_index_of, 2, 2),
    "sublist": (_f_sublist, 2, 3),
    "insert before": (_f_insert_before, 3, 3),
    "remove": (_f_remove, 2, 2),
    "is empty": (_f_is_empty, 1, 1),
    "date": (_f_date, 1, 3),
    "time": (_f_time, 1, 4),
    "date and time": (_f_date_and_time, 1, 2),
    "duration": (_f_duration, 1, 1),
    "years and months duration": (_f_years_and_months_duration, 2, 2),
    "today": (_f_today, 0, 0),
    "now": (_f_now, 0, 0),
    "day of week": (_f_day_of_week, 1, 1),
    "month of year": (_f_month_of_year, 1, 1),
    "day of year": (_f_day_of_year, 1, 1),
    "week of year": (_f_week_of_year, 1, 1),
}
# "is defined" is compiled specially (it must see a missing name, not null).
_SPECIAL = frozenset({"is defined"})
_MULTIWORD = sorted(
    (tuple(name.split(" ")) for name in [*BUILTINS, *_SPECIAL] if " " in name), key=len, reverse=True
)
_LIST_BUILDERS = frozenset(
    {"append", "concatenate", "distinct values", "flatten", "reverse", "index of", "sublist"}
)


# --- operators ------------------------------------------------------------------------------------


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        return _num(a) + _num(b)
    if _s(a) and _s(b):
        if len(a) + len(b) > MAX_STRING:
            return None
        return a + b
    return _temporal(a, b, 1)


def _sub(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        return _num(a) - _num(b)
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        try:
            return a - b
        except TypeError:
            return None
    if type(a) is dt.date and type(b) is dt.date:
        return dt.timedelta(days=(a - b).days)
    if isinstance(a, dt.time) and isinstance(b, dt.time) and (a.tzinfo is None) == (b.tzinfo is None):
        base = dt.date(2000, 1, 1)
        return dt.datetime.combine(base, a) - dt.datetime.combine(base, b)
    return _temporal(a, b, -1)


def _temporal(a: Any, b: Any, sign: int) -> Any:
    if isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta):
        return a + sign * b
    if isinstance(b, dt.timedelta) and isinstance(a, (dt.date, dt.time)):
        try:
            if isinstance(a, dt.datetime):
                return a + sign * b
            if isinstance(a, dt.date):
                return (dt.datetime.combine(a, dt.time()) + sign * b).date()
            base = dt.datetime.combine(dt.date(2000, 1, 1), a)
            return (base + sign * b).timetz()
        except OverflowError:
            return None
    if sign == 1 and isinstance(a, dt.timedelta) and isinstance(b, (dt.date, dt.time)):
        return _temporal(b, a, 1)
    if isinstance(b, _YearsMonths) and isinstance(a, dt.date):
        return b.add_to(a, sign)
    if sign == 1 and isinstance(a, _YearsMonths) and isinstance(b, dt.date):
        return a.add_to(b, 1)
    return None


def _mul(a: Any, b: Any) -> Any:
    if _is_num(a) and _is_num(b):
        return _num(a) * _num(b)
    if isinstance(a, dt.timedelta) and _is_num(b):
        return a * _num(b)
    if isinstance(b, dt.timedelta) and _is_num(a):
        return b * _num(a)
    return None


def _div(a: Any, b: Any) -> Any:
    if _is_num(a) and _is_num(b):
        if b == 0:
            return None
        r = _num(a) / _num(b)
        return (
            int(r)
            if isinstance(r, float) and r.is_integer() and isinstance(a, int) and isinstance(b, int)
            else r
        )
    if isinstance(a, dt.timedelta) and _is_num(b):
        return None if b == 0 else a / _num(b)
    if isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta):
        return None if not b else a / b
    return None


def _pow(a: Any, b: Any) -> Any:
    if not (_is_num(a) and _is_num(b)):
        return None
    if abs(_num(b)) > 1000:
        return None
    try:
        r = _num(a) ** _num(b)
    except (OverflowError, ZeroDivisionError):
        return None
    if isinstance(r, complex):
        return None
    if isinstance(r, int) and r.bit_length() > 1100:
        return None
    return r


_ARITH = {"+": _add, "-": _sub, "*": _mul, "/": _div, "**": _pow}


def _lt(a: Any, b: Any) -> Any:
    c = _compare(a, b)
    return None if c is None else c < 0


def _le(a: Any, b: Any) -> Any:
    c = _compare(a, b)
    return None if c is None else c <= 0


def _gt(a: Any, b: Any) -> Any:
    c = _compare(a, b)
    return None if c is None else c > 0


def _ge(a: Any, b: Any) -> Any:
    c = _compare(a, b)
    return None if c is None else c >= 0


def _ne(a: Any, b: Any) -> Any:
    r = feel_equal(a, b)
    return None if r is None else not r


_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "=": feel_equal,
    "!=": _ne,
    "<": _lt,
    "<=": _le,
    ">": _gt,
    ">=": _ge,
}


def _prop(v: Any, name: str) -> Any:
    """``v.name``: a context entry, each element's entry of a list, or a date/time property."""
    if v is None or v is MISSING:
        return None
    if isinstance(v, Mapping):
        return v.get(name)
    if isinstance(v, (list, tuple)):
        return [_prop(x, name) for x in v]
    if isinstance(v, dt.date):
        if name in ("year", "month", "day"):
            return getattr(v, name)
        if name == "weekday":
            return v.isoweekday()
        if isinstance(v, dt.datetime) and name in ("hour", "minute", "second"):
            return getattr(v, name)
        return None
    if isinstance(v, dt.time):
        return getattr(v, name) if name in ("hour", "minute", "second") else None
    if isinstance(v, dt.timedelta):
        total = int(v.total_seconds())
        sign = -1 if total < 0 else 1
        total = abs(total)
        parts = {"days": total // 86400, "hours": total % 86400 // 3600, "minutes": total % 3600 // 60,
                 "seconds": total % 60}  # fmt: skip
        return sign * parts[name] if name in parts else None
    if isinstance(v, _YearsMonths):
        if name == "years":
            return int(v.months / 12)
        if name == "months":
            return v.months - 12 * int(v.months / 12)
    return None


# --- parser ---------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0
        self.nodes = 0
        self.names: set[str] = set()
        self.uses_input = False  # '?' appears (unary tests)
        self.range_end = False  # parsing a range's end: "[" closes the range, it is no filter

    # token helpers
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def advance(self) -> _Tok:
        t = self.toks[self.i]
        if self.i < len(self.toks) - 1:
            self.i += 1
        return t

    def is_op(self, op: str) -> bool:
        t = self.tok
        return t.kind == "op" and t.text == op

    def is_kw(self, kw: str) -> bool:
        t = self.tok
        return t.kind == "name" and t.text == kw

    def expect_op(self, op: str) -> _Tok:
        if not self.is_op(op):
            self.fail_expected(f"'{op}'")
        return self.advance()

    def expect_kw(self, kw: str) -> _Tok:
        if not self.is_kw(kw):
            self.fail_expected(f"'{kw}'")
        return self.advance()

    def fail_expected(self, what: str) -> None:
        t = self.tok
        raise FeelError(
            _M_EXPECTED, {"expected": what, "position": t.pos, "found": t.describe()}, position=t.pos
        )

    def fail_unexpected(self) -> None:
        t = self.tok
        raise FeelError(_M_UNEXPECTED, {"found": t.describe(), "position": t.pos}, position=t.pos)

    def enter(self) -> None:
        self.depth += 1
        self.nodes += 1
        if self.depth > MAX_DEPTH:
            raise FeelError(_M_TOO_DEEP, {"max": MAX_DEPTH}, position=self.tok.pos)
        if self.nodes > MAX_NODES:
            raise FeelError(_M_TOO_BIG, {"max": MAX_NODES}, position=self.tok.pos)

    def leave(self) -> None:
        self.depth -= 1

    def parse_all(self) -> Fn:
        fn = self.expression()
        if self.tok.kind != "end":
            self.fail_unexpected()
        return fn

    # grammar
    def expression(self) -> Fn:
        self.enter()
        try:
            if self.is_kw("if"):
                return self.if_expr()
            if self.is_kw("for") and not self.is_call_next():
                return self.for_expr()
            if (self.is_kw("some") or self.is_kw("every")) and self.peek().kind == "name":
                return self.quantified()
            return self.disjunction()
        finally:
            self.leave()

    def is_call_next(self) -> bool:
        nxt = self.peek()
        return nxt.kind == "op" and nxt.text == "("

    def if_expr(self) -> Fn:
        self.advance()
        cond = self.expression()
        self.expect_kw("then")
        then = self.expression()
        self.expect_kw("else")
        other = self.expression()

        def f(s: _Scope) -> Any:
            return then(s) if cond(s) is True else other(s)

        return f

    def iteration_contexts(self) -> list[tuple[str, Fn]]:
        out: list[tuple[str, Fn]] = []
        while True:
            t = self.tok
            if t.kind not in ("name", "qname") or t.text in _KEYWORDS:
                self.fail_expected(_A_NAME)
            name = self.advance().text
            self.expect_kw("in")
            src = self.disjunction()
            if self.is_op(".."):
                self.advance()
                end = self.disjunction()
                start = src

                def rng(s: _Scope, start: Fn = start, end: Fn = end) -> Any:
                    return _Range(start(s), end(s), True, True)

                src = rng
            out.append((name, src))
            if not self.is_op(","):
                return out
            self.advance()

    def for_expr(self) -> Fn:
        self.advance()
        its = self.iteration_contexts()
        self.expect_kw("return")
        body = self.expression()

        def f(s: _Scope) -> Any:
            results: list[Any] = []

            def loop(k: int, scope: _Scope) -> None:
                if k == len(its):
                    scope.charge(1)
                    results.append(body(scope))
                    return
                name, src = its[k]
                coll = src(scope)
                items = coll.items(scope) if isinstance(coll, _Range) else _iterable(coll)
                if items is None:
                    raise _NullResult
                for item in items:
                    scope.charge(1)
                    loop(k + 1, scope.child({name: item, "partial": results}))

            try:
                loop(0, s)
            except _NullResult:
                return None
            return results

        return f

    def quantified(self) -> Fn:
        every = self.advance().text == "every"
        its = self.iteration_contexts()
        self.expect_kw("satisfies")
        body = self.expression()

        def f(s: _Scope) -> Any:
            results: list[Any] = []

            def loop(k: int, scope: _Scope) -> None:
                if k == len(its):
                    results.append(body(scope))
                    return
                name, src = its[k]
                coll = src(scope)
                items = coll.items(scope) if isinstance(coll, _Range) else _iterable(coll)
                if items is None:
                    raise _NullResult
                for item in items:
                    scope.charge(1)
                    loop(k + 1, scope.child({name: item}))

            try:
                loop(0, s)
            except _NullResult:
                return None
            return _and_all(results) if every else _or_all(results)

        return f

    def disjunction(self) -> Fn:
        return self._logical("or", self.conjunction, decisive=True)

    def conjunction(self) -> Fn:
        return self._logical("and", self.comparison, decisive=False)

    def _logical(self, keyword: str, operand: Callable[[], Fn], *, decisive: bool) -> Fn:
        """FEEL's three-valued ``or`` (``decisive`` true: one true operand decides) and ``and``
        (``decisive`` false: one false operand decides); both operands the other boolean give that
        boolean, anything else null."""
        left = operand()
        while self.is_kw(keyword):
            self.advance()
            right = operand()

            def f(s: _Scope, a: Fn = left, b: Fn = right) -> Any:
                x = a(s)
                if x is decisive:
                    return decisive
                y = b(s)
                if y is decisive:
                    return decisive
                if x is (not decisive) and y is (not decisive):
                    return not decisive
                return None

            left = f
        return left

    def comparison(self) -> Fn:
        left = self.additive()
        t = self.tok
        if t.kind == "op" and t.text in _CMP:
            self.advance()
            right = self.additive()
            op = _CMP[t.text]

            def f(s: _Scope) -> Any:
                return op(left(s), right(s))

            return f
        if self.is_kw("between"):
            self.advance()
            lo = self.additive()
            self.expect_kw("and")
            hi = self.additive()

            def between(s: _Scope) -> Any:
                v = left(s)
                a, b = _ge(v, lo(s)), _le(v, hi(s))
                return _and_all([a, b])

            return between
        if self.is_kw("in"):
            self.advance()
            if self.is_op("("):
                # "x in (…)": parenthesised positive unary tests, or a range such as (1..5)
                save = self.i
                self.advance()
                try:
                    tests = self.positive_unary_tests(")")
                    self.expect_op(")")
                except FeelError:
                    self.i = save
                    tests = [self.positive_unary_test()]
            else:
                tests = [self.positive_unary_test()]

            def within(s: _Scope) -> Any:
                v = left(s)
                inner = s.child({"?": v})
                return _or_all([t(inner, v) for t in tests])

            return within
        if self.is_kw("instance") and self.peek().kind == "name" and self.peek().text == "of":
            self.advance()
            self.advance()
            tname = self.type_name()
            checker = _TYPE_CHECKS.get(tname)
            if checker is None:
                raise FeelError(_M_UNKNOWN_FUNCTION, {"name": tname, "position": t.pos}, position=t.pos)

            def inst(s: _Scope, c: Callable[[Any], bool] = checker) -> Any:
                return c(left(s))

            return inst
        return left

    def type_name(self) -> str:
        words = []
        while self.tok.kind == "name" and self.tok.text not in (
            "and",
            "or",
            "then",
            "else",
            "return",
            "satisfies",
        ):
            words.append(self.advance().text)
        if not words:
            self.fail_expected(_A_TYPE)
        return " ".join(words)

    def additive(self) -> Fn:
        return self._arithmetic(("+", "-"), self.multiplicative)

    def multiplicative(self) -> Fn:
        return self._arithmetic(("*", "/"), self.power)

    def _arithmetic(self, symbols: tuple[str, str], operand: Callable[[], Fn]) -> Fn:
        """A left-associative chain of the binary operators ``symbols`` over ``operand``s."""
        left = operand()
        while self.tok.kind == "op" and self.tok.text in symbols:
            op = _ARITH[self.advance().text]
            right = operand()

            def f(s: _Scope, a: Fn = left, b: Fn = right, op: Callable[[Any, Any], Any] = op) -> Any:
                return op(a(s), b(s))

            left = f
        return left

    def power(self) -> Fn:
        left = self.unary()
        while self.is_op("**"):
            self.advance()
            right = self.unary()

            def f(s: _Scope, a: Fn = left, b: Fn = right) -> Any:
                return _pow(a(s), b(s))

            left = f
        return left

    def unary(self) -> Fn:
        if self.is_op("-"):
            self.advance()
            self.enter()
            try:
                inner = self.unary()
            finally:
                self.leave()

            def neg(s: _Scope) -> Any:
                v = inner(s)
                if _is_num(v):
                    return -v
                if isinstance(v, dt.timedelta):
                    return -v
                return None

            return neg
        return self.postfix()

    def postfix(self) -> Fn:
        fn = self.primary()
        while True:
            if self.is_op("."):
                self.advance()
                t = self.tok
                if t.kind not in ("name", "qname"):
                    self.fail_expected(_A_NAME)
                name = self.advance().text

                def path(s: _Scope, base: Fn = fn, name: str = name) -> Any:
                    return _prop(base(s), name)

                fn = path
            elif self.is_op("[") and not self.range_end:
                self.advance()
                self.enter()
                try:
                    flt = self.expression()
                finally:
                    self.leave()
                self.expect_op("]")
                fn = _filter(fn, flt)
            else:
                return fn

    def args(self) -> list[Fn]:
        self.expect_op("(")
        out: list[Fn] = []
        if self.is_op(")"):
            self.advance()
            return out
        while True:
            # named arguments ("substring(string: x, start position: 2)") are taken in order
            j = self.i
            while self.toks[j].kind == "name" and j - self.i < 4:
                j += 1
            if j > self.i and self.toks[j].kind == "op" and self.toks[j].text == ":":
                self.i = j + 1
            out.append(self.expression())
            if self.is_op(","):
                self.advance()
                continue
            self.expect_op(")")
            return out

    def function_name(self) -> str | None:
        """The built-in whose (possibly multi-word) name starts here and is followed by '('."""
        words: list[str] = []
        j = self.i
        while self.toks[j].kind == "name" and len(words) < 5:
            words.append(self.toks[j].text)
            j += 1
        for cand in _MULTIWORD:
            n = len(cand)
            if tuple(words[:n]) == cand:
                after = self.toks[self.i + n]
                if after.kind == "op" and after.text == "(":
                    return " ".join(cand)
        if words and self.is_call_next():
            return words[0]
        return None

    def primary(self) -> Fn:
        t = self.tok
        self.enter()
        try:
            if t.kind == "num":
                self.advance()
                v = t.value
                return lambda s: v
            if t.kind == "str":
                self.advance()
                sv = t.value
                return lambda s: sv
            if t.kind == "qname":
                self.advance()
                self.names.add(t.text)
                return _name(t.text)
            if t.kind == "op":
                if t.text == "(":
                    return self.paren_or_range()
                if t.text == "[":
                    return self.list_or_range()
                if t.text == "]":
                    return self.range_literal()
                if t.text == "{":
                    return self.context_literal()
                self.fail_unexpected()
            if t.kind == "name":
                fname = self.function_name()
                if fname is not None:
                    return self.call(fname, t)
                word = t.text
                if word == "true":
                    self.advance()
                    return lambda s: True
                if word == "false":
                    self.advance()
                    return lambda s: False
                if word == "null":
                    self.advance()
                    return lambda s: None
                if word in _KEYWORDS:
                    self.fail_unexpected()
                self.advance()
                if word == "?":
                    self.uses_input = True
                self.names.add(word)
                return _name(word)
            self.fail_unexpected()
            raise AssertionError  # pragma: no cover
        finally:
            self.leave()

    def call(self, fname: str, t: _Tok) -> Fn:
        for _ in fname.split(" "):
            self.advance()
        if fname == "is defined":
            argpos = self.tok.pos
            args = self.args()
            if len(args) != 1:
                raise FeelError(
                    _M_ARITY,
                    {"name": fname, "expected": 1, "got": len(args), "position": argpos},
                    position=argpos,
                )
            arg = args[0]
            return lambda s: _defined(arg, s)
        entry = BUILTINS.get(fname)
        if entry is None:
            raise FeelError(_M_UNKNOWN_FUNCTION, {"name": fname, "position": t.pos}, position=t.pos)
        func, lo, hi = entry
        args = self.args()
        if len(args) < lo or (hi is not None and len(args) > hi):
            expected = f"{lo}" if lo == hi else (f"{lo}…{hi}" if hi is not None else f"{lo}+")
            raise FeelError(
                _M_ARITY,
                {"name": fname, "expected": expected, "got": len(args), "position": t.pos},
                position=t.pos,
            )
        builds_list = fname in _LIST_BUILDERS

        def f(s: _Scope) -> Any:
            vals = [_val(a(s)) for a in args]
            try:
                r = func(*vals)
            except (ValueError, TypeError, ArithmeticError, OverflowError):
                return None
            if builds_list and isinstance(r, list):
                s.charge(len(r))
            return r

        return f

    def paren_or_range(self) -> Fn:
        self.advance()  # (
        inner = self.expression()
        if self.is_op(".."):
            self.advance()
            end = self.range_end_expr()
            close = self.tok
            if not (close.kind == "op" and close.text in (")", "[")):
                self.fail_expected("')'")
            self.advance()
            return _range_fn(inner, end, False, False)
        self.expect_op(")")
        return inner

    def range_end_expr(self) -> Fn:
        before, self.range_end = self.range_end, True
        try:
            return self.additive()
        finally:
            self.range_end = before

    def list_or_range(self) -> Fn:
        self.advance()  # [
        if self.is_op("]"):
            self.advance()
            return lambda s: []
        first = self.expression()
        if self.is_op(".."):
            self.advance()
            end = self.range_end_expr()
            close = self.tok
            if not (close.kind == "op" and close.text in ("]", ")", "[")):
                self.fail_expected("']'")
            self.advance()
            return _range_fn(first, end, True, close.text == "]")
        items = [first]
        while self.is_op(","):
            self.advance()
            items.append(self.expression())
        self.expect_op("]")

        def lst(s: _Scope) -> Any:
            s.charge(len(items))
            return [_val(i(s)) for i in items]

        return lst

    def range_literal(self) -> Fn:
        self.advance()  # ] as an open start
        start = self.expression()
        self.expect_op("..")
        end = self.range_end_expr()
        close = self.tok
        if not (close.kind == "op" and close.text in ("]", ")", "[")):
            self.fail_expected("']'")
        self.advance()
        return _range_fn(start, end, False, close.text == "]")

    def context_literal(self) -> Fn:
        self.advance()  # {
        entries: list[tuple[str, Fn]] = []
        if self.is_op("}"):
            self.advance()
            return lambda s: {}
        while True:
            t = self.tok
            if t.kind == "str":
                key = t.value
                self.advance()
            elif t.kind in ("name", "qname"):
                words = []
                while self.tok.kind in ("name", "qname"):
                    words.append(self.advance().text)
                key = " ".join(words)
            else:
                self.fail_expected(_A_KEY)
            self.expect_op(":")
            entries.append((key, self.expression()))
            if self.is_op(","):
                self.advance()
                continue
            self.expect_op("}")
            break

        def ctx(s: _Scope) -> Any:
            out: dict[str, Any] = {}
            inner = s.child(out)  # later entries see earlier ones
            for k, e in entries:
                out[k] = _val(e(inner))
            return out

        return ctx

    # unary tests
    def positive_unary_tests(self, stop: str | None = None) -> list[Callable[[_Scope, Any], Any]]:
        tests = [self.positive_unary_test()]
        while self.is_op(","):
            self.advance()
            tests.append(self.positive_unary_test())
        return tests

    def positive_unary_test(self) -> Callable[[_Scope, Any], Any]:
        t = self.tok
        if t.kind == "op" and t.text in ("<", "<=", ">", ">=", "=", "!="):
            self.advance()
            end = self.additive()
            op = _CMP[t.text]
            return lambda s, v: op(v, end(s))
        if self.is_kw("null"):
            self.advance()
            return lambda s, v: v is None
        before = self.uses_input
        self.uses_input = False
        e = self.expression()
        uses_input = self.uses_input
        self.uses_input = before or uses_input

        def test(s: _Scope, v: Any) -> Any:
            r = e(s)
            if isinstance(r, _Range):
                return r.contains(v)
            if uses_input:
                return r
            if isinstance(r, (list, tuple)) and not isinstance(v, (list, tuple)):
                return any(feel_equal(x, v) is True for x in r)
            if isinstance(r, bool) and not isinstance(v, bool):
                return r
            return feel_equal(v, r)

        return test


class _NullResult(Exception):
    pass


def _iterable(v: Any) -> list[Any] | None:
    if isinstance(v, (list, tuple)):
        return list(v)
    if v is None or v is MISSING:
        return None
    return [v]


def _range_fn(a: Fn, b: Fn, start_incl: bool, end_incl: bool) -> Fn:
    def f(s: _Scope) -> Any:
        return _Range(_val(a(s)), _val(b(s)), start_incl, end_incl)

    return f


def _name(name: str) -> Fn:
    def f(s: _Scope) -> Any:
        return s.lookup(name)

    return f


def _defined(arg: Fn, s: _Scope) -> bool:
    return arg(s) is not MISSING


def _filter(base: Fn, flt: Fn) -> Fn:
    def f(s: _Scope) -> Any:
        coll = _val(base(s))
        if coll is None:
            return None
        items = _to_list(coll)
        # an index first: a filter that is a number without the item in scope
        probe = flt(s.child({"item": MISSING}))
        if _is_num(probe) and not isinstance(probe, bool):
            idx = int(probe)
            if idx > 0 and idx <= len(items):
                return items[idx - 1]
            if idx < 0 and -idx <= len(items):
                return items[idx]
            return None
        out = []
        for item in items:
            s.charge(1)
            names: dict[str, Any] = {"item": item}
            if isinstance(item, Mapping):
                names = {**item, "item": item}
            if flt(s.child(names)) is True:
                out.append(item)
        return out

    return f


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple))


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "number": _is_num,
    "string": _s,
    "boolean": lambda v: isinstance(v, bool),
    "date": lambda v: type(v) is dt.date,
    "time": lambda v: isinstance(v, dt.time),
    "date and time": lambda v: isinstance(v, dt.datetime),
    "list": _is_list,
    "context": lambda v: isinstance(v, Mapping),
    "Any": lambda v: v is not None,
    "Null": lambda v: v is None,
}


# --- public API -----------------------------------------------------------------------------------


def _check_source(text: Any) -> str:
    if not isinstance(text, str):
        raise FeelError(_M_NOT_STRING)
    if len(text) > MAX_SOURCE_LENGTH:
        raise FeelError(_M_TOO_LONG, {"max": MAX_SOURCE_LENGTH}, position=MAX_SOURCE_LENGTH)
    if not text.strip():
        raise FeelError(_M_EMPTY)
    return text


class FeelExpression:
    """A compiled FEEL expression; :meth:`evaluate` never raises for data (FEEL gives ``null``),
    only :class:`FeelError` when the work budget runs out."""

    __slots__ = ("_fn", "names", "source")

    def __init__(self, source: str, fn: Fn, names: frozenset[str]) -> None:
        self.source = source
        self._fn = fn
        self.names = names  # the free names it reads (for dependency checks)

    def evaluate(self, context: Mapping[str, Any] | None = None) -> Any:
        scope = _Scope({} if context is None else context, None, [MAX_WORK])
        try:
            return _finish(self._fn(scope))
        except _BudgetExceeded:
            raise FeelError(_M_BUDGET, {"max": MAX_WORK}) from None
        except RecursionError:
            raise FeelError(_M_TOO_DEEP, {"max": MAX_DEPTH}) from None

    def __repr__(self) -> str:
        return f"FeelExpression({self.source!r})"


def _finish(v: Any) -> Any:
    if v is MISSING:
        return None
    if isinstance(v, _Range):
        return None
    return v


@functools.lru_cache(maxsize=4096)
def feel_compile(text: str) -> FeelExpression:
    """Compile FEEL ``text`` (without form-js' leading ``=``); :class:`FeelError` names the position."""
    _check_source(text)
    p = _Parser(text)
    fn = p.parse_all()
    return FeelExpression(text, fn, frozenset(p.names))


class FeelUnaryTests:
    """Compiled DMN input entry: :meth:`test` says whether a value satisfies it."""

    __slots__ = ("_negate", "_tests", "source")

    def __init__(self, source: str, tests: list[Callable[[_Scope, Any], Any]] | None, negate: bool) -> None:
        self.source = source
        self._tests = tests  # None: "-" (anything)
        self._negate = negate

    def test(self, value: Any, context: Mapping[str, Any] | None = None) -> bool:
        if self._tests is None:
            return True
        scope = _Scope(context or {}, None, [MAX_WORK]).child({"?": value})
        try:
            r = _or_all([_finish(t(scope, value)) for t in self._tests])
        except _BudgetExceeded:
            raise FeelError(_M_BUDGET, {"max": MAX_WORK}) from None
        if self._negate:
            return r is False
        return r is True


@functools.lru_cache(maxsize=4096)
def feel_unary_test_compile(text: str) -> FeelUnaryTests:
    """Compile a DMN (S-)FEEL input entry."""
    if isinstance(text, str) and text.strip() in ("-", ""):
        return FeelUnaryTests(text, None, False)
    _check_source(text)
    p = _Parser(text)
    negate = False
    if p.is_kw("not") and p.is_call_next():
        # not(tests) — but "not(x) = y" style expressions are plain expressions
        save = p.i
        p.advance()
        p.advance()
        try:
            tests = p.positive_unary_tests()
            p.expect_op(")")
            if p.tok.kind == "end":
                return FeelUnaryTests(text, tests, True)
        except FeelError:
            pass
        p.i = save
        negate = False
    tests = p.positive_unary_tests()
    if p.tok.kind != "end":
        p.fail_unexpected()
    return FeelUnaryTests(text, tests, negate)


def feel_unary_test(text: str, value: Any, context: Mapping[str, Any] | None = None) -> bool:
    """Whether ``value`` satisfies the DMN input entry ``text`` (``-`` matches anything)."""
    return feel_unary_test_compile(text).test(value, context)
