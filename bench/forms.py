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

sys.path[:] = [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]  # bench/hl7.py would shadow python-hl7

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
    bench_record_list(records=100_000 if args.quick else 1_000_000)
    return 0


# --- record list at 1M records on PostgreSQL (helper B) -------------------------------------------

RECORD_LIST_DB = "medoa_bench_forms"
RECORD_LIST_CHILD = (
    "import sys; sys.path.insert(0, {root!r}); import bench.forms as b; b._record_list_child({n})"
)


def bench_record_list(records: int = 1_000_000, reps: int = 200) -> dict[str, Any]:
    """The record list query (``selectors.record_list``: one page of 20 and the total) at
    ``records`` form records on PostgreSQL, filtered on fields marked for reporting (the side table
    ``forms_formrecordvalue``, four values per record), for a hospital-wide office and for a
    department head (department-tree scope). Runs in a child process on a database of its own
    (``medoa_bench_forms``, created and dropped; the server from ``MEDOA_BENCH_PG`` or
    postgres@127.0.0.1:5432). Records and side-table rows are loaded with COPY. Goal (issue 4):
    p95 < 50 ms at 1M records."""
    import json as _json
    import subprocess
    import sys as _sys
    from pathlib import Path as _Path

    root = _Path(__file__).resolve().parent.parent
    server = os.environ.get("MEDOA_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    env = dict(os.environ, MEDOA_BENCH_RECORD_LIST_DB=f"{server.rstrip('/')}/{RECORD_LIST_DB}")
    env["MEDOA_BENCH_RECORD_LIST_REPS"] = str(reps)
    code = RECORD_LIST_CHILD.format(root=str(root), n=int(records))
    done = subprocess.run([_sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], file=_sys.stderr)
        raise SystemExit(f"the record list bench failed ({done.returncode})")
    result: dict[str, Any] = _json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"\nRecord list on PostgreSQL: {result['records']:,} records, {result['values']:,} side-table rows "
        f"(loaded in {result['load_seconds']:.0f} s; tables and indexes {result['size_mb']:.0f} MB)"
    )
    print(f"  {'query':<58} {'rows':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for q in result["queries"]:
        print(f"  {q['name']:<58} {q['total']:>8,} {q['p50'] * 1000:>8.1f} {q['p95'] * 1000:>8.1f}")
    worst = max(q["p95"] for q in result["queries"])
    verdict = "met" if worst < 0.050 else "MISSED"
    print(f"  goal: p95 < 50 ms at 1M records — worst p95 {worst * 1000:.1f} ms: {verdict}")
    print("  plan of the first query:\n    " + "\n    ".join(result["explain"].splitlines()))
    return result


def _record_list_child(records: int) -> None:
    """The child of ``bench_record_list``: set up Django on the bench database, load, measure,
    print one JSON line."""
    import json as _json
    import random
    import tempfile
    import time as _time
    from datetime import UTC, date, datetime, timedelta
    from decimal import Decimal
    from urllib.parse import urlsplit

    import psycopg
    from psycopg.types.json import Jsonb

    url = os.environ["MEDOA_BENCH_RECORD_LIST_DB"]
    reps = int(os.environ.get("MEDOA_BENCH_RECORD_LIST_REPS", "200"))
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    assert "bench" in name, name
    admin: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        MEDOA_ENV="test",
        DJANGO_SETTINGS_MODULE="medoa.config.settings",
        DATABASE_URL=url,
        MEDOA_DATA_DIR=tempfile.mkdtemp(prefix="medoa-bench-forms-"),
    )
    os.environ.pop("MEDOA_KEY_FILE", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.MEDOA_ACCESS_CACHE_SECONDS = 5
    try:
        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model

        from medoa.core.access.grants import sync_role_grants
        from medoa.core.org.models import Department, Role, RoleAssignment, Staff
        from medoa.engines.forms import selectors
        from medoa.engines.forms.models import FormDefinition, FormRecord, FormRecordValue, FormVersion

        sync_role_grants()
        rng = random.Random(4)
        users = get_user_model()
        root = Department.objects.create(code="H", name_zh="医院", kind="hospital", path="/", depth=0)
        root.path = f"/{root.pk}/"
        root.save(update_fields=["path"])
        depts = []
        for i in range(40):
            d = Department.objects.create(
                code=f"D{i:02d}", name_zh=f"科室{i}", kind="department", parent=root, path="", depth=1
            )
            d.path = f"{root.path}{d.pk}/"
            d.save(update_fields=["path"])
            depts.append(d)
        user_rows = users.objects.bulk_create(
            [users(username=f"fb{i:04d}", password="!") for i in range(400)]
        )
        staff = Staff.objects.bulk_create(
            [
                Staff(
                    user=u,
                    employee_no=f"FB{i:04d}",
                    name=f"职工{i}",
                    department=depts[i % 40],
                    title="attending",
                )
                for i, u in enumerate(user_rows)
            ]
        )
        office = staff[0]
        RoleAssignment.objects.create(
            staff=office, role=Role.objects.get(code="medical_affairs"), department=root
        )
        head = staff[1]
        RoleAssignment.objects.create(
            staff=head, role=Role.objects.get(code="dept_head"), department=head.department
        )

        definition = FormDefinition.objects.create(key="bench_visit", name="门诊随访")
        reporting = [
            {"key": "category", "kind": "text", "many": False},
            {"key": "amount", "kind": "number", "many": False},
            {"key": "visit_date", "kind": "date", "many": False},
            {"key": "ward", "kind": "text", "many": False},
        ]
        version = FormVersion.objects.create(
            definition=definition,
            version=1,
            schema={"components": []},
            checksum="0" * 64,
            reporting=reporting,
        )
        definition.latest_version = version
        definition.save(update_fields=["latest_version"])

        categories = [f"c{i}" for i in range(10)]
        start = date(2024, 1, 1)
        now = datetime.now(UTC)
        record_cols = (
            "definition_id",
            "version_id",
            "submitter_id",
            "department_id",
            "status",
            "source",
            "subject",
            "values",
            "submitted_at",
            "updated_at",
        )
        value_cols = ("record_id", "definition_id", "field", "text", "number", "date")
        loaded = _time.perf_counter()
        connection.ensure_connection()
        raw = connection.connection
        batch = 50_000
        with raw.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('forms_formrecord', 'id'))")
            first_id = cursor.fetchone()[0]
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('forms_formrecord', 'id'), %s)", [first_id + records]
            )
        next_id = first_id
        for offset in range(0, records, batch):
            count = min(batch, records - offset)
            rec_rows: list[tuple[Any, ...]] = []
            val_rows: list[tuple[Any, ...]] = []
            for _i in range(count):
                who = staff[rng.randrange(len(staff))]
                category = categories[rng.randrange(10)]
                amount = Decimal(rng.randrange(100, 1_000_000)) / 100
                visit = start + timedelta(days=rng.randrange(730))
                ward = depts[rng.randrange(40)].code
                at = now - timedelta(seconds=rng.randrange(2 * 365 * 86400))
                values = {
                    "category": category,
                    "amount": float(amount),
                    "visit_date": visit.isoformat(),
                    "ward": ward,
                    "note": "随访记录",
                }
                rec_rows.append(
                    (
                        next_id,
                        definition.pk,
                        version.pk,
                        who.pk,
                        who.department_id,
                        "submitted",
                        "web",
                        "",
                        Jsonb(values),
                        at,
                        at,
                    )
                )
                val_rows += [
                    (next_id, definition.pk, "category", category, None, None),
                    (next_id, definition.pk, "amount", None, amount, None),
                    (next_id, definition.pk, "visit_date", None, None, visit),
                    (next_id, definition.pk, "ward", ward, None, None),
                ]
                next_id += 1
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY forms_formrecord (id, {', '.join(record_cols)}) FROM STDIN") as copy:
                    for row in rec_rows:
                        copy.write_row(row)
                with cursor.copy(f"COPY forms_formrecordvalue ({', '.join(value_cols)}) FROM STDIN") as copy:
                    for row in val_rows:
                        copy.write_row(row)
            if not raw.autocommit:
                raw.commit()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) forms_formrecord, forms_formrecordvalue")
            cursor.execute(
                "SELECT pg_total_relation_size('forms_formrecord') + "
                "pg_total_relation_size('forms_formrecordvalue')"
            )
            size = cursor.fetchone()[0]
        load_seconds = _time.perf_counter() - loaded

        office_user = users.objects.get(pk=office.user_id)
        head_user = users.objects.get(pk=head.user_id)
        queries = [
            ("office: category = c3 (10 %), newest first", office_user, {"category": "c3"}, "-submitted_at"),
            (
                "office: amount 5000–5100 (1 %)",
                office_user,
                {"amount__gte": "5000", "amount__lte": "5100"},
                "-submitted_at",
            ),
            (
                "office: visit date in March 2025 + category c7",
                office_user,
                {"visit_date__gte": "2025-03-01", "visit_date__lte": "2025-03-31", "category": "c7"},
                "-submitted_at",
            ),
            ("office: ward = D05 (2.5 %), sorted by amount", office_user, {"ward": "D05"}, "-amount"),
            ("dept head (own tree): category = c3", head_user, {"category": "c3"}, "-submitted_at"),
        ]
        out = []
        explain = ""
        for label, user, filters, sort in queries:
            for _ in range(10):
                page = selectors.record_list(viewer=user, key="bench_visit", filters=filters, sort=sort)
            times = []
            for _ in range(reps):
                began = _time.perf_counter()
                page = selectors.record_list(viewer=user, key="bench_visit", filters=filters, sort=sort)
                times.append(_time.perf_counter() - began)
            times.sort()
            out.append(
                {
                    "name": label,
                    "total": page.total,
                    "items": len(page.items),
                    "p50": times[len(times) // 2],
                    "p95": times[int(len(times) * 0.95) - 1],
                }
            )
            if not explain:
                qs = selectors.record_queryset(viewer=user, key="bench_visit", filters=filters, sort=sort)
                explain = (
                    qs[:20].explain(analyze=True) + "\n-- count --\n" + qs.order_by().explain(analyze=True)
                )
        print(
            _json.dumps(
                {
                    "records": FormRecord.objects.count(),
                    "values": FormRecordValue.objects.count(),
                    "load_seconds": load_seconds,
                    "size_mb": size / 2**20,
                    "queries": out,
                    "explain": explain,
                }
            )
        )
    finally:
        connection.close()
        with psycopg.connect(**admin) as conn:
            if not os.environ.get("MEDOA_BENCH_KEEP_DB"):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
