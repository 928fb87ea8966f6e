"""Uploads whose name and media type say nothing are typed by their content.

The node.js examples of Letta's sleep-time docs (`@letta-ai/letta-client` 0.1.132) upload
`new Blob([readFileSync("handbook.pdf")])`: Node's FormData sends such a Blob as a part
named `blob` of type application/octet-stream. The requests below are written byte for
byte as undici (Node's fetch) writes them.
"""

from __future__ import annotations

import json

import pytest

from memory.models import Passage
from sources import ingest, services
from sources.models import SourceFile
from sources.parsing import UnsupportedType, detect_kind, sniff_kind
from tests.sources.pdfs import text_pdf

PAGES = ["Vacation is 25 days a year.", "Remote work needs manager approval."]
BOUNDARY = "----formdata-undici-041893278514"


def node_blob_upload(data: bytes) -> bytes:
    """The multipart body Node's FormData makes of `form.append("file", new Blob([data]))`."""
    return (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="blob"\r\n'
            "Content-Type: application/octet-stream\r\n"
            "\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def post_blob(api, path: str, data: bytes):
    return api.post(
        path,
        data=node_blob_upload(data),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


@pytest.fixture
def source(user):
    return services.create_source(
        user, name="employee_handbook", embedding="openai/text-embedding-3-small"
    )


@pytest.mark.parametrize("collection", ["sources", "folders"])
def test_a_pdf_sent_as_a_nameless_blob_is_stored_and_read_as_a_pdf(api, source, llm, collection):
    response = post_blob(api, f"/v1/{collection}/{source.id}/upload", text_pdf(PAGES))

    assert response.status_code == 200, response.content
    stored = response.json()
    assert stored["file_name"] == "blob.pdf"
    assert stored["original_file_name"] == "blob"
    assert stored["file_type"] == "application/pdf"

    assert ingest.process_file(stored["id"]) == "completed"
    done = SourceFile.objects.get(pk=stored["id"])
    assert done.total_pages == 2
    passages = Passage.objects.filter(file=done).order_by("chunk_index")
    assert [(p.page, p.text) for p in passages] == [(1, PAGES[0]), (2, PAGES[1])]


@pytest.mark.parametrize(
    ("content", "name", "file_type"),
    [
        (b'{"vacation_days": 25, "remote": ["Fri"]}', "blob.json", "application/json"),
        (
            b"<!DOCTYPE html><html><body><p>Vacation: 25 days.</p></body></html>",
            "blob.html",
            "text/html",
        ),
        (
            "# Handbook\n\nVacation: 25 days, caf\u00e9 included.\n".encode(),
            "blob.md",
            "text/markdown",
        ),
        (b"Vacation is 25 days a year.\n", "blob.txt", "text/plain"),
    ],
)
def test_text_sent_as_a_nameless_blob_is_typed_by_what_it_holds(
    api, source, content, name, file_type
):
    response = post_blob(api, f"/v1/sources/{source.id}/upload", content)

    assert response.status_code == 200, response.content
    assert (response.json()["file_name"], response.json()["file_type"]) == (name, file_type)


def test_two_blobs_keep_distinct_names(api, source):
    first = post_blob(api, f"/v1/sources/{source.id}/upload", text_pdf(["One."]))
    second = post_blob(api, f"/v1/sources/{source.id}/upload", text_pdf(["Two."]))

    assert [first.json()["file_name"], second.json()["file_name"]] == ["blob.pdf", "blob_(1).pdf"]


def test_a_blob_of_binary_data_is_a_415_saying_why_and_stores_nothing(api, source):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"

    response = post_blob(api, f"/v1/folders/{source.id}/upload", png)

    assert response.status_code == 415
    detail = response.json()["detail"]
    assert detail.startswith("'blob' (application/octet-stream) is not a supported file type")
    assert "its content is not a PDF, JSON, HTML or UTF-8 text" in detail
    assert not SourceFile.objects.filter(source=source).exists()


# --- The rules, without HTTP ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (text_pdf(["x"]), "pdf"),
        (b"\r\n%PDF-1.7 after a few bytes of junk", "pdf"),
        (b'  [1, 2, {"a": null}]\n', "json"),
        (b'{"a": 1}\n{"a": 2}\n', "json"),
        (b"<!-- saved page -->\n<HTML lang=en><p>Hi</p></HTML>", "html"),
        (b"Intro.\n\n```python\nprint(1)\n```\n", "markdown"),
        (b"See [the docs](https://example.org/docs).", "markdown"),
        ("\ufeffPlain words, na\u00efve and all.\n".encode(), "text"),
        (b"{not json at all}", "text"),
        (b"<div>a fragment is not a document</div>", "text"),
    ],
)
def test_sniffing_finds_the_kind_a_content_holds(data, kind):
    assert sniff_kind(data) == kind


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"PK\x03\x04\x14\x00\x00\x00",
        "caf\u00e9 in latin-1".encode("latin-1"),
        b"text with a NUL\x00 inside",
    ],
)
def test_sniffing_finds_nothing_in_binary_or_non_utf8_data(data):
    assert sniff_kind(data) is None


def test_a_name_or_type_that_says_something_is_not_overruled_by_the_content():
    text = b"Just some words."

    assert detect_kind("notes.md", "application/octet-stream", text) == "markdown"
    assert detect_kind("blob", "text/html", text) == "html"
    # An unknown extension is refused as before, whatever the file holds.
    with pytest.raises(UnsupportedType):
        detect_kind("setup.exe", "application/octet-stream", text)
    with pytest.raises(UnsupportedType):
        detect_kind("blob", "image/png", text)


def test_an_uploaded_json_blob_is_parsed_as_json(source):
    data = json.dumps({"vacation_days": 25}).encode()

    upload = services.upload_file(
        source, file_name="blob", content_type="application/octet-stream", data=data
    )

    assert (upload.file_name, upload.kind) == ("blob.json", "json")
