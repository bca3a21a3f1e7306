"""HL7 v2 receiving benchmark: 8 concurrent MLLP senders on loopback, a mix of ADT and ORU, on
PostgreSQL and on SQLite.

    .venv/bin/python bench/hl7.py [--quick] [--messages 16000] [--senders 8] [--only sqlite|postgres]

Per database (each in a child process of its own: ``--phase sqlite|postgres``, Django set up as
bench/events.py does, PostgreSQL in a database of its own, ``medoa_bench_hl7``, created and dropped):

1. **acknowledged** — the MLLP listener (``MllpServer``, group commit) in another process
   (``--phase listener``); ``--senders`` connections each send their share of ``--messages``
   messages, one at a time (send, wait for the ACK, send the next — what an HIS interface does).
   Every ACK comes after the message's row is committed durably (PostgreSQL ``synchronous_commit``
   on, SQLite ``synchronous=FULL``). Messages per second = all ACKs ÷ the time from the first send
   to the last ACK; ACK latency p50/p95 per message (send → ACK read). The listener's CPU time per
   message (all its threads) is printed too: on 2 shared cores, a figure other work distorts less.
2. **processed** — then ``medoa worker`` in another process drains what was stored (parse with
   python-hl7, map the codes, write core/clinical, publish the events): messages per second =
   processed messages ÷ (last ``processed_at`` − first), and the statuses they ended in.

The messages: ADT^A01 admissions (a quarter), ADT^A08 updates, and ORU^R01 results with three OBX
(half of all), for 1,000 patients, ward ``CARD-W1`` of department ``CARD`` (made here, so that
the codes map). Goals on 2 cores: 2,000 acknowledged and 1,000 processed per second on PostgreSQL.
Tests never assert timings; this script prints them. Check ``uptime`` first: other work on the
machine lowers every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on the path, and this file would then be found
# as python-hl7's ``hl7`` package: take the folder out, and put the project root in.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.events import load_average, setup_django  # noqa: E402
from bench.flow import percentile, recreate_database  # noqa: E402

PG_URL = os.environ.get("MEDOA_BENCH_PG", "postgres://postgres@127.0.0.1:5432/medoa_bench_hl7")
GOAL_ACK = 2000.0
GOAL_PROCESSED = 1000.0
FULL = {"messages": 16000}
QUICK = {"messages": 3000}


# --- messages --------------------------------------------------------------------------------------


def hl7_message(i: int) -> str:
    """Message ``i`` of the mix: A01, ORU, A08, ORU (repeating), patient ``i % 1000``."""
    patient = f"BP{i % 1000:05d}"
    ts = f"202611261{(i // 3600) % 10}{(i // 60) % 60:02d}{i % 60:02d}"
    kind = ("ADT^A01", "ORU^R01", "ADT^A08", "ORU^R01")[i % 4]
    msh = f"MSH|^~\\&|BENCHHIS|BENCH|MEDOA|OA|{ts}||{kind}|B{i:08d}|P|2.5|||||CHN|UNICODE UTF-8"
    pid = f"PID|1||{patient}^^^BENCH^MR||王^小明^^^^^L||19700101|M|||建设路1号^^示范市"
    bed = f"CARD-W1^{100 + i % 30}^{1 + i % 3}^BENCH"
    pv1 = f"PV1|1|I|{bed}||||D{i % 20:03d}^李^医生||||CARD||||||||V{i % 1000:06d}"
    if kind.startswith("ADT"):
        segments = [msh, f"EVN|{kind[4:]}|{ts}", pid, pv1]
    else:
        segments = [
            msh,
            pid,
            pv1,
            f"ORC|RE|O{i}|F{i}",
            f"OBR|1|O{i}|F{i}|CBC^血常规^L|||{ts}",
            f"OBX|1|NM|WBC^白细胞^L||{5 + i % 7}.2|10*9/L|3.5-9.5|N|||F|||{ts}",
            f"OBX|2|NM|HGB^血红蛋白^L||{120 + i % 30}|g/L|115-150|N|||F|||{ts}",
            f"OBX|3|NM|PLT^血小板^L||{150 + i % 100}|10*9/L|125-350|N|||F|||{ts}",
        ]
    return "\r".join(segments) + "\r"


# --- phases: the listener (child of a database phase) ----------------------------------------------


def phase_listener(args: argparse.Namespace) -> None:
    setup_django(args.data_dir, args.db_url or None)
    from medoa.integration.hl7.mllp import MllpServer

    server = MllpServer(
        host="127.0.0.1", port=int(args.port), max_connections=64, committers=int(args.committers) or None
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, server.request_stop)
        await server.start()
        print("ready", flush=True)
        assert server._stop_event is not None
        await server._stop_event.wait()
        await server.shutdown()

    cpu = time.process_time()
    asyncio.run(main())
    cpu = time.process_time() - cpu  # every thread's: the loop's and the committers'
    if server.stats.frames:
        Path(args.out).write_text(json.dumps({"cpu_ms": cpu * 1000 / server.stats.frames}))


class Child:
    def __init__(self, argv: list[str], env: dict[str, str], *, ready: str | None = None) -> None:
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if ready is not None:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().strip()
            if line != ready:
                self.proc.kill()
                raise SystemExit(f"{argv[-1]}: did not start ({line!r})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _child_env(args: argparse.Namespace, db_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["MEDOA_ENV"] = "test"
    env["MEDOA_HL7_ALLOW_CACHE_SECONDS"] = "5"  # as in production (the test profile reads it every time)
    env["MEDOA_DATA_DIR"] = args.data_dir
    env["DJANGO_SETTINGS_MODULE"] = "medoa.config.settings"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("MEDOA_KEY_FILE", None)
    if db_url:
        env["DATABASE_URL"] = db_url
        # as in production on PostgreSQL (the test profile keeps processing in the worker's thread)
        env["MEDOA_HL7_PROCESSOR"] = "process"
    else:
        env.pop("DATABASE_URL", None)
    return env


# --- senders ---------------------------------------------------------------------------------------


async def _sender(port: int, messages: list[bytes], latencies: list[float], codes: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for frame in messages:
            started = time.perf_counter()
            writer.write(frame)
            await writer.drain()
            data = await reader.readuntil(b"\x1c\x0d")
            latencies.append(time.perf_counter() - started)
            text = data.decode("utf-8", "replace")
            at = text.find("\rMSA|")
            code = text[at + 5 : at + 7] if at >= 0 else "??"
            codes[code] = codes.get(code, 0) + 1
    finally:
        writer.close()
        await writer.wait_closed()


async def _send_all(port: int, count: int, senders: int) -> tuple[float, list[float], dict[str, int]]:
    frames = [b"\x0b" + hl7_message(i).encode("utf-8") + b"\x1c\x0d" for i in range(count)]
    shares = [frames[n::senders] for n in range(senders)]
    latencies: list[float] = []
    codes: dict[str, int] = {}
    started = time.perf_counter()
    await asyncio.gather(*(_sender(port, share, latencies, codes) for share in shares))
    return time.perf_counter() - started, latencies, codes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- phases: one database --------------------------------------------------------------------------


def phase_db(args: argparse.Namespace, label: str, db_url: str | None) -> dict[str, Any]:
    if db_url:
        recreate_database(db_url)
    setup_django(args.data_dir, db_url)
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Max, Min

    from medoa.core.org.models import Department
    from medoa.integration.hl7.models import Message, Sender

    call_command("migrate", interactive=False, verbosity=0)
    card = Department.objects.create(code="CARD", name_zh="心血管内科", kind="department")
    Department.objects.create(code="CARD-W1", name_zh="心内一病区", kind="ward", parent=card)
    Sender.objects.create(name="bench", address="127.0.0.1", facility="*", scopes=["hl7:*"])
    connection.close()

    count = int(args.messages or (QUICK if args.quick else FULL)["messages"])
    env = _child_env(args, db_url)
    port = _free_port()
    me = [sys.executable, str(Path(__file__).resolve())]
    listener = Child(
        [
            *me,
            *("--phase", "listener", "--data-dir", args.data_dir, "--db-url", db_url or ""),
            *("--port", str(port), "--committers", str(args.committers)),
            *("--out", str(Path(args.data_dir) / "listener.json")),
        ],
        env,
        ready="ready",
    )
    try:
        # a short warm-up (connections, prepared statements), not counted
        asyncio.run(_send_all(port, 0, 1))
        wall, latencies, codes = asyncio.run(_send_all(port, count, int(args.senders)))
    finally:
        listener.stop()
    stored = Message.objects.filter(status="received").count()
    listener_file = Path(args.data_dir) / "listener.json"
    listener_cpu = json.loads(listener_file.read_text())["cpu_ms"] if listener_file.exists() else 0.0
    result: dict[str, Any] = {
        "label": label,
        "messages": count,
        "senders": int(args.senders),
        "committers": int(args.committers),
        "ack_per_s": count / wall,
        "ack_p50": percentile(latencies, 50),
        "ack_p95": percentile(latencies, 95),
        "codes": codes,
        "stored": stored,
        "listener_cpu_ms": listener_cpu,
    }
    print(f"    {label}: {count / wall:,.0f} acknowledged/s; processing …", flush=True)

    # processing: the worker drains the stored messages
    worker = Child(
        [sys.executable, "-m", "medoa", "--data-dir", args.data_dir, "worker", "--interval", "0.2"], env
    )
    deadline = time.monotonic() + float(args.process_timeout)
    try:
        while time.monotonic() < deadline:
            if not Message.objects.filter(status="received").exists():
                break
            time.sleep(0.5)
    finally:
        worker.stop()
    statuses = dict(Message.objects.values_list("status").annotate(n=Count("id")).order_by())
    done = Message.objects.exclude(status="received").filter(processed_at__isnull=False)
    span = done.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    processed = done.count()
    seconds = (span["last"] - span["first"]).total_seconds() if processed > 1 else float("nan")
    result.update(
        {
            "processed": processed,
            "processed_per_s": processed / seconds if seconds and seconds == seconds else 0.0,
            "statuses": statuses,
            "left_received": statuses.get("received", 0),
        }
    )
    connection.close()
    if db_url and not args.keep_db:
        recreate_database(db_url, drop_only=True)
    return result


# --- the parent ------------------------------------------------------------------------------------


def run_phase(name: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix=f"medoa-bench-hl7-{name}-")
    out = Path(data_dir) / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDOA_", "DJANGO_", "DATABASE_URL"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, str(Path(__file__).resolve()), "--phase", name, "--data-dir", data_dir]
    argv += [
        "--out",
        str(out),
        "--senders",
        str(args.senders),
        "--process-timeout",
        str(args.process_timeout),
    ]
    argv += ["--committers", str(args.committers)]
    argv += ["--messages", str(args.messages)] if args.messages else []
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


def report(results: list[dict[str, Any]]) -> bool:
    print()
    print(
        f"{'database':<10} {'messages':>8} {'senders':>7} {'ack/s':>7} {'ack p50':>8} {'ack p95':>8} "
        f"{'processed/s':>11}  statuses"
    )
    for r in results:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items()))
        print(
            f"{r['label']:<10} {r['messages']:>8,} {r['senders']:>7} {r['ack_per_s']:>7,.0f} "
            f"{r['ack_p50']:>6.1f}ms {r['ack_p95']:>6.1f}ms {r['processed_per_s']:>11,.0f}  {statuses}"
        )
        codes = ", ".join(f"{k} {v}" for k, v in sorted(r["codes"].items()))
        print(f"{'':<10} ACK codes: {codes}; stored as received before processing: {r['stored']:,}")
        print(f"{'':<10} the listener's CPU per message: {r.get('listener_cpu_ms', 0.0):.3f} ms")
    print()
    ok = True
    for r in results:
        if r["label"] != "postgres":
            continue
        ack_ok = r["ack_per_s"] >= GOAL_ACK and r["codes"].get("AA", 0) == r["messages"]
        proc_ok = r["processed_per_s"] >= GOAL_PROCESSED and r["left_received"] == 0
        verdict = "PASS" if ack_ok else "FAIL"
        print(f"goal: ≥ {GOAL_ACK:,.0f} acknowledged/s on PostgreSQL: {r['ack_per_s']:,.0f} → {verdict}")
        print(
            f"goal: ≥ {GOAL_PROCESSED:,.0f} processed/s on PostgreSQL: {r['processed_per_s']:,.0f} → "
            f"{'PASS' if proc_ok else 'FAIL'}"
        )
        ok = ok and ack_ok and proc_ok
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument(
        "--committers",
        type=int,
        default=0,
        help="transactions at once in the listener (default: 2 PG, 1 SQLite)",
    )
    parser.add_argument("--process-timeout", type=float, default=300.0)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--phase", choices=["sqlite", "postgres", "listener"], default=None)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--db-url", default="")
    parser.add_argument("--port", default="0")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)

    if args.phase == "listener":
        phase_listener(args)
        return 0
    if args.phase in ("sqlite", "postgres"):
        db_url = PG_URL if args.phase == "postgres" else None
        result = phase_db(args, args.phase, db_url)
        Path(args.out).write_text(json.dumps(result, default=str))
        return 0

    print(f"bench/hl7.py — load average before: {load_average()}", flush=True)
    names = [args.only] if args.only else ["postgres", "sqlite"]
    results = [run_phase(name, args) for name in names]
    ok = report(results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
