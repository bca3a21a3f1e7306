"""What may be uploaded into a form's attachment field, checked by content.

The browser's ``accept`` attribute, the client's content type and the extension are never the
guard by themselves: the file's first bytes say what it is (PDF, PNG, JPEG, GIF, WebP, a zip
package that declares a Word or Excel main part, an OLE2 compound file for .doc/.xls, or UTF-8
text for .txt/.csv), and the extension must agree with that. The size limit is the setting
``MEDOA_FORMS_MAX_UPLOAD_MB`` (default 20). Files are stored under ``MEDIA_ROOT`` (the data
directory, never served by the web server) with a random name; the person's name for the file is
kept in the row only.

(The process engine checks an opinion's files with its own, stricter rules, using this module's
name cleaning and content signatures: flow imports forms, never the other way.)
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zipfile
from pathlib import PurePath
from typing import IO, Any

from django.conf import settings
from django.http import FileResponse
from django.utils.translation import gettext_lazy as _

from .errors import fmt

DEFAULT_MAX_UPLOAD_MB = 20
MAX_NAME = 255
MAX_CONTENT_TYPES_BYTES = 256 * 1024
CHUNK = 64 * 1024

# sniffed kind → (extensions it may carry, the content type it is stored and served with)
KINDS: dict[str, tuple[frozenset[str], str]] = {
    "pdf": (frozenset({"pdf"}), "application/pdf"),
    "png": (frozenset({"png"}), "image/png"),
    "jpeg": (frozenset({"jpg", "jpeg"}), "image/jpeg"),
    "gif": (frozenset({"gif"}), "image/gif"),
    "webp": (frozenset({"webp"}), "image/webp"),
    "docx": (
        frozenset({"docx"}),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "xlsx": (
        frozenset({"xlsx"}),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "ole": (frozenset({"doc", "xls"}), "application/octet-stream"),
    "text": (frozenset({"txt", "csv"}), "text/plain; charset=utf-8"),
}
OLE_TYPES = {"doc": "application/msword", "xls": "application/vnd.ms-excel"}
TEXT_TYPES = {"txt": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8"}
EXTENSIONS = frozenset().union(*(extensions for extensions, _type in KINDS.values()))
OOXML_MAIN = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
}
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def max_upload_bytes() -> int:
    mb = getattr(settings, "MEDOA_FORMS_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)
    return int(float(mb) * 1024 * 1024)


def extension_of(name: str) -> str:
    return PurePath(name).suffix.lower().lstrip(".")


def clean_name(name: str | None) -> str:
    """The name to keep and show: no directories, no control characters, at most 255 characters
    (the extension kept)."""
    base = _CONTROL.sub("", PurePath((name or "").replace("\\", "/")).name).strip() or "file"
    if len(base) > MAX_NAME:
        suffix = PurePath(base).suffix[:16]
        base = base[: MAX_NAME - len(suffix)] + suffix
    return base


def new_token() -> str:
    """An attachment's id: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def stored_name(extension: str) -> str:
    return f"{secrets.token_hex(16)}.{extension}"


def _ooxml_kind(handle: IO[bytes]) -> str | None:
    """``"docx"``/``"xlsx"`` for a zip package whose ``[Content_Types].xml`` declares the main
    part of that format; ``None`` for any other zip (or a broken one)."""
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as package:
            info = package.getinfo("[Content_Types].xml")
            if info.file_size > MAX_CONTENT_TYPES_BYTES:
                return None
            with package.open(info) as part:
                text = part.read(MAX_CONTENT_TYPES_BYTES + 1).decode("utf-8", errors="replace")
    except (KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, RuntimeError):
        return None
    finally:
        handle.seek(0)
    for kind, main in OOXML_MAIN.items():
        if re.search(r"ContentType\s*=\s*([\"'])" + re.escape(main) + r"\1", text):
            return kind
    return None


def _is_utf8_text(handle: IO[bytes]) -> bool:
    handle.seek(0)
    decoder_input = bytearray()
    try:
        while chunk := handle.read(CHUNK):
            decoder_input += chunk
        text = bytes(decoder_input).decode("utf-8")
    except UnicodeDecodeError:
        return False
    finally:
        handle.seek(0)
    return "\x00" not in text


def sniff(handle: IO[bytes]) -> str | None:
    """What the content is (a key of ``KINDS``), read from its bytes; ``None``: none we accept."""
    handle.seek(0)
    head = bytes(handle.read(16))
    handle.seek(0)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"PK\x03\x04"):
        return _ooxml_kind(handle)
    if head.startswith(OLE2):
        return "ole"
    if head and _is_utf8_text(handle):
        return "text"
    return None


def content_type_for(kind: str, extension: str) -> str:
    if kind == "ole":
        return OLE_TYPES[extension]
    if kind == "text":
        return TEXT_TYPES[extension]
    return KINDS[kind][1]


def upload_problem(name: str, size: int, handle: IO[bytes]) -> tuple[str, Any] | tuple[str, str]:
    """``("", content_type)`` when the file may be kept; otherwise ``(code, lazy message)`` with
    code ``extension``, ``too_large``, ``empty`` or ``content_mismatch``."""
    extension = extension_of(name)
    if extension not in EXTENSIONS:
        return "extension", fmt(
            _(
                "“%(name)s” cannot be uploaded: only PDF, PNG, JPG, GIF, WebP, DOCX, XLSX, DOC, XLS, "
                "TXT and CSV files can."
            ),
            {"name": name},
        )
    limit = max_upload_bytes()
    if size > limit:
        return "too_large", fmt(
            _("“%(name)s” is larger than %(max)s MB."), {"name": name, "max": round(limit / (1024 * 1024), 2)}
        )
    if size == 0:
        return "empty", fmt(_("“%(name)s” is empty."), {"name": name})
    kind = sniff(handle)
    if kind is None or extension not in KINDS[kind][0]:
        return "content_mismatch", fmt(
            _("“%(name)s” is not a real %(kind)s file: its content does not match its extension."),
            {"name": name, "kind": extension.upper()},
        )
    return "", content_type_for(kind, extension)


def sha256_of(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def download_response(handle: Any, *, name: str, content_type: str) -> FileResponse:
    """A stored attachment as a file to save (never shown inline), with the type it was stored
    as, no content sniffing and no caching."""
    response = FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
