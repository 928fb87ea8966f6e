"""Turn an uploaded file into pages of plain text.

The worker that ingests a data source calls `detect_kind` when the file arrives (its name,
media type and, when those say nothing, its content decide) and `parse` when it processes
it; the text then goes to `sources.chunking`. Every failure a user can cause with a bad
file is a `ParseError` whose message can be shown to them as it is. Nothing here knows
about Django.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from config.text import has_lone_surrogate

KINDS = ("pdf", "text", "markdown", "html", "json", "csv")

_TEXT_EXTENSIONS = frozenset(
    {
        # prose and logs
        ".txt", ".text", ".log", ".rst", ".adoc", ".org", ".tex",
        # configuration and data kept as text
        ".xml", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env", ".properties",
        # code
        ".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".css", ".scss", ".less",
        ".sql", ".sh", ".bash", ".zsh", ".ps1", ".bat", ".c", ".h", ".cc", ".cpp", ".hpp",
        ".cs", ".java", ".kt", ".kts", ".scala", ".go", ".rs", ".rb", ".php", ".pl", ".lua",
        ".r", ".swift", ".m", ".dart", ".ex", ".exs", ".erl", ".hs", ".clj", ".vue", ".svelte",
        ".graphql", ".proto", ".tf", ".gradle",
    }
)  # fmt: skip

_EXTENSIONS: dict[str, str] = {
    ".pdf": "pdf",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".tsv": "csv",
    **{extension: "text" for extension in _TEXT_EXTENSIONS},
}

_CONTENT_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/json": "json",
    "application/x-ndjson": "json",
    "application/jsonl": "json",
    "application/x-jsonlines": "json",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
}

SUPPORTED_TYPES = (
    "PDF (.pdf), plain text (.txt, .log and source code such as .py, .js, .ts, .css, .xml, "
    ".yaml, .toml, .rst), Markdown (.md), HTML (.html, .htm), JSON (.json, .jsonl) "
    "and CSV (.csv)"
)


class ParseError(Exception):
    """The file cannot be turned into text; `str(error)` is a clear message for the user."""


class UnsupportedType(ParseError):
    """The file is of a kind this module does not read (the API answers 415)."""


@dataclass(frozen=True)
class Page:
    number: int | None  # 1-based page number for PDFs, None for other kinds
    text: str


# --- Kinds --------------------------------------------------------------------------------


# Media types that say nothing about what a file holds: what browsers and SDKs send for a
# Blob without a type (the node.js SDK's `new Blob([readFileSync(...)])` arrives as
# `blob`, application/octet-stream).
_GENERIC_TYPES = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
)

# The extension and media type of each kind content sniffing finds (CSV it leaves alone:
# any text with commas would look like one).
EXTENSION_OF = {"pdf": ".pdf", "json": ".json", "html": ".html", "markdown": ".md", "text": ".txt"}
MEDIA_TYPE_OF = {
    "pdf": "application/pdf",
    "json": "application/json",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}


def says_nothing(file_name: str, content_type: str | None) -> bool:
    """Whether an upload's name and media type leave its kind open: a name without an
    extension and no media type, or a generic one. (An unknown extension does say
    something: `setup.exe` is refused, not read as text.)"""
    base_name = re.split(r"[\\/]", file_name)[-1]
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return not PurePosixPath(base_name).suffix and media_type in _GENERIC_TYPES


def detect_kind(file_name: str, content_type: str | None = None, data: bytes | None = None) -> str:
    """The kind of an upload: "pdf", "text", "markdown", "html", "json" or "csv".

    The extension decides first, since browsers and clients often send a generic content type;
    the content type decides for names without a known extension. When neither says
    anything (`says_nothing`), the content decides (`sniff_kind`). Anything else raises
    `UnsupportedType` naming the file and the supported types.
    """
    base_name = re.split(r"[\\/]", file_name)[-1]
    extension = PurePosixPath(base_name.lower()).suffix
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]

    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _CONTENT_TYPES:
        return _CONTENT_TYPES[media_type]
    if media_type.endswith("+json"):
        return "json"
    if media_type.startswith("text/"):
        return "text"

    shown = repr(base_name) if base_name else "This file"
    described = f" ({media_type})" if media_type else ""
    if data is not None and says_nothing(file_name, content_type):
        sniffed = sniff_kind(data)
        if sniffed is not None:
            return sniffed
        raise UnsupportedType(
            f"{shown}{described} is not a supported file type: neither its name nor its "
            "media type says what it is, and its content is not a PDF, JSON, HTML or UTF-8 "
            f"text. Supported types: {SUPPORTED_TYPES}."
        )
    raise UnsupportedType(
        f"{shown}{described} is not a supported file type. Supported types: {SUPPORTED_TYPES}."
    )


# Where a PDF's header may start: readers accept it within the first kilobyte.
_PDF_HEADER_WINDOW = 1024
# Control characters that plain text does not hold (tabs, line and page breaks and escape
# are allowed); one of them in the first 64 KB means binary data.
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_HTML_START = re.compile(r"(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
_MARKDOWN_SIGNS = re.compile(r"^(?:#{1,6}[ \t]+\S|```|~~~)|\[[^\]\n]+\]\([^)\s]+\)", re.MULTILINE)


def sniff_kind(data: bytes) -> str | None:
    """The kind `data` holds by its content alone, or None: a PDF by its `%PDF-` header;
    otherwise UTF-8 text (a BOM allowed) that is JSON (or JSON Lines), an HTML document,
    Markdown (headings, fences or links) or plain text."""
    if b"%PDF-" in data[:_PDF_HEADER_WINDOW]:
        return "pdf"
    try:
        text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _BINARY_CHARS.search(text[:65536]):
        return None
    start = text.lstrip()
    if start[:1] in ("{", "[") and _is_json(text):
        return "json"
    if _HTML_START.match(start):
        return "html"
    if _MARKDOWN_SIGNS.search(text):
        return "markdown"
    return "text"


def _is_json(text: str) -> bool:
    """Whether `text` is one JSON value, or JSON Lines (one value per non-blank line)."""
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            return False
    except RecursionError:
        return True  # JSON all the same; reading it says it is nested too deeply
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        for line in lines:
            json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return False
    return True


def parse(data: bytes, kind: str, *, max_pages: int = 2000) -> list[Page]:
    """The text of a file of the given kind, as pages.

    A PDF gives one `Page` per page that has text, numbered from 1 (pages without text are left
    out but keep their place in the numbering); every other kind gives a single `Page` whose
    number is None. Raises `ParseError` when no text can be had from the file.
    """
    pages = _parse(data, kind, max_pages=max_pages)
    if any(has_lone_surrogate(page.text) for page in pages):
        # A JSON escape such as \ud800 without its pair: not text that can be stored.
        raise ParseError(
            "This file holds text that is not valid Unicode: a lone surrogate (such as the "
            "JSON escape \\ud800 without its pair). Remove or fix it and upload the file again."
        )
    return pages


def _parse(data: bytes, kind: str, *, max_pages: int) -> list[Page]:
    if kind == "pdf":
        return _parse_pdf(data, max_pages=max_pages)
    if kind in ("text", "markdown"):
        return [Page(None, _text_or_empty(_decode(data)))]
    if kind == "html":
        html = _text_or_empty(_decode(data))
        return [Page(None, _text_or_none(_html_text(html), "This HTML file"))]
    if kind == "json":
        return [Page(None, _json_text(_text_or_empty(_decode(data))))]
    if kind == "csv":
        return [Page(None, _text_or_none(_csv_text(_text_or_empty(_decode(data))), "This CSV"))]
    raise UnsupportedType(f"Files of kind {kind!r} cannot be read. Supported: {', '.join(KINDS)}.")


def page_count(data: bytes, kind: str) -> int | None:
    """How many pages the file has, blank ones included (None when it has no pages)."""
    if kind != "pdf":
        return None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt_without_password(reader)
        return len(reader.pages)
    except Exception:  # parse() has already said what is wrong with a damaged file
        return None


# --- PDF ----------------------------------------------------------------------------------


def _parse_pdf(data: bytes, *, max_pages: int) -> list[Page]:
    if not data:
        raise ParseError("This PDF is empty (0 bytes).")
    if b"%PDF-" not in data[:1024]:  # readers accept the header anywhere in the first 1 KB
        raise ParseError("This file is not a PDF: it does not start with a PDF header.")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt_without_password(reader)
        page_count = len(reader.pages)
    except ParseError:
        raise
    except PyPdfError as error:
        raise ParseError(
            f"This PDF cannot be read; it looks damaged ({_describe(error)})."
        ) from error
    except Exception as error:  # a malformed file can trip pypdf anywhere
        raise ParseError(
            f"This PDF cannot be read; it looks damaged or is not a PDF ({_describe(error)})."
        ) from error

    if page_count > max_pages:
        raise ParseError(
            f"This PDF has {page_count} pages, more than the limit of {max_pages} pages."
        )

    pages: list[Page] = []
    unreadable = 0
    for number in range(1, page_count + 1):
        try:
            text = reader.pages[number - 1].extract_text()
        except Exception:  # one damaged page should not lose the rest of the document
            unreadable += 1
            continue
        text = _clean(text).strip()
        if text:
            pages.append(Page(number, text))

    if not pages:
        if page_count == 0:
            raise ParseError("No text could be extracted: this PDF has no pages.")
        if unreadable:
            raise ParseError(
                f"No text could be extracted from this PDF: {unreadable} of its {page_count} "
                "pages could not be read and the others hold no text."
            )
        raise ParseError(
            "No text could be extracted from this PDF. It may be scanned or made of images; "
            "such PDFs need OCR (text recognition), which is not supported."
        )
    return pages


def _decrypt_without_password(reader: PdfReader) -> None:
    """Open a PDF protected only by an owner password; refuse one that needs a password."""
    try:
        result = reader.decrypt("")
    except Exception as error:
        raise ParseError(
            "This PDF is encrypted in a way that cannot be opened here "
            f"({_describe(error)}). Save it without encryption and upload it again."
        ) from error
    if not result:  # PasswordType.NOT_DECRYPTED
        raise ParseError(
            "This PDF is encrypted with a password. Remove the password (for instance by "
            "printing it to a new PDF) and upload it again."
        )


def _describe(error: Exception) -> str:
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


# --- Text ---------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (a BOM is dropped), UTF-16 with a BOM, else cp1252, else latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        text = data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:  # five bytes are undefined in cp1252
                text = data.decode("latin-1")
    return _clean(text)


def _clean(text: str) -> str:
    """Without NUL characters (Postgres text cannot hold them), with `\\n` line ends."""
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


def _text_or_empty(text: str) -> str:
    if not text.strip():
        raise ParseError("This file is empty." if not text else "This file is empty (only blanks).")
    return text


def _text_or_none(text: str, what: str) -> str:
    if not text.strip():
        raise ParseError(f"{what} contains no text.")
    return text


# --- HTML ---------------------------------------------------------------------------------

_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template"})
_LINE_TAGS = frozenset({"br", "div", "li", "tr", "dt", "dd", "option", "caption", "figcaption"})
_PARAGRAPH_TAGS = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "title", "blockquote", "pre", "ul", "ol", "dl",
        "table", "section", "article", "header", "footer", "nav", "aside", "main", "form",
        "fieldset", "figure", "address", "details", "summary", "hr", "body",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})


class _TextExtractor(HTMLParser):
    """Collects the visible text of a document; block elements become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive unescaped
        self.parts: list[str] = []
        self.skipping: list[str] = []  # open script/style/... elements
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping.append(tag)
        if self.skipping:
            return
        if tag == "pre":
            self.pre_depth += 1
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag in self.skipping:
                while self.skipping.pop() != tag:
                    pass
            return
        if tag == "pre" and self.pre_depth:
            self.pre_depth -= 1
        if tag != "br":  # a stray "</br>" adds nothing
            self._break(tag)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre_depth:
            self.parts.append(data)
            return
        text = re.sub(r"\s+", " ", data)
        if not self.parts or self.parts[-1].endswith("\n"):
            text = text.lstrip()
        if text:
            self.parts.append(text)

    def _break(self, tag: str) -> None:
        if tag in _PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in _LINE_TAGS:
            if tag == "br" or not (self.parts and self.parts[-1].endswith("\n")):
                self.parts.append("\n")
        elif tag in _CELL_TAGS and self.parts and not self.parts[-1].endswith(("\n", " ")):
            self.parts.append(" ")


def _html_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [line.rstrip() for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# --- JSON ---------------------------------------------------------------------------------


def _json_text(text: str) -> str:
    """Pretty-printed JSON, or each record of a JSON Lines file pretty-printed in turn."""
    try:
        return _dump(json.loads(text))
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            raise ParseError(f"This file is not valid JSON: {_json_problem(error)}.") from error
    except RecursionError:
        raise ParseError("This JSON is nested too deeply to be read.") from None

    # More than one value: JSON Lines, one value per line.
    records: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(_dump(json.loads(line)))
        except json.JSONDecodeError as error:
            raise ParseError(
                f"Line {number} of this JSON Lines file is not valid JSON: "
                f"{error.msg} (column {error.colno})."
            ) from error
        except RecursionError:
            raise ParseError(
                f"Line {number} of this JSON Lines file is nested too deeply."
            ) from None
    return "\n\n".join(records)


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _json_problem(error: json.JSONDecodeError) -> str:
    return f"{error.msg} at line {error.lineno}, column {error.colno}"


# --- CSV ----------------------------------------------------------------------------------


def _csv_text(text: str) -> str:
    """Each data row as `header: value; header: value`, the first row giving the headers."""
    try:
        dialect: type[csv.Dialect] = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel

    reader = csv.reader(io.StringIO(text), dialect)
    headers: list[str] | None = None
    lines: list[str] = []
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if headers is None:
                headers = [cell or f"column {i}" for i, cell in enumerate(cells, start=1)]
                continue
            pairs = [
                f"{headers[i] if i < len(headers) else f'column {i + 1}'}: {cell}"
                for i, cell in enumerate(cells)
                if cell
            ]
            lines.append("; ".join(pairs))
    except csv.Error as error:
        raise ParseError(f"This CSV cannot be read at line {reader.line_num}: {error}.") from error

    if headers is not None and not lines:
        return "; ".join(headers)  # a header row alone still says something
    return "\n".join(lines)
