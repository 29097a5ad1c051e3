"""What a ticket attachment is, judged by its content: an allow-list of signatures plus UTF-8
text, and the reason for everything else (see :mod:`kb.attachments` for why these).

Hand-written rather than a sniffing library: the allow-list is short, and a general library
identifies hundreds of types (some by the file name) only for us to refuse nearly all of them.
"""
from __future__ import annotations

import codecs
import re
import zipfile
from pathlib import Path

CHUNK = 64 * 1024
HEAD = 8 * 1024
TEXT = "text/plain"
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ALLOWED_TYPES = frozenset(INLINE_TYPES | {"application/pdf", TEXT, "application/zip", DOCX, XLSX, PPTX})
ALLOWED_TEXT = ("PNG, JPEG, GIF or WebP images, PDF, UTF-8 text (.txt, .log, .csv, .json, .eml), "
                "Word, Excel or PowerPoint (.docx, .xlsx, .pptx) and ZIP")
# Why a type is refused; the portal has the same keys, translated.
TYPE_REASONS = {
    "html": "web pages (HTML) can run scripts",
    "svg": "SVG images can contain scripts",
    "program": "programs cannot be attached",
    "legacy_office": "old Office files (.doc, .xls, .ppt) can carry macros; save it as .docx, .xlsx, .pptx or PDF",
    "archive": "only ZIP archives are accepted",
    "utf16": "text files must be UTF-8; save it as UTF-8",
    "damaged_zip": "the ZIP file is damaged",
    "unknown": "its content is not a recognised type",
}
_OOXML = (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX))
_REFUSED_SIGNATURES = (
    (b"MZ", "program"), (b"\x7fELF", "program"), (b"\xca\xfe\xba\xbe", "program"),
    (b"\xcf\xfa\xed\xfe", "program"), (b"\xfe\xed\xfa\xcf", "program"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy_office"),
    (b"Rar!", "archive"), (b"7z\xbc\xaf\x27\x1c", "archive"), (b"\x1f\x8b", "archive"),
    (b"\xff\xfe", "utf16"), (b"\xfe\xff", "utf16"),
)
# The start of an HTML document as browsers sniff it (WHATWG MIME sniffing), and SVG.
_MARKUP = re.compile(rb"\s*(?:<!--|<(!doctype\s+html|html|head|body|script|iframe|h1|div|font|table|a|style|"
                     rb"title|b|br|p|svg)[\s/>])", re.IGNORECASE)


class Refused(Exception):
    """A file kb will not store; ``reason`` and ``detail`` become a :class:`kb.attachments.Rejection`."""

    def __init__(self, reason: str, **detail):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def sniff(path: Path) -> str:
    """The content type of the file at ``path`` if it is on the allow-list; Refused otherwise."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_type(path)
    for signature, why in _REFUSED_SIGNATURES:
        if head.startswith(signature):
            raise Refused("type", why=why)
    return _text_type(path, head)


def _zip_type(path: Path) -> str:
    """ZIP, or the Office document it is (only the directory is read: no decompression)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Refused("type", why="damaged_zip") from None
    if "[Content_Types].xml" in names:
        for prefix, content_type in _OOXML:
            if any(n.startswith(prefix) for n in names):
                return content_type
    return "application/zip"


def _text_type(path: Path, head: bytes) -> str:
    """UTF-8 (or ASCII) text without NUL bytes, that does not start like a web page or SVG."""
    body = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    lowered = body.lstrip().lower()
    match = _MARKUP.match(body)
    if match:
        raise Refused("type", why="svg" if (match.group(1) or b"").lower() == b"svg" else "html")
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<!doctype"):
        if b"<svg" in lowered:
            raise Refused("type", why="svg")
        if b"<html" in lowered:
            raise Refused("type", why="html")
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                if b"\x00" in chunk:
                    raise Refused("type", why="unknown")
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise Refused("type", why="unknown") from None
    return TEXT
