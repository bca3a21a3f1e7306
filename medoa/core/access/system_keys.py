"""System API keys: how other systems (HIS, LIS, an HR feed …) authenticate, and what they may send.

A key looks like ``msk_<prefix>_<secret>``. It is shown once, when it is created; only its SHA-256
is stored (``SystemApiKey.key_hash``), with the ``msk_<prefix>`` part kept in clear so that people
can tell keys apart. A key carries a list of scopes — exact names (``hl7:adt``, ``fhir:Observation``)
or fnmatch-style patterns (``events:publish:hr.*``, ``fhir:*``) — and is accepted only for what one
of them matches (``key_allows``).

The hot path (``authenticate_system_key``) costs one indexed query, none while the lookup is
cached in this process; the cache entry lives at most ``REVOCATION_DELAY_SECONDS`` (and never
longer than ``MEDOA_ACCESS_CACHE_SECONDS``), so a revoked key is refused everywhere within that time,
and at once in the process that revoked it. ``last_used_at``/``last_used_address`` are written
at most every ``LAST_USED_GRANULARITY``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.audit.services import audit_record
from medoa.core.context import client_address_of
from medoa.core.registries import MenuEntry, menu

from . import cache
from .choices import DataScope
from .models import SystemApiKey, User
from .permissions import Permission, register
from .policy import has_perm

SYSTEM_KEY_MANAGE: Final = "access.system_key.manage"
KEY_PREFIX: Final = "msk_"
REVOCATION_DELAY_SECONDS: Final = 4.0
LAST_USED_GRANULARITY: Final = timedelta(seconds=60)
MAX_RAW_LENGTH: Final = 200
MAX_SCOPES: Final = 100
MAX_SCOPE_LENGTH: Final = 200

# Every scope a clinical system may be given: HL7 v2 message types (MSH-9.1, lowercased) and the
# FHIR resources MedOA accepts.
HL7_SCOPES: Final = ("hl7:adt", "hl7:oru", "hl7:mfn")
FHIR_SCOPES: Final = (
    "fhir:Encounter",
    "fhir:Observation",
    "fhir:Patient",
    "fhir:Practitioner",
    "fhir:Location",
    "fhir:Bundle",
)
CLINICAL_SCOPES: Final = HL7_SCOPES + FHIR_SCOPES

# The scopes the key form offers as a checklist, with what each one lets a system do.
KNOWN_SCOPES: Final[dict[str, Any]] = {
    "hl7:adt": _("HL7 v2 ADT: admissions, transfers, discharges, registrations"),
    "hl7:oru": _("HL7 v2 ORU: results and critical values"),
    "hl7:mfn": _("HL7 v2 MFN: staff master file (new staff)"),
    "fhir:Encounter": _("FHIR Encounter"),
    "fhir:Observation": _("FHIR Observation"),
    "fhir:Patient": _("FHIR Patient"),
    "fhir:Practitioner": _("FHIR Practitioner"),
    "fhir:Location": _("FHIR Location"),
    "fhir:Bundle": _("FHIR Bundle (batch or transaction)"),
    "events:publish:hr.*": _("Publish HR events (hr.*)"),
}

# A scope: a lowercase family, then one or more ``:``-separated parts of letters, digits, ``._-``
# and the fnmatch wildcards ``*`` and ``?``.
_SCOPE_RE: Final = re.compile(r"^[a-z][a-z0-9_]*(?::[A-Za-z0-9_.*?\-]+)+$")
_RAW_RE: Final = re.compile(r"^msk_[0-9a-f]{8}_[A-Za-z0-9_\-]{20,120}$")


class SystemKeyError(ValueError):
    """A key cannot be created or changed as asked; ``field`` names the input at fault."""

    def __init__(self, field: str, message: Any, params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.params = params or {}


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def normalise_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """The scopes without blanks and repeats, in the order given; ``SystemKeyError`` naming the
    first that is not a valid scope."""
    result: list[str] = []
    for raw in scopes:
        scope = str(raw).strip()
        if not scope:
            continue
        if len(scope) > MAX_SCOPE_LENGTH or not _SCOPE_RE.match(scope):
            raise SystemKeyError(
                "scopes",
                _(
                    "“%(scope)s” is not a valid scope: write family:name, such as hl7:adt, "
                    "fhir:Observation or events:publish:hr.*"
                ),
                {"scope": scope[:80]},
            )
        if scope not in result:
            result.append(scope)
    if not result:
        raise SystemKeyError("scopes", _("Give the key at least one scope."))
    if len(result) > MAX_SCOPES:
        raise SystemKeyError("scopes", _("A key may have at most %(max)s scopes."), {"max": MAX_SCOPES})
    return result


def _new_raw_key() -> tuple[str, str]:
    """A fresh raw key and its display prefix (``msk_<8 hex>``)."""
    while True:
        prefix = KEY_PREFIX + secrets.token_hex(4)
        if not SystemApiKey.objects.filter(prefix=prefix).exists():
            return f"{prefix}_{secrets.token_urlsafe(32)}", prefix


@transaction.atomic
def create_system_key(
    *, actor: User | None, name: str, system: str = "", scopes: list[str] | tuple[str, ...]
) -> tuple[SystemApiKey, str]:
    """Create a key; return the row and the raw key (shown once, never stored)."""
    name = (name or "").strip()
    system = (system or "").strip()
    if not name:
        raise SystemKeyError("name", _("Give the key a name."))
    if len(name) > 100:
        raise SystemKeyError("name", _("The name may have at most 100 characters."))
    if len(system) > 100:
        raise SystemKeyError("system", _("The system may have at most 100 characters."))
    clean = normalise_scopes(scopes)
    raw, prefix = _new_raw_key()
    key = SystemApiKey.objects.create(
        name=name, system=system, key_hash=hash_key(raw), prefix=prefix, scopes=clean, created_by=actor
    )
    audit_record(
        actor=actor,
        actor_name="" if actor is not None else "system",
        action="access.system_key.created",
        target=("access.systemapikey", key.pk, f"{key.name} ({key.prefix})"),
        details={"name": key.name, "system": key.system, "scopes": clean},
    )
    return key, raw


@transaction.atomic
def revoke_system_key(*, actor: User | None, key: SystemApiKey) -> SystemApiKey:
    """Revoke ``key`` (a revoked key stays revoked; revoking again changes nothing)."""
    locked = SystemApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.revoked_by = actor
    locked.save(update_fields=["revoked_at", "revoked_by"])
    forget_system_key(locked.key_hash)
    audit_record(
        actor=actor,
        actor_name="" if actor is not None else "system",
        action="access.system_key.revoked",
        target=("access.systemapikey", locked.pk, f"{locked.name} ({locked.prefix})"),
        details={"name": locked.name, "system": locked.system},
    )
    return locked


@transaction.atomic
def update_system_key_scopes(*, actor: User, key: SystemApiKey, scopes: list[str]) -> SystemApiKey:
    """Replace the scopes of a live key."""
    clean = normalise_scopes(scopes)
    locked = SystemApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is not None:
        raise SystemKeyError("scopes", _("This key has been revoked."))
    before = list(locked.scopes)
    locked.scopes = clean
    locked.save(update_fields=["scopes"])
    forget_system_key(locked.key_hash)
    audit_record(
        actor=actor,
        action="access.system_key.scopes_changed",
        target=("access.systemapikey", locked.pk, f"{locked.name} ({locked.prefix})"),
        details={"before": before, "after": clean},
    )
    return locked


# --- authentication (the hot path) ----------------------------------------------------------------


@dataclass
class _Cached:
    key: SystemApiKey
    loaded_at: float


_keys: cache.TTLCache[_Cached] = cache.TTLCache("system keys")


def forget_system_key(key_hash: str) -> None:
    """Drop the cached lookup of one key, now and after the current transaction commits."""
    _keys.discard(key_hash)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _keys.discard(key_hash))


def authenticate_system_key(raw: str, *, address: str | None = None) -> SystemApiKey | None:
    """The live key ``raw`` names, or ``None`` (unknown, malformed or revoked).

    The answer is a copy the caller may keep. Records when and from where the key was last used,
    at most once a minute per key.
    """
    if not raw or len(raw) > MAX_RAW_LENGTH or not _RAW_RE.match(raw):
        return None
    key_hash = hash_key(raw)
    now_mono = cache._clock()
    hit = _keys.get(key_hash)
    shared: SystemApiKey | None = None
    if isinstance(hit, _Cached) and now_mono - hit.loaded_at < REVOCATION_DELAY_SECONDS:
        shared = hit.key
    else:
        generation = _keys.generation()
        shared = SystemApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()
        if shared is None:
            return None
        _keys.set(key_hash, _Cached(key=shared, loaded_at=now_mono), generation=generation)
    now = timezone.now()
    stale = shared.last_used_at is None or now - shared.last_used_at >= LAST_USED_GRANULARITY
    if stale or (address and not shared.last_used_address):
        address = address or shared.last_used_address
        SystemApiKey.objects.filter(pk=shared.pk).update(last_used_at=now, last_used_address=address)
        shared.last_used_at = now
        shared.last_used_address = address
    own = cache.model_copy(shared)
    own.scopes = list(shared.scopes)
    return own


def key_allows(key: SystemApiKey, scope: str) -> bool:
    """Whether one of ``key``'s scopes is ``scope`` or a pattern matching it (case-sensitive)."""
    if key.revoked_at is not None:
        return False
    return any(pattern == scope or fnmatch.fnmatchcase(scope, pattern) for pattern in key.scopes or ())


def raw_key_from_request(request: HttpRequest) -> str | None:
    """The ``msk_…`` key a request carries in ``Authorization: Bearer`` or ``X-API-Key``."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        candidate = header[7:].strip()
        if candidate.startswith(KEY_PREFIX):
            return candidate
    candidate = request.headers.get("X-API-Key", "").strip()
    if candidate.startswith(KEY_PREFIX):
        return candidate
    return None


def system_key_from_request(request: HttpRequest) -> SystemApiKey | None:
    """The live system key a (plain Django) request authenticates with, or ``None``; also set as
    ``request.system_key``."""
    raw = raw_key_from_request(request)
    if raw is None:
        return None
    key = authenticate_system_key(raw, address=client_address_of(request))
    if key is not None:
        request.system_key = key  # type: ignore[attr-defined]
    return key


def system_key_actor_name(key: SystemApiKey) -> str:
    """How a key appears as the actor of what it sent (events, audit entries)."""
    return f"key:{key.name}"[:150]


# --- reads ----------------------------------------------------------------------------------------


def system_key_list(*, user: Any) -> QuerySet[SystemApiKey]:
    """Every key (live first, then revoked), for holders of ``access.system_key.manage``."""
    if not has_perm(user, SYSTEM_KEY_MANAGE):
        return SystemApiKey.objects.none()
    return SystemApiKey.objects.select_related("created_by", "revoked_by").order_by(
        "revoked_at", "name", "pk"
    )


def system_key_get(*, user: Any, key_id: int) -> SystemApiKey:
    """One key, or ``Http404`` (also when the user may not manage keys)."""
    key = system_key_list(user=user).filter(pk=key_id).first()
    if key is None:
        raise Http404
    return key


# --- registration (called from AccessConfig.ready) ------------------------------------------------


def register_system_key_extensions() -> None:
    """The permission ``access.system_key.manage`` (信息中心 and the system administrator) and the
    menu entry of the key pages."""
    register(
        Permission(
            SYSTEM_KEY_MANAGE,
            _("Create and revoke system API keys"),
            defaults={"it": DataScope.ALL, "sys_admin": DataScope.ALL},
            group="access",
        )
    )
    menu.register(
        "access.system_keys",
        MenuEntry(
            key="access.system_keys",
            label=_("System API keys"),
            url_name="access:systemkey_list",
            icon="key",
            group="admin",
            order=640,
            permission=SYSTEM_KEY_MANAGE,
        ),
    )
