"""The safe expression language: semantics, Camunda/JUEL forms, positions, bounds and escapes."""

from __future__ import annotations

import datetime as dt
import pickle
import time
import timeit
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from django.utils.translation import override

from medoa.engines.rules import expressions
from medoa.engines.rules.expressions import (
    Expression,
    ExpressionError,
    check,
    evaluate,
    free_names,
    parse,
    parse_duration,
)


def error_of(source: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        evaluate(source, variables or {}, **kwargs)
    return info.value


# --- semantics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("-(3)", -3),
        ("+3", 3),
        ("~5", -6),
        ("6 & 3", 2),
        ("6 | 3", 7),
        ("6 ^ 3", 5),
        ("1 << 4", 16),
        ("256 >> 4", 16),
        ("'ab' + 'cd'", "abcd"),
        ("[1] + [2]", [1, 2]),
        ("'ab' * 3", "ababab"),
        ("3 * [0]", [0, 0, 0]),
        ("abs(-3)", 3),
        ("round(2.5)", 2),
        ("round(1.2345, 2)", 1.23),
        ("min(3, 1, 2)", 1),
        ("max([3, 1, 2])", 3),
        ("max([], default=0)", 0),
        ("sum([1, 2, 3])", 6),
        ("sum([1.5, 2], 1)", 4.5),
        ("len('abc')", 3),
        ("int('42') + int(2.9)", 44),
        ("int('ff', 16)", 255),
        ("float('1.5')", 1.5),
        ("str(12)", "12"),
        ("str([1, 'a'])", "[1, 'a']"),
        ("bool(0)", False),
        ("sorted([3, 1, 2])", [1, 2, 3]),
        ("sorted([3, 1, 2], reverse=True)", [3, 2, 1]),
        ("any([0, 1])", True),
        ("all([1, 0])", False),
        ("list(range(3))", [0, 1, 2]),
        ("tuple([1, 2])", (1, 2)),
        ("set([1, 1])", {1}),
        ("1 < 2 < 3", True),
        ("3 > 2 > 2", False),
        ("1 == 1.0 != 2", True),
        ("'a' in ['a', 'b']", True),
        ("'c' not in 'abc'", False),
        ("'b' in {'a': 1, 'b': 2}", True),
        ("None is None", True),
        ("1 is not None", True),
        ("not 0", True),
        ("0 or 'x'", "x"),
        ("1 and 'x'", "x"),
        ("0 and 'x'", 0),
        ("1 or 2 or 3", 1),
        ("0 or '' or 3", 3),
        ("1 and 2 and 0", 0),
        ("'big' if 150 > 100 else 'small'", "big"),
        ("'big' if 50 > 100 else 'small'", "small"),
        ("[1, 2, 3][-1]", 3),
        ("[1, 2, 3, 4][::2]", [1, 3]),
        ("'hello'[1:3]", "el"),
        ("(1, 2)", (1, 2)),
        ("{'a': 1}", {"a": 1}),
        ("{1, 2}", {1, 2}),
        ("true and not false", True),
        ("null", None),
        ("True and None is None", True),
        ("'Abc'.lower()", "abc"),
        ("'abc'.upper()", "ABC"),
        ("'  x '.strip()", "x"),
        ("'abc'.startswith('ab')", True),
        ("'abc'.endswith(('x', 'c'))", True),
        ("{'a': 1}.get('b', 5)", 5),
        ("sorted({'b': 1, 'a': 2}.keys())", ["a", "b"]),
        ("sorted({'b': 1, 'a': 2}.values())", [1, 2]),
        ("[k + str(v) for k, v in {'a': 1}.items()]", ["a1"]),
        ("[x * 2 for x in [1, 2, 3] if x != 2]", [2, 6]),
        ("{x % 2 for x in range(5)}", {0, 1}),
        ("{k: k * k for k in [1, 2]}", {1: 1, 2: 4}),
        ("sum(x for x in range(5))", 10),
        ("any(x > 3 for x in [1, 5])", True),
        ("[(a, b) for a in [1, 2] for b in 'xy' if a == 1]", [(1, "x"), (1, "y")]),
        ("[a + b for (a, b) in [(1, 2), [3, 4]]]", [3, 7]),
        ("[[y for y in range(x)] for x in range(3)]", [[], [0], [0, 1]]),
        ("is_empty('') and is_empty([]) and is_empty(None) and not is_empty(0)", True),
        ("1 # a comment", 1),
        ("1\u3000+\t2", 3),  # a full-width space (Chinese input methods) and a tab
        ("'a\u3000b'", "a\u3000b"),  # …but never inside a string
        ("1 \\\n + 2", 3),  # a line continuation
        ('"""a\nb"""', "a\nb"),
        ("${ '}' }", "}"),
        ("#{ {'a': 1}['a'] }", 1),
    ],
)
def test_semantics(source: str, expected: Any) -> None:
    result = evaluate(source, {})
    assert result == expected
    assert type(result) is type(expected)


def test_variables_and_short_circuit() -> None:
    variables = {"approved": True, "days": 5, "order": {"amount": 150, "lines": [{"qty": 2}]}}
    assert evaluate("approved and days > 3", variables) is True
    assert evaluate("approved and days > 30", variables) is False
    assert evaluate("order['lines'][0]['qty'] * 10", variables) == 20
    assert evaluate("order.amount > 100", variables) is True  # JUEL-style key access on a dict
    assert evaluate("order.lines[0].qty", variables) == 2
    # the right side is never evaluated, so the unknown name is no error
    assert evaluate("False and missing", {}) is False
    assert evaluate("True or missing", {}) is True
    assert evaluate("missing if False else 1", {}) == 1


def test_loop_variables_shadow_and_do_not_leak() -> None:
    assert evaluate("[x for x in [1, 2]] + [x]", {"x": 9}) == [1, 2, 9]
    assert free_names("[x for x in xs] + [x]") == {"xs", "x"}


def test_huge_numbers_from_variables_are_refused_cheaply() -> None:
    huge = 10**5000
    for source in ("x * x", "x ** 2", "x << 1", "int(d)"):
        started = time.monotonic()
        err = error_of(source, {"x": huge, "d": Decimal("1e999999")})
        assert err.message == "number too large (at most 10**100)"
        assert time.monotonic() - started < 0.1


def test_numbers_keep_their_types() -> None:
    assert evaluate("amount * 2", {"amount": Decimal("1.5")}) == Decimal("3.0")
    assert evaluate("nr_approved / nr_instances >= 2/3", {"nr_approved": 2, "nr_instances": 3}) is True
    assert evaluate("nr_approved / nr_instances >= 2/3", {"nr_approved": 1, "nr_instances": 3}) is False


def test_variables_may_be_any_mapping_or_none() -> None:
    class Vars(dict):  # type: ignore[type-arg]
        pass

    assert evaluate("a + 1", Vars(a=1)) == 2
    assert evaluate("1 + 1", None) == 2
    assert error_of("1", [1]).message == "variables must be a mapping"  # type: ignore[arg-type]


# --- dates and durations --------------------------------------------------------------------------


def test_date_helpers() -> None:
    tz = timezone.get_default_timezone()
    assert evaluate("date(2024, 5, 1)", {}) == dt.date(2024, 5, 1)
    assert evaluate("date('2024-05-01')", {}) == dt.date(2024, 5, 1)
    value = evaluate("datetime(2024, 5, 1, 8, 30)", {})
    assert value == dt.datetime(2024, 5, 1, 8, 30, tzinfo=tz)
    assert value.tzinfo is tz
    assert evaluate("datetime(2024, 5, 1, h=8)", {}) == dt.datetime(2024, 5, 1, 8, 0, tzinfo=tz)
    assert evaluate("datetime('2024-05-01T08:30')", {}) == dt.datetime(2024, 5, 1, 8, 30, tzinfo=tz)
    assert evaluate("datetime('2024-05-01T08:30+00:00')", {}) == dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC)
    assert evaluate("today()", {}) == timezone.localtime(timezone.now(), tz).date()
    before = timezone.now()
    now = evaluate("now()", {})
    assert before <= now <= timezone.now()
    assert now.tzinfo is not None
    assert evaluate("date(2024, 5, 1) + days(30)", {}) == dt.date(2024, 5, 31)
    assert evaluate("(date(2024, 5, 31) - date(2024, 5, 1)).days", {}) == 30
    assert evaluate("days(1).total_seconds()", {}) == 86400.0
    assert evaluate("hours(1.5)", {}) == dt.timedelta(minutes=90)
    assert evaluate("minutes(30).seconds", {}) == 1800
    assert evaluate("d.year * 10000 + d.month * 100 + d.day", {"d": dt.date(2024, 5, 1)}) == 20240501
    assert evaluate("t.hour * 60 + t.minute + t.second", {"t": dt.datetime(2024, 1, 1, 8, 30, 5)}) == 515
    assert evaluate("date(2024, 5, 4).weekday() >= 5", {}) is True  # a Saturday
    started = timezone.now() - dt.timedelta(hours=3)
    assert evaluate("now() - started > hours(2)", {"started": started}) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT2H", dt.timedelta(hours=2)),
        ("P3D", dt.timedelta(days=3)),
        ("P1W", dt.timedelta(weeks=1)),
        ("P1DT12H", dt.timedelta(days=1, hours=12)),
        ("PT1H30M", dt.timedelta(hours=1, minutes=30)),
        ("PT0.5S", dt.timedelta(seconds=0.5)),
        ("PT1,5H", dt.timedelta(minutes=90)),
        ("P0Y0M2D", dt.timedelta(days=2)),
        ("-P1D", dt.timedelta(days=-1)),
        ("pt15m", dt.timedelta(minutes=15)),
    ],
)
def test_iso_durations(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected
    assert evaluate("duration(text)", {"text": text}) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P1M", "duration 'P1M' uses years or months, which have no fixed length"),
        ("P1Y", "duration 'P1Y' uses years or months, which have no fixed length"),
        ("2H", "invalid ISO 8601 duration '2H'"),
        ("P", "invalid ISO 8601 duration 'P'"),
        ("PT", "invalid ISO 8601 duration 'PT'"),
        ("P1DT", "invalid ISO 8601 duration 'P1DT'"),
        ("PT1H2D", "invalid ISO 8601 duration 'PT1H2D'"),
    ],
)
def test_bad_durations(text: str, message: str) -> None:
    err = error_of("duration(text)", {"text": text})
    assert err.message == message
    assert err.position == 0


def test_bad_dates() -> None:
    assert error_of("date('2024-13-01')").message == "invalid date '2024-13-01'"
    assert error_of("date(2024, 2, 30)").message == "date(): day is out of range for month"
    assert error_of("days('x')").message == "days(): expected a number, not str"
    err = error_of("date(2024, 1, 1) + days(10**9)")
    assert (err.message, err.position) == ("number out of range", 19)
    assert error_of("date(9999, 12, 31) + days(1)").message == "number out of range"
    assert error_of("date(2024, 1, 1) < now()").message == "cannot compare date and datetime"


# --- Camunda and JUEL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [
        ("${approved}", {"approved": True}, True),
        ("${ approved and days > 3 }", {"approved": True, "days": 5}, True),
        ("#{days > 3}", {"days": 1}, False),
        ("\n    ${approved\n      and days > 3}\n  ", {"approved": True, "days": 5}, True),
        ("${!approved}", {"approved": False}, True),
        ("!approved && days > 3", {"approved": False, "days": 5}, True),
        ("a || b", {"a": 0, "b": 2}, 2),
        ("a&&b||c", {"a": 1, "b": 0, "c": 3}, 3),
        ("!(a && b)", {"a": 1, "b": 0}, True),
        ("!a == b", {"a": True, "b": False}, True),  # JUEL: (!a) == b
        ("!!a", {"a": 1}, True),
        ("!x.ok", {"x": {"ok": False}}, True),
        ("!f(1)", {}, True),
        ("x eq 1", {"x": 1}, True),
        ("x ne 1", {"x": 1}, False),
        ("x lt 2 and x gt 0", {"x": 1}, True),
        ("x le 1 and x ge 1", {"x": 1}, True),
        ("10 div 4", {}, 2.5),
        ("10 mod 4", {}, 2),
        ("x eq -1", {"x": -1}, True),
        ("empty s", {"s": ""}, True),
        ("empty s", {"s": None}, True),
        ("empty s", {"s": []}, True),
        ("empty s", {"s": {}}, True),
        ("empty s", {"s": "x"}, False),
        ("not empty s", {"s": "x"}, True),
        ("!empty s", {"s": [1]}, True),
        ("empty order.lines", {"order": {"lines": []}}, True),
        ("empty s && true", {"s": ""}, True),
        ("${empty s || s == 'x'}", {"s": "x"}, True),
        # operator words stay variable names where they are not in an operator position
        ("empty == 1", {"empty": 1}, True),
        ("lt + 1", {"lt": 1}, 2),
        ("lt lt 3", {"lt": 1}, True),
        ("[eq for eq in [1]]", {}, [1]),
        ("d.empty and d.lt", {"d": {"empty": 1, "lt": 2}}, 2),  # after '.', a word is a key
        # string literals are never translated
        ("s == 'x && !y || a eq b'", {"s": "x && !y || a eq b"}, True),
        ('${s == "empty s"}', {"s": "empty s"}, True),
        ("null == None and true and !false", {}, True),
    ],
)
def test_camunda_and_juel(source: str, variables: dict[str, Any], expected: Any) -> None:
    assert evaluate(source, variables, functions={"f": lambda x: x - 1}) == expected


def test_juel_translation_is_visible_on_the_expression() -> None:
    expr = parse("${!approved && x eq 1 || empty s}")
    assert expr.python == "(not approved)  and  x  ==  1  or   is_empty( s)"
    assert expr.source == "${!approved && x eq 1 || empty s}"


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("${a} + ${b}", "a '${…}' or '#{…}' wrapper must enclose the whole expression", 0),
        ("  ${a", "a '${…}' or '#{…}' wrapper must enclose the whole expression", 2),
        ("${}", "expression is empty", 0),
        ("${   }", "expression is empty", 0),
        ("", "expression is empty", 0),
        ("   \n ", "expression is empty", 0),
        ("a ? 1 : 2", "the '?:' operator is not supported; write 'a if condition else b'", 2),
        ("${ x ? 1 : 2 }", "the '?:' operator is not supported; write 'a if condition else b'", 5),
    ],
)
def test_wrapper_and_juel_errors(source: str, message: str, position: int) -> None:
    err = error_of(source)
    assert (err.message, err.position) == (message, position)


# --- errors and positions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "position", "line", "column"),
    [
        ("1 +", "invalid syntax", 3, 1, 4),
        ("a b", "invalid syntax", 2, 1, 3),
        ("a and\n  b b", "invalid syntax", 10, 2, 5),
        ('"中文" +* 1', "invalid syntax", 6, 1, 7),
        ("'abc", "unterminated string literal", 0, 1, 1),
        ("(a", "'(' was never closed", 0, 1, 1),
        ("a)", "unmatched ')'", 1, 1, 2),
        ("${ a + }", "invalid syntax", 6, 1, 7),
        ("${ a &&}", "invalid syntax", 7, 1, 8),
        ("\n\n  ${ x $ y }", "invalid syntax", 9, 3, 8),
        ("a = 1", "invalid syntax", 2, 1, 3),
    ],
)
def test_syntax_error_positions(source: str, message: str, position: int, line: int, column: int) -> None:
    err = error_of(source)
    assert (err.message, err.position, err.line, err.column) == (message, position, line, column)
    assert str(err) == f"{message} (line {line}, column {column})"


@pytest.mark.parametrize(
    ("source", "variables", "message", "position"),
    [
        ("x + 1", {}, "name 'x' is not defined", 0),
        ("1 + y", {}, "name 'y' is not defined", 4),
        ("${ 1 + y }", {}, "name 'y' is not defined", 7),
        ("1 +\n  y", {}, "name 'y' is not defined", 6),
        ("'中文' + y", {}, "name 'y' is not defined", 7),
        ("x._y", {"x": 1}, "attribute access to '_y' is not allowed", 2),
        ("_secret", {}, "name '_secret' is not allowed", 0),
        ("x.foo", {"x": 1}, "attribute access to 'foo' is not allowed", 2),
        ("x.lower", {"x": "A"}, "method 'lower' must be called", 2),
        ("x.year", {"x": "2024"}, "attribute access to 'year' is not allowed", 2),
        ("x.lower()", {"x": 1}, "attribute access to 'lower' is not allowed", 0),
        ("d.missing", {"d": {}}, "key 'missing' not found", 2),
        ("d['missing']", {"d": {}}, "key 'missing' not found", 0),
        ("l[5]", {"l": [1]}, "index out of range", 0),
        ("l['a']", {"l": [1]}, "unsupported operand types for []: list and str", 0),
        ("n[0]", {"n": 5}, "cannot index int", 0),
        ("{}[[]]", {}, "list cannot be a dict key or set item", 0),
        ("{[]: 1}", {}, "list cannot be a dict key or set item", 0),
        ("{[1]}", {}, "list cannot be a dict key or set item", 0),
        ("[x for x in 5]", {}, "cannot iterate over int", 0),
        ("[a for a, b in [1]]", {}, "cannot unpack int into 2 names", 0),
        ("open('f')", {}, "calling 'open' is not allowed", 0),
        ("foo(1)", {}, "unknown function 'foo'", 0),
        ("x(1)", {"x": len}, "unknown function 'x'", 0),
        ("'a' < 1", {}, "cannot compare str and int", 0),
        ("1 < 2 < 'a'", {}, "cannot compare int and str", 0),
        ("'a' + 1", {}, "unsupported operand types for +: str and int", 0),
        ("x - 1", {"x": None}, "unsupported operand types for -: None and int", 0),
        ("-'a'", {}, "bad operand type for unary -: str", 0),
        ("1 in 2", {}, "cannot test membership in int", 0),
        ("1 in 'abc'", {}, "cannot look for int in a string", 0),
        ("1 / 0", {}, "division by zero", 0),
        ("1 // 0", {}, "division by zero", 0),
        ("1 % 0", {}, "division by zero", 0),
        ("1.5 / 0", {}, "division by zero", 0),
        ("2 + 10 / (x - x)", {"x": 3}, "division by zero", 4),
        ("len(5)", {}, "len(): object of type 'int' has no len()", 0),
        ("len(x=1)", {}, "len(): got an unexpected keyword argument 'x'", 0),
        ("sorted([1, 'a'])", {}, "sorted(): '<' not supported between instances of 'str' and 'int'", 0),
        ("sorted([2, 1], key=abs)", {}, "name 'abs' is not defined", 19),
        ("sorted([2, 1], key=1)", {}, "sorted(): got an unexpected keyword argument 'key'", 0),
        ("max([2, 1], key=1)", {}, "max(): only the keyword 'default' is accepted", 0),
        ("sum(['a'])", {}, "sum(): only numbers or durations can be added, not str", 0),
        ("sum([[1]], [])", {}, "sum(): only numbers or durations can be added", 0),
        ("int('x')", {}, "int(): invalid literal for int() with base 10: 'x'", 0),
        ("int([])", {}, "int(): cannot convert list to int", 0),
        ("float('inf') + int(float('inf'))", {}, "number out of range", 15),
        ("'%s' % 1", {}, "string formatting with % is not allowed", 0),
        ("(-8) ** 0.5", {}, "the result is a complex number", 0),
        ("1 < 2 and 1e300 ** 2", {}, "number out of range", 10),
        ("has_role(user, 1)", {"user": "x"}, "has_role(): the role code must be a string, not int", 0),
        ("duration(['PT1H'])", {}, "duration(): expected an ISO 8601 text such as 'PT2H', not list", 0),
        ("1 >> -1", {}, "invalid operation >>: negative shift count", 0),
        ("x.y", {"x": [1]}, "attribute access to 'y' is not allowed", 2),
    ],
)
def test_evaluation_errors(source: str, variables: dict[str, Any], message: str, position: int) -> None:
    err = error_of(source, variables)
    assert (err.message, err.position) == (message, position)


def test_error_object() -> None:
    err = error_of("1 +\n  y")
    assert isinstance(err, ValueError)
    assert (err.msgid, err.params) == ("name '%(name)s' is not defined", {"name": "y"})
    assert (err.line, err.column) == (2, 3)
    with override("en"):
        assert err.translated() == "name 'y' is not defined"
    with override("zh-hans"):
        assert err.translated() == "名称“y”未定义"  # the rules app's own catalog
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.message, copy.position, copy.line, copy.column) == ("name 'y' is not defined", 6, 2, 3)


def test_a_refused_construct_is_named_in_chinese() -> None:
    err = check("lambda: 1")[0]
    with override("zh-hans"):
        assert err.translated() == "不允许使用 lambda"
    f_string = check("f'{x}'")[0]
    with override("zh-hans"):
        assert f_string.translated() == "不允许使用 f-string"
    with override("en"):
        assert f_string.translated() == "an f-string is not allowed"


def test_functions_passed_by_the_caller() -> None:
    functions = {"double": lambda x: x * 2, "has_role": lambda user, code: code == "dean"}
    assert evaluate("double(21)", {}, functions=functions) == 42
    assert evaluate("has_role('anyone', 'dean')", {}, functions=functions) is True  # overrides the helper
    assert evaluate("double(x=2)", {}, functions={"double": lambda x: x * 2}) == 4

    def boom() -> None:
        raise RuntimeError("bad thing")

    err = error_of("1 + boom()", functions={"boom": boom})
    assert (err.message, err.position) == ("function 'boom' failed: bad thing", 4)
    assert isinstance(err.__cause__, RuntimeError)

    def slow() -> int:
        time.sleep(0.08)  # longer than the deadline: time inside caller functions does not count
        return 1

    assert evaluate("slow() + slow()", {}, functions={"slow": slow}) == 2


# --- limits ---------------------------------------------------------------------------------------


def test_size_limits() -> None:
    err = error_of("1" + " " * 1999 + "+")
    assert (err.message, err.position) == ("expression is too long (at most 2000 characters)", None)
    assert evaluate("1" + " " * 1999, {}) == 1
    err = error_of("[" + ",".join(["1"] * 500) + "]")
    assert (err.message, err.position) == ("expression is too complex (at most 500 elements)", 999)
    assert len(evaluate("[" + ",".join(["1"] * 499) + "]", {})) == 499
    assert evaluate("+".join(["1"] * 100), {}) == 100
    err = error_of("-" * 150 + "1")
    assert (err.message, err.position) == ("expression is nested too deeply (at most 100 levels)", 100)
    err = error_of("(" * 200 + "1" + ")" * 200)
    assert (err.message, err.position, err.column) == (
        "expression is nested too deeply (at most 100 levels)",
        100,
        101,
    )
    assert evaluate("(" * 50 + "1" + ")" * 50, {}) == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("9**9**9", "exponent too large (at most 100)"),
        ("2 ** 101", "exponent too large (at most 100)"),
        ("(10 ** 60) ** 2", "number too large (at most 10**100)"),
        ("10 ** 100 * 10", "number too large (at most 10**100)"),
        ("10 ** 100 + 1", "number too large (at most 10**100)"),
        ("-(10 ** 100) - 1", "number too large (at most 10**100)"),
        ("1 << 10000", "number too large (at most 10**100)"),
        ("1 << 400", "number too large (at most 10**100)"),
        ("int('9' * 200)", "number too large (at most 10**100)"),
        ("sum([10 ** 100, 10 ** 100])", "number too large (at most 10**100)"),
        ("round(1e200)", "number too large (at most 10**100)"),
        ("1" + "0" * 101, "number too large (at most 10**100)"),
        ("'a' * 10 ** 9", "result too large (at most 10000 items or characters)"),
        ("'a' * 10001", "result too large (at most 10000 items or characters)"),
        ("[1] * 10 ** 9", "result too large (at most 10000 items or characters)"),
        ("10 ** 9 * [1]", "result too large (at most 10000 items or characters)"),
        ("[[1] * 10000] * 10000", "result too large (at most 10000 items or characters)"),
        ("['ab'] * 5001", "result too large (at most 10000 items or characters)"),
        ("['a' * 10000] * 2", "result too large (at most 10000 items or characters)"),
        ("range(10 ** 6)", "too many items (at most 10000)"),
        ("range(10001)", "too many items (at most 10000)"),
        (
            "[i for i in range(10000) for j in range(10000)]",
            "expression takes too many steps (at most 10000)",
        ),
        ("[[1] * 10000 for i in range(200)]", "expression needs too much work"),
    ],
)
def test_value_limits(source: str, message: str) -> None:
    started = time.monotonic()
    assert error_of(source).message in _limit_messages(message)
    assert time.monotonic() - started < 1.0


def test_limits_are_inclusive() -> None:
    assert evaluate("len('a' * 10000)", {}) == 10000
    assert evaluate("len([0] * 10000)", {}) == 10000
    assert evaluate("2 ** 100", {}) == 2**100
    assert evaluate("10 ** 100", {}) == 10**100
    assert evaluate("len(range(10000))", {}) == 10000
    assert evaluate("len([i for i in range(3000)])", {}) == 3000


WORK = "expression needs too much work"
DEADLINE = "expression takes too long (at most 50 ms)"


def _limit_messages(message: str) -> set[str]:
    """On a loaded machine the 50 ms deadline may stop heavy work before the work budget does;
    both are the limit doing its job."""
    return {WORK, DEADLINE} if message == WORK else {message}


def test_work_budget_counts_strings_and_iteration() -> None:
    big = "x" * 50_000
    assert error_of("[s + s for i in range(3000)]", {"s": big}).message in {WORK, DEADLINE}
    assert error_of("[list(l) for i in range(200)]", {"l": list(range(10_000))}).message in {WORK, DEADLINE}
    assert error_of("max(l)", {"l": list(range(10_001))}).message == "too many items (at most 10000)"
    # a large variable is fine to read, but not to copy
    assert evaluate("len(s) + len(s[:10])", {"s": "x" * 1_000_000}) == 1_000_010
    err = error_of("len(s + 'y')", {"s": "x" * 1_000_000})
    assert (err.message, err.position) == ("result too large (at most 100000 items or characters)", 4)


def test_wall_clock_deadline() -> None:
    # few steps, but each membership test scans 10,000 items: the deadline stops it
    variables = {"l": list(range(10_000))}
    started = time.monotonic()
    err = error_of("['z' in l for i in range(2000)]", variables)
    elapsed = time.monotonic() - started
    assert err.message == "expression takes too long (at most 50 ms)"
    assert elapsed < 0.5


# --- sandbox escapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("().__class__.__bases__[0].__subclasses__()", "attribute access to '__class__' is not allowed"),
        (
            "[c for c in ().__class__.__base__.__subclasses__()]",
            "attribute access to '__class__' is not allowed",
        ),
        ("__import__('os').system('id')", "calling '__import__' is not allowed"),
        ("open('/etc/passwd')", "calling 'open' is not allowed"),
        ("open('/etc/passwd').read()", "calling 'open' is not allowed"),
        ("ｏｐｅｎ('/etc/passwd')", "calling 'open' is not allowed"),  # NFKC-normalised, as Python does
        ("x.＿＿class＿＿", "invalid character '＿' (U+FF3F)"),
        ("getattr(1, '__class__')", "calling 'getattr' is not allowed"),
        ("'{0.__class__}'.format(1)", "calling 'format' is not allowed"),
        ("'{}'.format", "attribute access to 'format' is not allowed"),
        ("f'{x.__class__}'", "an f-string is not allowed"),
        ("f'{x}'", "an f-string is not allowed"),
        ("(lambda: 1)()", "lambda is not allowed"),
        ("[x:=1]", "assignment with ':=' is not allowed"),
        ("(y := 2)", "assignment with ':=' is not allowed"),
        ("date.__class__", "attribute access to '__class__' is not allowed"),
        ("now().__class__", "attribute access to '__class__' is not allowed"),
        ("days(1).__reduce__()", "attribute access to '__reduce__' is not allowed"),
        ("x.__dict__", "attribute access to '__dict__' is not allowed"),
        ("len.__self__", "attribute access to '__self__' is not allowed"),
        ("__builtins__", "name '__builtins__' is not allowed"),
        ("__builtins__['eval']('1')", "name '__builtins__' is not allowed"),
        ("eval('1')", "calling 'eval' is not allowed"),
        ("exec('1')", "calling 'exec' is not allowed"),
        ("compile('1', '', 'eval')", "calling 'compile' is not allowed"),
        ("globals()", "calling 'globals' is not allowed"),
        ("locals()", "calling 'locals' is not allowed"),
        ("vars()", "calling 'vars' is not allowed"),
        ("dir()", "calling 'dir' is not allowed"),
        ("type(1)", "calling 'type' is not allowed"),
        ("setattr(x, 'a', 1)", "calling 'setattr' is not allowed"),
        ("breakpoint()", "calling 'breakpoint' is not allowed"),
        ("input()", "calling 'input' is not allowed"),
        ("help()", "calling 'help' is not allowed"),
        ("print(1)", "calling 'print' is not allowed"),
        ("memoryview(b'')", "calling 'memoryview' is not allowed"),
        ("[].append(1)", "calling 'append' is not allowed"),
        ("{}.update(a=1)", "calling 'update' is not allowed"),
        ("{'a': 1}.pop('a')", "calling 'pop' is not allowed"),
        ("'x'.join(['a'])", "calling 'join' is not allowed"),
        ("'a'.replace('a', 'b' * 10000)", "calling 'replace' is not allowed"),
        ("'%(a)s' % {'a': 1}", "string formatting with % is not allowed"),
        ("'%*d' % (10 ** 9, 1)", "string formatting with % is not allowed"),
        ("len(*[1])", "unpacking with '*' is not allowed"),
        ("f(**{})", "unpacking with '**' is not allowed"),
        ("f(_hidden=1)", "name '_hidden' is not allowed"),
        ("{**{}}", "unpacking with '**' is not allowed"),
        ("[*range(3)]", "unpacking with '*' is not allowed"),
        ("(x for x in []).gi_frame", "attribute access to 'gi_frame' is not allowed"),
        ("[x for x in []].__len__()", "attribute access to '__len__' is not allowed"),
        ("b'abc'", "constants of type bytes are not allowed"),
        ("1j", "constants of type complex are not allowed"),
        ("...", "constants of type ellipsis are not allowed"),
        ("a @ b", "'@' is not allowed"),
        ("len(x)(1)", "only named functions can be called"),
        ("[len][0](1)", "only named functions can be called"),
        ("await x", "await is not allowed"),
        ("import os", "invalid syntax"),
        ("x if 1", "expected 'else' after 'if' expression"),
        ("x\x00", "null bytes are not allowed"),
        ("9" * 2001, "expression is too long (at most 2000 characters)"),
        ("'" + "a" * 1_000_000 + "'", "expression is too long (at most 2000 characters)"),
        ("(" * 200 + "1" + ")" * 200, "expression is nested too deeply (at most 100 levels)"),
        ("[" * 200 + "]" * 200, "expression is nested too deeply (at most 100 levels)"),
        ("not " * 150 + "x", "expression is nested too deeply (at most 100 levels)"),
        ("9**9**9", "exponent too large (at most 100)"),
        ("'a'*10**9", "result too large (at most 10000 items or characters)"),
        ("[1]*10**9", "result too large (at most 10000 items or characters)"),
        ("[x for x in range(10**9)]", "too many items (at most 10000)"),
    ],
)
def test_sandbox_escapes_fail_safely(source: str, message: str) -> None:
    started = time.monotonic()
    err = error_of(source, {"x": 1, "a": 1, "b": 2})
    assert err.message == message
    assert time.monotonic() - started < 1.0


def test_a_huge_payload_string_is_refused_without_parsing() -> None:
    source = "x" * 1_000_000
    err = error_of(source)
    assert err.message == "expression is too long (at most 2000 characters)"
    assert check(source)[0].message == "expression is too long (at most 2000 characters)"


def test_helper_functions_are_not_values() -> None:
    # a helper name outside a call is an ordinary (here: missing) variable, never the function
    assert error_of("len").message == "name 'len' is not defined"
    assert evaluate("len", {"len": 3}) == 3


# --- check, free_names, parse ---------------------------------------------------------------------


def test_check_reports_every_problem_in_source_order() -> None:
    assert check("approved and days > 3") == []
    assert check("${a && missing_variable}") == []
    problems = check("foo(1) and x._y and open(1) and (lambda: 2)")
    assert [(p.message, p.position) for p in problems] == [
        ("unknown function 'foo'", 0),
        ("attribute access to '_y' is not allowed", 13),
        ("calling 'open' is not allowed", 20),
        ("lambda is not allowed", 33),
    ]
    assert check("foo(1)", functions={"foo"}) == []
    assert check("has_role(initiator, 'dean') and in_department(initiator, 'ICU')") == []
    [problem] = check("1 +")
    assert (problem.message, problem.line, problem.column) == ("invalid syntax", 1, 4)
    [problem] = check("${a} ${b}")
    assert problem.message == "a '${…}' or '#{…}' wrapper must enclose the whole expression"


def test_parse_refuses_what_check_refuses_but_allows_unknown_functions() -> None:
    expr = parse("foo(1) + x")
    assert expr.free_names == frozenset({"x"})
    assert expr.called_functions == frozenset({"foo"})
    with pytest.raises(ExpressionError) as info:
        parse("x.__class__")
    assert (info.value.message, info.value.position) == ("attribute access to '__class__' is not allowed", 2)


def test_free_names() -> None:
    assert free_names("[v for v in votes if v > limit] and has_role(user, 'x') and true") == {
        "votes",
        "limit",
        "user",
    }
    assert free_names("a.b.c + d['e'] + f(g)") == {"a", "d", "g"}
    assert free_names("${!approved && empty comment}") == {"approved", "comment"}
    assert free_names("{k: v for k, v in pairs.items()}") == {"pairs"}
    assert free_names(parse("x + 1")) == {"x"}


def test_parse_is_cached_and_accepts_expressions() -> None:
    expr = parse("approved and days > 3")
    assert isinstance(expr, Expression)
    assert parse("approved and days > 3") is expr
    assert parse(expr) is expr
    assert evaluate(expr, {"approved": True, "days": 4}) is True
    assert expr.evaluate({"approved": True, "days": 2}) is False
    assert repr(expr) == "<Expression 'approved and days > 3'>"
    assert expressions._parse_cached.cache_info().maxsize == 2048
    with pytest.raises(ExpressionError) as info:
        parse(123)  # type: ignore[arg-type]
    assert info.value.message == "expression must be a string"


def test_an_expression_is_reusable_after_an_error() -> None:
    expr = parse("[x for x in xs][0] + y")
    with pytest.raises(ExpressionError):
        expr.evaluate({"xs": [1]})
    assert expr.evaluate({"xs": [1], "y": 2}) == 3


# --- speed ----------------------------------------------------------------------------------------


def test_gateway_condition_evaluates_well_under_20_microseconds() -> None:
    expr = parse("approved and days > 3")
    variables = {"approved": True, "days": 5, "applicant": "zhang", "reason": "rest"}
    n = 5000
    best = min(timeit.repeat(lambda: expr.evaluate(variables), number=n, repeat=5)) / n
    assert best < 20e-6
    best_text = (
        min(timeit.repeat(lambda: evaluate("${approved and days > 3}", variables), number=n, repeat=5)) / n
    )
    assert best_text < 20e-6
