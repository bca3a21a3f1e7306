"""Receiving HL7 v2: from the bytes of a frame (MLLP) or a request body (HTTP) to stored
``Message`` rows and the acknowledgement — the one pipeline both transports share.

``receive(data, transport=…, peer=…, api_key=…)`` does it for one frame; the MLLP listener splits it
in two so that it can commit many frames in one transaction (group commit):

1. ``prepare`` (no database): decode by MSH-18, normalise, split envelopes, check each header, the
   message type and, over HTTP, the API key's ``hl7:<type>`` scope;
2. ``store`` (one transaction for many frames): check the MLLP allow-list (``Sender``: client address
   and MSH-4, and the sender's ``hl7:<type>`` scopes), find duplicates — a message whose
   (MSH-3, MSH-4, MSH-10) was already accepted gets the ACK stored with the original again, and a
   row of its own with status ``duplicate`` pointing at the original (so the store page shows every
   resend; it is never processed) — insert the rows (``received``, ``rejected`` with the reason,
   ``duplicate``), wake the processor, and COMMIT, durably (SQLite ``synchronous=FULL`` on this
   connection, PostgreSQL ``synchronous_commit=on`` for this transaction). Only then are the ACKs
   handed back.

If the rows cannot be stored (the database is down, a disk is full), every frame of the group is
answered AR ("could not store the message; send it again") and nothing is acknowledged as accepted.

Processing (parse, map, events) is not done here: the worker picks up ``status=received`` rows.
``wake()`` (inside the storing transaction) tells it: ``processing.announce()``, ``NOTIFY medoa_hl7``
on PostgreSQL, delivered at commit.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, models, transaction

from medoa.core.access.models import SystemApiKey
from medoa.core.access.system_keys import key_allows

from .ack import Ack, build_ack, build_batch_ack
from .decoding import Header, Parsed, Problem, Split, decode, normalise, split
from .framing import max_frame_bytes
from .models import Message, MessageStatus, Sender, Transport
from .processing import announce

logger = logging.getLogger("medoa.hl7")

WAKE_CHANNEL = "medoa_hl7"  # the processor's (processing.CHANNEL)
DEFAULT_ACCEPTED_TYPES = ("ADT", "ORU", "MFN")
NOT_STORED = "the message could not be stored; send it again"


def accepted_types() -> frozenset[str]:
    types = getattr(settings, "MEDOA_HL7_MESSAGE_TYPES", None) or DEFAULT_ACCEPTED_TYPES
    return frozenset(t.upper() for t in types)


def scope_of(message_type: str) -> str:
    return f"hl7:{message_type.lower()}"


# --- one message on its way in ---------------------------------------------------------------------


@dataclass(eq=False)
class Item:
    """One message of a frame, or the whole frame when it could not be split."""

    text: str
    header: Header | None
    charset: str = ""
    raw_bytes: bytes | None = None
    patient_id: str = ""
    problem: Problem | None = None
    duplicate_of: int | None = None
    ack: Ack | None = None
    row_id: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        h = self.header
        assert h is not None
        return (h.sending_application[:180], h.sending_facility[:180], h.control_id[:199])

    @property
    def status(self) -> str:
        if self.problem is not None:
            return MessageStatus.REJECTED
        if self.duplicate_of is not None:
            return MessageStatus.DUPLICATE
        return MessageStatus.RECEIVED


@dataclass(eq=False)
class Incoming:
    """One frame (or HTTP body) and, once stored, its answer."""

    transport: str
    peer: str
    api_key: SystemApiKey | None
    sender_check: bool
    items: list[Item] = field(default_factory=list)
    split: Split | None = None
    charset: str = "utf-8"
    answer: bytes = b""

    @property
    def envelope(self) -> bool:
        return self.split is not None and self.split.is_envelope


def _latin1_header(payload: bytes) -> Header | None:
    """The header as far as it can be read without knowing the character set (for MSA-2)."""
    try:
        parts = split(normalise(payload[:65536].decode("latin-1").replace("\x00", "")))
    except Exception:  # best effort only
        return None
    if parts.messages and parts.messages[0].header is not None:
        return parts.messages[0].header
    return None


def prepare(
    data: bytes,
    *,
    transport: str,
    peer: str = "",
    api_key: SystemApiKey | None = None,
    sender_check: bool = True,
    too_long: int | None = None,
) -> Incoming:
    """Everything that needs no database: decode, split, check headers, types and key scopes.
    ``too_long``: the frame's full size when it was over the maximum (``data`` is its head)."""
    incoming = Incoming(transport=transport, peer=peer, api_key=api_key, sender_check=sender_check)
    if too_long is not None:
        problem = Problem(f"the message is {too_long} bytes, more than the maximum of {max_frame_bytes()}")
        incoming.items.append(Item(text="", header=_latin1_header(data), raw_bytes=data, problem=problem))
        return incoming
    decoded = decode(data)
    if decoded.problem is not None:
        incoming.items.append(
            Item(text="", header=_latin1_header(data), raw_bytes=data, problem=decoded.problem)
        )
        return incoming
    incoming.charset = decoded.charset
    parts = split(decoded.text)
    incoming.split = parts
    if parts.problem is not None:
        incoming.items.append(
            Item(
                text=decoded.text,
                header=parts.batch_header or parts.file_header,
                charset=decoded.charset,
                problem=parts.problem,
            )
        )
        return incoming
    types = accepted_types()
    for parsed in parts.messages:
        incoming.items.append(_item(parsed, decoded.charset, types, api_key))
    return incoming


def _item(parsed: Parsed, charset: str, types: frozenset[str], api_key: SystemApiKey | None) -> Item:
    item = Item(
        text=parsed.text,
        header=parsed.header,
        charset=charset,
        patient_id=parsed.patient_id,
        problem=parsed.problem,
    )
    if item.problem is None and parsed.header is not None:
        kind = parsed.header.message_type
        if kind not in types:
            item.problem = Problem(
                f"message type {kind} is not accepted (MedOA accepts {', '.join(sorted(types))})",
                code="200",
                location=("MSH", 1, 9),
            )
        elif api_key is not None and not key_allows(api_key, scope_of(kind)):
            item.problem = Problem(
                f"this API key may not send {scope_of(kind)}", code="200", location=("MSH", 1, 9)
            )
    return item


# --- the allow-list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Allowed:
    name: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    facility: str
    scopes: tuple[str, ...]


_allow_cache: tuple[float, list[_Allowed]] = (0.0, [])
_allow_lock = threading.Lock()


def _allow_ttl() -> float:
    """Seconds the allow-list is kept in memory: ``MEDOA_HL7_ALLOW_CACHE_SECONDS`` (setting or
    environment), else ``MEDOA_ACCESS_CACHE_SECONDS`` (5; 0 in the test profile)."""
    value: Any = getattr(settings, "MEDOA_HL7_ALLOW_CACHE_SECONDS", None)
    if value is None:
        value = os.environ.get("MEDOA_HL7_ALLOW_CACHE_SECONDS")
    if value is None or value == "":
        value = getattr(settings, "MEDOA_ACCESS_CACHE_SECONDS", 5)
    return float(value)


def _allow_list() -> list[_Allowed]:
    global _allow_cache
    ttl = _allow_ttl()
    expires, rows = _allow_cache
    if ttl > 0 and time.monotonic() < expires:
        return rows
    fresh: list[_Allowed] = []
    for sender in Sender.objects.filter(enabled=True).only("name", "address", "facility", "scopes"):
        try:
            network = ipaddress.ip_network(sender.address.strip(), strict=False)
        except ValueError:
            logger.warning(
                "MLLP sender %s: %r is not an address or network; ignored", sender.name, sender.address
            )
            continue
        fresh.append(
            _Allowed(sender.name, network, (sender.facility or "*").strip(), tuple(sender.scopes or ()))
        )
    with _allow_lock:
        _allow_cache = (time.monotonic() + ttl, fresh)
    return fresh


def forget_allow_list() -> None:
    """Read the allow-list again at the next message (after a ``Sender`` changed)."""
    global _allow_cache
    with _allow_lock:
        _allow_cache = (0.0, [])


def _address(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address of ``peer`` ("1.2.3.4:port", "[::1]:port", or a bare address)."""
    if peer.startswith("["):
        host = peer[1:].split("]", 1)[0]
    elif peer.count(":") == 1:
        host = peer.split(":", 1)[0]
    else:
        host = peer
    host = host.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def sender_problem(peer: str, header: Header, allowed: list[_Allowed]) -> Problem | None:
    """Why the allow-list refuses this message from ``peer`` (``None``: it admits it)."""
    address = _address(peer)
    facility = header.sending_facility
    namespace = header.component(4, 1)
    scope = scope_of(header.message_type)
    matched = False
    for entry in allowed:
        if address is None or address.version != entry.network.version or address not in entry.network:
            continue
        if entry.facility not in ("*", facility, namespace):
            continue
        matched = True
        if any(p == scope or fnmatch.fnmatchcase(scope, p) for p in entry.scopes):
            return None
    if matched:
        return Problem(f"this sender may not send {scope}", code="200", location=("MSH", 1, 9))
    return Problem(
        f"client {address or peer or '?'} with sending facility {facility!r} is not on the MLLP allow-list",
        location=("MSH", 1, 4),
    )


# --- storing ---------------------------------------------------------------------------------------


def _row(item: Item, incoming: Incoming) -> Message:
    return Message(**_row_values(item, incoming))


def _row_values(item: Item, incoming: Incoming) -> dict[str, Any]:
    """The message row's values, by attribute name (the other fields take their defaults)."""
    h = item.header
    ack = item.ack
    return {
        "transport": incoming.transport,
        "peer": incoming.peer[:100],
        "api_key_id": incoming.api_key.pk if incoming.api_key is not None else None,
        "sending_application": h.sending_application[:180] if h else "",
        "sending_facility": h.sending_facility[:180] if h else "",
        "receiving_application": h.receiving_application[:180] if h else "",
        "receiving_facility": h.receiving_facility[:180] if h else "",
        "control_id": (h.control_id[:199] if h and h.segment.startswith("MSH") else ""),
        "message_type": (h.message_type[:10] if h and h.segment.startswith("MSH") else ""),
        "trigger_event": (h.trigger_event[:10] if h and h.segment.startswith("MSH") else ""),
        "version": (h.version[:20] if h else ""),
        "charset": item.charset[:40],
        "patient_id": item.patient_id,
        "raw": item.text,
        "raw_bytes": item.raw_bytes,
        "status": item.status,
        "status_reason": item.problem.reason if item.problem else "",
        "ack": ack.text if ack else "",
        "ack_code": ack.code if ack else "",
        "duplicate_of_id": item.duplicate_of,
    }


def _durable_connection() -> None:
    """Make every commit on this connection durable before it returns, whatever the server's or
    the settings' default: PostgreSQL ``synchronous_commit = on`` (the WAL is flushed at commit),
    SQLite ``synchronous = FULL`` (the WAL file is synced at every commit). Set once per database
    connection, outside a transaction (a ``SET`` inside one would go with its rollback)."""
    if connection.in_atomic_block:
        return
    connection.ensure_connection()
    raw = connection.connection
    if getattr(connection, "_hl7_durable", None) is raw:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET synchronous_commit TO on")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous=FULL")
    connection._hl7_durable = raw  # type: ignore[attr-defined]


def _existing(keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], tuple[int, str, str]]:
    keys = set(keys)
    if not keys:
        return {}
    rows = (
        Message.objects.filter(
            sending_application__in={k[0] for k in keys},
            sending_facility__in={k[1] for k in keys},
            control_id__in={k[2] for k in keys},
        )
        .exclude(status__in=[MessageStatus.DUPLICATE, MessageStatus.REJECTED])
        .exclude(control_id="")
        .values_list("sending_application", "sending_facility", "control_id", "id", "ack", "ack_code")
    )
    return {(a, f, c): (pk, ack, code) for a, f, c, pk, ack, code in rows if (a, f, c) in keys}


def _stored_ack(item: Item, original: tuple[int, str, str]) -> Ack:
    _pk, text, code = original
    if text:
        return Ack(text=text, code=code)
    return build_ack(item.header)


def store(incomings: list[Incoming]) -> None:
    """Store the frames' messages in one durable transaction; set each frame's ``answer``.

    The group is inserted at once; if another transaction stored one of its keys meanwhile (the
    unique constraint says so), the whole transaction is rolled back and done again carefully,
    message by message, a repeat becoming a duplicate."""
    try:
        _durable_connection()
        careful = connection.in_atomic_block  # inside a caller's transaction: savepoints only
        if connection.vendor == "postgresql" and not careful:
            _store_postgres(incomings)
            for incoming in incomings:
                _answer(incoming)
            return
        try:
            with transaction.atomic():
                _store(incomings, careful=careful)
        except IntegrityError:
            if careful:
                raise
            for incoming in incomings:
                for item in incoming.items:
                    item.duplicate_of = item.row_id = item.ack = None
            with transaction.atomic():
                _store(incomings, careful=True)
    except DatabaseError:
        logger.exception("HL7: %d frame(s) could not be stored; answered AR", len(incomings))
        for incoming in incomings:
            _answer_not_stored(incoming)
        return
    for incoming in incomings:
        _answer(incoming)


def _check_senders(incomings: list[Incoming]) -> list[Item]:
    """Apply the MLLP allow-list; return the items still to be accepted."""
    allowed: list[_Allowed] | None = None
    fresh: list[Item] = []
    for incoming in incomings:
        for item in incoming.items:
            if item.problem is None and incoming.sender_check and incoming.transport == Transport.MLLP:
                if allowed is None:
                    allowed = _allow_list()
                assert item.header is not None
                item.problem = sender_problem(incoming.peer, item.header, allowed)
            if item.problem is None:
                fresh.append(item)
    return fresh


_FIELDS = [f for f in Message._meta.concrete_fields if not f.primary_key]
_UNIQUE_TARGET = (
    "(sending_application, sending_facility, control_id) "
    "WHERE NOT (status IN ('duplicate', 'rejected')) AND NOT (control_id = '')"
)


def _array_type(field: Any) -> str:
    """The PostgreSQL array element type a column's values are sent as (``unnest``)."""
    if isinstance(field, models.JSONField):
        return "text"  # sent as JSON text, cast to jsonb in the SELECT
    db_type = str(field.db_type(connection))
    return "text" if db_type.startswith("varchar") else db_type


_INSERT_SQL: str | None = None


def _insert_sql() -> str:
    """One statement text for any number of rows (short, so psycopg caches and prepares it): the
    values come as one array per column, unnested in order."""
    global _INSERT_SQL
    if _INSERT_SQL is None:
        quote = connection.ops.quote_name
        names = [quote(str(f.column)) for f in _FIELDS]
        arrays = ", ".join(f"%s::{_array_type(f)}[]" for f in _FIELDS)
        select = ", ".join(
            f"u.{name}::jsonb" if isinstance(f, models.JSONField) else f"u.{name}"
            for f, name in zip(_FIELDS, names, strict=True)
        )
        # Only names and types from the model go into the text; every value is a parameter.
        _INSERT_SQL = (
            f"WITH ins AS (INSERT INTO {quote(Message._meta.db_table)} ({', '.join(names)}) "  # noqa: S608
            f"SELECT {select} FROM unnest({arrays}) WITH ORDINALITY AS u({', '.join(names)}, ord) "
            f"ORDER BY u.ord ON CONFLICT {_UNIQUE_TARGET} DO NOTHING "
            "RETURNING id, sending_application, sending_facility, control_id, status) "
            "SELECT id, sending_application, sending_facility, control_id, status, pg_notify(%s, '') FROM ins"
        )
    return _INSERT_SQL


def _insert_returning(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """PostgreSQL, in autocommit: insert the rows (``_row_values``) in ONE statement — which is its
    own durable transaction — skipping those whose key is already accepted (``ON CONFLICT … DO
    NOTHING``), and ``NOTIFY medoa_hl7`` in it. Returns (id, application, facility, control id,
    status) of the rows inserted, in order.

    The values go to psycopg as they are (text, bytes, integers, aware datetimes, None — what these
    fields hold; JSON as text): no model instance and no field preparation per row, which were a
    third of the listener's time per message."""
    columns: list[list[Any]] = []
    for f in _FIELDS:
        name = f.attname
        if isinstance(f, models.JSONField):
            columns.append([json.dumps(row[name] if name in row else f.get_default()) for row in rows])
        elif all(name in row for row in rows):
            columns.append([row[name] for row in rows])
        else:  # a default (evaluated per row, as a new instance would: received_at)
            columns.append([row[name] if name in row else f.get_default() for row in rows])
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), [*columns, WAKE_CHANNEL])
        return [tuple(r[:5]) for r in cursor.fetchall()]


def _store_postgres(incomings: list[Incoming]) -> None:
    """The PostgreSQL path: one round trip for a group of new messages. Repeats (of an accepted
    message, or of one earlier in the group) and envelopes take a second, short transaction."""
    fresh = _check_senders(incomings)
    first: dict[tuple[str, str, str], Item] = {}
    later: list[Item] = []
    for item in fresh:
        if item.key in first:
            later.append(item)
        else:
            first[item.key] = item
    later_ids = {id(item) for item in later}
    originals = [
        (item, incoming) for incoming in incomings for item in incoming.items if id(item) not in later_ids
    ]
    for item, _incoming in originals:
        item.ack = build_ack(item.header, problem=item.problem)
    rows = [_row_values(item, incoming) for item, incoming in originals]
    inserted = iter(_insert_returning(rows))
    nxt = next(inserted, None)
    taken: list[tuple[Item, Incoming]] = []  # their key was accepted before: duplicates
    for (item, incoming), row in zip(originals, rows, strict=True):
        if nxt is not None and nxt[1:] == (
            row["sending_application"],
            row["sending_facility"],
            row["control_id"],
            row["status"],
        ):
            item.row_id = nxt[0]
            nxt = next(inserted, None)
        else:
            taken.append((item, incoming))
    envelopes = [inc for inc in incomings if inc.envelope and len(inc.items) > 1]
    if not (taken or later or envelopes):
        return
    with transaction.atomic():
        existing = _existing(item.key for item, _inc in taken)
        for item, _inc in taken:
            original = existing.get(item.key)
            if original is None:
                raise DatabaseError("HL7: a conflicting message row disappeared")
            item.duplicate_of = original[0]
            item.ack = _stored_ack(item, original)
        for item in later:
            original_item = first[item.key]
            item.duplicate_of = original_item.row_id or original_item.duplicate_of
            item.ack = original_item.ack
        repeats = [(item, inc) for item, inc in taken] + [
            (item, incoming) for incoming in incomings for item in incoming.items if id(item) in later_ids
        ]
        if repeats:
            created = Message.objects.bulk_create([_row(item, inc) for item, inc in repeats])
            for (item, _inc), message in zip(repeats, created, strict=True):
                item.row_id = message.pk
        for incoming in envelopes:
            ids = [item.row_id for item in incoming.items if item.row_id]
            Message.objects.filter(pk__in=ids).update(batch_id=ids[0])


def _store(incomings: list[Incoming], *, careful: bool) -> None:
    fresh = _check_senders(incomings)
    existing = _existing(item.key for item in fresh)
    first: dict[tuple[str, str, str], Item] = {}
    later: list[Item] = []  # repeats of a message earlier in this same group
    for item in fresh:
        key = item.key
        if key in existing:
            item.duplicate_of = existing[key][0]
            item.ack = _stored_ack(item, existing[key])
        elif key in first:
            later.append(item)
        else:
            first[key] = item
    later_ids = {id(item) for item in later}
    for incoming in incomings:
        for item in incoming.items:
            if item.ack is None and id(item) not in later_ids:
                item.ack = build_ack(item.header, problem=item.problem)
    originals = [
        (item, incoming) for incoming in incomings for item in incoming.items if id(item) not in later_ids
    ]
    if careful:
        for item, incoming in originals:
            _insert_one(item, incoming)
    else:
        rows = Message.objects.bulk_create([_row(item, incoming) for item, incoming in originals])
        for (item, _incoming), row in zip(originals, rows, strict=True):
            item.row_id = row.pk
    for item in later:
        original = first[item.key]
        item.duplicate_of = (
            original.row_id if original.status == MessageStatus.RECEIVED else original.duplicate_of
        )
        item.ack = original.ack
    if later:
        repeats = [
            (item, incoming) for incoming in incomings for item in incoming.items if id(item) in later_ids
        ]
        rows = Message.objects.bulk_create([_row(item, incoming) for item, incoming in repeats])
        for (item, _incoming), row in zip(repeats, rows, strict=True):
            item.row_id = row.pk
    for incoming in incomings:
        if incoming.envelope and len(incoming.items) > 1:
            ids = [item.row_id for item in incoming.items if item.row_id]
            Message.objects.filter(pk__in=ids).update(batch_id=ids[0])
    if any(item.status == MessageStatus.RECEIVED for item in fresh):
        wake()


def _insert_one(item: Item, incoming: Incoming) -> None:
    """Insert one row in a savepoint; when its key is taken, store it as a duplicate instead."""
    if item.status != MessageStatus.RECEIVED:
        item.row_id = Message.objects.bulk_create([_row(item, incoming)])[0].pk
        return
    try:
        with transaction.atomic():
            item.row_id = Message.objects.bulk_create([_row(item, incoming)])[0].pk
        return
    except IntegrityError:
        pass
    original = _existing([item.key]).get(item.key)
    if original is None:  # pragma: no cover — the conflicting row vanished: store as received again
        raise DatabaseError("HL7: a conflicting message row disappeared")
    item.duplicate_of = original[0]
    item.ack = _stored_ack(item, original)
    item.row_id = Message.objects.bulk_create([_row(item, incoming)])[0].pk


def _encode(text: str, charset: str) -> bytes:
    try:
        return text.encode(charset or "utf-8", errors="replace")
    except LookupError:
        return text.encode("utf-8", errors="replace")


def _answer(incoming: Incoming) -> None:
    # Over HTTP a request always gets an answer, whatever MSH-15 says.
    http = incoming.transport == Transport.HTTP
    acks = [item.ack for item in incoming.items if item.ack is not None and (item.ack.send or http)]
    if incoming.envelope and acks:
        assert incoming.split is not None
        text = build_batch_ack(
            [a.text for a in acks],
            file_header=incoming.split.file_header,
            batch_header=incoming.split.batch_header,
        )
    else:
        text = acks[0].text if acks else ""  # nothing: enhanced mode's MSH-15 said NE (or ER, SU)
    incoming.answer = _encode(text, incoming.charset) if text else b""


def _answer_not_stored(incoming: Incoming) -> None:
    problem = Problem(NOT_STORED)
    acks = [build_ack(item.header, problem=problem) for item in incoming.items]
    for item, ack in zip(incoming.items, acks, strict=True):
        item.ack = ack
        item.row_id = None
    if incoming.envelope:
        assert incoming.split is not None
        text = build_batch_ack(
            [a.text for a in acks],
            file_header=incoming.split.file_header,
            batch_header=incoming.split.batch_header,
        )
    else:
        text = acks[0].text if acks else build_ack(None, problem=problem).text
    incoming.answer = _encode(text, incoming.charset)


def receive(
    data: bytes,
    *,
    transport: str,
    peer: str = "",
    api_key: SystemApiKey | None = None,
    sender_check: bool = True,
) -> bytes:
    """Store one frame's (or body's) messages durably and return the ACK bytes to send (``b""``
    when enhanced mode asked for none)."""
    incoming = prepare(data, transport=transport, peer=peer, api_key=api_key, sender_check=sender_check)
    store([incoming])
    return incoming.answer


# --- waking the processor --------------------------------------------------------------------------


def wake() -> None:
    """Say, inside the storing transaction, that received messages wait: the processor's
    ``announce()`` — PostgreSQL ``NOTIFY medoa_hl7`` (delivered at commit, never on rollback) to
    every worker's processor thread, and after commit the in-process event when a processor thread
    runs in this process. On SQLite without one, the worker's processor polls (0.25 s)."""
    announce()
