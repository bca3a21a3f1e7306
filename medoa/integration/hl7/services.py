"""State changes of the HL7 pages: reprocessing parked messages, the code mapping tables (saved
through core/clinical, then the messages waiting for the code are reprocessed) and the MLLP
allow-list. Each is permission-checked and audited."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record
from medoa.core.clinical import services as clinical
from medoa.core.clinical.models import CodeMapping
from medoa.core.errors import ServiceError, fmt

from .models import Message, MessageStatus, Sender
from .processing import announce, requeue_unmapped
from .receive import forget_allow_list
from .selectors import PERM_MANAGE

REPROCESSABLE = (MessageStatus.UNMAPPED, MessageStatus.ERROR)
SCOPE_RE = re.compile(r"[a-z0-9*?\[\]:._-]{1,60}\Z", re.IGNORECASE)


class Hl7Error(ServiceError):
    default_message = _("The request is not valid.")


def _require(actor: Any, code: str) -> None:
    if not has_perm(actor, code):
        raise PermissionDenied


@transaction.atomic
def message_reprocess(*, actor: Any, message: Message) -> Message:
    """Put an unmapped or failed message back in the queue (audited). A processed message is never
    processed twice, and a rejected one was refused on receipt (the sender must send it again)."""
    _require(actor, PERM_MANAGE)
    locked = Message.objects.select_for_update().get(pk=message.pk)
    if locked.status not in REPROCESSABLE:
        raise Hl7Error(
            fmt(
                _("Only an unmapped or failed message can be reprocessed; this one is %(status)s."),
                {"status": MessageStatus(locked.status).label},
            ),
            field="status",
        )
    before = {"status": locked.status, "reason": locked.status_reason[:500], "attempts": locked.attempts}
    locked.status = MessageStatus.RECEIVED
    locked.status_reason = ""
    locked.save(update_fields=["status", "status_reason"])
    announce()
    audit_record(actor=actor, action="hl7.message.reprocessed", target=locked, details=before)
    return locked


@transaction.atomic
def messages_reprocess_unmapped(*, actor: Any) -> int:
    """Put every unmapped message back in the queue (those still unmapped park again)."""
    _require(actor, PERM_MANAGE)
    count = Message.objects.filter(status=MessageStatus.UNMAPPED).update(
        status=MessageStatus.RECEIVED, status_reason=""
    )
    if count:
        announce()
    audit_record(
        actor=actor,
        action="hl7.message.reprocessed_unmapped",
        target=("hl7.message", "", "unmapped"),
        details={"count": count},
    )
    return count


def code_mapping_save(
    *, actor: Any, mapping: CodeMapping | None = None, **fields: Any
) -> tuple[CodeMapping, int]:
    """Save a mapping (core/clinical, audited) and reprocess the messages that waited for its
    code; returns the mapping and how many messages went back in the queue."""
    with transaction.atomic():
        saved = clinical.code_mapping_save(actor=actor, mapping=mapping, **fields)
        requeued = requeue_unmapped([(saved.kind, saved.facility, saved.external_code)])
    return saved, requeued


def code_mapping_delete(*, actor: Any, mapping: CodeMapping) -> None:
    clinical.code_mapping_delete(actor=actor, mapping=mapping)


def _clean_sender(name: str, address: str, facility: str, scopes: list[str]) -> dict[str, Any]:
    errors: list[tuple[str, Any]] = []
    name = (name or "").strip()
    address = (address or "").strip()
    facility = (facility or "").strip() or "*"
    if not name:
        errors.append(("name", _("Enter a name.")))
    try:
        ipaddress.ip_network(address, strict=False)
    except ValueError:
        errors.append(("address", _("Enter an IP address or a network such as 10.1.0.0/16.")))
    clean_scopes = []
    for scope in scopes:
        scope = scope.strip()
        if not scope:
            continue
        if not SCOPE_RE.match(scope) or not (
            scope.startswith("hl7:") or fnmatch.fnmatchcase("hl7:adt", scope)
        ):
            errors.append(
                ("scopes", fmt(_("%(scope)s is not an HL7 scope such as hl7:adt."), {"scope": scope}))
            )
            continue
        clean_scopes.append(scope.lower())
    if not clean_scopes and not any(f == "scopes" for f, _m in errors):
        errors.append(("scopes", _("Choose at least one message type this sender may send.")))
    if errors:
        raise Hl7Error(errors[0][1], field=errors[0][0], errors=errors)
    return {"name": name[:100], "address": address[:64], "facility": facility[:180], "scopes": clean_scopes}


@transaction.atomic
def sender_save(
    *,
    actor: Any,
    name: str,
    address: str,
    facility: str,
    scopes: list[str],
    enabled: bool = True,
    sender: Sender | None = None,
) -> Sender:
    """Add or change an MLLP sender of the allow-list (audited); the listener reads it again."""
    _require(actor, PERM_MANAGE)
    data = _clean_sender(name, address, facility, scopes)
    before = None
    if sender is None:
        sender = Sender(**data, enabled=enabled, created_by=actor)
    else:
        before = {
            "name": sender.name,
            "address": sender.address,
            "facility": sender.facility,
            "scopes": sender.scopes,
            "enabled": sender.enabled,
        }
        for k, v in data.items():
            setattr(sender, k, v)
        sender.enabled = enabled
    sender.save()
    transaction.on_commit(forget_allow_list)
    audit_record(
        actor=actor,
        action="hl7.sender.saved",
        target=sender,
        details={**data, "enabled": enabled, "before": before},
    )
    return sender


@transaction.atomic
def sender_delete(*, actor: Any, sender: Sender) -> None:
    _require(actor, PERM_MANAGE)
    details = {
        "name": sender.name,
        "address": sender.address,
        "facility": sender.facility,
        "scopes": sender.scopes,
    }
    pk = sender.pk
    sender.delete()
    transaction.on_commit(forget_allow_list)
    audit_record(
        actor=actor, action="hl7.sender.deleted", target=("hl7.sender", pk, details["name"]), details=details
    )
