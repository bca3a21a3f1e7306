"""The demo HIS simulator: real HL7 v2 discharges (ADT^A03) and critical results (ORU^R01 with
OBX-8 ``HH``) sent through the MLLP listener over a plain TCP socket, as MSH-3 ``HIS`` / MSH-4
``DEMO_HOSPITAL`` with the demo HIS's codes (see :mod:`.demo`).

A module may not import the integration layer: the messages and the MLLP frames are built here
(ER7 text with CR segment ends, framed ``0x0B … 0x1C 0x0D``).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from medoa.core.clinical.models import CodeMapping
from medoa.core.org.models import Staff

from .beds_choices import BedStatus
from .demo import FACILITY
from .models import Bed

START, END = b"\x0b", b"\x1c\x0d"
SENDING_APP = "HIS"
CRITICAL_TESTS = (
    ("K", "血钾", "6.9", "mmol/L", "3.5-5.5", "HH"),
    ("GLU", "血糖", "1.9", "mmol/L", "3.9-6.1", "LL"),
    ("TNI", "肌钙蛋白I", "2.85", "ng/mL", "0-0.04", "HH"),
    ("PLT", "血小板", "12", "10*9/L", "125-350", "LL"),
    ("NA", "血钠", "118", "mmol/L", "137-147", "LL"),
)


def mllp_port() -> int:
    """The listener's port: ``MEDOA_MLLP_PORT`` (setting or environment), else 2575."""
    value = getattr(settings, "MEDOA_MLLP_PORT", None) or os.environ.get("MEDOA_MLLP_PORT") or 2575
    return int(value)


def mllp_host() -> str:
    return str(getattr(settings, "MEDOA_MLLP_HOST", None) or os.environ.get("MEDOA_MLLP_HOST") or "127.0.0.1")


def _ts(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d%H%M%S")


def _control() -> str:
    return "SIM" + uuid.uuid4().hex[:17].upper()


def _pv1(his_ward: str, room: str, bed: str, doctor: str, visit: str, discharged: str = "") -> str:
    fields = [""] * 46
    fields[1] = "1"
    fields[2] = "I"
    fields[3] = f"{his_ward}^{room}^{bed}"
    fields[7] = f"{doctor}^^^" if doctor else ""
    fields[19] = visit
    fields[45] = discharged
    return "PV1|" + "|".join(fields[1:]).rstrip("|")


def _msh(trigger: str, control: str, now: dt.datetime) -> str:
    return f"MSH|^~\\&|{SENDING_APP}|{FACILITY}|MEDOA|MEDOA|{_ts(now)}||{trigger}|{control}|P|2.5"


@dataclass(frozen=True)
class Target:
    """An occupied bed as the HIS names it."""

    bed_id: int
    mrn: str
    visit: str
    his_ward: str
    room: str
    bed: str
    doctor_no: str
    attending: str


def adt_a03(target: Target, *, control: str | None = None, now: dt.datetime | None = None) -> tuple[str, str]:
    """An ADT^A03 discharge of ``target``: (control id, ER7 text with CR segment ends)."""
    now = now or timezone.now()
    control = control or _control()
    segments = [
        _msh("ADT^A03^ADT_A03", control, now),
        f"EVN|A03|{_ts(now)}",
        f"PID|1||{target.mrn}^^^{FACILITY}^MR",
        _pv1(target.his_ward, target.room, target.bed, target.doctor_no, target.visit, _ts(now)),
    ]
    return control, "\r".join(segments) + "\r"


def adt_message(
    trigger: str,
    target: Target,
    *,
    control: str | None = None,
    name: str = "",
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """Any ADT trigger (A01, A02, A11 …) for ``target`` at its PV1-3 location."""
    now = now or timezone.now()
    control = control or _control()
    segments = [
        _msh(f"ADT^{trigger}^ADT_A01", control, now),
        f"EVN|{trigger}|{_ts(now)}",
        f"PID|1||{target.mrn}^^^{FACILITY}^MR||{name}",
        _pv1(target.his_ward, target.room, target.bed, target.doctor_no, target.visit),
    ]
    return control, "\r".join(segments) + "\r"


def adt_a13(target: Target, *, control: str | None = None, now: dt.datetime | None = None) -> tuple[str, str]:
    """An ADT^A13 (cancel discharge) of ``target``."""
    now = now or timezone.now()
    control = control or _control()
    segments = [
        _msh("ADT^A13^ADT_A01", control, now),
        f"EVN|A13|{_ts(now)}",
        f"PID|1||{target.mrn}^^^{FACILITY}^MR",
        _pv1(target.his_ward, target.room, target.bed, target.doctor_no, target.visit),
    ]
    return control, "\r".join(segments) + "\r"


def oru_critical(
    target: Target,
    *,
    test: tuple[str, ...] | None = None,
    control: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """An ORU^R01 with one critical observation (OBX-8 HH or LL) for ``target``'s patient."""
    now = now or timezone.now()
    control = control or _control()
    code, name, value, unit, ref, flag = test or CRITICAL_TESTS[0]
    segments = [
        _msh("ORU^R01^ORU_R01", control, now),
        f"PID|1||{target.mrn}^^^{FACILITY}^MR",
        _pv1(target.his_ward, target.room, target.bed, target.doctor_no, target.visit),
        f"ORC|RE|P{control}|F{control}",
        f"OBR|1|P{control}|F{control}|{code}^{name}^L|||{_ts(now)}||||||||||||||||||F",
        f"OBX|1|NM|{code}^{name}^L||{value}|{unit}|{ref}|{flag}|||F|||{_ts(now)}",
    ]
    return control, "\r".join(segments) + "\r"


def frame(text: str) -> bytes:
    return START + text.encode("utf-8") + END


def ack_code(reply: bytes) -> str:
    """MSA-1 of an acknowledgement (``AA``, ``AE``, ``AR``) or ``""``."""
    for segment in reply.strip(START + END).decode("utf-8", "replace").replace("\n", "\r").split("\r"):
        if segment.startswith("MSA|"):
            return segment.split("|")[1] if len(segment.split("|")) > 1 else ""
    return ""


class MllpClient:
    """One MLLP connection: ``send(text)`` writes a frame and waits for its acknowledgement."""

    def __init__(self, host: str | None = None, port: int | None = None, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host or mllp_host(), port or mllp_port()), timeout=timeout)
        self.buffer = b""

    def send(self, text: str) -> bytes:
        self.sock.sendall(frame(text))
        while END not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the MLLP listener closed the connection")
            self.buffer += chunk
        reply, _, self.buffer = self.buffer.partition(END)
        return reply + END

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def targets(*, count: int, with_doctor: bool = False, rng: random.Random | None = None) -> list[Target]:
    """``count`` occupied beds of the demo wards (mapped for the demo HIS), chosen at random."""
    rng = rng or random.Random()  # noqa: S311 — a choice of demo beds
    his = dict(
        CodeMapping.objects.filter(kind="ward", facility=FACILITY).values_list(
            "internal_code", "external_code"
        )
    )
    qs = Bed.objects.filter(status=BedStatus.OCCUPIED, ward__code__in=list(his)).exclude(visit_number="")
    if with_doctor:
        qs = qs.exclude(attending="")
    rows = list(qs.select_related("ward", "room").values_list("pk", flat=True))
    chosen = rng.sample(rows, min(count, len(rows)))
    beds = Bed.objects.filter(pk__in=chosen).select_related("ward", "room")
    numbers = dict(
        Staff.objects.filter(user__username__in={b.attending for b in beds if b.attending}).values_list(
            "user__username", "employee_no"
        )
    )
    return [
        Target(
            bed_id=b.pk,
            mrn=b.patient_mrn,
            visit=b.visit_number,
            his_ward=his[b.ward.code],
            room=b.room.code,
            bed=b.code,
            doctor_no=numbers.get(b.attending, ""),
            attending=b.attending,
        )
        for b in beds
    ]


@dataclass
class Sent:
    kind: str
    control: str
    ack: str
    ward: str
    bed: str
    doctor: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def simulate(
    *, discharges: int = 0, critical: int = 0, host: str | None = None, port: int | None = None
) -> list[Sent]:
    """Send ``discharges`` A03s and ``critical`` ORUs with a critical value; returns what was sent
    and the acknowledgement code of each."""
    out: list[Sent] = []
    plan: list[tuple[str, Target]] = [("A03", t) for t in targets(count=discharges)]
    discharged = {kind_target[1].bed_id for kind_target in plan}
    oru_targets = [
        t for t in targets(count=critical + discharges, with_doctor=True) if t.bed_id not in discharged
    ]
    plan += [("ORU", t) for t in oru_targets[:critical]]
    if not plan:
        return out
    with MllpClient(host, port) as client:
        for kind, target in plan:
            if kind == "A03":
                control, text = adt_a03(target)
            else:
                test = random.choice(CRITICAL_TESTS)  # noqa: S311 — demo values
                control, text = oru_critical(target, test=test)
            reply = client.send(text)
            ward = target.his_ward
            out.append(
                Sent(kind, control, ack_code(reply), ward, f"{target.room}-{target.bed}", target.attending)
            )
    return out


def describe(sent: Iterable[Sent]) -> list[str]:
    return [
        f"{s.kind} {s.control} → {s.ack or '?'} ({s.ward}^{s.bed}{' ' + s.doctor if s.doctor else ''})"
        for s in sent
    ]
