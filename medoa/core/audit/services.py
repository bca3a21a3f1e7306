"""Writing the audit log. Call ``audit_record`` inside the transaction of the change it records."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.utils import timezone

from medoa.core.context import client_address as current_client_address

from .choices import Outcome
from .models import AuditChainHead, AuditEntry

GENESIS_HASH = "0" * 64


def _audit_key() -> bytes:
    text = getattr(settings, "AUDIT_HMAC_KEY", "") or ""
    if not text:
        raise ImproperlyConfigured("The audit log needs MEDOA_AUDIT_KEY.")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise ImproperlyConfigured("MEDOA_AUDIT_KEY is not valid base64") from exc


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
        "client_address": entry.client_address,
        "outcome": entry.outcome,
        "details": entry.details,
    }
    message = prev_hash.encode("ascii") + json.dumps(
        body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode("utf-8")
    return hmac.new(_audit_key(), message, hashlib.sha256).hexdigest()


def _describe_target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)[:200]
    if isinstance(target, tuple) and len(target) == 3:
        return str(target[0]), str(target[1]), str(target[2])[:200]
    raise TypeError("target must be a model instance or a (type, id, text) tuple")


@transaction.atomic
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
    ``target`` a model instance or a ``(type, id, text)`` tuple. The chain head row is locked
    (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers) so that two writers never
    link to the same predecessor.
    """
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
    target_type, target_id, target_repr = _describe_target(target)
    actor_id = getattr(actor, "pk", None)
    entry = AuditEntry(
        seq=head.last_seq + 1,
        at=timezone.now(),
        actor_id=actor_id,
        actor_name=actor_name or (actor.get_username() if actor_id else "")[:150],
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        client_address=client_address or current_client_address.get(),
        outcome=outcome,
        details=json.loads(json.dumps(details or {}, default=str)),
        prev_hash=head.last_hash,
    )
    entry.entry_hash = entry_digest(entry, head.last_hash)
    entry.save(force_insert=True)
    head.last_seq = entry.seq
    head.last_hash = entry.entry_hash
    head.save(update_fields=["last_seq", "last_hash"])
    return entry


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    entries: int
    broken_seq: int | None = None
    reason: str = ""


def audit_chain_verify(*, batch_size: int = 2000) -> ChainCheck:
    """Walk the whole chain in order; report the first entry whose link or hash is wrong."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=batch_size):
        if entry.seq != expected_seq:
            return ChainCheck(False, count, entry.seq, f"entry #{expected_seq} is missing")
        if entry.prev_hash != prev_hash:
            return ChainCheck(False, count, entry.seq, "link to the previous entry does not match")
        if entry_digest(entry, prev_hash) != entry.entry_hash:
            return ChainCheck(False, count, entry.seq, "entry content does not match its hash")
        prev_hash = entry.entry_hash
        expected_seq += 1
        count += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.last_seq != count:
        return ChainCheck(False, count, count + 1, f"entries after #{count} are missing")
    return ChainCheck(True, count)
