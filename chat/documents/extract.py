"""What is in an uploaded file: its kind by content (not by name), its text, its pages, or why it is refused.

Importable without Django: the site runs `extract` in a worker process (chat/offloop.py) that is
killed when a hostile PDF takes too long, and a crash there cannot take the server with it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

# Extension -> the content type it must turn out to be.
ACCEPTED = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
}
ACCEPTED_WORDS = "PDF, plain text (.txt), Markdown (.md), CSV (.csv) and JSON (.json)"
NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w .()+,-]+")
_SPACES = re.compile(r"\s+")


class Refused(Exception):
    """The file is not stored. `code` is stable (API and socket clients switch on it); `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)  # both in args: it is raised in a worker process and pickled back
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Extracted:
    content_type: str
    pages: list[str]  # a PDF's text page by page; a text file is one "page" (numbered as none)
    is_pdf: bool

    @property
    def text(self) -> str:
        return "\n\n".join(self.pages)


def clean_name(name: str) -> str:
    """The last path part, with control characters, path tricks and unusual punctuation replaced; at most 120 characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in name)
    name = _SPACES.sub(" ", _UNSAFE.sub("_", name)).strip(" .")
    suffix = PurePosixPath(name).suffix.lower()
    stem = name[: len(name) - len(suffix)] if suffix else name
    stem = stem[: NAME_CHARS - len(suffix)].rstrip(" .") or "document"
    return stem + suffix


def extract(name: str, data: bytes, max_pages: int) -> Extracted:
    """The file's text, or Refused. The extension says what the file claims to be; the bytes must agree."""
    suffix = PurePosixPath(clean_name(name)).suffix.lower()
    claimed = ACCEPTED.get(suffix)
    if claimed is None:
        raise Refused("unsupported_type", f"Files of this type cannot be used. Accepted: {ACCEPTED_WORDS}.")
    if not data:
        raise Refused("empty", "The file is empty.")
    is_pdf = b"%PDF-" in data[:1024]
    if claimed == "application/pdf":
        if not is_pdf:
            raise Refused("wrong_content", "The file is named .pdf but its content is not a PDF.")
        return Extracted(claimed, _pdf_pages(data, max_pages), is_pdf=True)
    if is_pdf:
        raise Refused("wrong_content", f"The file is named {suffix} but its content is a PDF; name it .pdf.")
    text = _utf8(data, suffix)
    if claimed == "application/json":
        try:
            json.loads(text)
        except ValueError as exc:
            raise Refused("wrong_content", f"The file is named .json but is not valid JSON ({exc}).") from None
    elif claimed == "text/csv":
        try:
            for _ in csv.reader(io.StringIO(text, newline=""), strict=True):
                pass
        except csv.Error as exc:
            raise Refused("wrong_content", f"The file is named .csv but is not valid CSV ({exc}).") from None
    if not text.strip():
        raise Refused("no_text", "The file holds no text, only white space.")
    return Extracted(claimed, [text], is_pdf=False)


def _utf8(data: bytes, suffix: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Refused("wrong_content", f"The file is named {suffix} but is not UTF-8 text.") from None
    if "\x00" in text:
        raise Refused("wrong_content", f"The file is named {suffix} but holds binary data.")
    return text


def _pdf_pages(data: bytes, max_pages: int) -> list[str]:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a damaged file is refused below, not logged as a warning
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Refused("encrypted_pdf", "The PDF is protected by a password; remove the protection and upload it again.")
        count = len(reader.pages)
        if count > max_pages:
            raise Refused("too_many_pages", f"The PDF has {count} pages; at most {max_pages} can be used.")
        pages = [_clean_text(page.extract_text() or "") for page in reader.pages]
    except Refused:
        raise
    except Exception:  # pypdf raises many kinds for a damaged file (PdfReadError, PdfStreamError, KeyError, ...)
        raise Refused("corrupt_pdf", "The PDF could not be read: it is damaged or incomplete.") from None
    if not any(page.strip() for page in pages):
        raise Refused("no_text", "No text could be extracted from this PDF (a scanned PDF needs text recognition first).")
    return pages


def _clean_text(text: str) -> str:
    """Text as extracted, without NULs (PostgreSQL refuses them) and trailing white space on lines."""
    return "\n".join(line.rstrip() for line in text.replace("\x00", "").splitlines()).strip("\n")
