"""The demo HIS key: created once, kept across restarts, re-created after a reset."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from medoa.core.access.demo_keys import DEMO_HIS_NAME, DEMO_HIS_SCOPES, KEY_FILE, ensure_demo_his_key
from medoa.core.access.models import SystemApiKey
from medoa.core.access.system_keys import CLINICAL_SCOPES, authenticate_system_key, key_allows

pytestmark = pytest.mark.django_db


def test_the_demo_key_has_every_clinical_scope_and_is_written_owner_only(tmp_path: Path) -> None:
    # When
    raw = ensure_demo_his_key(tmp_path)
    # Then
    path = tmp_path / KEY_FILE
    assert path.read_text().strip() == raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = authenticate_system_key(raw)
    assert key is not None and key.name == DEMO_HIS_NAME
    assert all(key_allows(key, scope) for scope in CLINICAL_SCOPES)
    assert key_allows(key, "events:publish:hr.employee.hired")
    assert set(key.scopes) == set(DEMO_HIS_SCOPES)


def test_a_second_start_keeps_the_same_key(tmp_path: Path) -> None:
    first = ensure_demo_his_key(tmp_path)
    second = ensure_demo_his_key(tmp_path)
    assert first == second
    assert SystemApiKey.objects.count() == 1


def test_a_key_file_the_database_does_not_know_is_replaced(tmp_path: Path) -> None:
    # Given a key file left from a database that was reset
    (tmp_path / KEY_FILE).write_text("msk_0123abcd_" + "x" * 43 + "\n")
    # When
    raw = ensure_demo_his_key(tmp_path)
    # Then
    assert raw.startswith("msk_") and "x" * 43 not in raw
    assert (tmp_path / KEY_FILE).read_text().strip() == raw
    assert authenticate_system_key(raw) is not None


def test_a_lost_key_file_revokes_the_old_demo_key(tmp_path: Path) -> None:
    old = ensure_demo_his_key(tmp_path)
    (tmp_path / KEY_FILE).unlink()
    new = ensure_demo_his_key(tmp_path)
    assert new != old
    assert authenticate_system_key(old) is None
    assert SystemApiKey.objects.filter(name=DEMO_HIS_NAME, revoked_at__isnull=True).count() == 1
