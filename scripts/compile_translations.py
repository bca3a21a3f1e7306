#!/usr/bin/env python3
"""Compile every django.po under medoa/ into django.mo with Babel (no GNU gettext needed).

Only catalogs whose .po is newer than their .mo are compiled. Fuzzy entries are skipped, as
msgfmt does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    compiled = 0
    for po_path in sorted((ROOT / "medoa").rglob("locale/*/LC_MESSAGES/django.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, abort_invalid=True)
        with mo_path.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        compiled += 1
    if compiled:
        print(f"compile_translations: {compiled} catalog(s) compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
