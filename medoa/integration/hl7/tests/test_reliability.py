"""Never lose a message, never process one twice: 2,000 messages over MLLP while the listener
(`medoa mllp`) and the worker (`medoa worker`) are killed with SIGKILL ten times at random moments.
The senders resend, with the same MSH-10, whatever was not acknowledged.

At the end: every message stored once as itself (0 missing), every one processed, and no event
published twice for one message (0 processed twice). PostgreSQL only (concurrency), and slow.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from medoa.cli import ensure_key_file
from medoa.core.events.models import Event
from medoa.core.org.models import Department
from medoa.integration.hl7.models import Message, Sender

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only (DATABASE_URL)"
    ),
]

TOTAL = 2000
SENDERS = 8
KILLS = 10
ACK_TIMEOUT = 5.0
SECONDS = 40.0  # the senders are paced so that the messages flow over this long, kills among them


def reliability_message(i: int) -> bytes:
    ts = f"2026112612{(i // 60) % 60:02d}{i % 60:02d}"
    patient = f"R{i:05d}^^^REL^MR"
    pv1 = f"PV1|1|I|CARD-W1^{i % 40}^{i}^REL||||D001^LI^SI||||CARD||||||||V{i:06d}"
    if i % 2:
        segments = [
            f"MSH|^~\\&|RELHIS|REL|MEDOA|OA|{ts}||ORU^R01|REL{i:06d}|P|2.5",
            f"PID|1||{patient}||WANG^WU||19700101|F",
            pv1,
            f"OBR|1|O{i}|F{i}|CBC^CBC^L|||{ts}",
            f"OBX|1|NM|WBC^WBC^L||6.1|10*9/L|3.5-9.5|N|||F|||{ts}",
        ]
    else:
        segments = [
            f"MSH|^~\\&|RELHIS|REL|MEDOA|OA|{ts}||ADT^A01|REL{i:06d}|P|2.5",
            f"EVN|A01|{ts}",
            f"PID|1||{patient}||WANG^WU||19700101|F",
            pv1,
        ]
    return b"\x0b" + "\r".join(segments).encode() + b"\r\x1c\x0d"


def _env(data_dir: Path) -> dict[str, str]:
    settings = connection.settings_dict
    user, host = settings["USER"] or "postgres", settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    url = f"postgres://{user}@{host}:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDOA_", "DJANGO_"))}
    env.update(
        MEDOA_ENV="test",
        MEDOA_DATA_DIR=str(data_dir),
        DATABASE_URL=url + settings["NAME"],
        MEDOA_HL7_ALLOW_CACHE_SECONDS="5",
    )
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = settings["PASSWORD"]
    return env


class Proc:
    """A `medoa` child process that is killed with SIGKILL and started again."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


_stats_lock = threading.Lock()


def _count(stats: Counter[str], what: str) -> None:
    with _stats_lock:
        stats[what] += 1


def _wait_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the MLLP listener did not start")


def _sender(
    port: int, numbers: list[int], acked: dict[int, str], stats: Counter[str], stop: threading.Event
) -> None:
    sock: socket.socket | None = None
    pace = SECONDS / len(numbers)
    for i in numbers:
        frame = reliability_message(i)
        time.sleep(pace)
        attempts = 0
        while not stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=ACK_TIMEOUT)
                    _count(stats, "connections")
                attempts += 1
                _count(stats, "sent" if attempts == 1 else "sent again")
                sock.sendall(frame)
                data = b""
                while not data.endswith(b"\x1c\x0d"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    data += chunk
                text = data.decode()
                code = text[text.index("\rMSA|") + 5 :][:2]
                if code not in ("AA", "CA"):
                    _count(stats, f"ack {code}")
                    raise ConnectionError(f"ACK {code}")
                acked[i] = code
                break
            except (OSError, ValueError):
                _count(stats, "connection failures")
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(0.05)
    if sock is not None:
        sock.close()


def test_kill_listener_and_worker_ten_times_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    card = Department.objects.create(code="CARD", name_zh="心血管内科", kind="department")
    Department.objects.create(code="CARD-W1", name_zh="心内一病区", kind="ward", parent=card)
    Sender.objects.create(name="rel", address="127.0.0.1", facility="*", scopes=["hl7:*"])
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    ensure_key_file(data_dir)
    env = _env(data_dir)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    medoa = [sys.executable, "-m", "medoa", "--data-dir", str(data_dir)]
    listener = Proc(
        "listener", [*medoa, "mllp", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path / "mllp.log"
    )
    worker = Proc("worker", [*medoa, "worker", "--interval", "0.2"], env, tmp_path / "worker.log")
    listener.start()
    worker.start()
    _wait_listening(port, 180)

    acked: dict[int, str] = {}
    stats: Counter[str] = Counter()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_sender, args=(port, list(range(n, TOTAL, SENDERS)), acked, stats, stop))
        for n in range(SENDERS)
    ]
    rng = random.Random(20261126)
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        # ten kills at random moments while the messages flow, five each
        victims = [listener] * 5 + [worker] * 5
        rng.shuffle(victims)
        for victim in victims:
            time.sleep(rng.uniform(1.0, 5.0))
            victim.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            victim.start()
            if victim is listener:  # the next kill hits a listener at work, not one starting up
                _wait_listening(port, 180)
        for t in threads:
            t.join(600)
        assert len(acked) == TOTAL, f"only {len(acked)} acknowledged; {dict(stats)}"
        sending_seconds = time.monotonic() - started
        # the worker drains what is stored
        deadline = time.monotonic() + 300
        while Message.objects.filter(status="received").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        listener.stop()
        worker.stop()

    rows = list(Message.objects.values("id", "control_id", "status", "duplicate_of_id"))
    own = Counter(r["control_id"] for r in rows if r["status"] != "duplicate")
    expected = {f"REL{i:06d}" for i in range(TOTAL)}
    missing = expected - set(own)
    twice_stored = [c for c, n in own.items() if n > 1]
    statuses = Counter(r["status"] for r in rows)
    events = list(Event.objects.filter(payload__source__startswith="hl7:").values_list("type", "payload"))
    per_message = Counter((kind, payload.get("source")) for kind, payload in events)
    twice_processed = [key for key, n in per_message.items() if n > 1]
    sources = {payload.get("source") for _kind, payload in events}
    own_ids = {f"hl7:{r['id']}" for r in rows if r["status"] != "duplicate"}
    report: dict[str, Any] = {
        "acknowledged": len(acked),
        "kills": {"listener": listener.kills, "worker": worker.kills},
        "statuses": dict(statuses),
        "sender": dict(stats),
        "events": len(events),
        "seconds sending": round(sending_seconds, 1),
    }
    print("reliability:", report)
    assert listener.kills + worker.kills == KILLS
    assert missing == set(), report
    assert twice_stored == [], report
    assert statuses.get("received", 0) == 0, report
    assert twice_processed == [], report
    # every message that processing took up published its events once; no event for a duplicate row
    assert sources <= own_ids, report
    assert statuses["processed"] == TOTAL, report
