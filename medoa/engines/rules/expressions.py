"""The one expression language of MedOA: gateway conditions, countersign completion conditions,
timer ``${…}`` values, rule conditions, DMN cells, form computed values and report filters.

Syntax is Python's (``ast.parse(mode="eval")``), plus what Camunda models use:

* a whole-expression ``${ … }`` or ``#{ … }`` wrapper is stripped;
* JUEL operators are translated before parsing, never inside string literals: ``!x``, ``a && b``,
  ``a || b``, ``eq ne lt gt le ge div mod`` (in operator position only, so a variable may still be
  called ``lt``), ``empty x`` (→ ``is_empty(x)``); ``true``/``false``/``null`` are constants;
* ``a.b`` on a dict reads the key ``"b"`` (JUEL property access on maps).

Nothing is ever handed to ``eval``/``exec``/``compile``: the AST is checked against a whitelist and
compiled into a tree of small Python closures (fast: a gateway condition evaluates in about a
microsecond or two once parsed). What is allowed:

* constants (int, float, str, bool, None), variable names, ``and or not``, comparisons (chained,
  ``in``/``not in``, ``is``/``is not``), arithmetic, ``x if c else y``, subscripts and slices of
  dicts/lists/tuples/strings, list/tuple/dict/set displays;
* comprehensions and generator expressions (generators are evaluated eagerly, as lists) over
  lists, tuples, sets, dicts, dict views, strings and ``range``; each iteration is charged to the
  step budget, so loops are bounded;
* calls to the helpers (``BUILTIN_FUNCTIONS``) and to the ``functions`` the caller passes (which
  may override a helper); methods
  ``lower() upper() strip() startswith() endswith()`` of strings, ``weekday()`` of dates,
  ``total_seconds()`` of timedeltas, ``get() keys() values() items()`` of dicts; attributes
  ``year month day`` of dates, ``hour minute second`` of datetimes, ``days seconds`` of
  timedeltas. Never a name or attribute starting with ``_``.

Helpers: ``len min max sum abs round any all int float str bool sorted`` (no ``key=``), bounded
``range list tuple set``, ``is_empty(x)``, ``date(y, m, d)`` or ``date('YYYY-MM-DD')``,
``datetime(y, m, d, h=0, mi=0)`` or ``datetime('ISO text')`` (aware, in ``settings.TIME_ZONE``),
``today() now()`` (in ``settings.TIME_ZONE``), ``days(n) hours(n) minutes(n)``,
``duration('PT2H')`` (ISO 8601; years and months have no fixed length and are refused),
``has_role(user, code)`` and ``in_department(user, code)`` (``user``: a username, a Staff or a user;
False for unknown or inactive people; ``in_department`` is true for sub-departments too). A helper
name is not a value: outside a call it is an ordinary variable name.

Refused: lambda, ``:=``, f-strings, ``*``/``**`` unpacking, ``%`` string formatting, ``str.format``,
calls to anything else (``open``, ``getattr``, ``type`` …), bytes and complex constants.

Bounds (see the constants below): source length, AST node count and depth, bracket nesting, a step
budget (node visits, including every comprehension iteration), a wall-clock deadline (time spent
inside database helpers and caller functions does not count), int size, ``**`` exponent, ``<<``
shift, repetition / concatenation / container sizes and a total work budget for items created or
iterated.

Errors are :class:`ExpressionError` with an English message and, where known, the position in
the ORIGINAL source (0-based ``position``, 1-based ``line`` and ``column``).
"""

from __future__ import annotations

import ast
import builtins
import datetime as dt
import functools
import operator
import re
import time
import warnings
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from medoa.core.access import policy
from medoa.core.org.models import Staff
from medoa.core.org.selectors import department_chain

__all__ = [
    "BUILTIN_FUNCTIONS",
    "MAX_AST_NODES",
    "MAX_DEPTH",
    "MAX_SECONDS",
    "MAX_SOURCE_LENGTH",
    "MAX_STEPS",
    "Expression",
    "ExpressionError",
    "check",
    "evaluate",
    "free_names",
    "parse",
    "parse_duration",
]

MAX_SOURCE_LENGTH = 2000
MAX_AST_NODES = 500
MAX_DEPTH = 100  # AST depth and bracket nesting
MAX_STEPS = 10_000  # node visits per evaluation
MAX_SECONDS = 0.050  # wall-clock per evaluation (outside database helpers and caller functions)
MAX_EXPONENT = 100
MAX_INT = 10**100
MAX_INT_BITS = MAX_INT.bit_length()
MAX_REPEAT = 10_000  # items/characters a repetition (`'a' * n`, `[x] * n`) may produce
MAX_SEQUENCE = 100_000  # items/characters of a concatenation or of str() of a container
MAX_ITERATION = 10_000  # items one loop, range() or iterating helper may go through
MAX_WORK = 1_000_000  # items (or 8-character units of strings) created or iterated in one evaluation

_NUMBER: tuple[type, ...] = (int, float, Decimal)
_ITERABLE: tuple[type, ...] = (
    list,
    tuple,
    set,
    frozenset,
    dict,
    str,
    range,
    type({}.keys()),
    type({}.values()),
    type({}.items()),
)
_INDEXABLE = (dict, list, tuple, str, range, Mapping)


# --- errors ---------------------------------------------------------------------------------------


class ExpressionError(ValueError):
    """An expression that does not parse, uses something not allowed, or fails to evaluate.

    ``message`` is English (``msgid % params``); ``translated()`` gives it in the active language.
    ``position`` is a 0-based offset into the original source, ``line``/``column`` are 1-based.
    """

    def __init__(
        self,
        msgid: str,
        params: Mapping[str, Any] | None = None,
        *,
        position: int | None = None,
        source: str | None = None,
    ) -> None:
        self.msgid = msgid
        self.params: dict[str, Any] = dict(params or {})
        self.message: str = msgid % self.params if self.params else msgid
        self.position: int | None = position
        self.line: int | None = None
        self.column: int | None = None
        super().__init__(self.message)
        if source is not None:
            self.locate(source)

    def locate(self, source: str) -> ExpressionError:
        """Fill ``line`` and ``column`` from ``position`` within ``source``."""
        if self.position is not None:
            pos = max(0, min(self.position, len(source)))
            self.position = pos
            self.line = source.count("\n", 0, pos) + 1
            self.column = pos - (source.rfind("\n", 0, pos) + 1) + 1
        return self

    def translated(self) -> str:
        """The message in the active language (the English text when no catalog has it)."""
        text = gettext(self.msgid)
        if not self.params:
            return text
        params = dict(self.params)
        if isinstance(params.get("what"), str):  # a construct's name (gettext_noop'd where ours)
            params["what"] = gettext(params["what"])
        return text % params

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.message} (line {self.line}, column {self.column})"
        return self.message

    def __reduce__(self) -> Any:
        return (_rebuild_error, (self.msgid, self.params, self.position, self.line, self.column))


def _rebuild_error(
    msgid: str, params: dict[str, Any], position: int | None, line: int | None, column: int | None
) -> ExpressionError:
    err = ExpressionError(msgid, params, position=position)
    err.line, err.column = line, column
    return err


def _err(msgid: str, position: int | None = None, **params: Any) -> ExpressionError:
    return ExpressionError(msgid, params, position=position)


_M_TOO_LONG = gettext_noop("expression is too long (at most %(max)s characters)")
_M_EMPTY = gettext_noop("expression is empty")
_M_NULL = gettext_noop("null bytes are not allowed")
_M_NOT_STRING = gettext_noop("expression must be a string")
_M_TOO_MANY_NODES = gettext_noop("expression is too complex (at most %(max)s elements)")
_M_TOO_DEEP = gettext_noop("expression is nested too deeply (at most %(max)s levels)")
_M_WRAPPER = gettext_noop("a '${…}' or '#{…}' wrapper must enclose the whole expression")
_M_TERNARY = gettext_noop("the '?:' operator is not supported; write 'a if condition else b'")
_M_NAME_UNDEFINED = gettext_noop("name '%(name)s' is not defined")
_M_NAME_PRIVATE = gettext_noop("name '%(name)s' is not allowed")
_M_ATTR = gettext_noop("attribute access to '%(name)s' is not allowed")
_M_CALL = gettext_noop("calling '%(name)s' is not allowed")
_M_CALL_EXPR = gettext_noop("only named functions can be called")
_M_UNKNOWN_FUNCTION = gettext_noop("unknown function '%(name)s'")
_M_CONSTRUCT = gettext_noop("%(what)s is not allowed")
_M_CONSTANT = gettext_noop("constants of type %(type)s are not allowed")
_M_COMPARE = gettext_noop("cannot compare %(left)s and %(right)s")
_M_MEMBERSHIP = gettext_noop("cannot test membership in %(type)s")
_M_MEMBERSHIP_STR = gettext_noop("cannot look for %(type)s in a string")
_M_OPERANDS = gettext_noop("unsupported operand types for %(op)s: %(left)s and %(right)s")
_M_UNARY = gettext_noop("bad operand type for unary %(op)s: %(type)s")
_M_DIV_ZERO = gettext_noop("division by zero")
_M_PERCENT = gettext_noop("string formatting with % is not allowed")
_M_EXPONENT = gettext_noop("exponent too large (at most %(max)s)")
_M_INT_TOO_LARGE = gettext_noop("number too large (at most 10**100)")
_M_OVERFLOW = gettext_noop("number out of range")
_M_COMPLEX = gettext_noop("the result is a complex number")
_M_RESULT_TOO_LARGE = gettext_noop("result too large (at most %(max)s items or characters)")
_M_TOO_MANY_ITEMS = gettext_noop("too many items (at most %(max)s)")
_M_TOO_MUCH_WORK = gettext_noop("expression needs too much work")
_M_TOO_MANY_STEPS = gettext_noop("expression takes too many steps (at most %(max)s)")
_M_TOO_SLOW = gettext_noop("expression takes too long (at most %(ms)s ms)")
_M_NOT_ITERABLE = gettext_noop("cannot iterate over %(type)s")
_M_NOT_INDEXABLE = gettext_noop("cannot index %(type)s")
_M_KEY = gettext_noop("key %(key)s not found")
_M_INDEX = gettext_noop("index out of range")
_M_UNHASHABLE = gettext_noop("%(type)s cannot be a dict key or set item")
_M_UNPACK = gettext_noop("cannot unpack %(type)s into %(count)s names")
_M_BAD_CALL = gettext_noop("%(name)s(): %(error)s")
_M_FUNCTION_FAILED = gettext_noop("function '%(name)s' failed: %(error)s")
_M_FAILED = gettext_noop("evaluation failed: %(error)s")
_M_BAD_OPERATION = gettext_noop("invalid operation %(op)s: %(error)s")
_M_DURATION = gettext_noop("invalid ISO 8601 duration %(value)s")
_M_DURATION_MONTHS = gettext_noop("duration %(value)s uses years or months, which have no fixed length")
_M_DATE = gettext_noop("invalid date %(value)s")
_M_METHOD_VALUE = gettext_noop("method '%(name)s' must be called")
_M_VARIABLES = gettext_noop("variables must be a mapping")


def _tn(value: Any) -> str:
    """A short type name for messages."""
    if value is None:
        return "None"
    return type(value).__name__


# --- source translation (Camunda / JUEL) ----------------------------------------------------------

_NAME_RE = re.compile(r"[^\W\d]\w*")
_NUMBER_RE = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?"
)
_OPS = ("**", "//", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", ":=", "->")
_STRING_PREFIX_RE = re.compile(r"(?i)(?:r|u|b|f|br|rb|fr|rf)")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}
_JUEL_BINARY = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "div": "/", "mod": "%"}
_PY_WORD_OPERATORS = {"and", "or", "not", "in", "is", "if", "else", "for", "lambda", "async", "await"}
_UNARY_OPS = {"-", "+", "~", "!"}


class _Tok:
    __slots__ = ("end", "kind", "start", "text")

    def __init__(self, kind: str, text: str, start: int, end: int) -> None:
        self.kind = kind  # ws, name, number, string, op, comment, other
        self.text = text
        self.start = start
        self.end = end


def _scan_string(src: str, i: int) -> int:
    """End offset of the string literal whose opening quote is at ``i`` (-1 if unterminated)."""
    quote = src[i]
    triple = src.startswith(quote * 3, i)
    j = i + (3 if triple else 1)
    n = len(src)
    while j < n:
        ch = src[j]
        if ch == "\\":
            j += 2
            continue
        if triple:
            if src.startswith(quote * 3, j):
                return j + 3
        elif ch == quote:
            return j + 1
        elif ch == "\n":
            return -1
        j += 1
    return -1


def _tokenize(src: str, base: int) -> list[_Tok]:
    """A forgiving tokenizer: strings stay opaque; anything odd becomes an ``other`` token so that
    Python's parser reports it."""
    toks: list[_Tok] = []
    i, n = 0, len(src)
    depth = 0
    while i < n:
        ch = src[i]
        if ch.isspace():
            j = i + 1
            while j < n and src[j].isspace():
                j += 1
            toks.append(_Tok("ws", src[i:j], base + i, base + j))
            i = j
            continue
        if ch == "\\" and src.startswith(("\\\n", "\\\r\n"), i):  # a line continuation
            j = i + (2 if src[i + 1] == "\n" else 3)
            toks.append(_Tok("ws", src[i:j], base + i, base + j))
            i = j
            continue
        if ch == "#":
            j = src.find("\n", i)
            j = n if j < 0 else j
            toks.append(_Tok("comment", src[i:j], base + i, base + j))
            i = j
            continue
        if ch in "'\"":
            j = _scan_string(src, i)
            if j < 0:  # unterminated: hand the rest to Python as is
                toks.append(_Tok("other", src[i:], base + i, base + n))
                break
            toks.append(_Tok("string", src[i:j], base + i, base + j))
            i = j
            continue
        m = _NAME_RE.match(src, i)
        if m:
            j = m.end()
            if j < n and src[j] in "'\"" and _STRING_PREFIX_RE.fullmatch(m.group()):
                k = _scan_string(src, j)
                if k < 0:
                    toks.append(_Tok("other", src[i:], base + i, base + n))
                    break
                toks.append(_Tok("string", src[i:k], base + i, base + k))
                i = k
                continue
            toks.append(_Tok("name", m.group(), base + i, base + j))
            i = j
            continue
        m = _NUMBER_RE.match(src, i)
        if m and m.end() > i:
            toks.append(_Tok("number", m.group(), base + i, base + m.end()))
            i = m.end()
            continue
        op = next((o for o in _OPS if src.startswith(o, i)), ch)
        if op in _OPENERS:
            depth += 1
            if depth > MAX_DEPTH:
                raise _err(_M_TOO_DEEP, base + i, max=MAX_DEPTH)
        elif op in _CLOSERS:
            depth = max(0, depth - 1)
        toks.append(_Tok("op", op, base + i, base + i + len(op)))
        i += len(op)
    return toks


class _Translation:
    """The Python text handed to ``ast.parse`` and, for each of its characters, the offset in the
    original source (one more entry for the end)."""

    __slots__ = ("line_starts", "lines", "offsets", "original", "python")

    def __init__(self, original: str, python: str, offsets: list[int]) -> None:
        self.original = original
        self.python = python
        self.offsets = offsets
        self.lines = python.split("\n")
        self.line_starts = [0]
        for line in self.lines:
            self.line_starts.append(self.line_starts[-1] + len(line) + 1)

    def original_offset(self, python_offset: int) -> int:
        python_offset = max(0, min(python_offset, len(self.python)))
        return self.offsets[python_offset]

    def python_offset(self, lineno: int, col: int, *, utf8: bool = True) -> int:
        """The offset in the Python text of a (1-based line, column) position; AST columns count
        UTF-8 bytes, SyntaxError columns count characters (pass ``utf8=False``)."""
        if not 1 <= lineno <= len(self.lines):
            return len(self.python)
        line = self.lines[lineno - 1]
        if utf8 and not line.isascii():
            col = len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return self.line_starts[lineno - 1] + col

    def node_offset(self, node: ast.AST) -> int | None:
        """Where ``node`` starts in the original source; for an attribute, where its name starts."""
        if isinstance(node, ast.Attribute):
            end_lineno = getattr(node, "end_lineno", None)
            end_col = getattr(node, "end_col_offset", None)
            if end_lineno is not None and end_col is not None:
                return self.original_offset(self.python_offset(end_lineno, end_col) - len(node.attr))
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        if lineno is None or col is None:
            return None
        return self.original_offset(self.python_offset(lineno, col))


def _operand_end(toks: list[_Tok], sig: list[int], k: int) -> int | None:
    """Index (into ``sig``) of the last token of the unary operand starting at ``sig[k]``."""
    if k >= len(sig):
        return None
    t = toks[sig[k]]
    if t.kind == "op" and t.text in _UNARY_OPS:
        return _operand_end(toks, sig, k + 1)
    if t.kind == "name" and t.text == "empty":
        return _operand_end(toks, sig, k + 1)
    if t.kind == "op" and t.text in _OPENERS:
        closing = _matching(toks, sig, k)
        if closing is None:
            return None
        k = closing
    elif t.kind in ("number", "string") or (t.kind == "name" and t.text not in _PY_WORD_OPERATORS):
        pass
    else:
        return None
    while k + 1 < len(sig):
        nxt = toks[sig[k + 1]]
        if nxt.kind == "op" and nxt.text == "." and k + 2 < len(sig) and toks[sig[k + 2]].kind == "name":
            k += 2
        elif nxt.kind == "op" and nxt.text in ("(", "["):
            close = _matching(toks, sig, k + 1)
            if close is None:
                return None
            k = close
        else:
            break
    return k


def _matching(toks: list[_Tok], sig: list[int], k: int) -> int | None:
    depth = 0
    for m in range(k, len(sig)):
        t = toks[sig[m]]
        if t.kind != "op":
            continue
        if t.text in _OPENERS:
            depth += 1
        elif t.text in _CLOSERS:
            depth -= 1
            if depth == 0:
                return m
    return None


def _is_operand_end(t: _Tok | None) -> bool:
    if t is None:
        return False
    if t.kind in ("number", "string"):
        return True
    if t.kind == "name":
        return t.text not in _PY_WORD_OPERATORS
    return t.kind == "op" and t.text in _CLOSERS


def _is_operand_start(t: _Tok | None) -> bool:
    if t is None:
        return False
    if t.kind in ("number", "string"):
        return True
    if t.kind == "name":
        return t.text not in _PY_WORD_OPERATORS - {"not", "lambda"}
    return t.kind == "op" and (t.text in _OPENERS or t.text in _UNARY_OPS)


def _translate(source: str) -> _Translation:
    """Strip the ``${…}``/``#{…}`` wrapper and translate JUEL operators, keeping an offset map."""
    start, end = 0, len(source)
    while start < end and source[start].isspace():
        start += 1
    while end > start and source[end - 1].isspace():
        end -= 1
    if start == end:
        raise _err(_M_EMPTY, 0)
    if source.startswith(("${", "#{"), start):
        inner_toks = _tokenize(source[start + 2 : end], start + 2)
        depth = 0
        closed_at = None
        for t in inner_toks:
            if t.kind == "op" and t.text in _OPENERS:
                depth += 1
            elif t.kind == "op" and t.text in _CLOSERS:
                if depth == 0 and t.text == "}":
                    closed_at = t.start
                    break
                depth -= 1
        if closed_at is not None and closed_at != end - 1:
            raise _err(_M_WRAPPER, start)
        if source[end - 1] != "}":
            raise _err(_M_WRAPPER, start)
        inner_start, inner_end = start + 2, end - 1
        while inner_start < inner_end and source[inner_start].isspace():
            inner_start += 1
        while inner_end > inner_start and source[inner_end - 1].isspace():
            inner_end -= 1
        if inner_start == inner_end:
            raise _err(_M_EMPTY, start)
        start, end = inner_start, inner_end
    toks = _tokenize(source[start:end], start)
    sig = [i for i, t in enumerate(toks) if t.kind not in ("ws", "comment")]

    out: list[str] = []
    offsets: list[int] = []

    def emit(text: str, at: int) -> None:
        out.append(text)
        offsets.extend([at] * len(text))

    closers: dict[int, int] = {}  # token index → number of ')' to emit after it
    sig_pos = {ti: k for k, ti in enumerate(sig)}
    prev_end = False  # did the previous significant token end an operand?
    prev_dot = False  # was it a '.' (then a JUEL word is an attribute name)?
    for ti, t in enumerate(toks):
        if t.kind == "ws":
            # one line for Python; tabs, form feeds and full-width spaces (U+3000) become spaces
            out.append(" " * len(t.text))
            offsets.extend(range(t.start, t.end))
        elif t.kind == "comment":
            emit(" " * len(t.text), t.start)
        elif t.kind == "string" or t.kind == "number" or t.kind == "other":
            out.append(t.text)
            offsets.extend(range(t.start, t.end))
        else:
            k = sig_pos[ti]
            nxt = toks[sig[k + 1]] if k + 1 < len(sig) else None
            operand = False  # this token, as emitted, ends an operand
            if t.kind == "op" and t.text == "&&":
                emit(" and ", t.start)
            elif t.kind == "op" and t.text == "||":
                emit(" or ", t.start)
            elif t.kind == "op" and t.text == "?":
                raise _err(_M_TERNARY, t.start)
            elif t.kind == "op" and t.text == "!":
                last = _operand_end(toks, sig, k + 1)
                if last is None:
                    emit(" not ", t.start)
                else:
                    emit(" (not ", t.start)
                    closers[sig[last]] = closers.get(sig[last], 0) + 1
            elif prev_dot:
                out.append(t.text)
                offsets.extend(range(t.start, t.end))
                operand = _is_operand_end(t)
            elif t.kind == "name" and t.text in _JUEL_BINARY and prev_end and _is_operand_start(nxt):
                emit(f" {_JUEL_BINARY[t.text]} ", t.start)
            elif t.kind == "name" and t.text == "empty" and not prev_end and _is_operand_start(nxt):
                last = _operand_end(toks, sig, k + 1)
                if last is None:
                    out.append(t.text)
                    offsets.extend(range(t.start, t.end))
                    operand = True
                else:
                    emit(" is_empty(", t.start)
                    closers[sig[last]] = closers.get(sig[last], 0) + 1
            else:
                out.append(t.text)
                offsets.extend(range(t.start, t.end))
                operand = _is_operand_end(t)
        if t.kind != "ws" and t.kind != "comment":
            prev_end = operand if t.kind in ("name", "op") else True
            prev_dot = t.kind == "op" and t.text == "."
        if ti in closers:
            emit(")" * closers[ti], t.end)
    python = "".join(out)
    offsets.append(toks[-1].end if toks else end)
    lead = len(python) - len(python.lstrip())
    return _Translation(source, python[lead:], offsets[lead:])


# --- the whitelist check --------------------------------------------------------------------------

# Python built-ins that can never be called, whatever the caller passes in ``functions``.
_CALLABLE_BUILTINS = frozenset(
    {"len", "min", "max", "sum", "abs", "round", "any", "all", "int", "float", "str", "bool"}
    | {"sorted", "range", "list", "tuple", "set"}
)
_FORBIDDEN_CALLS = frozenset(
    name for name in dir(builtins) if not name.startswith("_") and name not in _CALLABLE_BUILTINS
) | {"__import__"}

_VALUE_ATTRIBUTES: dict[str, tuple[tuple[type, ...], Callable[[Any], Any]]] = {
    "year": ((dt.date,), dt.date.year.__get__),
    "month": ((dt.date,), dt.date.month.__get__),
    "day": ((dt.date,), dt.date.day.__get__),
    "hour": ((dt.datetime,), dt.datetime.hour.__get__),
    "minute": ((dt.datetime,), dt.datetime.minute.__get__),
    "second": ((dt.datetime,), dt.datetime.second.__get__),
    "days": ((dt.timedelta,), dt.timedelta.days.__get__),
    "seconds": ((dt.timedelta,), dt.timedelta.seconds.__get__),
}
_METHODS: dict[str, tuple[tuple[type, ...], Callable[..., Any]]] = {
    "lower": ((str,), str.lower),
    "upper": ((str,), str.upper),
    "strip": ((str,), str.strip),
    "startswith": ((str,), str.startswith),
    "endswith": ((str,), str.endswith),
    "weekday": ((dt.date,), dt.date.weekday),
    "total_seconds": ((dt.timedelta,), dt.timedelta.total_seconds),
    "get": ((dict,), dict.get),
    "keys": ((dict,), dict.keys),
    "values": ((dict,), dict.values),
    "items": ((dict,), dict.items),
}
_CONSTANT_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}
_ALLOWED_CONSTANTS = (bool, int, float, str, type(None))

_REFUSED_NODES: dict[type, str] = {
    ast.Lambda: gettext_noop("lambda"),
    ast.NamedExpr: gettext_noop("assignment with ':='"),
    ast.JoinedStr: gettext_noop("an f-string"),
    ast.FormattedValue: gettext_noop("an f-string"),
    ast.Starred: gettext_noop("unpacking with '*'"),
    ast.Await: gettext_noop("await"),
    ast.Yield: gettext_noop("yield"),
    ast.YieldFrom: gettext_noop("yield"),
}


def _countable(node: ast.AST) -> bool:
    return isinstance(node, ast.expr | ast.comprehension | ast.keyword)


def _measure(tree: ast.Expression, tr: _Translation) -> int:
    """Node count and depth, iteratively (the tree may be deeper than Python's recursion limit).
    A source of at most MAX_SOURCE_LENGTH characters has at most a few thousand nodes."""
    counted: list[ast.AST] = []
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _err(_M_TOO_DEEP, tr.node_offset(node), max=MAX_DEPTH)
        if _countable(node):
            counted.append(node)
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1))
    if len(counted) > MAX_AST_NODES:
        counted.sort(key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
        raise _err(_M_TOO_MANY_NODES, tr.node_offset(counted[MAX_AST_NODES]), max=MAX_AST_NODES)
    return len(counted)


class _Checker:
    """Collects every whitelist violation (``check`` reports them all; ``parse`` the first)."""

    def __init__(self, tr: _Translation, functions: Collection[str] | None) -> None:
        self.tr = tr
        self.functions = functions  # None: unknown function names are not flagged
        self.errors: list[ExpressionError] = []
        self.names: set[str] = set()
        self.called: set[str] = set()

    def fail(self, node: ast.AST, msgid: str, **params: Any) -> None:
        self.errors.append(_err(msgid, self.tr.node_offset(node), **params))

    def visit(self, node: ast.AST, bound: frozenset[str]) -> None:
        refused = _REFUSED_NODES.get(type(node))
        if refused is not None:
            self.fail(node, _M_CONSTRUCT, what=refused)
            return
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, _ALLOWED_CONSTANTS):
                self.fail(node, _M_CONSTANT, type=_tn(node.value))
            elif type(node.value) is int and node.value > MAX_INT:
                self.fail(node, _M_INT_TOO_LARGE)
            return
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                self.fail(node, _M_NAME_PRIVATE, name=node.id)
            elif node.id not in _CONSTANT_NAMES and node.id not in bound:
                self.names.add(node.id)
            return
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                self.fail(node, _M_ATTR, name=node.attr)
            self.visit(node.value, bound)
            return
        if isinstance(node, ast.Call):
            self.visit_call(node, bound)
            return
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            self.fail(node, _M_CONSTRUCT, what="'@'")
            return
        if isinstance(node, ast.Dict) and any(k is None for k in node.keys):
            self.fail(node, _M_CONSTRUCT, what=gettext_noop("unpacking with '**'"))
            return
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            self.visit_comprehension(node, bound)
            return
        allowed = (
            ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice,
            ast.List, ast.Tuple, ast.Dict, ast.Set,
            ast.boolop, ast.operator, ast.unaryop, ast.cmpop, ast.expr_context,
        )  # fmt: skip
        if not isinstance(node, allowed):
            self.fail(node, _M_CONSTRUCT, what=type(node).__name__)
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child, bound)

    def visit_call(self, node: ast.Call, bound: frozenset[str]) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in _FORBIDDEN_CALLS or func.id.startswith("_"):
                self.fail(func, _M_CALL, name=func.id)
                return
            self.called.add(func.id)
            if (
                self.functions is not None
                and func.id not in BUILTIN_FUNCTIONS
                and func.id not in self.functions
            ):
                self.fail(func, _M_UNKNOWN_FUNCTION, name=func.id)
        elif isinstance(func, ast.Attribute):
            if func.attr.startswith("_"):
                self.fail(func, _M_ATTR, name=func.attr)
            elif func.attr not in _METHODS:
                self.fail(func, _M_CALL, name=func.attr)
            self.visit(func.value, bound)
        else:
            before = len(self.errors)
            self.visit(func, bound)
            if len(self.errors) == before:
                self.fail(func, _M_CALL_EXPR)
        for arg in node.args:
            self.visit(arg, bound)
        for kw in node.keywords:
            if kw.arg is None:
                self.fail(kw.value, _M_CONSTRUCT, what=gettext_noop("unpacking with '**'"))
            elif kw.arg.startswith("_"):
                self.fail(kw.value, _M_NAME_PRIVATE, name=kw.arg)
            else:
                self.visit(kw.value, bound)

    def visit_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, bound: frozenset[str]
    ) -> None:
        inner = set(bound)
        for gen in node.generators:
            if gen.is_async:
                self.fail(node, _M_CONSTRUCT, what="async for")
                return
            self.visit(gen.iter, frozenset(inner))
            targets = _target_names(gen.target)
            if targets is None:
                self.fail(gen.target, _M_CONSTRUCT, what=gettext_noop("this loop target"))
                return
            for name in targets:
                if name.startswith("_"):
                    self.fail(gen.target, _M_NAME_PRIVATE, name=name)
            inner.update(targets)
            for cond in gen.ifs:
                self.visit(cond, frozenset(inner))
        if isinstance(node, ast.DictComp):
            self.visit(node.key, frozenset(inner))
            self.visit(node.value, frozenset(inner))
        else:
            self.visit(node.elt, frozenset(inner))


def _target_names(target: ast.AST) -> list[str] | None:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        names: list[str] = []
        for elt in target.elts:
            sub = _target_names(elt)
            if sub is None:
                return None
            names.extend(sub)
        return names
    return None


# --- evaluation context ---------------------------------------------------------------------------


class _Ctx:
    __slots__ = ("deadline", "funcs", "memo", "steps", "vars", "work")

    def __init__(self, variables: Mapping[str, Any], funcs: Mapping[str, Callable[..., Any]] | None) -> None:
        self.vars = variables
        self.funcs = funcs
        self.steps = 0
        self.work = 0
        self.deadline = time.monotonic() + MAX_SECONDS
        self.memo: dict[Any, Any] | None = None


def _charge(c: _Ctx, n: int) -> None:
    """Count ``n`` items created or iterated; enforce the work budget and the deadline."""
    c.work += n
    if c.work > MAX_WORK:
        raise _err(_M_TOO_MUCH_WORK)
    if time.monotonic() > c.deadline:
        raise _err(_M_TOO_SLOW, ms=int(MAX_SECONDS * 1000))


_CONTAINERS = frozenset({str, list, tuple, set, frozenset, dict})
CHARS_PER_UNIT = 8  # a string of 8 characters costs one unit of the work budget


def _charge_size(c: _Ctx, value: Any, pos: int | None) -> None:
    """Charge a newly built string or container to the work budget (memory, in effect)."""
    n = len(value) // CHARS_PER_UNIT if isinstance(value, str) else len(value)
    try:
        _charge(c, n)
    except ExpressionError as exc:
        raise _positioned(exc, pos) from None


def _step(c: _Ctx, n: int) -> None:
    c.steps += n
    if c.steps > MAX_STEPS:
        raise _err(_M_TOO_MANY_STEPS, max=MAX_STEPS)
    if time.monotonic() > c.deadline:
        raise _err(_M_TOO_SLOW, ms=int(MAX_SECONDS * 1000))


def _items(c: _Ctx, value: Any) -> Any:
    """``value`` when it is a safe, small enough iterable (and charge for it)."""
    if not isinstance(value, _ITERABLE):
        raise _err(_M_NOT_ITERABLE, type=_tn(value))
    n = len(value)  # type: ignore[arg-type]
    if n > MAX_ITERATION:
        raise _err(_M_TOO_MANY_ITEMS, max=MAX_ITERATION)
    _charge(c, n)
    return value


def _weight(value: Any, limit: int) -> int:
    """Items plus characters inside ``value`` (stops counting past ``limit``)."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, list | tuple | set | frozenset):
            total += 1
            stack.extend(v)
        elif isinstance(v, dict):
            total += 1
            stack.extend(v.keys())
            stack.extend(v.values())
        else:
            total += 1
    return total


def _int_ok(value: Any) -> Any:
    if type(value) is int and (value > MAX_INT or value < -MAX_INT):
        raise _err(_M_INT_TOO_LARGE)
    if type(value) is complex:
        raise _err(_M_COMPLEX)
    return value


# --- operators ------------------------------------------------------------------------------------


def _add(a: Any, b: Any) -> Any:
    if (
        isinstance(a, str | list | tuple)
        and isinstance(b, str | list | tuple)
        and len(a) + len(b) > MAX_SEQUENCE
    ):
        raise _err(_M_RESULT_TOO_LARGE, max=MAX_SEQUENCE)
    return _int_ok(a + b)


def _mul(a: Any, b: Any) -> Any:
    seq, n = (a, b) if isinstance(a, str | list | tuple) else (b, a)
    if isinstance(seq, str | list | tuple) and isinstance(n, int):
        if n > 0 and (_weight(seq, MAX_REPEAT) - (0 if isinstance(seq, str) else 1)) * n > MAX_REPEAT:
            raise _err(_M_RESULT_TOO_LARGE, max=MAX_REPEAT)
        return a * b
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise _err(_M_INT_TOO_LARGE)
    return _int_ok(a * b)


def _pow(a: Any, b: Any) -> Any:
    if isinstance(b, int | float | Decimal) and not isinstance(b, bool):
        if not -MAX_EXPONENT <= b <= MAX_EXPONENT:
            raise _err(_M_EXPONENT, max=MAX_EXPONENT)
        if (
            isinstance(a, int)
            and isinstance(b, int)
            and b > 0
            and (abs(a).bit_length() - 1) * b > MAX_INT_BITS
        ):
            raise _err(_M_INT_TOO_LARGE)
    return _int_ok(a**b)


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):
        raise _err(_M_PERCENT)
    return a % b


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a).bit_length() + b > MAX_INT_BITS + 1:
        raise _err(_M_INT_TOO_LARGE)
    return _int_ok(a << b)


def _checked(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def op(a: Any, b: Any) -> Any:
        return _int_ok(fn(a, b))

    return op


_BINOPS: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", _add),
    ast.Sub: ("-", _checked(operator.sub)),
    ast.Mult: ("*", _mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", _mod),
    ast.Pow: ("**", _pow),
    ast.LShift: ("<<", _lshift),
    ast.RShift: (">>", operator.rshift),
    ast.BitAnd: ("&", operator.and_),
    ast.BitOr: ("|", operator.or_),
    ast.BitXor: ("^", operator.xor),
}


def _contains(a: Any, b: Any) -> bool:
    return a in b


def _not_contains(a: Any, b: Any) -> bool:
    return a not in b


_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: _contains,
    ast.NotIn: _not_contains,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


def _cmp_error(op: type, a: Any, b: Any, pos: int | None) -> ExpressionError:
    if op in (ast.In, ast.NotIn):
        if isinstance(b, str):
            return _err(_M_MEMBERSHIP_STR, pos, type=_tn(a))
        return _err(_M_MEMBERSHIP, pos, type=_tn(b))
    return _err(_M_COMPARE, pos, left=_tn(a), right=_tn(b))


def _op_error(exc: Exception, sym: str, a: Any, b: Any, pos: int | None) -> ExpressionError:
    if isinstance(exc, ExpressionError):
        if exc.position is None:
            exc.position = pos
        return exc
    if isinstance(exc, ZeroDivisionError):
        return _err(_M_DIV_ZERO, pos)
    if isinstance(exc, TypeError):
        return _err(_M_OPERANDS, pos, op=sym, left=_tn(a), right=_tn(b))
    if isinstance(exc, OverflowError):
        return _err(_M_OVERFLOW, pos)
    if isinstance(exc, MemoryError):
        return _err(_M_RESULT_TOO_LARGE, pos, max=MAX_SEQUENCE)
    return _err(_M_BAD_OPERATION, pos, op=sym, error=str(exc) or type(exc).__name__)


def _positioned(exc: BaseException, pos: int | None) -> ExpressionError:
    if isinstance(exc, ExpressionError):
        if exc.position is None:
            exc.position = pos
        return exc
    if isinstance(exc, ZeroDivisionError):
        return _err(_M_DIV_ZERO, pos)
    if isinstance(exc, OverflowError):
        return _err(_M_OVERFLOW, pos)
    if isinstance(exc, RecursionError | MemoryError):
        return _err(_M_TOO_MUCH_WORK, pos)
    return _err(_M_FAILED, pos, error=str(exc) or type(exc).__name__)


# --- helpers available to every expression --------------------------------------------------------

_ISO_DURATION = re.compile(
    r"(?P<sign>[-+])?P(?!$)"
    r"(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?",
    re.IGNORECASE,
)


def parse_duration(text: str) -> dt.timedelta:
    """An ISO 8601 duration (``PT2H``, ``P3D``, ``P1W``, ``P1DT12H``, ``PT0.5S``, ``-P1D``) as a
    timedelta. Years and months have no fixed length and are refused unless zero."""
    if not isinstance(text, str):
        raise TypeError(f"expected an ISO 8601 text such as 'PT2H', not {_tn(text)}")
    m = _ISO_DURATION.fullmatch(text.strip())
    if m is None or text.strip().upper().endswith("T"):
        raise _err(_M_DURATION, value=repr(text)[:40])
    parts = {k: float(v.replace(",", ".")) for k, v in m.groupdict().items() if v and k != "sign"}
    if parts.get("years") or parts.get("months"):
        raise _err(_M_DURATION_MONTHS, value=repr(text)[:40])
    try:
        value = dt.timedelta(
            weeks=parts.get("weeks", 0),
            days=parts.get("days", 0),
            hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0),
            seconds=parts.get("seconds", 0),
        )
    except OverflowError:
        raise _err(_M_OVERFLOW) from None
    return -value if m.group("sign") == "-" else value


def _tz() -> dt.tzinfo:
    return timezone.get_default_timezone()


def _h_date(c: _Ctx, year: Any, month: Any = None, day: Any = None) -> dt.date:
    if isinstance(year, str) and month is None and day is None:
        try:
            return dt.date.fromisoformat(year.strip())
        except ValueError:
            raise _err(_M_DATE, value=repr(year)[:40]) from None
    if month is None or day is None:
        raise TypeError("expected date(year, month, day) or date('YYYY-MM-DD')")
    return dt.date(year, month, day)


def _h_datetime(
    c: _Ctx, year: Any, month: Any = None, day: Any = None, h: Any = 0, mi: Any = 0
) -> dt.datetime:
    if isinstance(year, str) and month is None and day is None:
        try:
            value = dt.datetime.fromisoformat(year.strip())
        except ValueError:
            raise _err(_M_DATE, value=repr(year)[:40]) from None
        return value if value.tzinfo is not None else value.replace(tzinfo=_tz())
    if month is None or day is None:
        raise TypeError("expected datetime(year, month, day, h=0, mi=0) or datetime('ISO text')")
    return dt.datetime(year, month, day, h, mi, tzinfo=_tz())


def _h_today(c: _Ctx) -> dt.date:
    return timezone.localtime(timezone.now(), _tz()).date()


def _h_now(c: _Ctx) -> dt.datetime:
    return timezone.localtime(timezone.now(), _tz())


def _number(value: Any) -> float | int:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, not {_tn(value)}")
    return value


def _h_days(c: _Ctx, n: Any) -> dt.timedelta:
    return dt.timedelta(days=_number(n))


def _h_hours(c: _Ctx, n: Any) -> dt.timedelta:
    return dt.timedelta(hours=_number(n))


def _h_minutes(c: _Ctx, n: Any) -> dt.timedelta:
    return dt.timedelta(minutes=_number(n))


def _h_duration(c: _Ctx, text: Any) -> dt.timedelta:
    return parse_duration(text)


def _user_of(c: _Ctx, who: Any) -> Any:
    """The user account behind a username, a Staff or a user; None when there is none."""
    if isinstance(who, Staff):
        return who.user
    if isinstance(who, AbstractBaseUser):
        return who
    if not isinstance(who, str) or not who:
        return None
    if c.memo is None:
        c.memo = {}
    key = ("user", who)
    if key not in c.memo:
        c.memo[key] = get_user_model().objects.filter(username=who).first()
    return c.memo[key]


def _h_has_role(c: _Ctx, user: Any, code: Any) -> bool:
    if not isinstance(code, str):
        raise TypeError(f"the role code must be a string, not {_tn(code)}")
    account = _user_of(c, user)
    return account is not None and policy.has_role(account, code)


def _h_in_department(c: _Ctx, user: Any, code: Any) -> bool:
    """True when the person's department is ``code`` or lies below it."""
    if not isinstance(code, str):
        raise TypeError(f"the department code must be a string, not {_tn(code)}")
    account = _user_of(c, user)
    if account is None or not account.is_active:
        return False
    principal = policy.principal_of(account)
    staff = principal.staff if principal is not None else None
    if staff is None or not staff.is_active:
        return False
    if c.memo is None:
        c.memo = {}
    key = ("chain", staff.department_id)
    if key not in c.memo:
        c.memo[key] = {d.code for d in department_chain(staff.department)}
    return code in c.memo[key]


def _h_is_empty(c: _Ctx, value: Any) -> bool:
    """JUEL ``empty``: None, or an empty string / list / dict / set."""
    if value is None:
        return True
    if isinstance(value, str | list | tuple | dict | set | frozenset | range):
        return len(value) == 0
    return False


def _h_len(c: _Ctx, value: Any) -> int:
    return len(value)


def _h_min(c: _Ctx, *args: Any, **kwargs: Any) -> Any:
    if set(kwargs) - {"default"}:
        raise TypeError("only the keyword 'default' is accepted")
    if len(args) == 1:
        return min(_items(c, args[0]), **kwargs)
    return min(*args, **kwargs)


def _h_max(c: _Ctx, *args: Any, **kwargs: Any) -> Any:
    if set(kwargs) - {"default"}:
        raise TypeError("only the keyword 'default' is accepted")
    if len(args) == 1:
        return max(_items(c, args[0]), **kwargs)
    return max(*args, **kwargs)


def _h_sum(c: _Ctx, values: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float | Decimal | dt.timedelta):
        raise TypeError("only numbers or durations can be added")
    items = _items(c, values)
    for v in items:
        if not isinstance(v, int | float | Decimal | dt.timedelta):
            raise TypeError(f"only numbers or durations can be added, not {_tn(v)}")
    return _int_ok(sum(items, start))


def _h_abs(c: _Ctx, value: Any) -> Any:
    return abs(value)


def _h_round(c: _Ctx, value: Any, ndigits: Any = None) -> Any:
    if not isinstance(value, int | float | Decimal):
        raise TypeError(f"expected a number, not {_tn(value)}")
    if ndigits is not None and not isinstance(ndigits, int):
        raise TypeError("ndigits must be an integer")
    return _int_ok(round(value) if ndigits is None else round(value, ndigits))


def _h_any(c: _Ctx, values: Any) -> bool:
    return any(_items(c, values))


def _h_all(c: _Ctx, values: Any) -> bool:
    return all(_items(c, values))


def _h_int(c: _Ctx, value: Any, base: Any = None) -> int:
    if not isinstance(value, str | int | float | Decimal | bool):
        raise TypeError(f"cannot convert {_tn(value)} to int")
    if isinstance(value, str) and len(value) > 120:
        raise _err(_M_INT_TOO_LARGE)
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > 100:
        raise _err(_M_INT_TOO_LARGE)
    if base is None:
        return int(_int_ok(int(value)))
    if not isinstance(value, str) or not isinstance(base, int):
        raise TypeError("int() with a base converts a string only")
    return int(_int_ok(int(value, base)))


def _h_float(c: _Ctx, value: Any) -> float:
    if not isinstance(value, str | int | float | Decimal | bool):
        raise TypeError(f"cannot convert {_tn(value)} to float")
    return float(value)


def _h_str(c: _Ctx, value: Any = "") -> str:
    if (
        isinstance(value, list | tuple | set | frozenset | dict)
        and _weight(value, MAX_SEQUENCE) > MAX_SEQUENCE
    ):
        raise _err(_M_RESULT_TOO_LARGE, max=MAX_SEQUENCE)
    text = str(value)
    _charge(c, len(text) // CHARS_PER_UNIT)
    return text


def _h_bool(c: _Ctx, value: Any = False) -> bool:
    return bool(value)


def _h_sorted(c: _Ctx, values: Any, *, reverse: Any = False) -> list[Any]:
    return sorted(_items(c, values), reverse=bool(reverse))


def _h_range(c: _Ctx, *args: Any) -> range:
    for a in args:
        if not isinstance(a, int):
            raise TypeError(f"expected integers, not {_tn(a)}")
    r = range(*args)
    if len(r) > MAX_ITERATION:
        raise _err(_M_TOO_MANY_ITEMS, max=MAX_ITERATION)
    return r


def _h_list(c: _Ctx, values: Any = ()) -> list[Any]:
    return list(_items(c, values))


def _h_tuple(c: _Ctx, values: Any = ()) -> tuple[Any, ...]:
    return tuple(_items(c, values))


def _h_set(c: _Ctx, values: Any = ()) -> set[Any]:
    return set(_items(c, values))


# name → (implementation taking the context first, uses the database)
BUILTIN_FUNCTIONS: dict[str, tuple[Callable[..., Any], bool]] = {
    "len": (_h_len, False),
    "min": (_h_min, False),
    "max": (_h_max, False),
    "sum": (_h_sum, False),
    "abs": (_h_abs, False),
    "round": (_h_round, False),
    "any": (_h_any, False),
    "all": (_h_all, False),
    "int": (_h_int, False),
    "float": (_h_float, False),
    "str": (_h_str, False),
    "bool": (_h_bool, False),
    "sorted": (_h_sorted, False),
    "range": (_h_range, False),
    "list": (_h_list, False),
    "tuple": (_h_tuple, False),
    "set": (_h_set, False),
    "date": (_h_date, False),
    "datetime": (_h_datetime, False),
    "today": (_h_today, False),
    "now": (_h_now, False),
    "days": (_h_days, False),
    "hours": (_h_hours, False),
    "minutes": (_h_minutes, False),
    "duration": (_h_duration, False),
    "is_empty": (_h_is_empty, False),
    "has_role": (_h_has_role, True),
    "in_department": (_h_in_department, True),
}

_PREFIX_RE = re.compile(r"^_?h?_?\w*\(\) ")


def _call_error(exc: Exception, name: str, pos: int | None) -> ExpressionError:
    if isinstance(exc, ExpressionError):
        if exc.position is None:
            exc.position = pos
        return exc
    if isinstance(exc, ZeroDivisionError):
        return _err(_M_DIV_ZERO, pos)
    if isinstance(exc, OverflowError):
        return _err(_M_OVERFLOW, pos)
    if isinstance(exc, TypeError | ValueError):
        return _err(_M_BAD_CALL, pos, name=name, error=_PREFIX_RE.sub("", str(exc)) or type(exc).__name__)
    return _err(_M_FUNCTION_FAILED, pos, name=name, error=str(exc) or type(exc).__name__)


# --- compilation to closures ----------------------------------------------------------------------

_Fn = Callable[[_Ctx], Any]


def _static_cost(node: ast.AST) -> int:
    return sum(1 for n in ast.walk(node) if _countable(n))


class _Compiler:
    def __init__(self, tr: _Translation) -> None:
        self.tr = tr

    def pos(self, node: ast.AST) -> int | None:
        return self.tr.node_offset(node)

    def compile(self, node: ast.AST) -> _Fn:
        method = getattr(self, "c_" + type(node).__name__, None)
        if method is None:  # the checker refuses these first
            raise _err(_M_CONSTRUCT, self.pos(node), what=type(node).__name__)
        fn: _Fn = method(node)
        return fn

    def c_Constant(self, node: ast.Constant) -> _Fn:
        value = node.value
        return lambda c: value

    def c_Name(self, node: ast.Name) -> _Fn:
        name = node.id
        if name in _CONSTANT_NAMES:
            value = _CONSTANT_NAMES[name]
            return lambda c: value
        pos = self.pos(node)

        def load(c: _Ctx) -> Any:
            try:
                return c.vars[name]
            except KeyError:
                raise _err(_M_NAME_UNDEFINED, pos, name=name) from None

        return load

    def c_BoolOp(self, node: ast.BoolOp) -> _Fn:
        fns = [self.compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            if len(fns) == 2:
                a, b = fns

                def and2(c: _Ctx) -> Any:
                    v = a(c)
                    if not v:
                        return v
                    return b(c)

                return and2

            def and_(c: _Ctx) -> Any:
                v = None
                for f in fns:
                    v = f(c)
                    if not v:
                        return v
                return v

            return and_
        if len(fns) == 2:
            a, b = fns

            def or2(c: _Ctx) -> Any:
                v = a(c)
                if v:
                    return v
                return b(c)

            return or2

        def or_(c: _Ctx) -> Any:
            v = None
            for f in fns:
                v = f(c)
                if v:
                    return v
            return v

        return or_

    def c_UnaryOp(self, node: ast.UnaryOp) -> _Fn:
        f = self.compile(node.operand)
        pos = self.pos(node)
        if isinstance(node.op, ast.Not):
            return lambda c: not f(c)
        table: dict[type, tuple[str, Callable[[Any], Any]]] = {
            ast.USub: ("-", operator.neg),
            ast.UAdd: ("+", operator.pos),
            ast.Invert: ("~", operator.invert),
        }
        sym, fn = table[type(node.op)]

        def unary(c: _Ctx) -> Any:
            v = f(c)
            try:
                return fn(v)
            except TypeError:
                raise _err(_M_UNARY, pos, op=sym, type=_tn(v)) from None
            except Exception as exc:
                raise _positioned(exc, pos) from None

        return unary

    def c_BinOp(self, node: ast.BinOp) -> _Fn:
        left, right = self.compile(node.left), self.compile(node.right)
        sym, fn = _BINOPS[type(node.op)]
        pos = self.pos(node)

        def binop(c: _Ctx) -> Any:
            a = left(c)
            b = right(c)
            try:
                result = fn(a, b)
            except Exception as exc:
                raise _op_error(exc, sym, a, b, pos) from None
            if type(result) in _CONTAINERS:
                _charge_size(c, result, pos)
            return result

        return binop

    def c_Compare(self, node: ast.Compare) -> _Fn:
        left = self.compile(node.left)
        pos = self.pos(node)
        ops = [(type(op), _CMPOPS[type(op)]) for op in node.ops]
        rights = [self.compile(r) for r in node.comparators]
        if len(ops) == 1:
            (kind, fn), right = ops[0], rights[0]

            def compare1(c: _Ctx) -> Any:
                a = left(c)
                b = right(c)
                try:
                    return fn(a, b)
                except TypeError:
                    raise _cmp_error(kind, a, b, pos) from None
                except Exception as exc:
                    raise _positioned(exc, pos) from None

            return compare1

        pairs = list(zip(ops, rights, strict=True))

        def compare(c: _Ctx) -> Any:
            a = left(c)
            result: Any = True
            for (kind, fn), right in pairs:
                b = right(c)
                try:
                    result = fn(a, b)
                except TypeError:
                    raise _cmp_error(kind, a, b, pos) from None
                except Exception as exc:
                    raise _positioned(exc, pos) from None
                if not result:
                    return result
                a = b
            return result

        return compare

    def c_IfExp(self, node: ast.IfExp) -> _Fn:
        test, body, orelse = self.compile(node.test), self.compile(node.body), self.compile(node.orelse)
        return lambda c: body(c) if test(c) else orelse(c)

    def c_Subscript(self, node: ast.Subscript) -> _Fn:
        value = self.compile(node.value)
        index = self.compile(node.slice)
        pos = self.pos(node)

        def subscript(c: _Ctx) -> Any:
            v = value(c)
            i = index(c)
            if not isinstance(v, _INDEXABLE):
                raise _err(_M_NOT_INDEXABLE, pos, type=_tn(v))
            try:
                result = v[i]
            except KeyError:
                raise _err(_M_KEY, pos, key=repr(i)[:60]) from None
            except IndexError:
                raise _err(_M_INDEX, pos) from None
            except TypeError:
                if isinstance(v, Mapping):
                    raise _err(_M_UNHASHABLE, pos, type=_tn(i)) from None
                raise _err(_M_OPERANDS, pos, op="[]", left=_tn(v), right=_tn(i)) from None
            except Exception as exc:
                raise _positioned(exc, pos) from None
            if isinstance(i, slice) and isinstance(result, list | tuple | str):
                _charge(c, len(result))
            return result

        return subscript

    def c_Slice(self, node: ast.Slice) -> _Fn:
        parts = [self.compile(p) if p is not None else None for p in (node.lower, node.upper, node.step)]
        lo, hi, st = parts
        return lambda c: slice(lo(c) if lo else None, hi(c) if hi else None, st(c) if st else None)

    def c_List(self, node: ast.List) -> _Fn:
        fns = [self.compile(e) for e in node.elts]
        return lambda c: [f(c) for f in fns]

    def c_Tuple(self, node: ast.Tuple) -> _Fn:
        fns = [self.compile(e) for e in node.elts]
        return lambda c: tuple([f(c) for f in fns])

    def c_Set(self, node: ast.Set) -> _Fn:
        fns = [self.compile(e) for e in node.elts]
        pos = self.pos(node)

        def make_set(c: _Ctx) -> Any:
            items = [f(c) for f in fns]
            try:
                return set(items)
            except TypeError:
                bad = next((i for i in items if not _hashable(i)), None)
                raise _err(_M_UNHASHABLE, pos, type=_tn(bad)) from None

        return make_set

    def c_Dict(self, node: ast.Dict) -> _Fn:
        pairs = [(self.compile(k), self.compile(v)) for k, v in zip(node.keys, node.values, strict=True) if k]
        pos = self.pos(node)

        def make_dict(c: _Ctx) -> Any:
            out = {}
            for kf, vf in pairs:
                k = kf(c)
                v = vf(c)
                try:
                    out[k] = v
                except TypeError:
                    raise _err(_M_UNHASHABLE, pos, type=_tn(k)) from None
            return out

        return make_dict

    def c_Attribute(self, node: ast.Attribute) -> _Fn:
        value = self.compile(node.value)
        name = node.attr
        pos = self.pos(node)
        prop = _VALUE_ATTRIBUTES.get(name)

        def attribute(c: _Ctx) -> Any:
            v = value(c)
            if isinstance(v, dict):
                try:
                    return v[name]
                except KeyError:
                    raise _err(_M_KEY, pos, key=repr(name)) from None
            if prop is not None and isinstance(v, prop[0]):
                return prop[1](v)
            if name in _METHODS and isinstance(v, _METHODS[name][0]):
                raise _err(_M_METHOD_VALUE, pos, name=name)
            raise _err(_M_ATTR, pos, name=name)

        return attribute

    def c_Call(self, node: ast.Call) -> _Fn:
        pos = self.pos(node)
        args = [self.compile(a) for a in node.args]
        kwargs: list[tuple[str, _Fn]] = [
            (kw.arg, self.compile(kw.value)) for kw in node.keywords if kw.arg is not None
        ]
        if isinstance(node.func, ast.Attribute):
            return self._method(node.func, args, kwargs, pos)
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        builtin = BUILTIN_FUNCTIONS.get(name)

        def call(c: _Ctx) -> Any:
            external = c.funcs.get(name) if c.funcs else None
            a = [f(c) for f in args]
            kw = {k: f(c) for k, f in kwargs}
            if external is not None:
                started = time.monotonic()
                try:
                    return external(*a, **kw)
                except DatabaseError:
                    raise
                except Exception as exc:
                    raise _call_error(exc, name, pos) from exc
                finally:
                    c.deadline += time.monotonic() - started
            if builtin is None:
                raise _err(_M_UNKNOWN_FUNCTION, pos, name=name)
            fn, uses_db = builtin
            started = time.monotonic() if uses_db else 0.0
            try:
                return fn(c, *a, **kw)
            except DatabaseError:
                raise
            except Exception as exc:
                raise _call_error(exc, name, pos) from None
            finally:
                if uses_db:
                    c.deadline += time.monotonic() - started

        return call

    def _method(
        self, func: ast.Attribute, args: list[_Fn], kwargs: list[tuple[str, _Fn]], pos: int | None
    ) -> _Fn:
        target = self.compile(func.value)
        name = func.attr
        types, impl = _METHODS[name]

        def method(c: _Ctx) -> Any:
            obj = target(c)
            if not isinstance(obj, types):
                raise _err(_M_ATTR, pos, name=name)
            a = [f(c) for f in args]
            kw = {k: f(c) for k, f in kwargs}
            try:
                result = impl(obj, *a, **kw)
            except Exception as exc:
                raise _call_error(exc, name, pos) from None
            if type(result) is str:
                _charge_size(c, result, pos)
            return result

        return method

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> tuple[Callable[[_Ctx, Callable[[], None]], None], int]:
        """A driver that runs ``emit`` once per combination of the generators, with the loop
        variables bound in ``c.vars``; and the static cost of one iteration."""
        pos = self.pos(node)
        gens = []
        for gen in node.generators:
            gens.append(
                (
                    self.compile(gen.iter),
                    _binder(gen.target, pos),
                    [self.compile(cond) for cond in gen.ifs],
                )
            )
        body_nodes: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        cost = (
            sum(_static_cost(n) for n in body_nodes)
            + sum(_static_cost(cond) for gen in node.generators for cond in gen.ifs)
            + 1
        )

        def drive(c: _Ctx, emit: Callable[[], None]) -> None:
            saved = c.vars
            scope = dict(saved)
            _charge(c, len(scope))
            c.vars = scope

            def level(i: int) -> None:
                iter_fn, bind, conds = gens[i]
                try:
                    source = _items(c, iter_fn(c))
                except ExpressionError as exc:
                    raise _positioned(exc, pos) from None
                for item in source:
                    _step(c, cost)
                    bind(scope, item)
                    if all(cond(c) for cond in conds):
                        if i + 1 < len(gens):
                            level(i + 1)
                        else:
                            emit()

            try:
                level(0)
            except ExpressionError as exc:
                raise _positioned(exc, pos) from None
            finally:
                c.vars = saved

        return drive, cost

    def c_ListComp(self, node: ast.ListComp) -> _Fn:
        drive, _ = self._comprehension(node)
        elt = self.compile(node.elt)

        def listcomp(c: _Ctx) -> Any:
            out: list[Any] = []
            drive(c, lambda: out.append(elt(c)))
            _charge(c, len(out))
            return out

        return listcomp

    c_GeneratorExp = c_ListComp  # evaluated eagerly, as a list

    def c_SetComp(self, node: ast.SetComp) -> _Fn:
        drive, _ = self._comprehension(node)
        elt = self.compile(node.elt)
        pos = self.pos(node)

        def setcomp(c: _Ctx) -> Any:
            out: set[Any] = set()

            def emit() -> None:
                v = elt(c)
                try:
                    out.add(v)
                except TypeError:
                    raise _err(_M_UNHASHABLE, pos, type=_tn(v)) from None

            drive(c, emit)
            _charge(c, len(out))
            return out

        return setcomp

    def c_DictComp(self, node: ast.DictComp) -> _Fn:
        drive, _ = self._comprehension(node)
        key, value = self.compile(node.key), self.compile(node.value)
        pos = self.pos(node)

        def dictcomp(c: _Ctx) -> Any:
            out: dict[Any, Any] = {}

            def emit() -> None:
                k = key(c)
                v = value(c)
                try:
                    out[k] = v
                except TypeError:
                    raise _err(_M_UNHASHABLE, pos, type=_tn(k)) from None

            drive(c, emit)
            _charge(c, len(out))
            return out

        return dictcomp


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _binder(target: ast.AST, pos: int | None) -> Callable[[dict[str, Any], Any], None]:
    if isinstance(target, ast.Name):
        name = target.id

        def bind_name(scope: dict[str, Any], item: Any) -> None:
            scope[name] = item

        return bind_name
    assert isinstance(target, ast.Tuple | ast.List)
    subs = [_binder(e, pos) for e in target.elts]
    count = len(subs)

    def bind_tuple(scope: dict[str, Any], item: Any) -> None:
        if not isinstance(item, list | tuple) or len(item) != count:
            raise _err(_M_UNPACK, pos, type=_tn(item), count=count)
        for sub, v in zip(subs, item, strict=True):
            sub(scope, v)

    return bind_tuple


# --- public API -----------------------------------------------------------------------------------


class Expression:
    """A parsed, checked and compiled expression (immutable, shareable between threads)."""

    __slots__ = ("_root", "called_functions", "free_names", "node_count", "python", "source")

    def __init__(
        self,
        source: str,
        python: str,
        root: _Fn,
        names: frozenset[str],
        called: frozenset[str],
        node_count: int,
    ) -> None:
        self.source = source
        self.python = python  # the text after Camunda/JUEL translation
        self._root = root
        self.free_names = names  # variables the expression reads
        self.called_functions = called  # function names it calls
        self.node_count = node_count

    def __repr__(self) -> str:
        return f"<Expression {self.source!r}>"

    def evaluate(
        self,
        variables: Mapping[str, Any] | None = None,
        *,
        functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> Any:
        if variables is None:
            variables = {}
        elif not isinstance(variables, Mapping):
            raise ExpressionError(_M_VARIABLES)
        c = _Ctx(variables, functions)
        try:
            result = self._root(c)
        except ExpressionError as exc:
            exc.locate(self.source)
            raise
        except DatabaseError:
            raise
        except RecursionError:
            raise ExpressionError(_M_TOO_DEEP, {"max": MAX_DEPTH}, position=0, source=self.source) from None
        except MemoryError:
            raise ExpressionError(_M_TOO_MUCH_WORK, position=0, source=self.source) from None
        except Exception as exc:  # a safety net: every failure of an expression is an ExpressionError
            raise ExpressionError(
                _M_FAILED, {"error": str(exc) or type(exc).__name__}, position=0, source=self.source
            ) from exc
        # No deadline check here: a result that was computed is never thrown away (the deadline
        # stops loops and large work while they run, see _step and _charge).
        return result


def _syntax(
    source: str, functions: Collection[str] | None
) -> tuple[_Translation, ast.Expression, _Checker, int]:
    """Translate, parse, measure and check; raises ExpressionError for the source as a whole
    (length, syntax, size) and leaves whitelist violations in the checker."""
    if not isinstance(source, str):
        raise ExpressionError(_M_NOT_STRING)
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(_M_TOO_LONG, {"max": MAX_SOURCE_LENGTH})
    if "\0" in source:
        raise ExpressionError(_M_NULL, position=source.index("\0"), source=source)
    try:
        tr = _translate(source)
    except ExpressionError as exc:
        raise exc.locate(source) from None
    try:
        tree = ast.parse(tr.python, filename=_FILENAME, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, tr).locate(source) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError(_M_TOO_MANY_NODES, {"max": MAX_AST_NODES}, position=0, source=source) from None
    try:
        count = _measure(tree, tr)
    except ExpressionError as exc:
        raise exc.locate(source) from None
    checker = _Checker(tr, functions)
    checker.visit(tree.body, frozenset())
    checker.errors.sort(key=lambda e: len(source) if e.position is None else e.position)
    for err in checker.errors:
        err.locate(source)
    return tr, tree, checker, count


# The compiler warns about odd literals (``1if x``, ``'\\ '``) in what it parses: not for the log.
_FILENAME = "<medoa-expression>"
warnings.filterwarnings("ignore", category=SyntaxWarning, module=re.escape(_FILENAME))
warnings.filterwarnings("ignore", category=DeprecationWarning, module=re.escape(_FILENAME))

_DETECTED_RE = re.compile(r"\s*\(detected at line \d+\)")


def _syntax_error(exc: SyntaxError, tr: _Translation) -> ExpressionError:
    msg = _DETECTED_RE.sub("", exc.msg or "invalid syntax")
    if exc.lineno is None or exc.offset is None:
        return ExpressionError(msg)
    offset = len(tr.python) if exc.offset < 1 else tr.python_offset(exc.lineno, exc.offset - 1, utf8=False)
    return ExpressionError(msg, position=tr.original_offset(offset))


@functools.lru_cache(maxsize=2048)
def _parse_cached(source: str) -> Expression:
    tr, tree, checker, count = _syntax(source, None)
    if checker.errors:
        raise checker.errors[0]
    try:
        root = _Compiler(tr).compile(tree.body)
    except ExpressionError as exc:
        raise exc.locate(source) from None
    return Expression(source, tr.python, root, frozenset(checker.names), frozenset(checker.called), count)


def parse(source: str | Expression) -> Expression:
    """Check and compile ``source`` (cached by source text); raises :class:`ExpressionError`."""
    if isinstance(source, Expression):
        return source
    if not isinstance(source, str):
        raise ExpressionError(_M_NOT_STRING)
    return _parse_cached(source)


def evaluate(
    source: str | Expression,
    variables: Mapping[str, Any] | None = None,
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> Any:
    """Evaluate ``source`` with ``variables``; ``functions`` adds callables (and may override a
    helper). Raises :class:`ExpressionError` for every failure of the expression itself."""
    expr = source if isinstance(source, Expression) else parse(source)
    return expr.evaluate(variables, functions=functions)


def free_names(source: str | Expression) -> set[str]:
    """The variable names ``source`` reads (not loop variables, constants or function names)."""
    return set(parse(source).free_names)


def check(source: str, *, functions: Collection[str] | None = None) -> list[ExpressionError]:
    """Every problem of ``source`` for deploy-time validation (an empty list means fine).

    Variables are supplied at run time, so free names are not problems; function names must be
    helpers or listed in ``functions``."""
    try:
        _tr, _tree, checker, _count = _syntax(source, tuple(functions or ()))
    except ExpressionError as exc:
        return [exc]
    return checker.errors
