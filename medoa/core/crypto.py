"""Field encryption at rest (AES-256-GCM) and keyed blind indexes (HMAC-SHA256).

Stored form of an encrypted value: ``enc1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``. The key
id travels with each value, so old keys keep decrypting until ``rotate_field_keys`` re-encrypts
everything under the active key. The column's name is bound in as associated data: a value copied
into another column does not decrypt.

Equality search on an encrypted column goes through a companion blind-index column holding
``blind_index(purpose, value)`` — an HMAC under a separate key — never through the ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "enc1"
NONCE_BYTES = 12


class DecryptionError(ValueError):
    """A stored value could not be decrypted (unknown key id, tampering, or wrong column)."""


def _b64decode_key(kid: str, text: str) -> bytes:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text else None)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"field encryption key {kid!r} is not valid base64") from exc
    if len(raw) != 32:
        raise ImproperlyConfigured(f"field encryption key {kid!r} must be 32 bytes, not {len(raw)}")
    return raw


@lru_cache(maxsize=1)
def _keyring() -> tuple[str, dict[str, AESGCM]]:
    keys: dict[str, str] = dict(getattr(settings, "FIELD_ENCRYPTION_KEYS", {}) or {})
    active: str = getattr(settings, "FIELD_ENCRYPTION_ACTIVE_KEY", "") or ""
    if not keys or not active:
        raise ImproperlyConfigured(
            "Field encryption needs MEDOA_FIELD_KEYS (kid:base64 of 32 bytes) and an active key id."
        )
    if active not in keys:
        raise ImproperlyConfigured(f"the active field key {active!r} is not among MEDOA_FIELD_KEYS")
    return active, {kid: AESGCM(_b64decode_key(kid, text)) for kid, text in keys.items()}


@lru_cache(maxsize=1)
def _blind_key() -> bytes:
    text: str = getattr(settings, "BLIND_INDEX_KEY", "") or ""
    if not text:
        raise ImproperlyConfigured("Blind indexes need MEDOA_BLIND_INDEX_KEY.")
    return _b64decode_key("blind index", text)


def reset_key_cache() -> None:
    """Forget cached keys (after settings change in tests or a rotation)."""
    _keyring.cache_clear()
    _blind_key.cache_clear()


def active_key_id() -> str:
    return _keyring()[0]


def encrypt(plaintext: str, *, context: str) -> str:
    kid, ring = _keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring[kid].encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return f"{PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def key_id_of(stored: str) -> str | None:
    parts = stored.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None


def decrypt(stored: str, *, context: str) -> str:
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise DecryptionError("value is not in the enc1 format")
    _, ring = _keyring()
    cipher = ring.get(parts[1])
    if cipher is None:
        raise DecryptionError(f"unknown field key id {parts[1]!r}")
    try:
        blob = base64.urlsafe_b64decode(parts[2])
        return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
    except Exception as exc:  # InvalidTag, binascii.Error, UnicodeDecodeError
        raise DecryptionError("value does not decrypt under its key") from exc


def normalise_for_index(value: str) -> str:
    """Normalise before indexing so that ``' 11010519491231002x '`` finds ``11010519491231002X``."""
    return "".join(value.split()).upper()


def blind_index(purpose: str, value: str | None) -> str:
    """Keyed HMAC of ``value`` for equality search; ``purpose`` separates columns."""
    if not value:
        return ""
    message = f"{purpose}\x00{normalise_for_index(value)}".encode()
    return hmac.new(_blind_key(), message, hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; reads give back plaintext, ``""`` stays ``""``.

    The associated data is ``<app_label>.<model>.<field>``, so values are bound to their column.
    """

    description = "Text encrypted at rest with AES-GCM"

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)
        self.encryption_context = f"{cls._meta.app_label}.{cls._meta.model_name}.{name}"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value, context=self.encryption_context)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        if isinstance(value, str) and value.startswith(PREFIX + ":"):
            return value  # already encrypted (for example by the rotation command)
        return encrypt(str(value), context=self.encryption_context)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in {"isnull"}:
            return None  # equality search goes through the blind index, never the ciphertext
        return super().get_lookup(lookup_name)
