"""Writing and checking the audit log. Call ``audit_record`` inside the transaction of the change it
records: the entry commits or rolls back with that change.

Each entry carries ``entry_hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the entry)``, where
``prev_hash`` is the previous entry's hash (``GENESIS_HASH`` for entry #1). Whoever edits, deletes or
inserts an entry without the key breaks the chain, and ``audit_chain_verify`` (``medoa manage
audit_verify``) names the first broken link.

The canonical form is built from the values exactly as the database gives them back, so an entry
verifies on SQLite and PostgreSQL alike: text is cleaned of NUL characters and cut to the column
length before hashing, client addresses are hashed in their compressed form, ``details`` are reduced
to plain JSON (dates become ISO text, non-finite floats become text) and numbers are hashed in a
form that survives PostgreSQL's ``jsonb`` (``1e20`` comes back from jsonb as an integer).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import ipaddress
import json
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import connection, connections, models, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from medoa.core.context import client_address as current_client_address

from .choices import Outcome
from .models import AuditChainHead, AuditEntry
from .selectors import EntryFilter, EntryPage, audit_entry_get, audit_entry_page, audit_log_visible_to

GENESIS_HASH = "0" * 64
_EXACT_INT_LIMIT = 2**63


@lru_cache(maxsize=4)
def _decode_audit_key(text: str) -> bytes:
    urlsafe = "-" in text or "_" in text
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if urlsafe else None, validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("MEDOA_AUDIT_KEY is not valid base64") from exc
    if len(raw) < 16:
        raise ImproperlyConfigured("MEDOA_AUDIT_KEY must hold at least 16 bytes")
    return raw


def _audit_key() -> bytes:
    text = getattr(settings, "AUDIT_HMAC_KEY", "") or ""
    if not text:
        raise ImproperlyConfigured("The audit log needs MEDOA_AUDIT_KEY.")
    return _decode_audit_key(text)


# --- canonical form ------------------------------------------------------------------------------


def _clean_text(value: str, limit: int | None = None) -> str:
    """Text as the database stores it: no NUL (PostgreSQL refuses it), valid UTF-8, cut to size."""
    text = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit is not None else text


def _clean_address(value: str | None) -> str | None:
    """A client address in compressed form, or ``None`` when it is not an IP address at all."""
    if not value:
        return None
    try:
        return ipaddress.ip_address(str(value).strip()).compressed
    except ValueError:
        return None


def _clean_json(value: Any) -> Any:
    """``value`` reduced to JSON that both databases store and give back unchanged."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, Mapping):
        return {_clean_text(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_clean_json(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, models.Model):
        return f"{value._meta.label_lower}:{value.pk}"
    return _clean_text(str(value))


def _canonical_number(value: int | float) -> int | float:
    """One form per number whichever way it comes back (``2.0`` → ``2``, ``10**20`` → ``1e20``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_INT_LIMIT:
        return int(value)
    if isinstance(value, int) and abs(value) >= _EXACT_INT_LIMIT:
        try:
            return float(value)
        except OverflowError:
            return value
    return value


def _canonical_json(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _canonical_number(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_json(v) for v in value]
    return str(value)


def entry_digest(entry: AuditEntry, prev_hash: str) -> str:
    """HMAC-SHA256 over the previous hash and a canonical JSON form of the entry's fields."""
    body = {
        "seq": entry.seq,
        "at": entry.at.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor_id,
        "actor_name": entry.actor_name,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "target_repr": entry.target_repr,
        "client_address": _clean_address(entry.client_address),
        "outcome": entry.outcome,
        "details": _canonical_json(entry.details),
    }
    message = prev_hash.encode("ascii") + json.dumps(
        body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    return hmac.new(_audit_key(), message, hashlib.sha256).hexdigest()


def _describe_target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)
    if isinstance(target, tuple) and len(target) == 3:
        return str(target[0]), str(target[1]), str(target[2])
    raise TypeError("target must be a model instance or a (type, id, text) tuple")


def _max_length(name: str) -> int:
    field = AuditEntry._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None
    return field.max_length


# --- writing -------------------------------------------------------------------------------------


def audit_record(
    *,
    actor: Any,
    action: str,
    target: Any = None,
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    client_address: str | None = None,
    actor_name: str = "",
) -> AuditEntry:
    """Append one entry to the chain.

    ``actor`` is a user (or ``None`` for the system or an unknown user, then give ``actor_name``);
    ``target`` a model instance or a ``(type, id, text)`` tuple; ``client_address`` defaults to the
    current request's (``medoa.core.context``). The chain head row is locked (``SELECT … FOR
    UPDATE`` on PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``) so that two writers
    never link to the same predecessor. Raises ``ValueError`` (before touching the database) for an
    empty or over-long action or an unknown outcome. Inside the caller's transaction no savepoint is
    taken: an entry that cannot be written fails the change it records.

    Call it as the last step of a service: the head row stays locked until the caller's transaction
    commits, so whatever runs after it in the same transaction holds up every other audited change
    (and locking other rows after it invites deadlocks on PostgreSQL).
    """
    if not action or len(action) > _max_length("action"):
        raise ValueError(f"audit action must be 1–{_max_length('action')} characters: {action!r}")
    outcome = Outcome(outcome).value
    target_type, target_id, target_repr = _describe_target(target)
    actor_id = getattr(actor, "pk", None)
    if not actor_name and actor_id is not None:
        actor_name = actor.get_username()
    entry = AuditEntry(
        actor_id=actor_id,
        actor_name=_clean_text(actor_name or "", _max_length("actor_name")),
        action=_clean_text(action),
        target_type=_clean_text(target_type, _max_length("target_type")),
        target_id=_clean_text(target_id, _max_length("target_id")),
        target_repr=_clean_text(target_repr, _max_length("target_repr")),
        client_address=_clean_address(client_address or current_client_address.get()),
        outcome=outcome,
        details=_clean_json(details or {}),
    )
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _append_postgresql(entry)
            return entry
        last_seq, last_hash = _locked_head()
        _link(entry, last_seq, last_hash)
        _append(entry)
    return entry


def _link(entry: AuditEntry, last_seq: int, last_hash: str) -> None:
    """Place ``entry`` after the head ``(last_seq, last_hash)``: its number, time and hashes."""
    entry.seq = last_seq + 1
    entry.at = timezone.now()
    entry.prev_hash = last_hash
    entry.entry_hash = entry_digest(entry, last_hash)


# Every audited change runs these statements (SQLite: the three below; PostgreSQL: one or two, see
# ``_GUESSED_SQL``), so they are written out once rather than built by the ORM each time (which
# cost more than the database's work). Values go through the model fields' own conversions
# (``get_db_prep_save``), so JSON, addresses and times are stored exactly as the ORM would store
# them.
_HEAD_SQL = "SELECT last_seq, last_hash FROM {head} WHERE id = 1"
_INSERT_SQL = "INSERT INTO {entries} ({columns}) VALUES ({values})"
_MOVE_SQL = "UPDATE {head} SET last_seq = %s, last_hash = %s WHERE id = 1"
_ENTRY_FIELDS = (
    "seq",
    "at",
    "actor",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "client_address",
    "outcome",
    "details",
    "prev_hash",
    "entry_hash",
)


def _locked_head() -> tuple[int, str]:
    """The chain head (created on first use), locked until the caller's transaction ends."""
    head_table = connection.ops.quote_name(AuditChainHead._meta.db_table)
    sql = _HEAD_SQL.format(head=head_table)
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    if row is None:
        head, _created = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        return head.last_seq, head.last_hash
    return int(row[0]), str(row[1])


def _append(entry: AuditEntry) -> None:
    """Insert ``entry`` and move the head onto it."""
    insert, move = _append_statements(connection.vendor)
    params = [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in _entry_fields()]
    with connection.cursor() as cursor:
        cursor.execute(insert, params)
        entry.pk = cursor.fetchone()[0]
        entry._state.adding = False
        cursor.execute(move, [entry.seq, entry.entry_hash])


# PostgreSQL: one statement per entry while this connection's writes are the only ones. The
# connection remembers the head its last entry left; the next entry is linked to it in Python and
# written by one statement that locks the head only if it is still there (FOR UPDATE re-checks the
# row as another writer left it, after waiting for that writer), inserts the entry only if it did,
# then moves the head onto the entry (the guard's trigger finds the entry in place: the head is
# updated from the join with the inserted row). When another writer moved the head meanwhile,
# nothing is written and the entry goes the locked way: the head read FOR UPDATE, then the insert
# and the head move in one statement (two in all). The connection tries its guess again once a
# locked read finds the head where its own last entry left it, i.e. when nobody else is writing.
_GUESSED_SQL = (
    "WITH locked AS (SELECT id FROM {head} WHERE id = 1 AND last_seq = %s AND last_hash = %s FOR UPDATE), "
    "entry AS (INSERT INTO {entries} ({columns}) SELECT {casts} FROM locked RETURNING id) "
    "UPDATE {head} SET last_seq = %s, last_hash = %s FROM entry WHERE {head}.id = 1 RETURNING entry.id"
)
_LINKED_SQL = (
    "WITH entry AS (INSERT INTO {entries} ({columns}) VALUES ({values}) RETURNING id) "
    "UPDATE {head} SET last_seq = %s, last_hash = %s FROM entry WHERE {head}.id = 1 RETURNING entry.id"
)


@dataclass
class _HeadGuess:
    seq: int
    hash: str
    trusted: bool  # the last look at the head found it where this connection's last entry left it


_head_guesses: weakref.WeakKeyDictionary[Any, _HeadGuess] = weakref.WeakKeyDictionary()


def _append_postgresql(entry: AuditEntry) -> None:
    db = connections[connection.alias]
    guess = _head_guesses.get(db)
    guessed, linked = _postgresql_statements(db.alias)
    fields = _entry_fields()
    with db.cursor() as cursor:
        if guess is not None and guess.trusted:
            _link(entry, guess.seq, guess.hash)
            params: list[Any] = [guess.seq, guess.hash]
            params += [f.get_db_prep_save(getattr(entry, f.attname), db) for f in fields]
            params += [entry.seq, entry.entry_hash]
            cursor.execute(guessed, params)
            row = cursor.fetchone()
            if row is not None:
                entry.pk = row[0]
                entry._state.adding = False
                _head_guesses[db] = _HeadGuess(entry.seq, entry.entry_hash, True)
                return
        last_seq, last_hash = _locked_head()
        _link(entry, last_seq, last_hash)
        params = [f.get_db_prep_save(getattr(entry, f.attname), db) for f in fields]
        params += [entry.seq, entry.entry_hash]
        cursor.execute(linked, params)
        entry.pk = cursor.fetchone()[0]
        entry._state.adding = False
    alone = guess is not None and (guess.seq, guess.hash) == (last_seq, last_hash)
    _head_guesses[db] = _HeadGuess(entry.seq, entry.entry_hash, alone)


@lru_cache(maxsize=4)
def _postgresql_statements(alias: str) -> tuple[str, str]:
    """The guessed and the linked statement (see ``_GUESSED_SQL``), built once."""
    db = connections[alias]
    quote = db.ops.quote_name
    fields = _entry_fields()
    names = {
        "head": quote(AuditChainHead._meta.db_table),
        "entries": quote(AuditEntry._meta.db_table),
        "columns": ", ".join(quote(f.column or f.attname) for f in fields),
    }
    casts = ", ".join(f"%s::{f.cast_db_type(db)}" for f in fields)
    values = ", ".join(["%s"] * len(fields))
    return _GUESSED_SQL.format(casts=casts, **names), _LINKED_SQL.format(values=values, **names)


@lru_cache(maxsize=1)
def _entry_fields() -> tuple[Field[Any, Any], ...]:
    return tuple(f for f in AuditEntry._meta.concrete_fields if f.name in _ENTRY_FIELDS)


@lru_cache(maxsize=4)
def _append_statements(vendor: str) -> tuple[str, str]:
    """The insert and the head move, built once per database vendor (every audited change runs them)."""
    quote = connection.ops.quote_name
    fields = _entry_fields()
    insert = _INSERT_SQL.format(
        entries=quote(AuditEntry._meta.db_table),
        columns=", ".join(quote(f.column or f.attname) for f in fields),
        values=", ".join(["%s"] * len(fields)),
    )
    return insert + " RETURNING id", _MOVE_SQL.format(head=quote(AuditChainHead._meta.db_table))


# --- verifying -----------------------------------------------------------------------------------

# Reasons are English msgids (the command and the API print them as they are; pages translate them).
MISSING = gettext_noop("entry #%(seq)s is missing")
BAD_LINK = gettext_noop("link to the previous entry does not match")
BAD_HASH = gettext_noop("entry content does not match its hash")
TAIL_MISSING = gettext_noop("entries after #%(seq)s are missing (the chain head is at #%(head)s)")
BEYOND_HEAD = gettext_noop("entries continue after the chain head #%(head)s")
HEAD_MISMATCH = gettext_noop("the chain head does not match the last entry")
HEAD_MISSING = gettext_noop("the chain head is missing")


@dataclass(frozen=True)
class ChainCheck:
    """The result of a walk over the chain: ``entries`` counts the entries that verified."""

    ok: bool
    entries: int
    broken_seq: int | None = None
    reason: str = ""
    reason_params: dict[str, Any] = field(default_factory=dict)

    @property
    def reason_text(self) -> str:
        """The reason in English (for the command line and the API)."""
        return self.reason % self.reason_params if self.reason_params else self.reason

    @property
    def reason_display(self) -> str:
        """The reason in the active language."""
        text = gettext(self.reason) if self.reason else ""
        return text % self.reason_params if self.reason_params else text


def _head_state() -> tuple[int, str] | None:
    row = AuditChainHead.objects.filter(pk=1).values_list("last_seq", "last_hash").first()
    return (row[0], row[1]) if row else None


def audit_chain_verify(*, batch_size: int = 2000) -> ChainCheck:
    """Walk the whole chain in order; report the first entry whose link or hash is wrong.

    The chain head is read before and after the walk, so entries appended meanwhile by other
    writers are neither reported missing nor mistaken for entries beyond the head.
    """
    head_before = _head_state()
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=batch_size):
        if entry.seq != expected_seq:
            return ChainCheck(False, count, expected_seq, MISSING, {"seq": expected_seq})
        if entry.prev_hash != prev_hash:
            return ChainCheck(False, count, entry.seq, BAD_LINK)
        if not hmac.compare_digest(entry_digest(entry, prev_hash), entry.entry_hash):
            return ChainCheck(False, count, entry.seq, BAD_HASH)
        prev_hash = entry.entry_hash
        expected_seq += 1
        count += 1
    head_after = _head_state()
    if head_after is None:
        if count:
            return ChainCheck(False, count, count, HEAD_MISSING)
        return ChainCheck(True, 0)
    if head_before is not None and head_before[0] > count:
        return ChainCheck(False, count, count + 1, TAIL_MISSING, {"seq": count, "head": head_before[0]})
    if head_after[0] < count:
        return ChainCheck(False, count, head_after[0] + 1, BEYOND_HEAD, {"head": head_after[0]})
    if head_after[0] == count and head_after[1] != prev_hash:
        return ChainCheck(False, count, count, HEAD_MISMATCH)
    return ChainCheck(True, count)


# --- the viewer's use cases: every look at the log is itself recorded ---------------------------

VIEWED = "audit.viewed"
VERIFIED = "audit.chain.verified"


def _require_viewer(viewer: Any) -> None:
    if not audit_log_visible_to(viewer):
        raise PermissionDenied


def audit_log_browse(
    *,
    viewer: Any,
    filters: EntryFilter,
    before: int | None = None,
    after: int | None = None,
    via: str = "web",
) -> EntryPage:
    """A page of the log for ``viewer``; records "audit.viewed" with the filters in use."""
    _require_viewer(viewer)
    page = audit_entry_page(user=viewer, filters=filters, before=before, after=after)
    paging = {k: v for k, v in {"before": before, "after": after}.items() if v is not None}
    audit_record(
        actor=viewer,
        action=VIEWED,
        details={"via": via, "filters": filters.as_details(), **paging, "shown": len(page.entries)},
    )
    return page


def audit_entry_open(*, viewer: Any, seq: int, via: str = "web") -> AuditEntry | None:
    """One entry for ``viewer`` (``None`` if there is none); records "audit.viewed" on it."""
    _require_viewer(viewer)
    entry = audit_entry_get(user=viewer, seq=seq)
    if entry is not None:
        audit_record(
            actor=viewer,
            action=VIEWED,
            target=("audit.auditentry", entry.seq, f"#{entry.seq} {entry.action}"),
            details={"via": via, "seq": entry.seq},
        )
    return entry


def audit_chain_check(*, viewer: Any, via: str = "web") -> ChainCheck:
    """Verify the chain for ``viewer`` and record the result ("audit.chain.verified")."""
    _require_viewer(viewer)
    result = audit_chain_verify()
    details: dict[str, Any] = {"via": via, "ok": result.ok, "entries": result.entries}
    if not result.ok:
        details.update(broken_seq=result.broken_seq, reason=result.reason_text)
    audit_record(
        actor=viewer,
        action=VERIFIED,
        outcome=Outcome.SUCCESS if result.ok else Outcome.FAILURE,
        details=details,
    )
    return result


def audit_log_access_denied(*, user: Any, path: str, via: str = "web") -> None:
    """Someone without the audit permission tried to open the log: that is recorded too."""
    audit_record(actor=user, action=VIEWED, outcome=Outcome.DENIED, details={"via": via, "path": path[:200]})
