"""Small but real files of every type an opinion may carry (and fakes of them), for upload tests."""

from __future__ import annotations

import io
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile

from medoa.engines.flow.attachments import OLE2, OOXML_MAIN

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def ooxml(main_type: str, main_part: str) -> bytes:
    """A zip package declaring ``main_type`` for ``main_part`` in its [Content_Types].xml."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/{main_part}" ContentType="{main_type}"/></Types>',
        )
        package.writestr(main_part, "<document/>")
    return buffer.getvalue()


DOCX = ooxml(OOXML_MAIN["docx"], "word/document.xml")
XLSX = ooxml(OOXML_MAIN["xlsx"], "xl/workbook.xml")
OLE = OLE2 + b"\x00" * 504  # the header block of a compound file (.doc, .xls)

GOOD = {
    "pdf": PDF,
    "png": PNG,
    "jpg": JPEG,
    "jpeg": JPEG,
    "docx": DOCX,
    "xlsx": XLSX,
    "doc": OLE,
    "xls": OLE,
    "txt": "交班记录：3 床需复查。\n".encode(),
}


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type)


def good(extension: str, stem: str = "附件") -> SimpleUploadedFile:
    return upload(f"{stem}.{extension}", GOOD[extension])
