"""End to end through the real MLLP socket: the ``medoa mllp`` listener runs as a subprocess on the
test database (a module may not import the integration layer), the worker's periodic jobs run in
this process (HL7 processing → the event bus → this module's subscriber → notify → the SMS
gateway, a real HTTP server here). An ORU^R01 with OBX-8 HH for a patient whose encounter's
attending doctor is a staff member reaches the doctor within 2 seconds of the ACK; with no
acknowledgement the department head is alerted after the (shortened) limit — by a worker started
after the first one stopped, as the escalation state lives in the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from medoa.core.clinical.models import Encounter
from medoa.core.events.models import Event
from medoa.core.notify.models import Notification
from medoa.core.registries import PeriodicJob, demo_loaders, periodic_jobs
from medoa.core.runtime.worker import PeriodicJobsThread
from medoa.modules.quality.models import AlertStatus, CriticalAlert
from medoa.modules.quality.services import alerts_escalate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

START, END = b"\x0b", b"\x1c\x0d"
REPO = Path(__file__).resolve().parents[4]


def database_env() -> dict[str, str]:
    """How the subprocess finds this test's database."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"MEDOA_E2E_SQLITE": str(s["NAME"])}
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or "127.0.0.1"
    return {"DATABASE_URL": f"postgres://{user}{password}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def mllp(hospital: Any, settings: Any, tmp_path: Path) -> Iterator[int]:
    """``medoa mllp`` on a free loopback port, on this test's database, with the demo allow-list.
    Both processes share a data directory: on SQLite the listener wakes the worker's HL7
    processor by touching a file there (else the processor finds the message at its next poll,
    up to a second later)."""
    settings.DATA_DIR = tmp_path
    demo_loaders.get("hl7").load(password="unused")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "medoa.modules.quality.tests.e2e_settings",
        **database_env(),
        "MEDOA_DATA_DIR": str(tmp_path),
    }
    log = open(os.environ.get("MEDOA_E2E_LOG", os.devnull), "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "medoa", "mllp", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"medoa mllp exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise AssertionError("medoa mllp did not start listening")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


class SmsGateway:
    """A real HTTP server taking the SMS channel's ``{"phone", "text"}`` posts."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                gateway.received.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def worker(escalate_every: float = 0.25) -> PeriodicJobsThread:
    """The worker's periodic jobs in this process (what ``medoa worker`` runs), with the
    escalation job on a short turn."""
    jobs = [j for j in periodic_jobs if j.key != "quality.critical_escalate"]
    jobs.append(PeriodicJob("quality.critical_escalate", alerts_escalate, escalate_every))
    thread = PeriodicJobsThread(worker_id="e2e", jobs=jobs, tick=0.05)
    thread.start()
    return thread


def hl7(*segments: str) -> bytes:
    return START + "\r".join(segments).encode() + END


def msh(kind: str, control: str) -> str:
    return f"MSH|^~\\&|HIS|DEMO_HOSPITAL|MEDOA|MEDOA|20261126101500||{kind}|{control}|P|2.5"


def pv1(doctor: str) -> str:
    fields = [""] * 20
    fields[:4] = ["PV1", "1", "I", "W5^501^12"]
    fields[7] = f"{doctor}^Li^Si"
    fields[10] = "CARD"
    fields[19] = "V9001"
    return "|".join(fields)


def send(port: int, frame: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(frame)
        data = b""
        while END not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def wait_for(check: Any, timeout: float, step: float = 0.005) -> float:
    """Poll ``check()`` until true; the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


def test_oru_hh_reaches_the_doctor_within_2_seconds_and_escalates_without_ack(hospital, mllp, settings):
    hospital.doctor.phone = "13800000001"
    hospital.doctor.save()
    sms = SmsGateway()
    settings.MEDOA_NOTIFY_CHANNELS = "sms"
    settings.MEDOA_NOTIFY_SMS_URL = sms.url
    settings.MEDOA_CRITICAL_ACK_MINUTES = 0.05  # 3 s
    settings.MEDOA_CRITICAL_ESCALATE_MINUTES = 0.05
    doctor = hospital.doctor.user
    first = worker()
    try:
        ack = send(
            mllp,
            hl7(
                msh("ADT^A01", "e2e-adt"),
                "EVN|A01|20261126101400",
                "PID|1||MRN9001^^^HIS^MR||张^三||19800101|M",
                pv1("D100"),
            ),
        )
        assert b"MSA|AA|e2e-adt" in ack
        wait_for(
            lambda: Encounter.objects.filter(visit_number="V9001", attending_doctor="dr_li").exists(), 15
        )

        ack = send(
            mllp,
            hl7(
                msh("ORU^R01", "e2e-oru"),
                "PID|1||MRN9001^^^HIS^MR||张^三",
                pv1(""),
                "OBR|1|P1|F1|K^血钾^L|||20261126100000|||||||||D101^Zhao||||||20261126101000|||F",
                "OBX|1|NM|K^血钾^L||6.9|mmol/L|3.5-5.5|HH|||F|||20261126100500",
            ),
        )
        acked = time.monotonic()
        assert b"MSA|AA|e2e-oru" in ack
        notified = wait_for(
            lambda: Notification.objects.filter(recipient=doctor, kind="critical").exists(), 2.0
        )
        latency = notified - acked
        texted = wait_for(lambda: bool(sms.received), 10)
        sms_latency = texted - acked
        alert = CriticalAlert.objects.get()
        event = Event.objects.get(type="clinical.critical_value.received")
        note = Notification.objects.get(recipient=doctor)
        opened_ms = (alert.notified_at - event.created_at).total_seconds() * 1000
        row_ms = (note.created_at - alert.notified_at).total_seconds() * 1000
        print(
            f"\nevent published → alert opened: {opened_ms:.0f} ms; alert → notification row: {row_ms:.0f} ms"
        )
        print(
            f"MLLP ACK → doctor's notification: {latency * 1000:.0f} ms; → SMS: {sms_latency * 1000:.0f} ms"
        )
        assert latency < 2.0
        assert (alert.responsible, alert.routed_to, alert.test_code, alert.flag, alert.bed) == (
            doctor,
            "attending",
            "K",
            "HH",
            "12",
        )
        [(_, text)] = sms.received
        assert text["phone"] == "13800000001" and "血钾" in text["text"] and "6.9" in text["text"]
    finally:
        first.stop()

    # the worker is gone; no acknowledgement comes. A new worker escalates once the limit passes.
    time.sleep(0.5)
    second = worker()
    try:
        escalated = wait_for(
            lambda: CriticalAlert.objects.filter(escalation_level__gte=1).exists(),
            alert.ack_limit_seconds + 10,
            0.05,
        )
        alert.refresh_from_db()
        assert alert.status == AlertStatus.ESCALATED
        assert Notification.objects.filter(recipient=hospital.head.user, kind="critical").exists()
        overdue = (alert.escalated_1_at - alert.ack_due_at).total_seconds()
        after = escalated - acked
        print(
            f"escalation to the department head {overdue * 1000:.0f} ms after the limit "
            f"({after:.1f} s after the ACK)"
        )
        assert 0 <= overdue < 2.0
        wait_for(
            lambda: CriticalAlert.objects.filter(escalation_level=2).exists(),
            alert.escalate_limit_seconds + 10,
            0.05,
        )
        assert Notification.objects.filter(recipient=hospital.medical.user, kind="critical").exists()
    finally:
        second.stop()
        sms.close()
