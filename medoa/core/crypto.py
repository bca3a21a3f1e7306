"""Field encryption at rest (AES-256-GCM) and keyed blind indexes (HMAC-SHA256).

Stored form of an encrypted value: ``enc1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``. The key
id travels with each value, so old keys keep decrypting until ``medoa manage rotate_field_keys``
re-encrypts everything under the active key. The column's name (``<app>.<model>.<field>``, or the
field's explicit ``context``) is bound in as associated data: a value copied into another column does
not decrypt. Renaming a model or field therefore needs ``context=`` pinned to the old name.

Keys come from settings: ``FIELD_ENCRYPTION_KEYS`` (key id → base64 of 32 bytes, from
``MEDOA_FIELD_KEYS``), ``FIELD_ENCRYPTION_ACTIVE_KEY`` and ``BLIND_INDEX_KEY``.
``medoa manage generate_field_key`` prints a new ``kid:key`` pair.

Equality search on an encrypted column goes through a companion blind-index column holding
``blind_index(purpose, value)`` — an HMAC under a separate key over a normalised form of the value
(NFKC, no white space, upper case) — never through the ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models

PREFIX = "enc1"
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_KEY_SETTINGS = frozenset({"FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_ACTIVE_KEY", "BLIND_INDEX_KEY"})


class DecryptionError(ValueError):
    """A stored value could not be decrypted (unknown key id, tampering, or wrong column)."""


class Ciphertext(str):
    """A value that is already in the stored ``enc1:`` form; ``EncryptedTextField`` saves it as is.

    Only code that handles ciphertext on purpose (the rotation command, data migrations) makes
    these: a plain string that merely starts with ``enc1:`` is encrypted like any other text.
    """


def _b64decode_key(kid: str, text: str) -> bytes:
    urlsafe = "-" in text or "_" in text
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if urlsafe else None, validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"field encryption key {kid!r} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(f"field encryption key {kid!r} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


@lru_cache(maxsize=1)
def _keyring() -> tuple[str, dict[str, AESGCM]]:
    keys: dict[str, str] = dict(getattr(settings, "FIELD_ENCRYPTION_KEYS", {}) or {})
    active: str = getattr(settings, "FIELD_ENCRYPTION_ACTIVE_KEY", "") or ""
    if not keys or not active:
        raise ImproperlyConfigured(
            "Field encryption needs MEDOA_FIELD_KEYS (kid:base64 of 32 bytes) and an active key id."
        )
    for kid in keys:
        if not KEY_ID_RE.match(kid):
            raise ImproperlyConfigured(
                f"field key id {kid!r} must be 1–32 characters of letters, digits, '.', '_' or '-'"
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


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _KEY_SETTINGS:
        reset_key_cache()


setting_changed.connect(_on_setting_changed, dispatch_uid="medoa.core.crypto.reset_key_cache")


def active_key_id() -> str:
    return _keyring()[0]


def generate_key() -> str:
    """A new random field key, base64 (standard alphabet) of 32 bytes."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def encrypt(plaintext: str, *, context: str) -> Ciphertext:
    """Seal ``plaintext`` under the active key, bound to ``context``; a fresh nonce every call."""
    kid, ring = _keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring[kid].encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return Ciphertext(f"{PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}")


def key_id_of(stored: str) -> str | None:
    """The key id of a stored value, or ``None`` when it is not in the ``enc1`` form."""
    parts = stored.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == PREFIX and parts[1] else None


def decrypt(stored: str, *, context: str) -> str:
    """Open a stored value; :class:`DecryptionError` when it is malformed, under an unknown key,
    tampered with, or bound to another column."""
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise DecryptionError("value is not in the enc1 format")
    _, ring = _keyring()
    cipher = ring.get(parts[1])
    if cipher is None:
        raise DecryptionError(f"unknown field key id {parts[1]!r}")
    try:
        blob = base64.urlsafe_b64decode(parts[2])
        if len(blob) < NONCE_BYTES + 16:
            raise ValueError("value is too short")
        return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
    except Exception as exc:  # InvalidTag, binascii.Error, UnicodeDecodeError
        raise DecryptionError("value does not decrypt under its key") from exc


def normalise_for_index(value: str) -> str:
    """Normalise before indexing so that ``' 11010519491231002x '`` (or the full-width
    ``１１０１…``) finds ``11010519491231002X``: NFKC, white space removed, upper case."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def blind_index(purpose: str, value: str | None) -> str:
    """Keyed HMAC of ``value`` for equality search; ``purpose`` separates columns.

    Empty (or white-space-only) values index as ``""`` so that blank columns never match.
    """
    normalised = normalise_for_index(value or "")
    if not normalised:
        return ""
    message = f"{purpose}\x00{normalised}".encode()
    return hmac.new(_blind_key(), message, hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; reads give back plaintext, ``""`` stays ``""``.

    The associated data is ``<app_label>.<model>.<field>`` unless ``context`` pins it (keep the old
    name there after renaming a model or field). Only ``isnull`` lookups are allowed: equality
    search goes through a blind-index column.
    """

    description = "Text encrypted at rest with AES-GCM"

    def __init__(self, *args: Any, context: str | None = None, **kwargs: Any) -> None:
        self.fixed_context = context
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.fixed_context:
            kwargs["context"] = self.fixed_context
        return name, path, args, kwargs

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)
        self.encryption_context = self.fixed_context or f"{cls._meta.app_label}.{cls._meta.model_name}.{name}"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value, context=self.encryption_context)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        if isinstance(value, Ciphertext):
            return str(value)  # already sealed on purpose (rotation, data migrations)
        return str(encrypt(str(value), context=self.encryption_context))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            return None  # equality search goes through the blind index, never the ciphertext
        return super().get_lookup(lookup_name)
