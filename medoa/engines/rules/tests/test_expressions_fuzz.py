"""Fuzzing the expression language from fixed seeds: every input either evaluates or raises
ExpressionError — never another exception, never a hang."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from medoa.engines.rules.expressions import ExpressionError, check, evaluate

# Python's compiler warns about odd literals in fuzzed input; the module filters them, but pytest
# installs its own filters around each test.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning", "ignore::DeprecationWarning")

PER_CASE_SECONDS = 2.0  # CPU seconds of this thread, generous: the evaluator's own deadline is 50 ms
# (wall time is not measured: on 2 shared cores a worker can wait seconds for its turn)

VARIABLES: dict[str, Any] = {
    "a": 3,
    "b": -2.5,
    "s": "Hello",
    "t": "",
    "n": None,
    "ok": True,
    "l": [1, 2, 3, "x", None],
    "big": list(range(10_000)),
    "d": {"k": 1, "nested": {"x": [1, 2]}, "": 0},
    "day": dt.date(2024, 5, 1),
    "moment": dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC),
    "span": dt.timedelta(hours=2),
    "lt": 1,
    "empty": [],
}

TOKENS = [
    # operands
    "a", "b", "s", "t", "n", "ok", "l", "big", "d", "day", "moment", "span", "lt", "empty", "x", "y",
    "0", "1", "2", "-1", "100", "10**100", "3.5", "1e308", "0x10", "'x'", '"y"', "'a'*10", "''", "'%s'",
    "True", "False", "None", "true", "false", "null",
    # operators, Python and JUEL
    "+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^", "~", "@",
    "==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not", "and", "or", "not",
    "&&", "||", "!", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "empty",
    "if", "else", "for", "in", "lambda", ":=", ":", "?", "=", ",", ".", "...",
    # brackets and wrappers
    "(", ")", "[", "]", "{", "}", "${", "#{", "$", "#",
    # calls, attributes and dunders
    "len(", "min(", "max(", "sum(", "abs(", "round(", "any(", "all(", "int(", "float(", "str(", "bool(",
    "sorted(", "range(", "list(", "set(", "tuple(", "date(", "datetime(", "today()", "now()", "days(",
    "hours(", "minutes(", "duration(", "'PT2H'", "'P1M'", "is_empty(", "has_role(", "in_department(",
    "open(", "eval(", "getattr(", "__import__(", "type(", ".lower()", ".upper()", ".strip()",
    ".startswith(", ".get(", ".items()", ".keys()", ".year", ".days", ".total_seconds()", ".format(",
    ".__class__", ".__bases__", ".__subclasses__()", ".__globals__", ".__reduce__()", "__builtins__",
    "f'", "b'", "'\\x00'", "\\", "\n", " ", "\t", "中文", "'中文'",
]  # fmt: skip


def _run(source: str) -> str:
    """Evaluate one input; return "ok" or "error", fail on anything else or on a slow case."""
    started = time.thread_time()
    try:
        evaluate(source, VARIABLES)
        outcome = "ok"
    except ExpressionError as exc:
        assert isinstance(exc.message, str) and exc.message
        if exc.position is not None:
            assert 0 <= exc.position <= len(source)
            assert exc.line is not None and exc.column is not None
        outcome = "error"
    elapsed = time.thread_time() - started
    assert elapsed < PER_CASE_SECONDS, f"{source!r} took {elapsed:.3f} s of CPU"
    # check() never raises either
    problems = check(source) if len(source) <= 2000 else []
    assert all(isinstance(p, ExpressionError) for p in problems)
    return outcome


def _token_sequences(rng: random.Random, count: int) -> Iterator[str]:
    for _ in range(count):
        size = rng.randint(1, 25)
        yield (
            " ".join(rng.choice(TOKENS) for _ in range(size))
            if rng.random() < 0.7
            else "".join(rng.choice(TOKENS) for _ in range(size))
        )


def _byte_strings(rng: random.Random, count: int) -> Iterator[str]:
    for _ in range(count):
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(0, 60)))
        yield raw.decode("latin-1") if rng.random() < 0.5 else raw.decode("utf-8", errors="replace")


def _expression(rng: random.Random, depth: int) -> str:
    """A random, mostly well-formed expression, so the evaluator (not just the parser) is fuzzed."""
    leaves: list[Callable[[], str]] = [
        lambda: rng.choice(["a", "b", "s", "t", "n", "ok", "l", "big", "d", "day", "moment", "span", "x"]),
        lambda: str(rng.choice([0, 1, 2, -1, 7, 100, 10**50, 2**64])),
        lambda: rng.choice(["0.5", "1e308", "-0.0", "3.25"]),
        lambda: rng.choice(["'x'", "''", "'abc'", "'PT1H'", "'2024-05-01'"]),
        lambda: rng.choice(["True", "False", "None", "true", "null"]),
    ]
    if depth <= 0 or rng.random() < 0.25:
        return rng.choice(leaves)()
    sub = lambda: _expression(rng, depth - 1)  # noqa: E731
    arith = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"]
    plain = ["len", "min", "max", "sum", "abs", "str", "int", "sorted", "list", "any"]
    shapes: list[Callable[[], str]] = [
        lambda: f"({sub()} {rng.choice(arith)} {sub()})",
        lambda: (
            f"({sub()} {rng.choice(['==', '!=', '<', '<=', '>', '>=', 'in', 'not in', 'eq', 'lt'])} {sub()})"
        ),
        lambda: f"({sub()} {rng.choice(['and', 'or', '&&', '||'])} {sub()})",
        lambda: f"({rng.choice(['not ', '!', '-', '~', 'empty '])}{sub()})",
        lambda: f"({sub()} if {sub()} else {sub()})",
        lambda: f"{sub()}[{sub()}]",
        lambda: f"{sub()}[{sub()}:{sub()}]",
        lambda: f"[{sub()}, {sub()}]",
        lambda: f"{{{sub()}: {sub()}}}",
        lambda: f"{rng.choice(plain)}({sub()})",
        lambda: f"{rng.choice(['days', 'hours', 'duration', 'date', 'range', 'round', 'is_empty'])}({sub()})",
        lambda: f"{sub()}.{rng.choice(['lower()', 'year', 'days', 'get(1)', 'items()', 'k', 'nested'])}",
        lambda: f"[v for v in {sub()} if {sub()}]",
        lambda: f"sum(v * {sub()} for v in {sub()})",
        lambda: f"({sub()} * {rng.choice(['10000', '9999', '3'])})",
    ]
    return rng.choice(shapes)()


def _generated(rng: random.Random, count: int) -> Iterator[str]:
    for _ in range(count):
        source = _expression(rng, rng.randint(1, 5))
        yield f"${{{source}}}" if rng.random() < 0.2 else source


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_token_sequences(seed: int) -> None:
    rng = random.Random(seed)
    outcomes = [_run(source) for source in _token_sequences(rng, 1500)]
    assert outcomes.count("error") > 0


@pytest.mark.parametrize("seed", [11, 12])
def test_random_byte_strings(seed: int) -> None:
    rng = random.Random(seed)
    outcomes = [_run(source) for source in _byte_strings(rng, 1000)]
    assert outcomes.count("error") > 0


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_random_well_formed_expressions(seed: int) -> None:
    rng = random.Random(seed)
    outcomes = [_run(source) for source in _generated(rng, 1500)]
    # both paths are exercised: plenty evaluate, plenty fail with an ExpressionError
    assert outcomes.count("ok") > 150
    assert outcomes.count("error") > 150


def test_mutations_of_valid_expressions() -> None:
    rng = random.Random(31)
    seeds = [
        "${approved and days > 3}",
        "#{!approved || empty comment}",
        "nr_approved / nr_instances >= 2/3",
        "[v['ok'] for v in votes if v.get('ok')]",
        "date(2024, 5, 1) + duration('P1DT2H') > now()",
        "has_role(initiator, 'dean') and in_department(initiator, 'ICU')",
    ]
    for _ in range(1500):
        chars = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars) + 1)
            action = rng.random()
            if action < 0.4 and chars:
                del chars[min(i, len(chars) - 1)]
            elif action < 0.8:
                chars.insert(i, rng.choice("()[]{}.,:'\"!&|$#_ \n=<>+-*/%~^@x0"))
            else:
                chars.insert(i, rng.choice(TOKENS))
        _run("".join(chars))
