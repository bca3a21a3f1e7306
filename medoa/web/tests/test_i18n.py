"""The Chinese catalogs of the shell and the notification centre cover every string they use.

msgids are English, so the English UI is the msgids; a string missing from the catalog would show
up in English on a Chinese page. This test extracts the strings again (``makemessages`` on a copy
of each app) and compares them with the committed catalog.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from django.core.management import call_command

import medoa.core.notify
import medoa.web

APPS = [Path(medoa.web.__file__).parent, Path(medoa.core.notify.__file__).parent]
CATALOG = Path("locale/zh_Hans/LC_MESSAGES/django.po")


def _ids(po_path: Path) -> dict[str, Any]:
    with po_path.open("rb") as fh:
        catalog = read_po(fh)
    return {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}


@pytest.mark.parametrize("app_dir", APPS, ids=lambda p: p.name)
def test_every_msgid_is_translated_and_none_is_fuzzy(app_dir: Path) -> None:
    messages = _ids(app_dir / CATALOG)

    untranslated = [
        key
        for key, m in messages.items()
        if not (m.string if isinstance(m.string, str) else all(m.string)) or m.fuzzy
    ]

    assert messages
    assert untranslated == []


@pytest.mark.parametrize("app_dir", APPS, ids=lambda p: p.name)
def test_the_catalog_holds_every_string_of_the_sources(
    app_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext is not installed")
    copy = tmp_path / app_dir.name
    shutil.copytree(app_dir, copy, ignore=shutil.ignore_patterns("locale", "tests", "__pycache__", "vendor"))
    (copy / "locale").mkdir()
    monkeypatch.chdir(copy)

    call_command("makemessages", locale=["zh_Hans"], verbosity=0)

    extracted = set(_ids(copy / CATALOG))
    committed = set(_ids(app_dir / CATALOG))
    assert sorted(extracted - committed) == []
