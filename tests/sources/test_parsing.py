"""Turning uploads into pages of text. Pure functions on bytes, no database."""

from __future__ import annotations

import codecs
import io
import json
import random

import pytest
from pypdf import PdfReader

from sources.parsing import Page, ParseError, UnsupportedType, detect_kind, parse
from tests.sources.pdfs import blank_pdf, corrupt_pdf, encrypted_pdf, text_pdf

# --- The test PDFs ------------------------------------------------------------------------


def test_the_hand_built_pdf_is_valid_and_its_text_extracts_back() -> None:
    data = text_pdf(["Hello (world) \\ back", "Second page\nwith two lines"])

    reader = PdfReader(io.BytesIO(data), strict=True)  # strict: no repairs, xref must be right

    assert [page.extract_text() for page in reader.pages] == [
        "Hello (world) \\ back",
        "Second page\nwith two lines",
    ]


def test_the_blank_and_encrypted_test_pdfs_are_what_they_claim() -> None:
    assert [p.extract_text() for p in PdfReader(io.BytesIO(blank_pdf(2))).pages] == ["", ""]
    assert PdfReader(io.BytesIO(encrypted_pdf(["Secret"]))).is_encrypted


# --- PDF ----------------------------------------------------------------------------------


def test_a_multi_page_pdf_keeps_page_numbers_and_text() -> None:
    data = text_pdf(["The first page.", "The second page.", "The third page."])

    pages = parse(data, "pdf")

    assert pages == [
        Page(1, "The first page."),
        Page(2, "The second page."),
        Page(3, "The third page."),
    ]


def test_pdf_pages_without_text_are_skipped_but_keep_their_numbering() -> None:
    data = text_pdf(["Cover.", "", "   ", "Chapter one begins here."])

    pages = parse(data, "pdf")

    assert pages == [Page(1, "Cover."), Page(4, "Chapter one begins here.")]


def test_pdf_text_in_the_windows_encoding_comes_out_as_unicode() -> None:
    pages = parse(text_pdf(["Café \u2013 “quoted” costs 5 €"]), "pdf")

    assert pages == [Page(1, "Café \u2013 “quoted” costs 5 €")]


def test_a_blank_pdf_is_refused_because_it_needs_ocr() -> None:
    with pytest.raises(ParseError) as caught:
        parse(blank_pdf(3), "pdf")

    message = str(caught.value)
    assert "No text could be extracted" in message
    assert "scanned" in message
    assert "OCR" in message
    assert "not supported" in message


def test_a_pdf_without_pages_has_no_text_to_extract() -> None:
    with pytest.raises(ParseError, match="No text could be extracted: this PDF has no pages"):
        parse(blank_pdf(0), "pdf")


def test_a_pdf_that_needs_a_password_is_refused_with_a_message_about_the_password() -> None:
    data = encrypted_pdf(["Top secret plans."], password="secret")

    with pytest.raises(ParseError) as caught:
        parse(data, "pdf")

    assert "encrypted with a password" in str(caught.value)
    assert "Top secret" not in str(caught.value)


def test_a_pdf_encrypted_with_an_empty_password_is_read() -> None:
    data = encrypted_pdf(["Readable by anyone.", "Second page."], password="")

    assert parse(data, "pdf") == [Page(1, "Readable by anyone."), Page(2, "Second page.")]


def test_a_corrupt_pdf_raises_a_parse_error_that_names_the_problem() -> None:
    with pytest.raises(ParseError) as caught:
        parse(corrupt_pdf(), "pdf")

    assert type(caught.value) is ParseError
    assert "cannot be read" in str(caught.value)
    assert "damaged" in str(caught.value)


def test_a_file_that_is_not_a_pdf_at_all_is_refused() -> None:
    with pytest.raises(ParseError, match="not a PDF"):
        parse(b"Just some words, renamed to .pdf", "pdf")


def test_an_empty_pdf_upload_is_refused() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse(b"", "pdf")


def test_damaged_pdfs_never_leak_a_raw_exception() -> None:
    whole = text_pdf(["A page with some text.", "And another page."])
    rng = random.Random(7)
    damaged = [whole[:cut] for cut in range(20, len(whole), 37)]
    for _ in range(40):
        garbled = bytearray(whole)
        for _ in range(8):
            garbled[rng.randrange(20, len(garbled))] = rng.randrange(256)
        damaged.append(bytes(garbled))

    for data in damaged:
        try:
            pages = parse(data, "pdf")
        except ParseError as error:
            assert str(error)
        else:
            assert all(page.text.strip() for page in pages)


def test_a_pdf_with_more_pages_than_the_limit_is_refused_with_the_count_and_limit() -> None:
    data = text_pdf([f"Page {n}." for n in range(1, 6)])

    with pytest.raises(ParseError) as caught:
        parse(data, "pdf", max_pages=4)

    assert "5 pages" in str(caught.value)
    assert "limit of 4" in str(caught.value)


def test_a_pdf_exactly_at_the_page_limit_is_read() -> None:
    data = text_pdf([f"Page {n}." for n in range(1, 5)])

    assert [page.number for page in parse(data, "pdf", max_pages=4)] == [1, 2, 3, 4]


# --- Kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "kind"),
    [
        ("report.pdf", "pdf"),
        ("REPORT.PDF", "pdf"),
        ("notes.txt", "text"),
        ("notes.text", "text"),
        ("server.log", "text"),
        ("README.md", "markdown"),
        ("guide.markdown", "markdown"),
        ("page.html", "html"),
        ("page.htm", "html"),
        ("data.json", "json"),
        ("events.jsonl", "json"),
        ("table.csv", "csv"),
        ("script.py", "text"),
        ("app.js", "text"),
        ("app.ts", "text"),
        ("site.css", "text"),
        ("feed.xml", "text"),
        ("config.yaml", "text"),
        ("config.yml", "text"),
        ("pyproject.toml", "text"),
        ("index.rst", "text"),
        ("archive.tar.md", "markdown"),
        ("C:\\Users\\ada\\My Notes.TXT", "text"),
        ("uploads/2024/notes.md", "markdown"),
    ],
)
def test_the_extension_decides_the_kind(file_name: str, kind: str) -> None:
    assert detect_kind(file_name) == kind


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/pdf", "pdf"),
        ("text/plain", "text"),
        ("text/plain; charset=utf-8", "text"),
        ("text/markdown", "markdown"),
        ("text/html; charset=ISO-8859-1", "html"),
        ("application/json", "json"),
        ("TEXT/CSV", "csv"),
        ("text/x-python", "text"),
        ("text/calendar", "text"),
    ],
)
def test_the_content_type_decides_when_the_name_has_no_known_extension(
    content_type: str, kind: str
) -> None:
    assert detect_kind("upload", content_type) == kind
    assert detect_kind("upload.bin", content_type) == kind


def test_a_known_extension_wins_over_a_generic_or_wrong_content_type() -> None:
    assert detect_kind("notes.md", "application/octet-stream") == "markdown"
    assert detect_kind("report.pdf", "text/plain") == "pdf"


@pytest.mark.parametrize(
    ("file_name", "content_type"),
    [
        ("setup.exe", None),
        ("setup.exe", "application/octet-stream"),
        ("photo.png", "image/png"),
        ("upload", "image/png"),
        ("archive.zip", "application/zip"),
        ("no-extension", None),
    ],
)
def test_other_files_are_refused_naming_the_file_and_the_supported_types(
    file_name: str, content_type: str | None
) -> None:
    with pytest.raises(UnsupportedType) as caught:
        detect_kind(file_name, content_type)

    message = str(caught.value)
    assert repr(file_name) in message
    assert "not a supported file type" in message
    for supported in ("PDF", "text", "Markdown", "HTML", "JSON", "CSV"):
        assert supported in message
    if content_type:
        assert content_type in message


def test_an_unsupported_type_is_a_parse_error() -> None:
    assert issubclass(UnsupportedType, ParseError)


def test_parsing_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UnsupportedType, match="'exe'"):
        parse(b"MZ\x90\x00", "exe")


# --- Text ---------------------------------------------------------------------------------


def test_plain_text_is_one_page_without_a_number() -> None:
    assert parse(b"Hello there.\nSecond line.", "text") == [
        Page(None, "Hello there.\nSecond line.")
    ]


def test_a_utf8_byte_order_mark_is_dropped() -> None:
    data = codecs.BOM_UTF8 + "Ça va très bien.".encode()

    assert parse(data, "text") == [Page(None, "Ça va très bien.")]


def test_a_windows_1252_file_is_decoded_with_its_quotes_dashes_and_euro_sign() -> None:
    data = "“Smart” quotes \u2013 and 20 € café".encode("cp1252")

    assert parse(data, "text") == [Page(None, "“Smart” quotes \u2013 and 20 € café")]


def test_bytes_that_no_text_encoding_explains_still_decode_without_crashing() -> None:
    data = b"caf\xe9 \x81\x8d\x8f\x90\x9d end"  # undefined in cp1252, so latin-1 takes over

    [page] = parse(data, "text")

    assert page.text.startswith("café ")
    assert page.text.endswith(" end")


def test_a_utf16_file_with_a_byte_order_mark_is_decoded() -> None:
    assert parse("Grüße aus Köln".encode("utf-16"), "text") == [Page(None, "Grüße aus Köln")]


def test_nul_characters_are_removed_and_line_ends_normalised() -> None:
    assert parse(b"one\x00two\r\nthree\rfour", "text") == [Page(None, "onetwo\nthree\nfour")]


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  ", codecs.BOM_UTF8, b"\x00\x00"])
def test_an_empty_or_blank_file_is_refused_as_empty(data: bytes) -> None:
    with pytest.raises(ParseError, match="is empty"):
        parse(data, "text")


def test_markdown_is_kept_as_written() -> None:
    source = "# Title\n\nSome *emphasis* and a [link](https://example.com).\n"

    assert parse(source.encode(), "markdown") == [Page(None, source)]


# --- HTML ---------------------------------------------------------------------------------


def test_html_gives_its_visible_text_without_scripts_or_styles() -> None:
    html = b"""<!doctype html>
    <html><head><title>Trip notes</title>
      <style>p { color: red; }</style>
      <script>if (a < b) { alert("boo"); }</script>
    </head><body>
      <h1>Rome &amp; Naples</h1>
      <p>We   arrived
         on <b>Monday</b>.<br>It rained.</p>
      <ul><li>Colosseum</li><li>Pompeii &eacute;t&eacute;</li></ul>
      <noscript>Enable JavaScript</noscript>
      <table><tr><td>Day 1</td><td>Rome</td></tr><tr><td>Day 2</td><td>Naples</td></tr></table>
    </body></html>"""

    [page] = parse(html, "html")

    assert page.number is None
    assert page.text == (
        "Trip notes\n\n"
        "Rome & Naples\n\n"
        "We arrived on Monday.\nIt rained.\n\n"
        "Colosseum\nPompeii été\n\n"
        "Day 1 Rome\nDay 2 Naples"
    )


def test_html_preformatted_text_keeps_its_spacing() -> None:
    [page] = parse(b"<p>Code:</p><pre>def f():\n    return 1</pre>", "html")

    assert page.text == "Code:\n\ndef f():\n    return 1"


def test_html_with_only_scripts_has_no_text() -> None:
    with pytest.raises(ParseError, match="contains no text"):
        parse(b"<html><script>document.write('hi')</script></html>", "html")


# --- JSON ---------------------------------------------------------------------------------


def test_json_is_pretty_printed_so_chunks_can_split_on_lines() -> None:
    data = json.dumps({"name": "Zoë", "tags": ["a", "b"]}, separators=(",", ":")).encode()

    [page] = parse(data, "json")

    assert page.text == '{\n  "name": "Zoë",\n  "tags": [\n    "a",\n    "b"\n  ]\n}'


def test_invalid_json_is_refused_naming_the_line_and_column() -> None:
    with pytest.raises(ParseError) as caught:
        parse(b'{\n  "a": 1,\n  "b": \n}', "json")

    message = str(caught.value)
    assert "not valid JSON" in message
    assert "line 4, column 1" in message


def test_json_lines_are_read_record_by_record() -> None:
    data = b'{"id": 1, "text": "first"}\n{"id": 2, "text": "second"}\n\n["third"]\n'

    [page] = parse(data, "json")

    assert page.text == (
        '{\n  "id": 1,\n  "text": "first"\n}\n\n'
        '{\n  "id": 2,\n  "text": "second"\n}\n\n'
        '[\n  "third"\n]'
    )


def test_a_bad_record_in_json_lines_is_named_by_its_line() -> None:
    with pytest.raises(ParseError, match="Line 3 of this JSON Lines file is not valid JSON"):
        parse(b'{"id": 1}\n{"id": 2}\n{"id": \n', "json")


def test_json_nested_too_deeply_is_refused_rather_than_crashing() -> None:
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(b"[" * 200_000 + b"]" * 200_000, "json")


# --- CSV ----------------------------------------------------------------------------------


def test_csv_rows_become_lines_of_header_value_pairs() -> None:
    data = b'name,age,city\nAda,36,London\n"Lovelace, Augusta",,Paris\n\nAlan,41,\n'

    assert parse(data, "csv") == [
        Page(
            None,
            "name: Ada; age: 36; city: London\n"
            "name: Lovelace, Augusta; city: Paris\n"
            "name: Alan; age: 41",
        )
    ]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_csv_delimiter_is_sniffed(delimiter: str) -> None:
    data = delimiter.join(["name", "role"]) + "\n" + delimiter.join(["Grace", "admiral"]) + "\n"

    assert parse(data.encode(), "csv") == [Page(None, "name: Grace; role: admiral")]


def test_a_csv_whose_delimiter_cannot_be_sniffed_is_still_read() -> None:
    assert parse(b"city\nLondon\nParis\n", "csv") == [Page(None, "city: London\ncity: Paris")]


def test_csv_cells_beyond_the_headers_are_named_by_column() -> None:
    data = b"a,b\n1,2,3\n"

    assert parse(data, "csv") == [Page(None, "a: 1; b: 2; column 3: 3")]


def test_a_csv_with_only_a_header_row_keeps_the_headers() -> None:
    assert parse(b"name,age,city\n", "csv") == [Page(None, "name; age; city")]
