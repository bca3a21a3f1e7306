"""The two clinical loops, timed from the HIS's side: MLLP ACK → the cleaning task exists (after an
ADT^A03 discharge), and MLLP ACK → the attending doctor's critical-value notification (after an
ORU^R01 with OBX-8 HH), with 50 messages per second of background traffic. PostgreSQL only.

    .venv/bin/python bench/loops.py [--quick] [--loops 40] [--background 50] [--beds 300]

Setup (database ``medoa_bench_loops``, created and dropped; name overridable with
``MEDOA_BENCH_PG``, it must contain ``bench``): migrate; a hospital with one ward ``CARD-W1`` of
``--beds`` beds (rooms of three), mapped for facility ``DEMO_HOSPITAL`` as HIS ward ``BQ01``; a
housekeeper, a doctor (employee number ``E1001``, the attending of every patient), a head nurse,
a logistics supervisor, an IT administrator; the cleaning process deployed; every bed occupied
through ``core.clinical.apply_encounter`` and the bed board's subscriber.

Then the real processes: ``medoa mllp`` (the listener) and ``medoa worker`` (HL7 processing, the
event dispatcher, the process engine), each a process of its own, as in production. One
connection sends background traffic at ``--background`` messages per second (ADT^A08 updates and
normal ORU^R01 results of occupied beds, through the whole pipeline); another sends the measured
messages one at a time, alternately a discharge of an occupied bed and a critical potassium for a
patient of the doctor, every ``--gap`` seconds. For each, the time from reading the ACK to

- the cleaning task's row (``flow.HumanTask.created_at`` of the bed's cleaning process), and
- the doctor's notification (``notify.Notification.created_at`` of the quality module's alert;
  if that module is absent, the ``clinical.critical_value.received`` event's ``created_at``),

both stamped inside the transaction that commits them (the commit itself, a few ms, is not
counted). p50 / p95 / max; goal p95 < 1 s. Tests never assert timings; this script prints them.
Check ``uptime`` first: other work on the machine lowers every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.events import load_average, setup_django  # noqa: E402
from bench.flow import percentile, recreate_database  # noqa: E402
from bench.hl7 import Child, _child_env, _free_port  # noqa: E402

PG_URL = os.environ.get("MEDOA_BENCH_PG", "postgres://postgres@127.0.0.1:5432/medoa_bench_loops")
GOAL_P95 = 1.0
FULL = {"loops": 60, "beds": 300}
QUICK = {"loops": 20, "beds": 120}


def setup(beds: int) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from medoa.core.access.grants import sync_role_grants
    from medoa.core.clinical.facts import EncounterFact, PatientFacts
    from medoa.core.clinical.models import CodeMapping
    from medoa.core.clinical.services import apply_encounter
    from medoa.core.org.models import Department
    from medoa.core.org.tests.factories import staff_with_roles
    from medoa.integration.hl7.models import Sender
    from medoa.modules.resources.models import Bed, Room
    from medoa.modules.resources.services import apply_encounter_event, cleaning_process_install

    call_command("migrate", interactive=False, verbosity=0)
    sync_role_grants()
    root = Department.objects.create(code="H", name_zh="示范医院", kind="hospital")
    card = Department.objects.create(code="CARD", name_zh="心血管内科", kind="department", parent=root)
    ward = Department.objects.create(code="CARD-W1", name_zh="心内一病区", kind="ward", parent=card)
    logi = Department.objects.create(code="LOGI", name_zh="后勤保障处", kind="department", parent=root)
    admin = staff_with_roles("it", department=logi, root=root, user__username="itadmin")
    staff_with_roles("housekeeping", department=logi, root=root, user__username="cleaner1")
    staff_with_roles("logistics", department=logi, root=root, user__username="logi")
    staff_with_roles("head_nurse", department=ward, root=root, user__username="hn")
    doctor = staff_with_roles(
        "doctor", department=card, root=root, user__username="doc1", employee_no="E1001"
    )
    CodeMapping.objects.create(
        kind="ward", facility="DEMO_HOSPITAL", external_code="BQ01", internal_code="CARD-W1"
    )
    Sender.objects.create(name="bench", address="127.0.0.1", facility="*", scopes=["hl7:*"])
    cleaning_process_install(actor=admin.user)
    rooms: dict[str, Room] = {}
    for n in range(1, beds + 1):
        code = f"3{(n - 1) // 3 + 1:02d}"
        if code not in rooms:
            rooms[code] = Room.objects.create(ward=ward, code=code, sort_order=len(rooms))
        Bed.objects.create(ward=ward, room=rooms[code], code=f"{n:03d}", sort_order=n)
    targets = []
    for bed in Bed.objects.select_related("room").order_by("sort_order"):
        mrn, visit = f"B{bed.pk:07d}", f"ZYB{bed.pk:07d}"
        fact = EncounterFact(
            kind="admitted",
            patient=PatientFacts(identifier=mrn, name="测^试"),
            visit_number=visit,
            ward_code="BQ01",
            room_code=bed.room.code,
            bed_code=bed.code,
            attending_doctor="E1001",
            facility="DEMO_HOSPITAL",
            source="bench",
        )
        for event in apply_encounter(fact):
            apply_encounter_event(event_id=event.pk, kind="admitted", payload=event.payload)
        targets.append((bed.pk, mrn, visit, bed.room.code, bed.code))
    connection.close()
    return {"targets": targets, "doctor": doctor.user.pk}


def _target(row: tuple[Any, ...]) -> Any:
    from medoa.modules.resources.simulate import Target

    pk, mrn, visit, room, bed = row
    return Target(pk, mrn, visit, "BQ01", room, bed, "E1001", "doc1")


async def _connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str) -> str:
    from medoa.modules.resources.simulate import frame

    writer.write(frame(text))
    await writer.drain()
    data = await reader.readuntil(b"\x1c\x0d")
    at = data.find(b"\rMSA|")
    return data[at + 5 : at + 7].decode() if at >= 0 else "??"


async def background(
    port: int, rate: float, rows: list[tuple[Any, ...]], stop: asyncio.Event, sent: list[int]
) -> None:
    """``rate`` messages per second, paced: A08 updates and normal results of occupied beds."""
    from medoa.modules.resources.simulate import CRITICAL_TESTS, adt_message, oru_critical

    normal = ("K", "血钾", "4.2", "mmol/L", "3.5-5.5", "N")
    assert CRITICAL_TESTS
    reader, writer = await _connection(port)
    rng = random.Random(3)
    started = time.perf_counter()
    n = 0
    try:
        while not stop.is_set():
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            target = _target(rng.choice(rows))
            if n % 2:
                _c, text = adt_message("A08", target, name="测^试")
            else:
                _c, text = oru_critical(target, test=normal)
            await _send(reader, writer, text)
            n += 1
            sent[0] = n
    finally:
        writer.close()


async def measured(
    port: int, loops: int, gap: float, rows: list[tuple[Any, ...]]
) -> list[tuple[str, str, float]]:
    """Alternately a discharge and a critical result; returns (kind, control id, ACK time)."""
    from medoa.modules.resources.simulate import adt_a03, oru_critical

    reader, writer = await _connection(port)
    out: list[tuple[str, str, float]] = []
    try:
        for i in range(loops):
            target = _target(rows[i])
            if i % 2 == 0:
                control, text = adt_a03(target)
                kind = "discharge"
            else:
                control, text = oru_critical(target)
                kind = "critical"
            code = await _send(reader, writer, text)
            out.append((kind, control, time.time()))
            if code != "AA":
                print(f"    {kind} {control}: ACK {code}", flush=True)
            await asyncio.sleep(gap)
    finally:
        writer.close()
    return out


async def drive(
    port: int, args: argparse.Namespace, rows: list[tuple[Any, ...]]
) -> tuple[list[tuple[str, str, float]], int, float]:
    stop = asyncio.Event()
    sent = [0]
    # background rows: beds not discharged by the measured loop
    started = time.perf_counter()
    bg = asyncio.create_task(background(port, float(args.background), rows[args.loops :], stop, sent))
    await asyncio.sleep(2.0)  # background traffic under way
    out = await measured(port, int(args.loops), float(args.gap), rows)
    stop.set()
    await bg
    return out, sent[0], time.perf_counter() - started


def collect(sent: list[tuple[str, str, float]], doctor_id: int, timeout: float) -> dict[str, list[float]]:
    from django.db import connection

    from medoa.core.events.models import Event
    from medoa.core.notify.models import Notification
    from medoa.engines.flow.models import HumanTask
    from medoa.integration.hl7.models import Message
    from medoa.modules.resources.models import BedCleaning

    try:
        from medoa.modules.quality.models import CriticalAlert
    except ImportError:  # the quality module is not there: measure to the event
        CriticalAlert = None

    found: dict[str, list[float]] = {"discharge": [], "critical": [], "processed": []}
    pending = list(sent)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        left = []
        for kind, control, acked in pending:
            msg = Message.objects.filter(control_id=control).only("pk", "processed_at").first()
            stamp = None
            if msg is not None and msg.processed_at is not None:
                source = f"hl7:{msg.pk}"
                if kind == "discharge":
                    event = Event.objects.filter(
                        type="clinical.patient.discharged", payload__source=source
                    ).first()
                    cleaning = BedCleaning.objects.filter(event_id=event.pk).first() if event else None
                    task = (
                        HumanTask.objects.filter(instance_id=cleaning.process_instance_id)
                        .order_by("id")
                        .first()
                        if cleaning and cleaning.process_instance_id
                        else None
                    )
                    stamp = task.created_at if task else None
                elif CriticalAlert is not None:
                    alert = CriticalAlert.objects.filter(source=source).first()
                    note = (
                        Notification.objects.filter(recipient_id=doctor_id, data__critical_alert=alert.pk)
                        .order_by("id")
                        .first()
                        if alert
                        else None
                    )
                    stamp = note.created_at if note else None
                else:
                    event = Event.objects.filter(
                        type="clinical.critical_value.received", payload__source=source
                    ).first()
                    stamp = event.created_at if event else None
            if stamp is None:
                left.append((kind, control, acked))
            else:
                found[kind].append(stamp.timestamp() - acked)
                assert msg is not None and msg.processed_at is not None
                found["processed"].append(msg.processed_at.timestamp() - acked)
        pending = left
        if pending:
            time.sleep(0.5)
    if pending:
        print(f"    {len(pending)} measured message(s) never completed the loop", flush=True)
    connection.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--loops", type=int, default=0, help="measured messages (half discharges, half critical)"
    )
    parser.add_argument("--beds", type=int, default=0)
    parser.add_argument("--background", type=float, default=50.0, help="background messages per second")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between measured messages")
    parser.add_argument("--workers", type=int, default=1, help="medoa worker processes")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    args.loops = args.loops or plan["loops"]
    args.beds = max(args.beds or plan["beds"], args.loops + 20)
    print(
        f"bench/loops.py: {args.loops} measured, {args.background:g} msg/s background, {args.beds} beds",
        flush=True,
    )
    print(f"  load average {load_average()}", flush=True)
    data_dir = tempfile.mkdtemp(prefix="medoa-bench-loops-")
    args.data_dir = data_dir
    recreate_database(PG_URL)
    listener = None
    workers: list[Child] = []
    try:
        setup_django(data_dir, PG_URL)
        state = setup(args.beds)
        env = _child_env(args, PG_URL)
        port = _free_port()
        listener = Child(
            [
                sys.executable,
                "-m",
                "medoa",
                "--data-dir",
                data_dir,
                "mllp",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env,
        )
        workers = [
            Child([sys.executable, "-m", "medoa", "--data-dir", data_dir, "worker", "--interval", "0.2"], env)
            for _ in range(max(1, int(args.workers)))
        ]
        deadline = time.monotonic() + 30
        while True:
            try:
                asyncio.run(_probe(port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the MLLP listener did not start") from None
                time.sleep(0.2)
        time.sleep(2.0)  # the worker's first rounds
        sent, background_sent, seconds = asyncio.run(drive(port, args, state["targets"]))
        found = collect(sent, state["doctor"], timeout=30.0)
    finally:
        for child in (listener, *workers):
            if child is not None:
                child.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        if not args.keep_db:
            recreate_database(PG_URL, drop_only=True)
    rate = background_sent / seconds if seconds else 0.0
    print()
    print(f"background: {background_sent} messages in {seconds:.1f} s = {rate:.1f}/s")
    print(f"{'loop':<34} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8}")
    ok = True
    rows = (
        ("discharge", "ACK → cleaning task exists"),
        ("critical", "ACK → doctor's notification"),
        ("processed", "(ACK → HL7 message processed)"),
    )
    for kind, label in rows:
        values = found[kind]
        if not values:
            print(f"{label:<34} {0:>4}        –        –        –")
            ok = False
            continue
        p95 = percentile(values, 95)  # ms
        if kind != "processed":
            ok = ok and p95 < GOAL_P95 * 1000
        print(
            f"{label:<34} {len(values):>4} {percentile(values, 50):>6.0f}ms {p95:>6.0f}ms "
            f"{max(values) * 1000:>6.0f}ms"
        )
    print(f"goal p95 < {GOAL_P95:g} s: {'met' if ok else 'NOT met'}")
    return 0


async def _probe(port: int) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    raise SystemExit(main())
