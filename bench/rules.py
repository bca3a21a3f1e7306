"""Rule-engine benchmark: events through the outbox → 100 active rules → actions, on SQLite and
PostgreSQL; expression evaluations per second; event-to-browser latency of a rule's notification.

    .venv/bin/python bench/rules.py [--quick] [--only sqlite|postgres] [--rules 100] [--rate 200]
                                    [--workers 1]

Per database (a child process each, with a production-like environment from bench/web.py's
``server_env``; SQLite in a temporary data directory, PostgreSQL in ``medoa_bench_rules``, created
and dropped):

1. **setup** — migrate; ``--clients`` staff signed in (session cookies); ``--rules`` enabled rules
   on ``bench.item.happened``: rule *i* has the condition ``payload.n % <rules> == i`` and the
   action ``rules.notify`` (an inline title) to one of the staff — so each event is evaluated by
   every rule, exactly one matches, and one notification is sent; every evaluation is logged
   (per event: one ``RuleExecution`` for the matching rule and one ``RuleEvaluation`` naming the
   rules evaluated and those that did not match).
2. **expressions** — evaluations per second of two compiled conditions (``payload.n % 100 == 7``
   and ``date(payload.expires_on) <= today() + days(30)``), in-process.
3. **baseline** — the same run's direct path: for each event, evaluate the 100 compiled conditions
   and nothing else (no outbox, no log, no action): events per second.
4. **throughput** — publish ``events`` events (one per transaction), then drain them in-process
   with ``dispatch_until_idle`` (the ``rules.evaluate`` subscriber): events per second through the
   rules, with rule evaluations and actions per second.
5. **latency** — an ASGI server (bench/notify.py's) with one real SSE connection per person,
   ``--workers`` workers (``DispatcherThread``) in other processes, and this process publishing
   ``--rate`` events per second for ``--seconds`` (after a 2 events/s baseline phase): the time from
   each publish's commit to the arrival of its notification in the browser stream; p50/p95/max.
   After the last publish the phase waits until every notification has arrived (at most
   ``DRAIN_CAP``, 30 s), so a backlog shows as latency; it reports how many notifications the
   rules created and how many arrived — of those that did not, how many had a newer one of the
   same person arrive (lost by the push, not by the rules). Goal: p95 < 1 s at 200 events per
   second, every notification delivered.

Tests never assert timings; this script prints them. Check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import EVENT_TYPE, percentile, recreate_database  # noqa: E402
from bench.notify import sse_client, start_server  # noqa: E402
from bench.web import free_port, server_env, wait_for  # noqa: E402

sys.path[:] = [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]  # bench/hl7.py would shadow python-hl7

PG_URL = os.environ.get("MEDOA_BENCH_PG", "postgres://postgres@127.0.0.1:5432/medoa_bench_rules")
FULL = {"events": 1000, "seconds": 10.0, "expr": 200_000}
QUICK = {"events": 200, "seconds": 4.0, "expr": 50_000}
BASELINE_RATE = 2.0
DRAIN_CAP = 30.0  # seconds a phase waits, after its last publish, for the notifications still due


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def register_type() -> None:
    from pydantic import BaseModel, ConfigDict

    from medoa.core.events.registry import EventType, event_types

    class ItemHappened(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int
        ward: str

    if EVENT_TYPE not in event_types:
        event_types.register(EventType(EVENT_TYPE, ItemHappened, label="bench"))


def django_setup() -> None:
    import django

    django.setup()
    register_type()


# --- the worker (another process) -----------------------------------------------------------------


def phase_worker() -> None:
    django_setup()
    from medoa.core.events.dispatcher import DispatcherThread

    thread = DispatcherThread(worker_id="bench-rules-worker")
    thread.start()
    stopping = [False]

    def on_term(signum: int, frame: Any) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    while not stopping[0]:
        time.sleep(0.1)
    thread.stop()


# --- one database ---------------------------------------------------------------------------------


def _setup(n_rules: int, n_clients: int) -> tuple[str, dict[int, str], list[Any]]:
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from medoa.core.org.tests.factories import DepartmentFactory, StaffFactory
    from medoa.engines.rules import engine
    from medoa.engines.rules.models import Rule

    call_command("migrate", interactive=False, verbosity=0)
    dept = DepartmentFactory(code="bench", name_zh="压测科")
    sessions: dict[int, str] = {}
    users = []
    for i in range(n_clients):
        staff = StaffFactory(department=dept, user__username=f"bench{i}")
        client = Client()
        client.force_login(staff.user)
        sessions[staff.user_id] = client.cookies[settings.SESSION_COOKIE_NAME].value
        users.append(staff.user)
    rules = []
    for i in range(n_rules):
        data = engine.rule_check(
            {
                "name": f"bench rule {i}",
                "event_type": EVENT_TYPE,
                "condition": f"payload.n % {n_rules} == {i}",
                "actions": [
                    {
                        "type": "rules.notify",
                        "params": {"users": [users[i % n_clients].username], "title": "规则压测 {n}"},
                    }
                ],
                "priority": i,
                "enabled": True,
            }
        )
        rules.append(Rule(**data))
    Rule.objects.bulk_create(rules)
    return settings.SESSION_COOKIE_NAME, sessions, users


def _expressions(count: int) -> dict[str, float]:
    import datetime as dt

    from medoa.engines.rules import expressions

    out = {}
    variables = {"payload": {"n": 1234, "expires_on": (dt.date.today() + dt.timedelta(days=20)).isoformat()}}
    for label, source in (
        ("modulo", "payload.n % 100 == 7"),
        ("date", "date(payload.expires_on) <= today() + days(30)"),
    ):
        expr = expressions.parse(source)
        started = time.perf_counter()
        for _ in range(count):
            expr.evaluate(variables)
        out[label] = count / (time.perf_counter() - started)
    return out


def _baseline(count: int) -> float:
    from medoa.engines.rules import engine
    from medoa.engines.rules.models import Rule

    rules = list(Rule.objects.filter(enabled=True, event_type=EVENT_TYPE).order_by("priority", "id"))
    compiled = [engine.compiled(r) for r in rules]
    started = time.perf_counter()
    for i in range(count):
        variables = {"event": {"type": EVENT_TYPE}, "payload": {"n": i, "ward": "心内一病区"}}
        for c in compiled:
            assert c.condition is not None
            c.condition.evaluate(variables)
    return count / (time.perf_counter() - started)


def _throughput(count: int, n_rules: int) -> dict[str, float]:
    from medoa.core.events.dispatcher import dispatch_until_idle
    from medoa.core.events.services import publish
    from medoa.core.notify.models import Notification
    from medoa.engines.rules.models import RuleEvaluation, RuleExecution

    notes_before = Notification.objects.count()
    started = time.perf_counter()
    for i in range(count):
        publish(EVENT_TYPE, {"n": i, "ward": "心内一病区"})
    publish_s = time.perf_counter() - started
    started = time.perf_counter()
    dispatch_until_idle(worker_id="bench")
    deliver_s = time.perf_counter() - started
    executions = RuleExecution.objects.count()
    summaries = RuleEvaluation.objects.count()
    not_matched = sum(len(ids) for ids in RuleEvaluation.objects.values_list("not_matched", flat=True))
    actions = Notification.objects.count() - notes_before
    return {
        "publish_per_s": count / publish_s,
        "events_per_s": count / deliver_s,
        "evaluations_per_s": count * n_rules / deliver_s,
        "actions_per_s": actions / deliver_s,
        "end_to_end_per_s": count / (publish_s + deliver_s),
        "executions": executions,
        "summaries": summaries,
        "not_matched": not_matched,
        "actions": actions,
    }


async def _latency_phase(
    port: int, cookie: str, sessions: dict[int, str], rate: float, seconds: float, offset: int
) -> dict[str, float]:
    """One phase; after the last publish it waits until every sent event's notification has
    reached its browser (at most ``DRAIN_CAP`` seconds), so a backlog counts as latency, not as
    a loss. ``created`` is how many notifications the rules made; ``pushed`` how many arrived;
    ``overtaken`` how many of those that never arrived had a higher id of the same person's
    arrive in their stream (a sign of the push, not of the rules)."""
    from asgiref.sync import sync_to_async

    got: dict[int, dict[int, float]] = {user_id: {} for user_id in sessions}
    stop = asyncio.Event()
    readies, tasks = [], []
    for user_id, session in sessions.items():
        ready = asyncio.Event()
        readies.append(ready)
        tasks.append(asyncio.create_task(sse_client(port, f"{cookie}={session}", got[user_id], ready, stop)))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    sent = await sync_to_async(_publish_paced, thread_sensitive=False)(rate, seconds, offset)
    done_at = time.monotonic()
    notes: dict[int, tuple[int, int]] = {}
    while True:
        await asyncio.sleep(0.25)
        notes = await sync_to_async(_notification_events, thread_sensitive=False)(list(sent))
        seen = sum(1 for nid, (_eid, uid) in notes.items() if nid in got[uid])
        if (len(notes) >= len(sent) and seen == len(notes)) or time.monotonic() - done_at > DRAIN_CAP:
            break
    drain = time.monotonic() - done_at
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = [got[uid][nid] - sent[eid] for nid, (eid, uid) in notes.items() if nid in got[uid] and eid in sent]
    missing = [(nid, uid) for nid, (_eid, uid) in notes.items() if nid not in got[uid]]
    overtaken = sum(1 for nid, uid in missing if any(other > nid for other in got[uid]))
    return {
        "sent": len(sent),
        "created": len(notes),
        "arrived": len(lat),
        "overtaken": overtaken,
        "drain_s": drain,
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "max": percentile(lat, 100),
    }


def _publish_paced(rate: float, seconds: float, offset: int) -> dict[int, float]:
    from django.db import connection

    from medoa.core.events.services import publish

    sent: dict[int, float] = {}
    count = int(rate * seconds)
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        event = publish(EVENT_TYPE, {"n": offset + i, "ward": "心内一病区"})
        sent[event.pk] = time.time()
    connection.close()
    return sent


def _notification_events(event_ids: list[int]) -> dict[int, tuple[int, int]]:
    """The notifications made for ``event_ids``: id → (event id, recipient id)."""
    from django.db import connection

    from medoa.core.notify.models import Notification

    wanted = set(event_ids)
    rows = Notification.objects.filter(data__has_key="event").values_list("pk", "data", "recipient_id")
    out = {pk: (data.get("event"), uid) for pk, data, uid in rows if data.get("event") in wanted}
    connection.close()
    return out


def phase_db(args: argparse.Namespace) -> dict[str, Any]:
    django_setup()
    from django.db import connection

    sizes = QUICK if args.quick else FULL
    cookie, sessions, _users = _setup(args.rules, args.clients)
    result: dict[str, Any] = {"label": args.label}
    result["expressions"] = _expressions(sizes["expr"])
    result["baseline_per_s"] = _baseline(sizes["events"])
    result["throughput"] = _throughput(sizes["events"], args.rules)
    connection.close()

    env = dict(os.environ)
    port = free_port()
    server = start_server("asgi", env, port)
    workers = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--phase", "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(args.workers)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise SystemExit("the bench worker did not start")
        wait_for(f"http://127.0.0.1:{port}/healthz", server)
        time.sleep(1.0)
        phases = {}
        offset = 10_000_000
        for name, rate, seconds in (
            ("baseline", BASELINE_RATE, min(sizes["seconds"], 5.0)),
            ("load", args.rate, sizes["seconds"]),
        ):
            phases[name] = asyncio.run(_latency_phase(port, cookie, sessions, rate, seconds, offset))
            phases[name]["rate"] = rate
            offset += 1_000_000
        result["latency"] = phases
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        server.wait(15)
        for worker in workers:
            worker.wait(30)
    connection.close()
    return result


# --- the parent -----------------------------------------------------------------------------------


def run_phase(name: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"medoa-bench-rules-{name}-"))
    out = data_dir / "result.json"
    db_url = PG_URL if name == "postgres" else ""
    if db_url:
        recreate_database(db_url)
    env = server_env(db_url, data_dir)
    if not db_url:
        env.pop("DATABASE_URL")
    env["MEDOA_ROOT_URLCONF"] = "medoa.config.urls"
    env["DJANGO_SETTINGS_MODULE"] = "medoa.config.settings"
    argv = [sys.executable, str(Path(__file__).resolve()), "--phase", "db", "--out", str(out)]
    argv += ["--label", "SQLite" if not db_url else "PostgreSQL", "--rules", str(args.rules)]
    argv += ["--clients", str(args.clients), "--rate", str(args.rate), "--workers", str(args.workers)] + (
        ["--quick"] if args.quick else []
    )
    print(f"  {name} … (load average {load_average()})", flush=True)
    try:
        done = subprocess.run(argv, env=env, cwd=ROOT, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the {name} phase failed (exit code {done.returncode})")
        data: dict[str, Any] = json.loads(out.read_text())
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if db_url and not args.keep_db:
            recreate_database(db_url, drop_only=True)
    return data


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(f"{args.rules} enabled rules on one event type, one matching per event, one notification each;")
    print(f"every evaluation logged (a row per match, one summary per event); workers: {args.workers}")
    for r in results:
        t = r["throughput"]
        e = r["expressions"]
        print(f"\n{r['label']}")
        print(f"  expressions/s          modulo {e['modulo']:>10,.0f}   date {e['date']:>10,.0f}")
        print(
            f"  baseline (direct)      {r['baseline_per_s']:>10,.0f} events/s ({args.rules} conditions each)"
        )
        print(f"  publish                {t['publish_per_s']:>10,.0f} events/s (one per transaction)")
        print(
            f"  through the rules      {t['events_per_s']:>10,.0f} events/s  = {t['evaluations_per_s']:,.0f} "
            f"rule evaluations/s, {t['actions_per_s']:,.0f} notifications/s"
        )
        print(
            f"  logged                 {t['executions']:,} executions + {t['summaries']:,} summaries "
            f"naming {t['not_matched']:,} not-matched evaluations"
        )
        print(f"  publish + rules        {t['end_to_end_per_s']:>10,.0f} events/s")
        for name, lat in r["latency"].items():
            print(
                f"  event→browser {name:<8} {lat['rate']:>5.0f}/s  created {lat['created']}/{lat['sent']}"
                f"  arrived {lat['arrived']}/{lat['sent']} ({lat['overtaken']} missing after a newer one)"
                f"  p50 {lat['p50']:6.0f} ms  p95 {lat['p95']:6.0f} ms  max {lat['max']:6.0f} ms"
                f"  (all in {lat['drain_s']:.1f} s after the last publish)"
            )
    load = [r["latency"]["load"] for r in results]
    ok = all(x["p95"] < 1000 and x["arrived"] == x["sent"] for x in load)
    verdict = "PASS" if ok else "FAIL"
    print(f"\ngoal p95 < 1 s at {args.rate:.0f} events/s, every notification delivered: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="worker processes in the latency run")
    parser.add_argument("--phase", choices=["db", "worker"], default=None)
    parser.add_argument("--label", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.phase == "worker":
        phase_worker()
        return 0
    if args.phase == "db":
        Path(args.out).write_text(json.dumps(phase_db(args)))
        return 0
    print(f"bench/rules.py — load average {load_average()}, {os.cpu_count()} CPUs")
    phases = [args.only] if args.only else ["sqlite", "postgres"]
    report([run_phase(name, args) for name in phases], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
