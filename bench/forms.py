"""Form-engine benchmark.

    .venv/bin/python bench/forms.py [--quick]

**Validation** (``bench_validation``): server-side validations per second, on one core, of a
40-field form-js schema with a dynamic list (34 top-level fields — text with patterns and lengths,
numbers with min/max and decimal digits, selects, radios, checklists, taglists, dates, times,
checkboxes, a group, two ``conditional.hide`` FEEL conditions, a computed expression field — and
a dynamic list of 6 fields, submitted with 5 rows), through
``medoa.engines.forms.validation.validate`` with the schema parsed once (as the server caches it
per published version). Figures: validations per second (the total time of the timed loop divided
by the validations), p50/p95 of one validation. Baselines in the same run: the same call on a
1-field form, and plain-Python dict checks of the same 40-field submission (isinstance / len / a
compiled regex / membership per field: what hand-written validation would cost).

Goal (issue 4): at least 5,000 validations per second on one core for the 40-field form.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_PER_SECOND = 5000

OPTIONS = [{"label": f"Option {i}", "value": f"opt{i}"} for i in range(8)]


def forty_field_schema() -> dict[str, Any]:
    comps: list[dict[str, Any]] = []
    for i in range(8):
        comps.append(
            {
                "type": "textfield",
                "key": f"text{i}",
                "label": f"Text {i}",
                "validate": {
                    "required": i % 2 == 0,
                    "minLength": 2,
                    "maxLength": 50,
                    "pattern": "^[A-Za-z0-9 -]+$",
                },
            }
        )
    for i in range(6):
        comps.append(
            {
                "type": "number",
                "key": f"num{i}",
                "decimalDigits": 2,
                "validate": {"required": True, "min": 0, "max": 100000},
            }
        )
    for i, t in enumerate(["select", "radio", "select", "radio"]):
        comps.append({"type": t, "key": f"choice{i}", "values": OPTIONS, "validate": {"required": True}})
    for i, t in enumerate(["checklist", "taglist", "checklist"]):
        comps.append({"type": t, "key": f"multi{i}", "values": OPTIONS})
    comps.append({"type": "datetime", "key": "date0", "subtype": "date", "validate": {"required": True}})
    comps.append({"type": "datetime", "key": "date1", "subtype": "date", "validate": {"min": "2020-01-01"}})
    comps.append({"type": "datetime", "key": "time0", "subtype": "time"})
    comps.append({"type": "datetime", "key": "when", "subtype": "datetime"})
    for i in range(3):
        comps.append({"type": "checkbox", "key": f"flag{i}"})
    comps.append({"type": "textarea", "key": "notes", "validate": {"maxLength": 2000}})
    comps.append(
        {
            "type": "textfield",
            "key": "reason",
            "conditional": {"hide": "=flag0 = false"},
            "validate": {"required": True},
        }
    )
    comps.append({"type": "number", "key": "extra", "conditional": {"hide": "=num0 < 10"}})
    comps.append(
        {"type": "expression", "key": "total", "expression": "=num0 + num1 + num2", "computeOn": "change"}
    )
    comps.append(
        {
            "type": "group",
            "label": "Address",
            "path": "address",
            "components": [{"type": "textfield", "key": "city", "validate": {"required": True}}],
        }
    )
    comps.append(
        {
            "type": "dynamiclist",
            "path": "items",
            "isRepeating": True,
            "components": [
                {"type": "textfield", "key": "name", "validate": {"required": True, "maxLength": 100}},
                {"type": "number", "key": "qty", "validate": {"min": 1, "max": 1000}},
                {"type": "number", "key": "price", "decimalDigits": 2},
                {"type": "select", "key": "unit", "values": OPTIONS},
                {"type": "checkbox", "key": "urgent"},
                {"type": "textfield", "key": "why", "conditional": {"hide": "=this.urgent != true"}},
            ],
        }
    )
    return {"type": "default", "id": "bench", "components": comps}


def forty_field_data() -> dict[str, Any]:
    data: dict[str, Any] = {f"text{i}": f"Value {i}" for i in range(8)}
    data.update({f"num{i}": 100 + i * 1.25 for i in range(6)})
    data.update({f"choice{i}": f"opt{i}" for i in range(4)})
    data.update({"multi0": ["opt1", "opt2"], "multi1": ["opt3"], "multi2": []})
    data.update(
        {"date0": "2026-03-01", "date1": "2026-03-02", "time0": "10:30", "when": "2026-03-01T10:30+08:00"}
    )
    data.update(
        {"flag0": True, "flag1": False, "flag2": True, "notes": "Some notes " * 10, "reason": "Because"}
    )
    data.update({"extra": 5, "total": 0, "address": {"city": "Hangzhou"}})
    data["items"] = [
        {
            "name": f"Item {i}",
            "qty": i + 1,
            "price": 9.99,
            "unit": "opt1",
            "urgent": i % 2 == 0,
            "why": "Soon",
        }
        for i in range(5)
    ]
    return data


def plain_checks(data: dict[str, Any]) -> list[str]:
    """Hand-written checks of the same submission: the floor a generic engine is measured against."""
    errors: list[str] = []
    pat = PLAIN_PATTERN
    opts = PLAIN_OPTIONS
    for i in range(8):
        v = data.get(f"text{i}")
        if not isinstance(v, str) or not 2 <= len(v) <= 50 or not pat.search(v):
            errors.append(f"text{i}")
    for i in range(6):
        v = data.get(f"num{i}")
        if not isinstance(v, (int, float)) or not 0 <= v <= 100000:
            errors.append(f"num{i}")
    for i in range(4):
        if data.get(f"choice{i}") not in opts:
            errors.append(f"choice{i}")
    for i in range(3):
        if not all(x in opts for x in data.get(f"multi{i}", [])):
            errors.append(f"multi{i}")
    for k in ("date0", "date1", "time0", "when", "notes", "reason"):
        if not isinstance(data.get(k), str):
            errors.append(k)
    for i in range(3):
        if not isinstance(data.get(f"flag{i}"), bool):
            errors.append(f"flag{i}")
    for row in data["items"]:
        if (
            not isinstance(row.get("name"), str)
            or not 1 <= row.get("qty", 0) <= 1000
            or row.get("unit") not in opts
        ):
            errors.append("items")
    return errors


PLAIN_PATTERN = re.compile(r"^[A-Za-z0-9 -]+$")
PLAIN_OPTIONS = frozenset(o["value"] for o in OPTIONS)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def measure(fn: Callable[[], Any], n: int) -> dict[str, float]:
    for _ in range(min(200, n)):  # warm up (compile caches, first-use plans)
        fn()
    samples: list[float] = []
    clock = time.perf_counter
    start = clock()
    for _ in range(n):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    total = clock() - start
    return {"per_second": n / total, "p50": percentile(samples, 50), "p95": percentile(samples, 95), "n": n}


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medoa.config.settings")
    os.environ.setdefault("MEDOA_ENV", "test")
    import django

    django.setup()


def bench_validation(quick: bool = False) -> dict[str, dict[str, float]]:
    """Validations per second: the 40-field form, a 1-field form and plain dict checks."""
    from medoa.engines.forms.schema import parse_schema
    from medoa.engines.forms.validation import validate

    n = 2000 if quick else 10000
    schema = parse_schema(forty_field_schema())
    data = forty_field_data()
    result = validate(schema, data)
    if not result.valid:
        raise SystemExit(f"the benchmark submission is invalid: {[e.as_dict() for e in result.errors]}")
    fields = len(schema.input_fields())
    one = parse_schema({"components": [{"type": "textfield", "key": "name", "validate": {"required": True}}]})
    one_data = {"name": "Zhang San"}
    bad = dict(data, text0="!", num0=-1, choice0="nope", items=[{"qty": 0}] * 5)
    return {
        f"{fields}-field form, valid (5 list rows)": measure(lambda: validate(schema, data), n),
        f"{fields}-field form, 13 errors": measure(lambda: validate(schema, bad), n // 2),
        "1-field form (baseline)": measure(lambda: validate(one, one_data), n),
        "plain dict checks of the 40 fields (baseline)": measure(lambda: plain_checks(data), n),
    }


def rows(results: dict[str, dict[str, float]]) -> Iterator[str]:
    header = f"{'case':<48}{'validations/s':>15}{'p50 µs':>10}{'p95 µs':>10}"
    yield header
    yield "-" * len(header)
    for name, r in results.items():
        yield f"{name:<48}{r['per_second']:>15,.0f}{r['p50'] * 1e6:>10.1f}{r['p95'] * 1e6:>10.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer validations")
    args = parser.parse_args(argv)
    setup_django()
    print(f"MedOA form benchmark (load average {os.getloadavg()[0]:.2f}) …", flush=True)
    print()
    results = bench_validation(quick=args.quick)
    for line in rows(results):
        print(line)
    main_case = next(iter(results.values()))
    ok = main_case["per_second"] >= GOAL_PER_SECOND
    print()
    print(
        f"Goal (issue 4): ≥ {GOAL_PER_SECOND:,} validations/s on one core for the 40-field form: "
        f"{main_case['per_second']:,.0f}/s — {'met' if ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
