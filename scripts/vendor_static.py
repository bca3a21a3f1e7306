#!/usr/bin/env python3
"""Copy the distribution files of our npm packages into medoa/web/static/vendor/, and build the
BPMN, DMN and form bundles.

One line per file in VENDOR: (path under node_modules, name under static/vendor). Files are
copied only when they changed, so the step is quick when nothing did.

BUNDLES are built with esbuild (installed from the lock file by ``npm ci``) from an entry in our
own sources: the BPMN designer/viewer (bpmn-js, the properties panel with the Camunda 7
extensions, bpmn-auto-layout) becomes ONE script with one global (``MedoaBpmn``) plus one
stylesheet; the form designer/viewer (the form-js editor and viewer with MedOA's field types)
becomes ``MedoaForms``; the DMN editor (the dmn-js modeler: DRD, decision tables, literal
expressions, with Chinese labels) becomes ``MedoaDmn``. A bundle is rebuilt only when its sources
or package-lock.json changed (a stamp with their hash sits next to the output).
"""

from __future__ import annotations

import filecmp
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
DEST = ROOT / "medoa" / "web" / "static" / "vendor"
ESBUILD = NODE / ".bin" / "esbuild"

VENDOR: list[tuple[str, str]] = [
    ("htmx.org/dist/htmx.min.js", "htmx/htmx.min.js"),
    ("@alpinejs/csp/dist/cdn.min.js", "alpine/alpine-csp.min.js"),
    ("echarts/dist/echarts.min.js", "echarts/echarts.min.js"),
]


@dataclass(frozen=True)
class Bundle:
    name: str  # folder under static/vendor
    sources: Path  # the entry folder: every file in it counts for the stamp
    js_entry: str  # file names inside ``sources``
    css_entry: str
    out_name: str  # <out_name>.min.js and <out_name>.css
    global_name: str
    # markup with style="" the bundle is known to carry (removed at build time, see PANEL_STYLES)
    style_markup: tuple[str, ...] = ()
    # package → path: one copy of a package for every importer (esbuild --alias)
    aliases: tuple[tuple[str, str], ...] = ()
    # (pattern, replacement, why) rewrites of the built script, each expected exactly once
    rewrites: tuple[tuple[str, str, str], ...] = ()


STAMP = ".build-stamp"

# Our CSP (style-src 'self') refuses style="" attributes written as markup. Two wrappers of the
# properties panel carry one (their layout is restored by rules in the CSS entry), and the
# distribute/align icons of bpmn-js draw SVG with style="". Rewrite them at build time: the
# panel's attribute goes, the SVG styles become presentation attributes.
PANEL_STYLES = (
    '<div style="height: 100%" tabindex="-1" class="bio-properties-panel-container">',
    '<div style="flex: none; height: auto" class="bio-properties-panel bio-theme-parent '
    'bio-properties-panel-header-container">',
)
SVG_STYLE = re.compile(
    r'style="((?:(?:fill|stroke|stroke-width|stroke-linejoin|stroke-linecap|opacity):[^;"]+;?)+)"'
)

# CodeMirror (the FEEL editors of the form properties panel) styles itself through style-mod, which
# writes a <style> element into a document's head (refused by our CSP) and uses a constructed
# stylesheet (CSSOM: allowed) only inside shadow roots. Make it use the constructed stylesheet for
# the document too (document.adoptedStyleSheets: every browser we support).
STYLE_MOD_ADOPTED = (
    r"!([\w$]+)\.head&&\1\.adoptedStyleSheets&&([\w$]+)\.CSSStyleSheet",
    r"\1.adoptedStyleSheets&&\2.CSSStyleSheet",
    "style-mod's <style> element",
)


# dmn-js writes the bpmn.io logo (and the lightbox it opens) as markup with style="" attributes,
# which our CSP refuses. Drop the attributes; the DMN bundle's CSS entry gives the logo and the
# lightbox the very same styles (the logo stays as the bpmn.io licence asks).
POWERED_BY_STYLES = (
    (r' style="vertical-align:middle"', "", "the bpmn.io logo's style"),
    (
        r'(class="bjs-powered-by" title="Powered by bpmn\.io") style="[^"]*"',
        r"\1",
        "the bpmn.io link's style",
    ),
    (r"(class=\"bjs-powered-by-lightbox\") style=\"'\+[\w$]+\+'\"", r"\1", "the lightbox's style"),
    (r"(class=\"backdrop\") style=\"'\+[\w$]+\+'\"", r"\1", "the lightbox backdrop's style"),
    (r"(class=\"notice\") style=\"'\+[\w$]+\+'\"", r"\1", "the lightbox notice's style"),
    (
        r'(rel="noopener") style="margin: 15px 20px 15px 10px; align-self: center;"',
        r"\1",
        "the notice link's style",
    ),
)

BUNDLES = [
    Bundle(
        name="bpmn",
        sources=ROOT / "medoa" / "engines" / "flow" / "frontend",
        js_entry="medoa-bpmn.js",
        css_entry="medoa-bpmn.css",
        out_name="medoa-bpmn",
        global_name="MedoaBpmn",
        style_markup=PANEL_STYLES,
    ),
    Bundle(
        name="dmn",
        sources=ROOT / "medoa" / "engines" / "rules" / "frontend",
        js_entry="medoa-dmn.js",
        css_entry="medoa-dmn.css",
        out_name="medoa-dmn",
        global_name="MedoaDmn",
        rewrites=(STYLE_MOD_ADOPTED, *POWERED_BY_STYLES),
    ),
    Bundle(
        name="forms",
        sources=ROOT / "medoa" / "engines" / "forms" / "frontend",
        js_entry="medoa-forms.js",
        css_entry="medoa-forms.css",
        out_name="medoa-forms",
        global_name="MedoaForms",
        # The form-js editor needs preact <= 10.15.1 (drag and drop breaks above it: form-js #760,
        # #1483) and npm nests that copy under it; the viewer and the properties panel would bring
        # the newer top-level copy. Two copies of preact in one page break hooks, so every import of
        # preact resolves to the editor's.
        aliases=(("preact", "./node_modules/@bpmn-io/form-js-editor/node_modules/preact"),),
        rewrites=(STYLE_MOD_ADOPTED,),
    ),
]


def _svg_attributes(match: re.Match[str]) -> str:
    pairs = [part.split(":", 1) for part in match.group(1).split(";") if part]
    return " ".join(f'{name.strip()}="{value.strip()}"' for name, value in pairs)


def _without_style_attributes(js: str, style_markup: tuple[str, ...]) -> str:
    for markup in style_markup:
        if markup not in js:
            print(f"vendor_static: note: {markup[:40]}… not found (the package changed?)", file=sys.stderr)
        js = js.replace(markup, re.sub(r' style="[^"]*"', "", markup))
    return SVG_STYLE.sub(_svg_attributes, js)


def _rewritten(js: str, rewrites: tuple[tuple[str, str, str], ...]) -> str:
    for pattern, replacement, why in rewrites:
        js, count = re.subn(pattern, replacement, js)
        if count != 1:
            raise RuntimeError(
                f"the rewrite of {why} matched {count} times instead of once (the package changed?)"
            )
    return js


def _stamp(bundle: Bundle) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in bundle.sources.rglob("*") if p.is_file())
    for path in [*files, ROOT / "package-lock.json", Path(__file__)]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _esbuild(*args: str) -> None:
    subprocess.run([str(ESBUILD), *args, "--log-level=warning"], cwd=ROOT, check=True)  # noqa: S603 (our own arguments)


def build(bundle: Bundle, *, force: bool = False) -> bool:
    """Build ``bundle`` into static/vendor/<name>/ unless its stamp is current; True if built."""
    out_dir = DEST / bundle.name
    stamp = _stamp(bundle)
    stamp_file = out_dir / STAMP
    if not force and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return False
    with tempfile.TemporaryDirectory(prefix="medoa-bundle-") as tmp:
        work = Path(tmp)
        js_out = work / f"{bundle.out_name}.min.js"
        _esbuild(
            str(bundle.sources / bundle.js_entry),
            "--bundle",
            "--minify",
            "--format=iife",
            f"--global-name={bundle.global_name}",
            "--target=es2020",
            "--legal-comments=eof",
            f"--outfile={js_out}",
            *(f"--alias:{package}={path}" for package, path in bundle.aliases),
        )
        js = _rewritten(js_out.read_text(encoding="utf-8"), bundle.rewrites)
        js_out.write_text(_without_style_attributes(js, bundle.style_markup), encoding="utf-8")
        _esbuild(
            str(bundle.sources / bundle.css_entry),
            "--bundle",
            "--minify",
            *(f"--loader:.{ext}=file" for ext in ("woff", "woff2", "ttf", "eot", "svg")),
            f"--outfile={work / (bundle.out_name + '.css')}",
        )
        (work / STAMP).write_text(stamp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(work, out_dir)
        out_dir.chmod(0o755)  # the temporary folder was private
    return True


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

    if BUNDLES and not ESBUILD.exists():
        print(f"vendor_static: missing {ESBUILD} (run npm ci)", file=sys.stderr)
        return 1
    force = "--force" in sys.argv[1:]
    for bundle in BUNDLES:
        try:
            built = build(bundle, force=force)
        except (subprocess.CalledProcessError, RuntimeError) as exc:
            print(f"vendor_static: building {bundle.name} failed ({exc})", file=sys.stderr)
            return 1
        if built:
            where = DEST.relative_to(ROOT) / bundle.name
            print(f"vendor_static: built {where}/{bundle.out_name}.min.js and .css")
    return 0


if __name__ == "__main__":
    sys.exit(main())
