"""Notification push benchmark: event-to-browser latency with real SSE clients.

    .venv/bin/python bench/notify.py [--db sqlite|postgresql] [--clients 40] [--rate 200] [--seconds 10]

What it does:

1. makes a fresh database (SQLite in a temporary data directory, or the PostgreSQL database
   ``medoa_notify_bench`` with ``--db postgresql``), migrates it, creates ``--clients`` staff and
   signs each in (a session cookie each);
2. starts a web server as a separate process and opens one real server-sent-events connection
   per person to ``/notifications/stream/`` (HTTP/1.1 over asyncio sockets, as a browser's
   EventSource does), waiting for each stream's ``hello``;
3. starts the sender, another process that calls ``notification_send`` for a random one of the
   people, paced at ``--rate`` per second for ``--seconds``, and records when each commit
   returned; each client records when the event with that id arrived;
4. prints, per server and phase, how many arrived and the latency p50/p95/p99/max.

Servers and phases (all in the same run):

* ``asgi`` — ``gunicorn -k asgi medoa.config.asgi:application`` (one worker process, no thread
  per stream): the production way to serve ``/notifications/stream/`` behind the proxy;
* ``wsgi`` — ``medoa serve --workers 2 --threads 4`` (gthread, what ``medoa demo`` runs): streams
  hold threads, so each process keeps at most ``MEDOA_NOTIFY_STREAM_SLOTS`` (2) live streams;
  the run uses 2 clients there (the others would be told to poll every 15 s);
* each server first gets the *baseline* phase (2 notifications per second: the latency of one
  push on an idle system), then the *load* phase (``--rate``).

The goal (issue 5): p95 under 1 s at 200 notifications per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.web import free_port, recreate_database, run_step, server_env, wait_for  # noqa: E402

PG_URL = "postgres://postgres@127.0.0.1:5432/medoa_notify_bench"
WSGI_CLIENTS = 2  # one process can hold them both whichever process gunicorn gives them to
BASELINE_RATE = 2.0

SETUP = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.test import Client
from medoa.core.org.tests.factories import DepartmentFactory, StaffFactory

# bench/hl7.py would shadow python-hl7 ("import hl7") for a script run from this folder
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
dept = DepartmentFactory(code="bench", name_zh="压测科")
out = {}
for i in range(int(sys.argv[1])):
    staff = StaffFactory(department=dept, user__username=f"bench{i}")
    c = Client()
    c.force_login(staff.user)
    out[staff.user_id] = c.cookies[settings.SESSION_COOKIE_NAME].value
print(json.dumps({"cookie": settings.SESSION_COOKIE_NAME, "sessions": out}))
"""


def sender(users: list[int], rate: float, seconds: float, out: str) -> None:
    """The other process: notifications paced at ``rate``; the commit time of each id."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from medoa.core.notify.services import notification_send

    people = list(get_user_model().objects.filter(pk__in=users))
    sent: dict[int, float] = {}
    start = time.monotonic()
    n = 0
    while True:
        due = start + n / rate
        now = time.monotonic()
        if due - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        [row] = notification_send(recipients=[random.choice(people)], title=f"压测通知 {n}", kind="info")
        sent[row.pk] = time.time()
        n += 1
    lag = time.monotonic() - start - seconds
    Path(out).write_text(json.dumps({"sent": sent, "lag": lag}))


async def sse_client(
    port: int, cookie: str, got: dict[int, float], ready: asyncio.Event, stop: asyncio.Event
) -> None:
    last = None
    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        extra = f"Last-Event-ID: {last}\r\n" if last else ""
        writer.write(
            (
                "GET /notifications/stream/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                f"Cookie: {cookie}\r\n{extra}Connection: keep-alive\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        buf = b""
        try:
            while not stop.is_set():
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), 0.5)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                now = time.time()
                buf += chunk
                if b"event: hello" in buf:
                    ready.set()
                for m in re.finditer(rb"\nid: (\d+)\n", buf):
                    got.setdefault(int(m.group(1)), now)
                    last = int(m.group(1))
                buf = buf[-64:]
        finally:
            writer.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def run_phase(
    port: int, env: dict[str, str], sessions: dict[str, str], cookie_name: str, rate: float, seconds: float
) -> dict[str, float]:
    got: dict[int, float] = {}
    stop = asyncio.Event()
    readies = []
    tasks = []
    for session in sessions.values():
        ready = asyncio.Event()
        readies.append(ready)
        tasks.append(asyncio.create_task(sse_client(port, f"{cookie_name}={session}", got, ready, stop)))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    out = tempfile.mktemp(suffix=".json")
    users = ",".join(sessions)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--send",
        users,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--out",
        out,
        env=env,
        cwd=str(ROOT),
    )
    await proc.wait()
    await asyncio.sleep(2.0)  # the last ones in flight
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    data = json.loads(Path(out).read_text())
    os.unlink(out)
    sent = {int(k): v for k, v in data["sent"].items()}
    lat = [got[i] - t for i, t in sent.items() if i in got]
    return {
        "sent": len(sent),
        "arrived": len(lat),
        "p50": percentile(lat, 50) * 1000,
        "p95": percentile(lat, 95) * 1000,
        "p99": percentile(lat, 99) * 1000,
        "max": max(lat) * 1000 if lat else float("nan"),
        "lag": max(0.0, data["lag"]),
    }


def start_server(kind: str, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    if kind == "asgi":
        argv = [
            str(ROOT / ".venv/bin/gunicorn"),
            "-k",
            "asgi",
            "-w",
            "1",
            "--worker-connections",
            "2000",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "medoa.config.asgi:application",
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "medoa",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--threads",
            "4",
        ]
    return subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--db-url", default=PG_URL)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--servers", default="asgi,wsgi")
    parser.add_argument("--send", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        sender([int(u) for u in args.send.split(",")], args.rate, args.seconds, args.out)
        return

    data_dir = Path(tempfile.mkdtemp(prefix="medoa-notify-bench-"))
    if args.db == "postgresql":
        recreate_database(args.db_url)
        env = server_env(args.db_url, data_dir)
    else:
        env = server_env("", data_dir)
        env.pop("DATABASE_URL")
    env["MEDOA_ROOT_URLCONF"] = "medoa.config.urls"
    env["DJANGO_SETTINGS_MODULE"] = "medoa.config.settings"
    print(
        f"notify bench on {args.db}: {args.clients} SSE clients, "
        f"{args.rate:.0f} notifications/s for {args.seconds:.0f} s"
    )
    run_step("migrate", [sys.executable, "-m", "medoa", "manage", "migrate", "-v", "0"], env)
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, str(args.clients)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    made = json.loads(setup.stdout.strip().splitlines()[-1])
    sessions: dict[str, str] = made["sessions"]

    rows = []
    for kind in args.servers.split(","):
        port = free_port()
        proc = start_server(kind, env, port)
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", proc)
            chosen = sessions if kind == "asgi" else dict(list(sessions.items())[:WSGI_CLIENTS])
            for phase, rate in (("baseline", BASELINE_RATE), ("load", args.rate)):
                seconds = args.seconds if phase == "load" else min(args.seconds, 5.0)
                r = asyncio.run(run_phase(port, env, chosen, made["cookie"], rate, seconds))
                rows.append((kind, phase, len(chosen), rate, r))
                print(
                    f"  {kind:4} {phase:8} clients={len(chosen):3} rate={rate:5.0f}/s"
                    f"  arrived {r['arrived']}/{r['sent']}  p50 {r['p50']:6.0f} ms  p95 {r['p95']:6.0f} ms"
                    f"  p99 {r['p99']:6.0f} ms  max {r['max']:6.0f} ms"
                    f"  (sent {r['sent'] / (seconds + r['lag']):.0f}/s)",
                    flush=True,
                )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
    load = [r for kind, phase, _c, _rate, r in rows if phase == "load"]
    ok = all(r["p95"] < 1000 and r["arrived"] == r["sent"] for r in load)
    print(
        f"goal p95 < 1 s at {args.rate:.0f}/s with every notification delivered: {'PASS' if ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
