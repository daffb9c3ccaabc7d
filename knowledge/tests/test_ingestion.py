"""Ingestion against the real database and the real embedding model."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from knowledge.chunking import pack_units
from knowledge.embeddings import count_tokens
from knowledge.models import Chunk, Document
from knowledge.services import document_ingest_path, document_reindex
from knowledge.tests.conftest import SHIPPING, TICKET, WARRANTY

pytestmark = pytest.mark.django_db

LONG_SECTION = "\n\n".join(
    f"Paragraph {n} explains rule number {n} of the returns desk in plain words, so customers "
    f"know what happens to parcel {n} after it reaches the warehouse."
    for n in range(1, 13)
)


def test_markdown_sections_become_chunks_with_heading_paths_and_anchors(write_article):
    path = write_article("shipping.md", SHIPPING)
    report = document_ingest_path(path=path)

    assert (report.added, report.chunks_embedded) == (1, 3)
    document = Document.objects.get(slug="shipping")
    assert (document.title, document.kind, document.source_format) == (
        "Shipping and lost parcels",
        "policy",
        "markdown",
    )
    chunks = list(document.chunks.order_by("position"))
    assert [c.heading_path for c in chunks] == [
        "Shipping and lost parcels",
        "Shipping and lost parcels › Delivery speed",
        "Shipping and lost parcels › Lost packages",
    ]
    assert [c.anchor for c in chunks] == ["", "delivery-speed", "lost-packages"]
    for chunk in chunks[1:]:
        assert f'id="{chunk.anchor}"' in document.html
    assert chunks[2].text.startswith("If the tracking page says delivered")
    assert np.isclose(np.linalg.norm(np.array(chunks[0].embedding)), 1.0, atol=1e-3)


def test_long_section_is_cut_within_budget_with_overlap(write_article, settings):
    settings.KNOWLEDGE_CHUNK_TOKENS = 120
    settings.KNOWLEDGE_CHUNK_OVERLAP = 40
    path = write_article("desk.md", f"---\ntitle: Returns desk\n---\n\n## The rules\n\n{LONG_SECTION}\n")
    document_ingest_path(path=path)

    chunks = list(Chunk.objects.filter(document__slug="desk").order_by("position"))
    assert len(chunks) >= 4
    heading_tokens = count_tokens("Returns desk › The rules")
    for chunk in chunks:
        assert chunk.token_count + heading_tokens <= 120
        assert count_tokens(chunk.text) <= 120 - heading_tokens
        assert chunk.anchor == "the-rules"
    for previous, following in zip(chunks, chunks[1:], strict=False):
        # The paragraph that ended one chunk opens the next.
        assert previous.text.splitlines()[-1] == following.text.splitlines()[0]
    # Every paragraph is in some chunk, in order.
    joined = "\n".join(c.text for c in chunks)
    positions = [joined.index(f"Paragraph {n} ") for n in range(1, 13)]
    assert positions == sorted(positions)


def test_pack_units_never_exceeds_budget_even_when_overlap_would():
    units = [("a", 30), ("b", 30), ("c", 60), ("d", 35)]
    windows = pack_units(units, budget=64, overlap=40)
    assert [[text for text, _ in w] for w in windows] == [["a", "b"], ["c"], ["d"]]
    assert all(sum(tokens for _, tokens in w) <= 64 for w in windows)


def test_unchanged_files_are_skipped_and_unchanged_chunks_keep_their_embeddings(write_article):
    path = write_article("shipping.md", SHIPPING)
    document_ingest_path(path=path)
    before = {c.anchor: (c.pk, c.checksum) for c in Chunk.objects.all()}

    again = document_ingest_path(path=path)
    assert (again.unchanged, again.added, again.updated, again.chunks_embedded) == (1, 0, 0, 0)

    path.write_text(SHIPPING.replace("three to five business days", "four to six business days"))
    edited = document_ingest_path(path=path)
    assert (edited.updated, edited.chunks_embedded, edited.chunks_kept, edited.chunks_removed) == (1, 1, 2, 1)
    after = {c.anchor: (c.pk, c.checksum) for c in Chunk.objects.all()}
    assert after[""] == before[""] and after["lost-packages"] == before["lost-packages"]
    assert after["delivery-speed"] != before["delivery-speed"]
    assert "four to six" in Chunk.objects.get(anchor="delivery-speed").text


def test_deleted_section_is_removed_and_positions_renumbered(write_article):
    path = write_article("shipping.md", SHIPPING)
    document_ingest_path(path=path)
    lost_id = Chunk.objects.get(anchor="lost-packages").pk

    path.write_text(SHIPPING.split("## Delivery speed")[0] + "## Lost packages" + SHIPPING.split("## Lost packages")[1])
    report = document_ingest_path(path=path)

    assert report.chunks_removed == 1
    assert list(Chunk.objects.order_by("position").values_list("anchor", "position")) == [("", 0), ("lost-packages", 1)]
    assert Chunk.objects.get(anchor="lost-packages").pk == lost_id


def test_bad_files_are_skipped_with_a_warning_naming_them(write_article, settings, caplog):
    settings.KNOWLEDGE_MAX_FILE_BYTES = 5000
    good = write_article("warranty.md", WARRANTY)
    folder = good.parent
    (folder / "empty.md").write_text("  \n")
    (folder / "binary.md").write_bytes(b"\x89PNG\r\n\x00\x00\x00binary")
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (folder / "huge.md").write_text("# Huge\n\n" + "word " * 2000)
    (folder / "broken.md").write_text("---\ntitle: [unclosed\n---\nBody text here.\n")

    report = document_ingest_path(path=folder)

    assert report.added == 1 and Document.objects.get().slug == "warranty"
    reasons = dict(report.skipped)
    assert set(reasons) == {
        str(folder / name) for name in ("empty.md", "binary.md", "latin1.txt", "huge.md", "broken.md")
    }
    assert "is empty" in reasons[str(folder / "empty.md")]
    assert "binary" in reasons[str(folder / "binary.md")]
    assert "UTF-8" in reasons[str(folder / "latin1.txt")]
    assert "too large" in reasons[str(folder / "huge.md")]
    assert "front matter" in reasons[str(folder / "broken.md")]
    assert "empty.md" in caplog.text


def test_files_removed_from_a_folder_are_pruned(write_article):
    write_article("warranty.md", WARRANTY)
    shipping = write_article("shipping.md", SHIPPING)
    document_ingest_path(path=shipping.parent)
    shipping.unlink()

    report = document_ingest_path(path=shipping.parent)

    assert (report.removed, report.unchanged) == (1, 1)
    assert list(Document.objects.values_list("slug", flat=True)) == ["warranty"]


def test_html_is_sanitized_and_titled_from_its_title_tag(write_article):
    path = write_article(
        "gift.html",
        "<html><head><title>Gift wrapping</title><script>alert(1)</script></head><body>"
        "<h2 id='old' onclick='steal()'>Wrapping options</h2><p>We wrap <b>any</b> order for $4."
        "<img src=x onerror=alert(2)></p><iframe src='https://evil.example'></iframe></body></html>",
    )
    document_ingest_path(path=path)
    document = Document.objects.get(slug="gift")
    assert document.title == "Gift wrapping" and document.source_format == "html"
    assert "script" not in document.html and "onclick" not in document.html and "onerror" not in document.html
    assert "iframe" not in document.html and "alert" not in document.html
    assert '<h2 id="wrapping-options">Wrapping options</h2>' in document.html
    chunk = document.chunks.get()
    assert chunk.text == "We wrap any order for $4." and chunk.anchor == "wrapping-options"


def test_plain_text_is_ingested_as_paragraphs(write_article):
    path = write_article("store-hours.txt", "Our support team answers chats every day.\n\nPhone lines close at 6 pm.")
    document_ingest_path(path=path, kind="faq")
    document = Document.objects.get(slug="store-hours")
    assert (document.title, document.kind) == ("Store hours", "faq")
    assert document.chunks.get().text == "Our support team answers chats every day.\nPhone lines close at 6 pm."


def test_reindex_rebuilds_chunks_from_the_stored_body(write_article):
    document_ingest_path(path=write_article("warranty.md", WARRANTY))
    document = Document.objects.get(slug="warranty")
    document.body += "\n## Accidental damage\n\nDrops and spills are not covered by the warranty.\n"
    document.save()

    report = document_reindex(document_id=document.pk)

    assert (report.chunks_embedded, report.chunks_kept) == (1, 1)
    assert document.chunks.get(anchor="accidental-damage").heading_path == "Warranty › Accidental damage"
    assert 'id="accidental-damage"' in Document.objects.get(pk=document.pk).html


def test_ingest_command_reports_a_summary_and_is_fast_when_nothing_changed(write_article):
    folder = write_article("shipping.md", SHIPPING).parent
    write_article("ticket.md", TICKET)
    out = StringIO()
    call_command("ingest_knowledge", str(folder), stdout=out, stderr=StringIO())
    assert "2 added, 0 updated, 0 unchanged, 0 removed documents" in out.getvalue()

    out = StringIO()
    call_command("ingest_knowledge", str(folder), stdout=out, stderr=StringIO())
    assert "0 added, 0 updated, 2 unchanged" in out.getvalue()


def test_the_shipped_help_center_parses_into_sections():
    # Parsing only (no embedding): every article has front matter, a known kind and sections.
    from knowledge.parsing import parse_document, split_front_matter
    from knowledge.services import CONTENT_DIR

    files = sorted(CONTENT_DIR.glob("*.md"))
    assert len(files) >= 15
    for file in files:
        meta, _ = split_front_matter(file.read_text())
        assert meta.get("kind") in Document.Kind.values, file
        parsed = parse_document(file.read_text(), source_format="markdown")
        assert len(parsed.sections) >= 3, file


SHARED_POLICY = Path(settings.BASE_DIR).parent / "shared" / "data" / "retail-shop" / "policy.md"


@pytest.mark.skipif(not SHARED_POLICY.exists(), reason=f"external policy document not present at {SHARED_POLICY}")
def test_external_retail_policy_document_is_ingested():
    report = document_ingest_path(path=SHARED_POLICY, kind="policy")
    assert report.added == 1 and not report.skipped
    document = Document.objects.get(slug="policy")
    assert document.title == "Retail agent policy"
    headings = set(document.chunks.values_list("heading_path", flat=True))
    assert "Retail agent policy › Domain basic" in headings
    assert document.chunks.count() >= 4


def _pdf(*pages: str) -> bytes:
    """A small valid PDF with one line of Helvetica text per page (written by hand: no PDF writer needed)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        page_number = len(objects) + 1
        kids.append(f"{page_number} 0 R")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_number + 1} 0 R "
            f"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_text_is_extracted_and_bad_pdfs_are_skipped_with_a_reason(write_article):
    folder = write_article("warranty.md", WARRANTY).parent
    (folder / "care-guide.pdf").write_bytes(
        _pdf("Wash the fleece jacket cold and hang it to dry.", "Never iron the zipper.")
    )
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (folder / "blank.pdf").write_bytes(_pdf(""))

    report = document_ingest_path(path=folder)

    guide = Document.objects.get(slug="care-guide")
    assert guide.title == "Care guide" and guide.source_format == "text"
    text = " ".join(guide.chunks.values_list("text", flat=True))
    assert "Wash the fleece jacket cold" in text and "Never iron the zipper." in text
    reasons = dict(report.skipped)
    assert "not a readable PDF" in reasons[str(folder / "broken.pdf")]
    assert "no extractable text" in reasons[str(folder / "blank.pdf")]
    assert report.added == 2
    # Unchanged on the next run: nothing re-extracted into a new version.
    assert document_ingest_path(path=folder).unchanged == 2
