"""Small PDFs built in memory for the parsing tests.

`text_pdf` writes a minimal PDF by hand: one catalog, one page tree, the standard Helvetica
font, and per page a content stream that shows each line of text with `Tj`. The cross-reference
table holds the real byte offset of every object, so readers need no repair to open it.
"""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def _pdf_string(line: str) -> bytes:
    """A PDF literal string, `(...)`, in the font's WinAnsi (cp1252) encoding."""
    raw = line.encode("cp1252")
    escaped = raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + escaped + b")"


def _text_stream(text: str) -> bytes:
    """A content stream that writes `text` line by line from the top left of a Letter page."""
    if not text:
        return b""
    parts = [b"BT", b"/F1 12 Tf", b"14 TL", b"72 720 Td"]
    for number, line in enumerate(text.split("\n")):
        if number:
            parts.append(b"T*")
        parts.append(_pdf_string(line) + b" Tj")
    parts.append(b"ET")
    return b"\n".join(parts)


def _build(streams: list[bytes]) -> bytes:
    """A complete PDF with one page per content stream."""
    # Objects: 1 catalog, 2 page tree, 3 font, then a (page, contents) pair per page.
    page_ids = [4 + 2 * index for index in range(len(streams))]
    kids = b" ".join(b"%d 0 R" % page_id for page_id in page_ids)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % len(streams),
        _FONT,
    ]
    for page_id, stream in zip(page_ids, streams, strict=True):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects.append(
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        )

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def text_pdf(pages: list[str]) -> bytes:
    """A PDF whose pages hold `pages` as extractable text (newlines start new lines)."""
    return _build([_text_stream(text) for text in pages])


def blank_pdf(n_pages: int = 1) -> bytes:
    """A PDF of `n_pages` pages without any text, as a scanned document looks to a parser."""
    return _build([b"" for _ in range(n_pages)])


def encrypted_pdf(pages: list[str], password: str = "secret") -> bytes:
    """`text_pdf(pages)` encrypted (AES-128) with `password` as its user password.

    An empty `password` gives a PDF that any reader opens without asking, as many
    "protected" PDFs in the wild are (only the owner password restricts editing).
    """
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(pages))))
    writer.encrypt(user_password=password, owner_password="owner-only", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def corrupt_pdf() -> bytes:
    """Bytes that claim to be a PDF but whose objects are cut off and garbled."""
    whole = text_pdf(["This page will not survive."])
    cut = whole[: len(whole) // 3]
    return cut.replace(b"obj", b"jbo").replace(b"<<", b"((") + b"\x00\xff garbage \x9c"
