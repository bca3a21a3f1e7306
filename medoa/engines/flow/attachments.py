"""What may be attached to an opinion (a comment on a task action), checked by the services.

The browser's ``accept`` attribute and the client's content type are conveniences, never the
guard: each file is checked here by count, size, extension and CONTENT (its first bytes, and for
the Office Open XML formats the package's ``[Content_Types].xml``), and stored under
``MEDIA_ROOT`` with a random name; the name the person gave it is kept in the row only.

The name cleaning and the content signatures are the form engine's (forms.attachments); the
allowed types, the limits and the checks of an opinion's files are this module's.
"""

from __future__ import annotations

import re
import uuid
import zipfile
from collections.abc import Sequence
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse
from django.utils.translation import gettext_lazy as _

from medoa.engines.forms.attachments import OLE2, OOXML_MAIN, clean_name, download_response, extension_of

from .errors import fmt
from .models import ProcessAttachment

MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# The [Content_Types].xml of a real document is a few KB; a larger one is not read.
MAX_CONTENT_TYPES_BYTES = 256 * 1024

# extension → the content type the file is stored and served with
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "txt": "text/plain; charset=utf-8",
}


def stored_name(name: str) -> str:
    """A random file name with the (checked) extension: what lands under ``MEDIA_ROOT``."""
    return f"{uuid.uuid4().hex}.{extension_of(name)}"


def content_type_of(name: str) -> str:
    return CONTENT_TYPES.get(extension_of(name), "application/octet-stream")


def _read_all(upload: UploadedFile) -> bytes:
    upload.seek(0)
    try:
        return bytes(upload.read())
    finally:
        upload.seek(0)


def _ooxml_declares(upload: UploadedFile, main_type: str) -> bool:
    """A zip package whose ``[Content_Types].xml`` declares ``main_type`` (read only that part)."""
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as package:  # an UploadedFile is a binary file object
            info = package.getinfo("[Content_Types].xml")
            if info.file_size > MAX_CONTENT_TYPES_BYTES:
                return False
            with package.open(info) as part:
                text = part.read(MAX_CONTENT_TYPES_BYTES + 1).decode("utf-8", errors="replace")
    except (KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return False
    finally:
        upload.seek(0)
    pattern = r"ContentType\s*=\s*([\"'])" + re.escape(main_type) + r"\1"
    return re.search(pattern, text) is not None


def content_matches(extension: str, upload: UploadedFile) -> bool:
    """Does the content look like the extension says?"""
    upload.seek(0)
    head = bytes(upload.read(8))
    upload.seek(0)
    if extension == "pdf":
        return head.startswith(b"%PDF")
    if extension == "png":
        return head == b"\x89PNG\r\n\x1a\n"
    if extension in ("jpg", "jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if extension in OOXML_MAIN:
        return head.startswith(b"PK\x03\x04") and _ooxml_declares(upload, OOXML_MAIN[extension])
    if extension in ("doc", "xls"):
        return head == OLE2
    if extension == "txt":
        try:
            _read_all(upload).decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return False


def attachment_problem(upload: UploadedFile) -> Any | None:
    """Why ``upload`` may not be attached (a lazy message naming the file), or None."""
    name = clean_name(upload.name)
    extension = extension_of(name)
    if extension not in CONTENT_TYPES:
        return fmt(
            _("“%(name)s” cannot be attached: only PDF, PNG, JPG, DOCX, XLSX, DOC, XLS and TXT files can."),
            {"name": name},
        )
    size = upload.size or 0
    if size > MAX_ATTACHMENT_BYTES:
        return fmt(
            _("“%(name)s” is larger than %(max)s MB."),
            {"name": name, "max": MAX_ATTACHMENT_BYTES // (1024 * 1024)},
        )
    if size == 0:
        return fmt(_("“%(name)s” is empty."), {"name": name})
    if not content_matches(extension, upload):
        return fmt(
            _("“%(name)s” is not a real %(kind)s file: its content does not match its extension."),
            {"name": name, "kind": extension.upper()},
        )
    return None


def attachment_problems(uploads: Sequence[UploadedFile]) -> list[Any]:
    """Every reason the files may not be attached (empty: they may), one message per file."""
    if len(uploads) > MAX_ATTACHMENTS:
        return [fmt(_("At most %(max)s attachments per comment."), {"max": MAX_ATTACHMENTS})]
    return [p for p in (attachment_problem(u) for u in uploads) if p is not None]


def attachment_response(handle: Any, attachment: ProcessAttachment) -> FileResponse:
    """The download of a stored attachment, as the form engine sends its own: a file to save
    (never shown inline), no sniffing, no caching, and sandboxed should a browser render it."""
    return download_response(handle, name=attachment.name, content_type=attachment.content_type)
