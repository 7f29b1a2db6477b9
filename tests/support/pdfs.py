"""Small real PDFs made in the test, with pypdf: text pages, an encrypted one, a broken one, a scanned-like one.

No binaries are committed: each test makes the files it needs (a few KB), and pypdf reads them back
exactly as it reads a person's upload.
"""

from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject

LINES_PER_PAGE = 40
# A sentence the tests plant in a document and then ask about.
PLANTED = "The lighthouse keeper counted 4711 gulls on the northern rocks."


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_stream(text: str) -> bytes:
    """A content stream drawing `text` line by line in Helvetica (WinAnsi: Latin-1 text only)."""
    ops = ["BT", "/F1 11 Tf", "14 TL", "56 780 Td"]
    for line in text.splitlines() or [""]:
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def pdf_bytes(pages: list[str], *, password: str = "") -> bytes:
    """A PDF with one page per string (each line of a string is a line of text); encrypted with `password`."""
    writer = PdfWriter()
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    })
    font_ref = writer._add_object(font)
    for text in pages:
        page = writer.add_blank_page(width=595, height=842)
        stream = DecodedStreamObject()
        stream.set_data(_page_stream(text))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject({
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref}),
            NameObject("/ProcSet"): ArrayObject([NameObject("/PDF"), NameObject("/Text")]),
        })
    if password:
        writer.encrypt(password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_pdf(pages: int = 1) -> bytes:
    """A PDF whose pages have no text at all (what a scan without OCR looks like to an extractor)."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def corrupt_pdf() -> bytes:
    """Starts like a PDF, then breaks off: a truncated download."""
    whole = pdf_bytes(["This file was cut short."])
    return whole[: len(whole) // 3]


def filler_pages(count: int, *, planted: str = "", on_page: int = 0, lines: int = LINES_PER_PAGE) -> list[str]:
    """`count` pages of varied, searchable filler; `planted` is one line of page `on_page` (1-based)."""
    words = "ledger harbour meadow copper lantern orchard granite velvet signal thistle quarry saddle".split()
    pages = []
    for number in range(1, count + 1):
        body = [
            f"Page {number} line {line}: the {words[(number + line) % len(words)]} and the "
            f"{words[(number * 3 + line) % len(words)]} were noted in the survey."
            for line in range(lines)
        ]
        if planted and number == on_page:
            body[lines // 2] = planted
        pages.append("\n".join(body))
    return pages
