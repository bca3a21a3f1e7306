#!/usr/bin/env python3
"""Copy the distribution files of our npm packages into medoa/web/static/vendor/.

One line per file in VENDOR: (path under node_modules, name under static/vendor). Files are
copied only when they changed, so the step is quick when nothing did.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
DEST = ROOT / "medoa" / "web" / "static" / "vendor"

VENDOR: list[tuple[str, str]] = [
    ("htmx.org/dist/htmx.min.js", "htmx/htmx.min.js"),
    ("@alpinejs/csp/dist/cdn.min.js", "alpine/alpine-csp.min.js"),
]


def main() -> int:
    copied = 0
    for source, target in VENDOR:
        src = NODE / source
        if not src.is_file():
            print(f"vendor_static: missing {src} (run npm ci)", file=sys.stderr)
            return 1
        dst = DEST / target
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        copied += 1
    if copied:
        print(f"vendor_static: {copied} file(s) copied into {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
