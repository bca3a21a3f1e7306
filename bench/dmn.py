"""DMN evaluations per second: a typical triage table (2 inputs, 4 rules, FIRST), a 50-rule
COLLECT+SUM table with 4 inputs, the Camunda dinner DRD (two decisions), and the service call on a
deployed table (one query for the version, the compiled model cached). Prints its figures.

    .venv/bin/python bench/dmn.py
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medoa.config.settings_test")

import django

django.setup()

from medoa.engines.rules.dmn import evaluate_decision, parse_dmn  # noqa: E402
from medoa.engines.rules.tests.test_api_decisions import TRIAGE  # noqa: E402

sys.path[:] = [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]  # bench/hl7.py would shadow python-hl7

NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DINNER = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "dmn"
    / "dinner-drg__camunda-examples__dinnerDecisions.dmn"
)


def big_table() -> str:
    inputs = "".join(
        f'<input id="i{n}" label="v{n}"><inputExpression><text>v{n}</text></inputExpression></input>'
        for n in range(4)
    )
    rules = ""
    for r in range(50):
        rules += (
            f'<rule id="r{r}"><inputEntry><text>[{r}..{r + 20}]</text></inputEntry>'
            f'<inputEntry><text>"a{r % 5}","b{r % 3}"</text></inputEntry>'
            f"<inputEntry><text>&gt; {r % 7}</text></inputEntry><inputEntry><text>-</text></inputEntry>"
            f"<outputEntry><text>{r}</text></outputEntry></rule>"
        )
    return (
        f'<definitions xmlns="{NS}" id="b" namespace="u"><decision id="big" name="big">'
        f'<decisionTable hitPolicy="COLLECT" aggregation="SUM">{inputs}<output id="o" name="score"/>{rules}'
        "</decisionTable></decision></definitions>"
    )


def rate(label: str, fn: Callable[[], object], seconds: float = 2.0) -> None:
    fn()
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            fn()
        n += 50
    elapsed = time.perf_counter() - start
    print(f"{label:<52} {n / elapsed:>10,.0f} /s  ({elapsed / n * 1e6:,.1f} µs each)")


def main() -> None:
    triage = parse_dmn(TRIAGE)
    rate(
        "triage table (2 inputs, 4 rules, FIRST)",
        lambda: evaluate_decision(triage, "triage_level", {"heart_rate": 70, "spo2": 98}),
    )
    big = parse_dmn(big_table())
    rate(
        "50 rules x 4 inputs, COLLECT SUM",
        lambda: evaluate_decision(big, "big", {"v0": 25, "v1": "a1", "v2": 9, "v3": 1}),
    )
    if DINNER.is_file():
        dinner = parse_dmn(DINNER.read_bytes())
        rate(
            "dinner DRD (beverages requires dish)",
            lambda: evaluate_decision(
                dinner, "beverages", {"season": "Winter", "guestCount": 7, "guestsWithChildren": True}
            ),
        )
    start = time.perf_counter()
    for n in range(200):
        parse_dmn(big_table().replace('id="big"', f'id="big{n}"'))
    each_ms = (time.perf_counter() - start) / 200 * 1e3
    print(f"{'parse + compile the 50-rule table':<52} {each_ms:>10,.2f} ms each")


if __name__ == "__main__":
    main()
