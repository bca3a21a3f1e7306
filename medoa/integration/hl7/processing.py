"""Processing received HL7 messages in the worker: parse, map, apply to core/clinical, publish.

``process_batch`` takes up to ``limit`` messages in status ``received``, oldest first, in ONE
transaction: on PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED`` (several workers take disjoint
rows; a worker killed mid-batch rolls back and its rows are taken again), on SQLite under the write
lock (``BEGIN IMMEDIATE``). Each message's clinical writes, its events, and its new status
(``processed``/``unmapped``/``error`` with a reason, the event ids, ``processed_at``) commit together
— at-least-once delivery of the stored message plus this transaction make it processed exactly once.

The fast path applies the batch's messages through one ``ClinicalBatch``: their clinical rows are
written in bulk (one insert per table, one prepared update per table) and their events with
``publish_many`` (one insert for the events, one for their deliveries) — about a dozen statements
for the whole batch. A message refused (unmapped, pending, invalid) is refused before it changes
anything. Should anything fail after a message was applied (a database error, a message of several
facts failing in its second), the batch is rolled back and redone message by message, each in a
savepoint of its own with immediate writes: one bad message never loses or blocks the others.

Order per patient (``Message.patient_id``, PID-3):

- a message whose patient has an older message still ``received`` that another worker holds is left
  for the next round (so a patient's messages are applied in arrival order);
- a message whose patient has an older ``unmapped`` message waits too (status ``unmapped``, reason
  ``waits:#<id>``) and is reprocessed with it once the code is mapped;
- a cancel (A11/A13) that arrives before what it cancels is parked as ``error`` with a ``pending:``
  reason and taken again automatically after the patient's next message has been applied.

Unmapped codes: the reason's first line is ``unmapped:<kind>:<facility>:<code>``; the sweep
(``unmapped_sweep``) reprocesses the messages whose code now maps, and saving a mapping on the code
mapping page does it at once.

Time bound: python-hl7 splits in linear time, in the number of separators (one object each):
a message larger than ``MEDOA_HL7_PROCESS_MAX_BYTES`` (8 MiB), with more than
``MEDOA_HL7_PROCESS_MAX_SEGMENTS`` (20,000) segments or ``MEDOA_HL7_PROCESS_MAX_DELIMITERS``
(200,000) separators is not parsed but set to ``error`` — a few seconds of parsing at most.

``ProcessorThread`` repeats rounds in a worker process (started by the periodic job
``hl7.process``): at once while there is work, otherwise it waits for a wake-up — PostgreSQL
``NOTIFY medoa_hl7`` (``announce()``, sent by ``receive`` in the storing transaction) or the
in-process event — or its poll interval.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, connections, models, transaction
from django.db.models import Min
from django.utils import timezone

from medoa.core.clinical.errors import ClinicalFactPending, UnmappedCode
from medoa.core.clinical.facts import EncounterFact, ResultFact
from medoa.core.clinical.mapping import CodeResolver
from medoa.core.clinical.services import (
    ClinicalBatch,
    apply_encounter,
    apply_result,
    critical_flags_default,
    unmapped_code_note,
)
from medoa.core.errors import ServiceError
from medoa.core.events.errors import EventError
from medoa.core.events.registry import event_types
from medoa.core.events.services import publish
from medoa.core.events.wakeup import Listener, open_listener
from medoa.core.runtime.signals import set_from_signal

from .mapping import Mapped, MappingError, map_message
from .models import Message, MessageStatus

logger = logging.getLogger("medoa.hl7")

CHANNEL = "medoa_hl7"
BATCH = 200
SQLITE_BATCH = 50
POLL_SECONDS = 1.0  # SQLite: the wake file is looked at every WAKE_POLL_SECONDS meanwhile
POLL_SECONDS_LISTENING = 1.0
MAX_REASON = 2000
HIRED = "hr.employee.hired"

PENDING = "pending:"
WAITS = "waits:#"
UNMAPPED = "unmapped:"
IGNORED = "ignored:"


local_wakeup = threading.Event()
_local_listeners = 0
_listeners_lock = threading.Lock()


def announce(using: str = "default") -> None:
    """Say, inside the transaction that stored ``received`` messages, that there is work: PostgreSQL
    delivers ``NOTIFY medoa_hl7`` at commit to every listening worker; on SQLite the wake file
    (``<data dir>/hl7.wakeup``) is touched after commit, for a worker in another process; in this
    process the processor thread is woken after commit."""
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
    else:
        transaction.on_commit(_touch_wake_file, using=using)
    if _local_listeners:
        transaction.on_commit(local_wakeup.set, using=using)


WAKE_FILE = "hl7.wakeup"
WAKE_POLL_SECONDS = 0.05


def _wake_file() -> Path:
    return Path(settings.DATA_DIR) / WAKE_FILE


def _touch_wake_file() -> None:
    try:
        _wake_file().touch()
    except OSError:
        logger.debug("hl7: could not touch %s", _wake_file())


def _wake_mtime() -> float:
    try:
        return _wake_file().stat().st_mtime
    except OSError:
        return 0.0


def _max_bytes() -> int:
    return int(getattr(settings, "MEDOA_HL7_PROCESS_MAX_BYTES", 8 * 1024 * 1024))


def _max_segments() -> int:
    return int(getattr(settings, "MEDOA_HL7_PROCESS_MAX_SEGMENTS", 20_000))


def _max_delimiters() -> int:
    return int(getattr(settings, "MEDOA_HL7_PROCESS_MAX_DELIMITERS", 200_000))


def _delimiters(raw: str) -> int:
    """How many field, component, repetition and subcomponent separators the message holds (each
    becomes a python-hl7 object: this, not the byte size, is what parsing time grows with)."""
    seps = raw[3:8] if raw.startswith(("MSH", "BHS", "FHS")) and len(raw) >= 8 else "|^~\\&"
    chars = {seps[0], *seps[1:3], seps[4:5]} - {"", "\\"}
    return sum(raw.count(ch) for ch in chars)


@dataclass
class Outcome:
    status: str
    reason: str = ""
    events: list[int] = field(default_factory=list)
    applied: bool = False  # clinical facts were applied (wakes the patient's pending cancels)
    queued: list[int] = field(default_factory=list)  # fast path: positions among the batch's events


def parse_reason_key(reason: str) -> tuple[str, str, str] | None:
    """``(kind, facility, code)`` of an ``unmapped:`` reason, else ``None``."""
    head = reason.split("\n", 1)[0]
    if not head.startswith(UNMAPPED):
        return None
    parts = head[len(UNMAPPED) :].split(":", 2)
    if len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]


def prepare_message(row: Message) -> Mapped | Outcome:
    """Parse and map one message (no database): its facts, or the outcome when there is nothing
    to apply (too large, not parseable, a type that is not mapped)."""
    raw = row.raw or ""
    if len(raw) > _max_bytes():
        return Outcome(
            MessageStatus.ERROR, f"too large to process ({len(raw)} characters; limit {_max_bytes()})"
        )
    if raw.count("\r") > _max_segments():
        return Outcome(MessageStatus.ERROR, f"too many segments to process (limit {_max_segments()})")
    if _delimiters(raw) > _max_delimiters():
        return Outcome(
            MessageStatus.ERROR, f"too many fields and components to process (limit {_max_delimiters()})"
        )
    try:
        mapped = map_message(raw, message_id=row.pk, facility_hint=row.sending_facility)
    except MappingError as exc:
        return Outcome(MessageStatus.ERROR, str(exc))
    except RecursionError:
        return Outcome(MessageStatus.ERROR, "not parseable as HL7 v2: nested too deeply")
    if mapped.ignored:
        return Outcome(MessageStatus.PROCESSED, f"{IGNORED} {mapped.ignored}")
    if mapped.staff and HIRED not in event_types:
        return Outcome(MessageStatus.ERROR, f"the event type {HIRED} is not registered (HR onboarding)")
    return mapped


def process_message(
    row: Message,
    *,
    resolver: CodeResolver,
    critical_flags: set[str],
    unmapped_first: dict[str, int],
    safe: bool = True,
    prepared: Mapped | Outcome | None = None,
    batch: ClinicalBatch | None = None,
) -> Outcome:
    """Map and apply one message (inside the batch's transaction). ``safe``: in a savepoint of its
    own, written at once; otherwise (the fast path) through ``batch`` (its writes and events held
    back for the batch's ``flush()``, the outcome's ``queued`` naming the message's events), the
    facts' refusals coming before any change, and a failure after a change raising ``_Poisoned``
    so that the batch is redone safely."""
    pid = row.patient_id
    if pid and pid in unmapped_first and unmapped_first[pid] < row.pk:
        first = unmapped_first[pid]
        return Outcome(
            MessageStatus.UNMAPPED,
            f"{WAITS}{first}\nwaits for message #{first} of the same patient (unmapped): "
            "the patient's order is kept",
        )
    mapped = prepared if prepared is not None else prepare_message(row)
    if isinstance(mapped, Outcome):
        return mapped
    source = f"hl7:{row.pk}"
    several = len(mapped.encounters) + len(mapped.results) + len(mapped.staff) > 1
    try:
        staff = [_hired_payload(p, resolver=resolver, facility=mapped.facility) for p in mapped.staff]
        if batch is not None and not safe:
            queued: list[int] = []
            for fact in mapped.encounters:
                queued += batch.apply_encounter(fact)
            for result in mapped.results:
                queued += batch.apply_result(result, critical_flags=critical_flags)
            for payload in staff:
                queued.append(batch.publish(HIRED, payload))
            return Outcome(MessageStatus.PROCESSED, "", applied=True, queued=queued)
        with transaction.atomic():
            events: list[Any] = []
            for fact in mapped.encounters:
                events += apply_encounter(fact, resolver=resolver, savepoint=False)
            for result in mapped.results:
                events += apply_result(
                    result, critical_flags=critical_flags, resolver=resolver, savepoint=False
                )
            for payload in staff:
                events.append(publish(HIRED, payload))
    except UnmappedCode as exc:
        _check_usable(safe, several)
        unmapped_code_note(exc, source=source)
        if pid:
            unmapped_first.setdefault(pid, row.pk)
        return Outcome(MessageStatus.UNMAPPED, f"{exc.key}\n{exc.message}")
    except ClinicalFactPending as exc:
        _check_usable(safe, several)
        return Outcome(MessageStatus.ERROR, f"{PENDING} {exc.message}")
    except (ServiceError, EventError) as exc:
        _check_usable(safe, several)
        fields = ", ".join(_error_text(e) for e in getattr(exc, "errors", []))
        return Outcome(MessageStatus.ERROR, f"{exc}" + (f" ({fields})" if fields else ""))
    except DatabaseError as exc:
        if not safe:  # the batch's transaction cannot go on: redo it message by message
            raise _Poisoned from exc
        # the message's savepoint rolled its writes back; the batch goes on
        logger.warning("hl7 message %s: database error while applying: %s", row.pk, exc)
        return Outcome(MessageStatus.ERROR, f"database error while applying: {exc}")
    except Exception as exc:  # a fault of ours: the message is set aside, the others go on
        if not safe:
            raise _Poisoned from exc
        logger.exception("hl7 message %s: failed while applying", row.pk)
        return Outcome(MessageStatus.ERROR, f"failed while applying: {type(exc).__name__}: {exc}")
    return Outcome(MessageStatus.PROCESSED, "", [e.pk for e in events], applied=True)


class _Poisoned(Exception):
    """A message failed after changing the batch's rows or cache: the batch is redone message by
    message."""


def _check_usable(safe: bool, several: bool) -> None:
    """On the fast path, a failure inside a message of several facts (the first ones were applied
    to the batch) makes the batch be redone safely."""
    if not safe and (several or transaction.get_rollback()):
        raise _Poisoned


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('field', '')}: {error.get('message_en') or error.get('message', '')}"
    if isinstance(error, tuple) and len(error) == 2:
        return f"{error[0]}: {error[1]}"
    return str(error)


def _hired_payload(payload: dict[str, Any], *, resolver: CodeResolver, facility: str) -> dict[str, Any]:
    """The MFN staff record with its department code mapped to MedOA's (``UnmappedCode`` when
    it maps to nothing); empty values left out."""
    data = {k: v for k, v in payload.items() if v not in ("", None)}
    if data.get("department"):
        data["department"] = resolver.department(data["department"], facility)
    return data


def _claim(limit: int) -> list[Message]:
    qs = Message.objects.filter(status=MessageStatus.RECEIVED).order_by("id")
    skip_locked = connection.features.has_select_for_update_skip_locked
    if skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    rows = list(
        qs.only("id", "raw", "patient_id", "sending_facility", "status", "attempts", "message_type")[:limit]
    )
    if not rows or not skip_locked:
        return rows
    # Another worker holds an older received message of the same patient: leave the later ones.
    patients = {r.patient_id for r in rows if r.patient_id}
    if not patients:
        return rows
    mine = [r.pk for r in rows]
    held = dict(
        Message.objects.filter(status=MessageStatus.RECEIVED, patient_id__in=patients, id__lt=max(mine))
        .exclude(id__in=mine)
        .values("patient_id")
        .annotate(first=Min("id"))
        .values_list("patient_id", "first")
    )
    if not held:
        return rows
    return [r for r in rows if not (r.patient_id in held and r.pk > held[r.patient_id])]


def process_batch(*, limit: int = BATCH) -> int:
    """Process up to ``limit`` received messages in one transaction; returns how many were taken.

    The fast path applies the messages together (``ClinicalBatch``: bulk writes, one
    ``publish_many``); should anything fail after a message was applied (a database error, an
    invalid payload, a fault), the batch is rolled back and redone with a savepoint per message and
    immediate writes, where the failing message lands in ``error`` with its reason."""
    try:
        return _process_batch(limit=limit, safe=False)
    except _Poisoned as exc:
        logger.info("hl7: a batch failed (%r): processing it message by message", exc.__cause__)
        return _process_batch(limit=limit, safe=True)


def _process_batch(*, limit: int, safe: bool) -> int:
    if connection.vendor == "sqlite":
        # SQLite has one writer: a short batch keeps the MLLP listener's commits (and ACKs) waiting
        # for a short time only
        limit = min(limit, SQLITE_BATCH)
    critical = critical_flags_default()
    with transaction.atomic():
        rows = _claim(limit)
        if not rows:
            return 0
        patients = {r.patient_id for r in rows if r.patient_id}
        unmapped_first: dict[str, int] = {}
        if patients:
            unmapped_first = dict(
                Message.objects.filter(status=MessageStatus.UNMAPPED, patient_id__in=patients)
                .values("patient_id")
                .annotate(first=Min("id"))
                .values_list("patient_id", "first")
            )
        resolver = CodeResolver()
        prepared = [prepare_message(row) for row in rows]
        batch: ClinicalBatch | None = None
        if not safe:
            identifiers: set[str] = set()
            visits: set[str] = set()
            doctors: set[str] = set()
            for mapped in prepared:
                if isinstance(mapped, Mapped):
                    facts: list[EncounterFact | ResultFact] = [*mapped.encounters, *mapped.results]
                    for fact in facts:
                        identifiers.add(fact.patient.identifier.strip())
                        if fact.visit_number:
                            visits.add(fact.visit_number.strip()[:100])
                        doctors.add(fact.attending_doctor)
                        if isinstance(fact, ResultFact):
                            doctors.add(fact.ordering_doctor)
            resolver.prefetch(identifiers=identifiers, visits=visits, doctors=doctors)
            batch = ClinicalBatch(resolver)
        now = timezone.now()
        applied_patients: set[str] = set()
        outcomes = []
        for row, mapped in zip(rows, prepared, strict=True):
            outcome = process_message(
                row,
                resolver=resolver,
                critical_flags=critical,
                unmapped_first=unmapped_first,
                safe=safe,
                prepared=mapped,
                batch=batch,
            )
            outcomes.append(outcome)
            row.status = outcome.status
            row.status_reason = outcome.reason.replace("\x00", "\\x00")[:MAX_REASON]
            row.processed_at = now
            row.attempts = (row.attempts or 0) + 1
            if outcome.applied and row.patient_id:
                applied_patients.add(row.patient_id)
        try:  # no savepoint: a failure here rolls the whole batch back anyway
            published = batch.flush() if batch is not None else []
            resolver.flush()
        except Exception as exc:  # a database error, an invalid payload: message by message
            raise _Poisoned from exc
        for row, outcome in zip(rows, outcomes, strict=True):
            row.events = outcome.events or [published[i].pk for i in outcome.queued]
        _save_outcomes(rows)
        if applied_patients:
            # cancels that waited for what they cancel: try them again
            woken = (
                Message.objects.filter(
                    status=MessageStatus.ERROR,
                    patient_id__in=applied_patients,
                    status_reason__startswith=PENDING,
                )
                .exclude(id__in=[r.pk for r in rows if r.status == MessageStatus.ERROR])
                .update(status=MessageStatus.RECEIVED, status_reason="")
            )
            if woken:
                announce()
    return len(rows)


def _save_outcomes(rows: list[Message]) -> None:
    """Each message's status, reason, events, time and attempts: one prepared UPDATE executed for
    every row (Django's ``bulk_update`` builds a CASE per field and row, which cost a quarter of
    the processing time)."""
    meta = Message._meta
    table = connection.ops.quote_name(meta.db_table)
    cols = {}
    for name in ("status", "status_reason", "events", "processed_at", "attempts", "id"):
        column = meta.get_field(name)
        assert isinstance(column, models.Field)
        cols[name] = connection.ops.quote_name(column.column or name)
    events_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    # identifiers from the model's meta, quoted; every value is a parameter
    sql = (
        f"UPDATE {table} SET {cols['status']} = %s, {cols['status_reason']} = %s, "  # noqa: S608
        f"{cols['events']} = {events_param}, {cols['processed_at']} = %s, {cols['attempts']} = %s "
        f"WHERE {cols['id']} = %s"
    )
    processed_at = meta.get_field("processed_at")
    assert isinstance(processed_at, models.Field)
    params = [
        (
            r.status,
            r.status_reason,
            json.dumps(r.events),
            processed_at.get_db_prep_value(r.processed_at, connection),
            r.attempts,
            r.pk,
        )
        for r in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def process_until_idle(*, limit: int = BATCH, max_rounds: int = 10_000) -> int:
    """Process batches until none is left (tests, the CLI, benchmarks); returns the total."""
    total = 0
    for _ in range(max_rounds):
        done = process_batch(limit=limit)
        total += done
        if done == 0:
            break
    return total


def unmapped_sweep() -> int:
    """Reprocess the unmapped messages whose code maps now (a mapping added by any means)."""
    heads = set()
    for reason in (
        Message.objects.filter(status=MessageStatus.UNMAPPED, status_reason__startswith=UNMAPPED)
        .values_list("status_reason", flat=True)
        .order_by()
        .distinct()[:1000]
    ):
        key = parse_reason_key(reason)
        if key:
            heads.add(key)
    if not heads:
        return 0
    resolver = CodeResolver()
    resolved = []
    for kind, facility, code in heads:
        try:
            resolver.department(code, facility, kind=kind)
        except UnmappedCode:
            continue
        resolved.append((kind, facility, code))
    return requeue_unmapped(resolved)


def requeue_unmapped(codes: list[tuple[str, str, str]]) -> int:
    """Set back to ``received`` the unmapped messages naming any of ``codes`` (``(kind, facility,
    code)``; facility ``*`` matches every facility) and those of their patients that wait behind
    them. Returns how many."""
    if not codes:
        return 0
    with transaction.atomic():
        ids: list[int] = []
        patients: set[str] = set()
        wanted = {(k, c): f for k, f, c in codes}
        for pk, reason, pid in Message.objects.filter(
            status=MessageStatus.UNMAPPED, status_reason__startswith=UNMAPPED
        ).values_list("id", "status_reason", "patient_id"):
            key = parse_reason_key(reason)
            if key is None:
                continue
            kind, facility, code = key
            fac = wanted.get((kind, code))
            if fac is not None and fac in ("*", facility):
                ids.append(pk)
                if pid:
                    patients.add(pid)
        if not ids:
            return 0
        count = Message.objects.filter(status=MessageStatus.UNMAPPED, id__in=ids).update(
            status=MessageStatus.RECEIVED, status_reason=""
        )
        if patients:
            count += Message.objects.filter(
                status=MessageStatus.UNMAPPED, patient_id__in=patients, status_reason__startswith=WAITS
            ).update(status=MessageStatus.RECEIVED, status_reason="")
        announce()
    return count


# --- the worker's thread ---------------------------------------------------------------------------


class ProcessorThread(threading.Thread):
    """Runs processing rounds until ``stop()`` or until ``parent`` has ended."""

    def __init__(
        self,
        *,
        worker_id: str = "hl7",
        limit: int = BATCH,
        parent: threading.Thread | None = None,
        listen: bool | None = None,
    ) -> None:
        super().__init__(name=f"hl7-{worker_id}", daemon=True)
        self.limit = limit
        self.parent = parent
        self.listen = listen
        self._stopping = threading.Event()
        self.processed = 0
        self._mtime = _wake_mtime()

    def _should_run(self) -> bool:
        return not self._stopping.is_set() and (self.parent is None or self.parent.is_alive())

    def _listener(self) -> Listener | None:
        wanted = self.listen if self.listen is not None else getattr(settings, "MEDOA_HL7_LISTEN", True)
        return open_listener(CHANNEL, wanted=wanted, log=logger, label="hl7", poll=POLL_SECONDS)

    def _wait(self, listener: Listener | None) -> None:
        if listener is None:
            # SQLite: the in-process event, or the wake file touched by another process
            deadline = time.monotonic() + POLL_SECONDS
            while time.monotonic() < deadline and self._should_run():
                if local_wakeup.wait(WAKE_POLL_SECONDS):
                    break
                mtime = _wake_mtime()
                if mtime != self._mtime:
                    self._mtime = mtime
                    break
            local_wakeup.clear()
            return
        listener.wait_while(POLL_SECONDS_LISTENING, self._should_run)

    def run(self) -> None:
        global _local_listeners
        with _listeners_lock:
            _local_listeners += 1
        listener = self._listener()
        try:
            while self._should_run():
                close_old_connections()
                try:
                    done = process_batch(limit=self.limit)
                    self.processed += done
                except DatabaseError:
                    logger.exception("hl7: processing round failed")
                    done = 0
                    self._stopping.wait(1.0)
                if done < self.limit and self._should_run():
                    try:
                        self._wait(listener)
                    except Exception:
                        logger.exception("hl7: LISTEN connection lost; polling")
                        if listener is not None:
                            listener.close()
                        listener = None
        finally:
            with _listeners_lock:
                _local_listeners -= 1
            if listener is not None:
                listener.close()
            connection.close()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        local_wakeup.set()
        if self.is_alive():
            self.join(timeout)


_thread: ProcessorThread | None = None
_children: list[subprocess.Popen[bytes]] = []
_thread_lock = threading.Lock()
_last_sweep = 0.0
SWEEP_SECONDS = 10.0


def processor_mode() -> str:
    """Where the worker runs HL7 processing: ``process`` — child processes of their own
    (:func:`processor_count`), so parsing and mapping use every core instead of sharing the
    worker's interpreter (and its lock) with the event dispatcher; ``thread`` — a thread of the
    worker. ``MEDOA_HL7_PROCESSOR`` chooses; the default is ``process`` on PostgreSQL and
    ``thread`` on SQLite (one writer: a second process only waits for the lock) and in tests."""
    mode = str(getattr(settings, "MEDOA_HL7_PROCESSOR", "") or "").strip().lower()
    if mode in ("process", "thread"):
        return mode
    if getattr(settings, "IS_TEST", False) or connection.vendor != "postgresql":
        return "thread"
    return "process"


def processor_count() -> int:
    """How many processor processes the worker keeps (``MEDOA_HL7_PROCESSORS``, default 3, at most
    8). They share the work safely: a message is claimed with ``SKIP LOCKED``, and a patient's
    later message waits while another process holds an earlier one (``_claim``)."""
    try:
        wanted = int(getattr(settings, "MEDOA_HL7_PROCESSORS", 3))
    except (TypeError, ValueError):
        wanted = 3
    return max(1, min(wanted, 8))


def _start_child() -> subprocess.Popen[bytes]:
    """``medoa hl7-process --parent <this pid>`` with this process's settings (the environment
    carries the data directory, DATABASE_URL and the tunables); it ends when this process does."""
    argv = [sys.executable, "-m", "medoa", "hl7-process", "--parent", str(os.getpid())]
    logger.info("hl7: starting the processor process")
    child = subprocess.Popen(argv, env=dict(os.environ))  # noqa: S603 — our own command, no user input
    atexit.register(_stop_child, child)
    return child


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    """At the worker's exit: the processor finishes its round and stops (it would also notice the
    worker gone within a quarter second)."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()


def processing_job() -> int:
    """The worker's periodic job (``hl7.process``): keeps this worker's processor running (a child
    process or a thread, :func:`processor_mode`) and, every ``SWEEP_SECONDS``, reprocesses
    unmapped messages whose code maps now."""
    global _thread, _last_sweep
    with _thread_lock:
        if processor_mode() == "process":
            _children[:] = [c for c in _children if c.poll() is None]
            while len(_children) < processor_count():
                _children.append(_start_child())
        elif _thread is None or not _thread.is_alive():
            worker_id = f"{socket.gethostname()[:50]}:{os.getpid()}"
            _thread = ProcessorThread(worker_id=worker_id, parent=threading.current_thread())
            _thread.start()
    now = time.monotonic()
    if now - _last_sweep >= SWEEP_SECONDS:
        _last_sweep = now
        return unmapped_sweep()
    return 0


class _OrphanAware(ProcessorThread):
    """The processor of ``medoa hl7-process``: stops on SIGTERM/SIGINT or when its parent (the
    worker that started it) is gone — it never outlives the worker."""

    def __init__(self, parent_pid: int | None) -> None:
        super().__init__(worker_id=f"{socket.gethostname()[:50]}:{os.getpid()}")
        self.parent_pid = parent_pid

    def _should_run(self) -> bool:
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            return False
        return super()._should_run()


def run_processor_process(parent_pid: int | None = None, stopped: threading.Event | None = None) -> int:
    """``medoa hl7-process``: HL7 processing rounds in this process, until a signal or until the
    parent process ``parent_pid`` ends. ``stopped`` is set when a signal came before this call
    (while the process was starting); then no round runs. Returns the number of messages
    processed."""
    processor = _OrphanAware(parent_pid)

    def stop(signum: int, frame: Any) -> None:
        set_from_signal(processor._stopping, local_wakeup)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if stopped is not None and stopped.is_set():
        processor._stopping.set()
    processor.run()  # in this (main) thread
    return processor.processed
