"""The FEEL subset: semantics (table), null logic, unary tests, syntax errors with positions, bounds
and a fuzz run that must only ever raise FeelError."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from typing import Any

import pytest
from django.utils.translation import override

from medoa.engines.rules.feel import (
    MAX_SOURCE_LENGTH,
    FeelError,
    feel_compile,
    feel_unary_test,
)

ORDERS = {"orders": [{"amount": 1, "item": "a"}, {"amount": 5, "item": "b"}]}


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        # literals
        ("1", {}, 1),
        ("-2.5", {}, -2.5),
        (".5", {}, 0.5),
        ("1e3", {}, 1000.0),
        ('"a\\"b\\n"', {}, 'a"b\n'),
        ('"\\u4e2d"', {}, "中"),
        ("true", {}, True),
        ("false", {}, False),
        ("null", {}, None),
        ("[1, 2, [3]]", {}, [1, 2, [3]]),
        ("[]", {}, []),
        ('{a: 1, "b c": 2}', {}, {"a": 1, "b c": 2}),
        ("{a: 1, b: a + 1}.b", {}, 2),
        ("{}", {}, {}),
        # names and paths
        ("x", {"x": 3}, 3),
        ("missing", {}, None),
        ("a.b.c", {"a": {"b": {"c": "deep"}}}, "deep"),
        ("a.b.c", {"a": {"b": None}}, None),
        ("a.b", {"a": 5}, None),
        ("orders.amount", ORDERS, [1, 5]),
        ("`with space`", {"with space": 1}, 1),
        ("this.hideList", {"this": {"hideList": True}}, True),
        # arithmetic
        ("1 + 2 * 3", {}, 7),
        ("(1 + 2) * 3", {}, 9),
        ("10 - 2 - 3", {}, 5),
        ("7 / 2", {}, 3.5),
        ("10 / 5", {}, 2),
        ("1 / 0", {}, None),
        ("2 ** 10", {}, 1024),
        ("2 ** 10000", {}, None),
        ("-x", {"x": 3}, -3),
        ("--3", {}, 3),
        ("0.1 + 0.2", {}, 0.1 + 0.2),
        ('"ab" + "cd"', {}, "abcd"),
        ('"a" + 1', {}, None),
        ("x + 1", {}, None),
        ("x * 2", {"x": None}, None),
        # comparison and null
        ("1 < 2", {}, True),
        ("2 <= 2", {}, True),
        ("3 > 4", {}, False),
        ("3 >= 4", {}, False),
        ("1 = 1.0", {}, True),
        ("1 != 2", {}, True),
        ('"a" < "b"', {}, True),
        ('1 < "2"', {}, None),
        ("x > 1", {}, None),
        ("x = null", {}, True),
        ("x = null", {"x": 0}, False),
        ("null = null", {}, True),
        ("null != 1", {}, True),
        ('1 = "1"', {}, False),
        ("true = 1", {}, False),
        ("[1, 2] = [1, 2]", {}, True),
        ("{a: 1} = {a: 1}", {}, True),
        ("amount <= 2", {"amount": 1}, True),
        ("amount <= 2", {"amount": None}, None),
        # three-valued logic
        ("true and true", {}, True),
        ("true and false", {}, False),
        ("true and x", {}, None),
        ("false and x", {}, False),
        ("x and false", {}, False),
        ("true or x", {}, True),
        ("x or true", {}, True),
        ("false or x", {}, None),
        ("false or false", {}, False),
        ("not(true)", {}, False),
        ("not(x)", {}, None),
        ("not(1)", {}, None),
        ("1 and true", {}, None),
        # if / between / in
        ('if a > 2 then "big" else "small"', {"a": 3}, "big"),
        ('if a > 2 then "big" else "small"', {}, "small"),
        ("if null then 1 else 2", {}, 2),
        ("x between 1 and 3", {"x": 3}, True),
        ("x between 1 and 3", {"x": 4}, False),
        ("x between 1 and 3", {}, None),
        ("x in [1, 2]", {"x": 2}, True),
        ("x in [1, 2]", {"x": 3}, False),
        ("x in [1..5]", {"x": 5}, True),
        ("x in [1..5)", {"x": 5}, False),
        ("x in ]1..5]", {"x": 1}, False),
        ("x in (1..5)", {"x": 3}, True),
        ("x in (<2, >4)", {"x": 5}, True),
        ("x in (<2, >4)", {"x": 3}, False),
        ('x in "a"', {"x": "a"}, True),
        ("x in >= 3", {"x": 3}, True),
        # lists: filters and indexes
        ("l[item > 1]", {"l": [1, 2, 3]}, [2, 3]),
        ("l[item > 5]", {"l": [1, 2, 3]}, []),
        ("l[1]", {"l": [5, 6]}, 5),
        ("l[-1]", {"l": [5, 6]}, 6),
        ("l[3]", {"l": [5, 6]}, None),
        ("l[0]", {"l": [5, 6]}, None),
        ("orders[amount > 1].item", ORDERS, ["b"]),
        ("orders[item.amount > 1].amount", ORDERS, [5]),
        ("x[1]", {}, None),
        # loops and quantifiers
        ("for x in l return x * 2", {"l": [1, 2]}, [2, 4]),
        ("for i in 1..3 return i", {}, [1, 2, 3]),
        ("for i in 3..1 return i", {}, [3, 2, 1]),
        ("for x in [1, 2], y in [10, 20] return x + y", {}, [11, 21, 12, 22]),
        ("for x in l return x", {}, None),
        ("some x in [1, 2] satisfies x > 1", {}, True),
        ("every x in [1, 2] satisfies x > 1", {}, False),
        ("every x in [] satisfies x > 1", {}, True),
        ("some x in [1, null] satisfies x > 1", {}, None),
        # string functions
        ('string length("中文ab")', {}, 4),
        ("string length(1)", {}, None),
        ('upper case("abc")', {}, "ABC"),
        ('lower case("ABC")', {}, "abc"),
        ('contains("abc", "b")', {}, True),
        ('starts with("abc", "ab")', {}, True),
        ('ends with("abc", "bc")', {}, True),
        ('substring("foobar", 3)', {}, "obar"),
        ('substring("foobar", 3, 3)', {}, "oba"),
        ('substring("foobar", -2, 1)', {}, "a"),
        ('substring before("foobar", "bar")', {}, "foo"),
        ('substring after("foobar", "ob")', {}, "ar"),
        ('string join(["a", "b"], ", ")', {}, "a, b"),
        ('string join(["a", null, "c"])', {}, "ac"),
        ('string join(["a"], "-", "[", "]")', {}, "[a]"),
        ('substring(string: "foobar", start position: 4)', {}, "bar"),
        # numbers and lists
        ("count([1, 2])", {}, 2),
        ("count(1)", {}, None),
        ("sum([1, 2, 3])", {}, 6),
        ("sum(1, 2)", {}, 3),
        ("sum([])", {}, None),
        ('sum([1, "a"])', {}, None),
        ("min(3, 1, 2)", {}, 1),
        ("max([3, 1, 2])", {}, 3),
        ("min([])", {}, None),
        ('max(["a", "b"])', {}, "b"),
        ("mean([1, 2])", {}, 1.5),
        ("abs(-3)", {}, 3),
        ("floor(1.5)", {}, 1),
        ("floor(-1.5)", {}, -2),
        ("ceiling(1.2)", {}, 2),
        ("decimal(1.125, 2)", {}, 1.12),
        ("decimal(1.135, 2)", {}, 1.14),
        ("round half up(2.5)", {}, 3),
        ("round half down(2.5)", {}, 2),
        ("modulo(10, 4)", {}, 2),
        ("modulo(-1, 4)", {}, 3),
        ('number("12")', {}, 12),
        ('number("1.5")', {}, 1.5),
        ('number("abc")', {}, None),
        ("string(1.0)", {}, "1"),
        ("string(true)", {}, "true"),
        ("string(null)", {}, None),
        ("is defined(x)", {}, False),
        ("is defined(x)", {"x": None}, True),
        ("is defined(a.b)", {"a": {"b": 1}}, True),
        ('get value({a: 1}, "a")', {}, 1),
        ('get value(c, "z")', {"c": {"a": 1}}, None),
        ("list contains([1, 2], 2)", {}, True),
        ("list contains([1, 2], 3)", {}, False),
        ("append([1], 2, 3)", {}, [1, 2, 3]),
        ("concatenate([1], [2], [3])", {}, [1, 2, 3]),
        ("concatenate(a, b)", {"a": [1]}, None),
        ("distinct values([1, 1, 2, 1.0])", {}, [1, 2]),
        ("flatten([1, [2, [3]]])", {}, [1, 2, 3]),
        ("reverse([1, 2])", {}, [2, 1]),
        ("index of([1, 2, 1], 1)", {}, [1, 3]),
        ("sublist([1, 2, 3], 2)", {}, [2, 3]),
        ("all([true, true])", {}, True),
        ("any([false, null])", {}, None),
        # dates and times
        ('date("2024-01-31")', {}, dt.date(2024, 1, 31)),
        ('date("2024-02-30")', {}, None),
        ("date(2024, 2, 29)", {}, dt.date(2024, 2, 29)),
        ('date("2024-01-31") + duration("P1D")', {}, dt.date(2024, 2, 1)),
        ('date("2024-03-01") - date("2024-02-01")', {}, dt.timedelta(days=29)),
        ('(date("2024-03-01") - date("2024-02-01")).days', {}, 29),
        ('date("2024-01-31") + duration("P1M")', {}, dt.date(2024, 2, 29)),
        ('date("2024-01-31").year', {}, 2024),
        ('time("10:30")', {}, dt.time(10, 30)),
        ('time("10:30:15Z").minute', {}, 30),
        ('date and time("2024-01-01T10:00")', {}, dt.datetime(2024, 1, 1, 10, 0)),
        ('date and time("2024-01-01T10:00+08:00").hour', {}, 10),
        ('duration("PT2H30M")', {}, dt.timedelta(hours=2, minutes=30)),
        ('duration("P")', {}, None),
        ('date("2024-01-01") < date("2024-01-02")', {}, True),
        ('date("2024-01-01") < "2024-01-02"', {}, None),
        ('date(d) >= date("2024-01-01")', {"d": "2024-05-01"}, True),
        ('day of week(date("2024-01-01"))', {}, "Monday"),
        ('today() > date("2000-01-01")', {}, True),
        ('now() > date and time("2000-01-01T00:00:00Z")', {}, True),
        # instance of
        ("1 instance of number", {}, True),
        ('"a" instance of number', {}, False),
        # comments and whitespace
        ("1 + /* two */ 2 // end", {}, 3),
        ("\n 1\u3000+ 1 ", {}, 2),
        # form-js schemas from outside
        ("concatenate(myList2,myList3,myList4)", {"myList2": [1], "myList3": [2], "myList4": [3]}, [1, 2, 3]),
    ],
)
def test_feel_semantics(source: str, context: dict[str, Any], expected: Any) -> None:
    result = feel_compile(source).evaluate(context)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("test", "value", "expected"),
    [
        ("-", 5, True),
        ("", None, True),
        ("<5", 3, True),
        ("< 5", 5, False),
        ("<= 5", 5, True),
        ("> 5", None, False),
        ("[1..10]", 10, True),
        ("[1..10[", 10, False),
        ("(1..10)", 1, False),
        ('"a","b"', "b", True),
        ('"a","b"', "c", False),
        ('not("a")', "a", False),
        ('not("a")', "c", True),
        ('not("a", "b")', "b", False),
        ("not(< 5)", 7, True),
        ("not(< 5)", None, False),
        ("? > 3", 4, True),
        ("? > 3", 2, False),
        ('contains(?, "x")', "axb", True),
        (">= 2, < 0", -1, True),
        (">= 2, < 0", 1, False),
        ("null", None, True),
        ("null", 0, False),
        ("x", 3, True),
        ("[1, 2]", 2, True),
        ('date("2024-01-01")', dt.date(2024, 1, 1), True),
        ('> date("2024-01-01")', dt.date(2024, 1, 2), True),
        ("true", True, True),
        ("false", True, False),
    ],
)
def test_unary_tests(test: str, value: Any, expected: bool) -> None:
    assert feel_unary_test(test, value, {"x": 3}) is expected


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        ("1 +", 3, "unexpected end of expression at position 3"),
        ("(1", 2, "expected ')' at position 2, found end of expression"),
        ("foo(1)", 0, "unknown function 'foo' at position 0"),
        ('"abc', 0, "unterminated string starting at position 0"),
        ('"a\\q"', 2, "invalid escape sequence at position 2"),
        ("a ! b", 2, "unexpected character '!' at position 2"),
        ("if x then 1", 11, "expected 'else' at position 11, found end of expression"),
        ("string length(1, 2)", 0, "function 'string length' takes 1 arguments, got 2 (position 0)"),
        ("a.", 2, "expected a name at position 2, found end of expression"),
        ("[1, 2", 5, "expected ']' at position 5, found end of expression"),
        ("1 2", 2, "unexpected '2' at position 2"),
        ("for in x return 1", 4, "expected a name at position 4, found 'in'"),
        ("{a 1}", 3, "expected ':' at position 3, found '1'"),
        ("then", 0, "unexpected 'then' at position 0"),
        ("   ", 0, "FEEL expression is empty"),
    ],
)
def test_syntax_errors_name_the_position(source: str, position: int, message: str) -> None:
    with pytest.raises(FeelError) as info:
        feel_compile(source)
    assert info.value.position == position
    assert info.value.message == message


def test_error_messages_are_translated() -> None:
    with pytest.raises(FeelError) as info:
        feel_compile("foo(1)")
    with override("zh-hans"):
        assert info.value.translated() == "未知函数“foo”（位置 0）"


def test_bounds() -> None:
    with pytest.raises(FeelError, match="too long"):
        feel_compile("1" * (MAX_SOURCE_LENGTH + 1))
    with pytest.raises(FeelError, match="nested too deeply"):
        feel_compile("(" * 200 + "1" + ")" * 200)
    with pytest.raises(FeelError, match="too complex"):
        feel_compile("+".join(["1"] * 1100))
    with pytest.raises(FeelError, match="too much work"):
        feel_compile("for x in 1..1000, y in 1..1000 return 1").evaluate({})
    with pytest.raises(FeelError, match="too much work"):
        feel_compile("count(for x in 1..1000000 return x)").evaluate({})
    with pytest.raises(FeelError):
        feel_compile(1)


def test_compile_is_cached() -> None:
    assert feel_compile("a + 1") is feel_compile("a + 1")


def test_names_are_reported() -> None:
    assert feel_compile("a.b + c[item > d]").names == frozenset({"a", "c", "item", "d"})


_ATOMS = ["1", "2.5", '"s"', "x", "l", "null", "true", "a.b", "[1, 2]", "{k: 1}", 'date("2024-01-01")']
_OPS = [" + ", " - ", " * ", " / ", " = ", " < ", " and ", " or ", " in ", " between 1 and "]
_CHARS = [*"()[]{}.,:+-*/<>=!\"'?` \n", "and", "or", "for", "in", "return", "if", "then", "else", "x", "1"]


def test_fuzz_only_feel_errors() -> None:
    rng = random.Random(4)
    context = {"x": 3, "l": [1, 2, 3], "a": {"b": 2}}
    for _ in range(3000):
        if rng.random() < 0.5:
            parts = [rng.choice(_ATOMS)]
            for _ in range(rng.randint(0, 5)):
                parts += [rng.choice(_OPS), rng.choice(_ATOMS)]
            source = "".join(parts)
        else:
            source = "".join(rng.choice(_CHARS) for _ in range(rng.randint(1, 25)))
        try:
            feel_compile(source).evaluate(context)
        except FeelError as err:
            assert 0 <= err.position <= len(source)
        with contextlib.suppress(FeelError):
            feel_unary_test(source, 3, context)
