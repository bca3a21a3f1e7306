"""The demo's simulated HIS: one system API key with every clinical scope and the HR feed's.

``medoa demo`` calls ``ensure_demo_his_key(data_dir)`` after the demo is loaded and prints the key;
``<data-dir>/demo-his.key`` (mode 0600) keeps it for scripts and the benchmark. The key file is the
only place the raw key lives: when it is missing, or names a key the database does not know (after
``--reset``), the old "Demo HIS" keys are revoked and a new one is made.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from django.db import transaction

from .models import SystemApiKey
from .system_keys import CLINICAL_SCOPES, authenticate_system_key, create_system_key, revoke_system_key

DEMO_HIS_NAME: Final = "Demo HIS"
DEMO_HIS_SYSTEM: Final = "Simulated HIS (demo)"
DEMO_HIS_SCOPES: Final = (*CLINICAL_SCOPES, "events:publish:hr.*")
KEY_FILE: Final = "demo-his.key"


def _read_key(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _write_key(path: Path, raw: str) -> None:
    """Write ``raw`` to ``path`` readable by the owner only, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (raw + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def ensure_demo_his_key(data_dir: Path) -> str:
    """The raw "Demo HIS" key: the one in ``<data_dir>/demo-his.key`` if it is still live (its
    scopes brought up to date), otherwise a new one, written there (mode 0600)."""
    data_dir = Path(data_dir)
    path = data_dir / KEY_FILE
    raw = _read_key(path)
    with transaction.atomic():
        key = authenticate_system_key(raw) if raw else None
        if key is not None and key.name == DEMO_HIS_NAME:
            if list(key.scopes) != list(DEMO_HIS_SCOPES):
                SystemApiKey.objects.filter(pk=key.pk).update(scopes=list(DEMO_HIS_SCOPES))
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            return raw
        for stale in SystemApiKey.objects.filter(name=DEMO_HIS_NAME, revoked_at__isnull=True):
            revoke_system_key(actor=None, key=stale)
        _key, raw = create_system_key(
            actor=None, name=DEMO_HIS_NAME, system=DEMO_HIS_SYSTEM, scopes=list(DEMO_HIS_SCOPES)
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_key(path, raw)
    return raw
