"""Event-bus benchmark: publish through the outbox, deliver to N no-op subscribers, on SQLite and
PostgreSQL, with a baseline of plain function calls in the same run.

    .venv/bin/python bench/events.py [--quick] [--subscribers 1,10] [--rate 100] [--keep-db]

Per database (each in a child process of its own: ``--phase sqlite|postgres``; Django set up with
``MEDOA_ENV=test`` keys, a temporary ``MEDOA_DATA_DIR`` and, for PostgreSQL, a database of its own,
``medoa_bench_events``, created and dropped), for each number of subscribers N:

1. **baseline** — what the bus replaces: validate the payload with its pydantic schema and call the
   N handlers directly, in-process, nothing stored (events per second);
2. **publish** — ``medoa.core.events.publish`` one event per transaction (the event row, N delivery
   rows and, on PostgreSQL, the NOTIFY): events per second, p50/p95 of one publish;
3. **deliver** — drain the outbox with ``dispatch_until_idle`` in-process (claims of 100 with
   ``SKIP LOCKED`` on PostgreSQL, one transaction per delivery): deliveries and events per second;
4. **latency** — a worker in another process (``DispatcherThread``: LISTEN/NOTIFY on PostgreSQL,
   a 0.25 s poll on SQLite) while this process publishes ``--rate`` events per second for
   ``--seconds``; publish→handled latency per delivery (``delivered_at − created_at``, both stamped
   by the database's clients on this machine) and per event (its last delivery), p50/p95/max.

The pieces are reusable (bench/rules.py imports them): ``setup_django``, ``recreate_database``,
``register_bench_bus``, ``publish_at_rate``, ``delivery_latencies``, ``WorkerProcess``,
``percentile``. Tests never assert timings; this script prints them. Check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# the process-engine bench's pieces, shared (bench/rules.py takes them from here)
from bench.flow import percentile, recreate_database  # noqa: E402

sys.path[:] = [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]  # bench/hl7.py would shadow python-hl7

PG_URL = os.environ.get("MEDOA_BENCH_PG", "postgres://postgres@127.0.0.1:5432/medoa_bench_events")
EVENT_TYPE = "bench.item.happened"
FULL = {"events": 2000, "seconds": 10.0}
QUICK = {"events": 300, "seconds": 4.0}


# --- reusable pieces -------------------------------------------------------------------------------


def setup_django(data_dir: str, db_url: str | None) -> None:
    os.environ["MEDOA_ENV"] = "test"
    os.environ["MEDOA_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "medoa.config.settings"
    os.environ.pop("MEDOA_KEY_FILE", None)
    if db_url:
        os.environ["DATABASE_URL"] = db_url
    else:
        os.environ.pop("DATABASE_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def register_bench_bus(subscriber_count: int, handle: Callable[[Any], None] | None = None) -> list[str]:
    """Register ``bench.item.happened`` (payload ``{"n": int, "ward": str}``) and
    ``subscriber_count`` subscribers ``bench.noop_<i>`` on ``bench.*`` (no-op handlers unless
    ``handle`` is given); returns the subscriber names. Call again with another count to replace
    them."""
    from pydantic import BaseModel, ConfigDict

    from medoa.core.events.registry import EventType, Subscriber, event_types, subscribers

    class ItemHappened(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int
        ward: str

    if EVENT_TYPE not in event_types:
        event_types.register(EventType(EVENT_TYPE, ItemHappened, label="bench"))
    for sub in list(subscribers):
        if sub.name.startswith("bench."):
            subscribers.unregister(sub.name)
    names = [f"bench.noop_{i}" for i in range(subscriber_count)]
    for name in names:
        subscribers.register(Subscriber(name, ("bench.*",), handle or (lambda event: None)))
    return names


def publish_at_rate(rate: float, seconds: float, payload: Callable[[int], dict[str, Any]]) -> list[int]:
    """Publish ``rate`` events per second for ``seconds`` (one per transaction, paced on a
    schedule so that a slow publish is caught up); returns the event ids."""
    from medoa.core.events.services import publish

    ids: list[int] = []
    count = int(rate * seconds)
    started = time.monotonic()
    for i in range(count):
        due = started + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ids.append(publish(EVENT_TYPE, payload(i)).pk)
    return ids


def delivery_latencies(event_ids: Iterable[int]) -> tuple[list[float], list[float]]:
    """(per delivery, per event) publish→handled seconds of delivered deliveries."""
    from medoa.core.events.models import Delivery

    per_event: dict[int, float] = {}
    per_delivery: list[float] = []
    rows = Delivery.objects.filter(event_id__in=list(event_ids), status="delivered").values_list(
        "event_id", "event__created_at", "delivered_at"
    )
    for event_id, created, delivered in rows:
        seconds = (delivered - created).total_seconds()
        per_delivery.append(seconds)
        per_event[event_id] = max(per_event.get(event_id, 0.0), seconds)
    return per_delivery, list(per_event.values())


class WorkerProcess:
    """``bench/events.py --phase worker`` in a child process: a ``DispatcherThread`` over the same
    database with the same bench subscribers; ``stop()`` ends it (SIGTERM)."""

    def __init__(
        self, data_dir: str, db_url: str | None, subscribers: int, extra: list[str] | None = None
    ) -> None:
        env = dict(os.environ)
        argv = [sys.executable, str(Path(__file__).resolve()), "--phase", "worker", "--data-dir", data_dir]
        argv += ["--subscribers", str(subscribers), *(extra or [])]
        if db_url:
            argv += ["--db-url", db_url]
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the bench worker did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def wait_delivered(event_ids: list[int], expected: int, timeout: float = 120.0) -> None:
    from medoa.core.events.models import Delivery

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Delivery.objects.filter(event_id__in=event_ids, status="delivered").count() >= expected:
            return
        time.sleep(0.1)
    raise SystemExit("deliveries did not finish in time")


# --- phases ----------------------------------------------------------------------------------------


def phase_worker(args: argparse.Namespace) -> None:
    setup_django(args.data_dir, args.db_url)
    from medoa.core.events.dispatcher import DispatcherThread

    register_bench_bus(int(args.subscribers))
    thread = DispatcherThread(worker_id="bench-worker")
    thread.start()
    stopping = [False]

    def on_term(signum: int, frame: Any) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    while not stopping[0]:
        time.sleep(0.1)
    thread.stop()


def phase_db(args: argparse.Namespace, label: str, db_url: str | None) -> dict[str, Any]:
    if db_url:
        recreate_database(db_url)
    setup_django(args.data_dir, db_url)
    from django.core.management import call_command
    from django.db import connection

    from medoa.core.events.dispatcher import dispatch_until_idle
    from medoa.core.events.models import Delivery, Event
    from medoa.core.events.registry import event_types, subscribers
    from medoa.core.events.services import publish

    call_command("migrate", interactive=False, verbosity=0)
    sizes = FULL if not args.quick else QUICK
    results: dict[str, Any] = {"label": label, "rows": []}
    for n_subs in [int(x) for x in args.subscribers.split(",")]:
        register_bench_bus(n_subs)
        Delivery.objects.all().delete()
        Event.objects.all().delete()
        count = sizes["events"]

        def payload(i: int) -> dict[str, Any]:
            return {"n": i, "ward": "心内一病区"}

        # 1. baseline: validate and call the handlers directly
        hearing = subscribers.for_type(EVENT_TYPE)
        event_type = event_types.get(EVENT_TYPE)
        started = time.perf_counter()
        for i in range(count * 5):
            data = event_type.validate(payload(i))
            for sub in hearing:
                sub.handle(data)  # type: ignore[arg-type]
        baseline = count * 5 / (time.perf_counter() - started)

        # 2. publish, one event per transaction
        times: list[float] = []
        started = time.perf_counter()
        for i in range(count):
            t0 = time.perf_counter()
            publish(EVENT_TYPE, payload(i))
            times.append(time.perf_counter() - t0)
        publish_seconds = time.perf_counter() - started

        # 3. deliver in-process
        started = time.perf_counter()
        delivered = dispatch_until_idle(worker_id="bench")
        deliver_seconds = time.perf_counter() - started
        assert delivered == count * n_subs, (delivered, count * n_subs)

        # 4. latency with a worker in another process
        connection.close()
        worker = WorkerProcess(args.data_dir, db_url, n_subs)
        try:
            time.sleep(1.0)
            ids = publish_at_rate(args.rate, sizes["seconds"], payload)
            wait_delivered(ids, len(ids) * n_subs)
        finally:
            worker.stop()
        per_delivery, per_event = delivery_latencies(ids)
        results["rows"].append(
            {
                "subscribers": n_subs,
                "baseline_per_s": baseline,
                "publish_per_s": count / publish_seconds,
                "publish_p50": percentile(times, 50),
                "publish_p95": percentile(times, 95),
                "deliveries_per_s": delivered / deliver_seconds,
                "events_delivered_per_s": count / deliver_seconds,
                "rate": args.rate,
                "latency_events": len(ids),
                "lat_delivery_p50": percentile(per_delivery, 50),
                "lat_delivery_p95": percentile(per_delivery, 95),
                "lat_event_p50": percentile(per_event, 50),
                "lat_event_p95": percentile(per_event, 95),
                "lat_event_max": percentile(per_event, 100),
            }
        )
    connection.close()
    if db_url and not args.keep_db:
        recreate_database(db_url, drop_only=True)
    return results


# --- the parent ------------------------------------------------------------------------------------


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def run_phase(name: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix=f"medoa-bench-events-{name}-")
    out = Path(data_dir) / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDOA_", "DJANGO_", "DATABASE_URL"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, str(Path(__file__).resolve()), "--phase", name, "--data-dir", data_dir]
    argv += ["--out", str(out), "--subscribers", args.subscribers, "--rate", str(args.rate)]
    argv += ["--quick"] if args.quick else []
    argv += ["--keep-db"] if args.keep_db else []
    print(f"  {name} … (load average {load_average()})", flush=True)
    try:
        result = subprocess.run(argv, env=env, cwd=ROOT, check=False)
        if result.returncode != 0:
            raise SystemExit(f"the {name} phase failed (exit code {result.returncode})")
        data: dict[str, Any] = json.loads(out.read_text())
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return data


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"{'database':<10} {'subs':>4} {'baseline/s':>10} {'publish/s':>9} {'pub p50':>8} "
        f"{'pub p95':>8} {'deliv/s':>8} {'events/s':>8} │ {'at /s':>5} {'del p50':>8} {'del p95':>8} "
        f"{'evt p95':>8} {'evt max':>8}"
    )
    for result in results:
        for r in result["rows"]:
            print(
                f"{result['label']:<10} {r['subscribers']:>4} {r['baseline_per_s']:>10,.0f} "
                f"{r['publish_per_s']:>9,.0f} {r['publish_p50']:>6.2f}ms {r['publish_p95']:>6.2f}ms "
                f"{r['deliveries_per_s']:>8,.0f} {r['events_delivered_per_s']:>8,.0f} │ {r['rate']:>5.0f} "
                f"{r['lat_delivery_p50']:>6.0f}ms {r['lat_delivery_p95']:>6.0f}ms "
                f"{r['lat_event_p95']:>6.0f}ms {r['lat_event_max']:>6.0f}ms"
            )
    print()
    print("baseline: validate + call the handlers directly (no storage); publish: one event per")
    print("transaction; deliv/s: deliveries per second draining in-process, events/s = that ÷ subscribers;")
    print("right of │: a worker in another process while publishing at the given rate: publish→handled")
    print("latency per delivery (del) and per event (evt: its last delivery).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subscribers", default="1,10", help="comma-separated subscriber counts")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second in the latency run")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--phase", choices=["sqlite", "postgres", "worker"], default=None)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--db-url", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)

    if args.phase == "worker":
        phase_worker(args)
        return 0
    if args.phase in ("sqlite", "postgres"):
        db_url = PG_URL if args.phase == "postgres" else None
        data = phase_db(args, "SQLite" if db_url is None else "PostgreSQL", db_url)
        Path(args.out).write_text(json.dumps(data))
        return 0

    print(f"bench/events.py — load average {load_average()}, {os.cpu_count()} CPUs")
    phases = [args.only] if args.only else ["sqlite", "postgres"]
    results = [run_phase(name, args) for name in phases]
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
