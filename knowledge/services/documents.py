"""Writes for the knowledge base: ingest files and re-index documents.

Ingestion is incremental at two levels. A document whose source (and chunking settings) hash
to the stored checksum is skipped before the model is even loaded, which keeps the
`ingest_knowledge` run at every start-up fast. A changed document is re-chunked, but chunks
whose embedded text is unchanged keep their stored embedding; only new text is embedded, and
in batches across documents so the model always sees full batches.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from knowledge import embeddings
from knowledge.chunking import ChunkPlan, chunk_sections
from knowledge.models import Chunk, Document, LexemeFrequency
from knowledge.parsing import ParsedDocument, parse_document, split_front_matter
from supportbot.celery import app
from supportbot.errors import InvalidInput, NotFound
from supportbot.services import task_enqueue_on_commit

logger = logging.getLogger(__name__)

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"
# A PDF's text is extracted on reading (pypdf) and kept as plain text from then on.
FORMATS_BY_SUFFIX = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".pdf": "text",
}
# Bump when parsing or chunking changes shape, so every document is re-chunked once.
CHUNKER_VERSION = "1"
# Chunks embedded per batch when ingesting many documents at once. Smaller batches sort worse by
# length and pad more, so a corpus embeds more slowly.
EMBED_BATCH = 256
# Queued by name: knowledge.tasks imports these services.
REINDEX_TASK = "knowledge.tasks.reindex_document"


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    chunks_kept: int = 0
    chunks_removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, {self.removed} removed "
            f"documents; {self.chunks_embedded} chunks embedded, {self.chunks_kept} kept, "
            f"{self.chunks_removed} removed; {len(self.skipped)} files skipped"
        )


@dataclass
class _Pending:
    """A parsed document waiting for its new chunks to be embedded and written."""

    fields: dict[str, Any]
    plans: list[ChunkPlan]
    existing_id: int | None
    known_vectors: dict[str, Any]


def document_checksum(*, title: str, kind: str, source_format: str, body: str, product_id: str = "") -> str:
    settings_key = f"{CHUNKER_VERSION}|{settings.KNOWLEDGE_CHUNK_TOKENS}|{settings.KNOWLEDGE_CHUNK_OVERLAP}"
    payload = "\x1f".join([settings_key, title, kind, source_format, product_id, body])
    return hashlib.sha256(payload.encode()).hexdigest()


def source_label(path: Path) -> str:
    resolved = path.resolve()
    base = Path(settings.BASE_DIR).resolve()
    return str(resolved.relative_to(base)) if resolved.is_relative_to(base) else str(resolved)


def knowledge_files(path: Path) -> list[Path]:
    """Files under `path` (or `path` itself) in the formats ingestion reads, in a stable order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS_BY_SUFFIX)
    return [path]


def read_source_file(path: Path) -> tuple[str, str]:
    """(text, format) of a file. Raises InvalidInput naming what is wrong with it."""
    source_format = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if source_format is None:
        raise InvalidInput(f"{path}: unsupported file type '{path.suffix}' (expected .md, .html, .htm, .txt or .pdf).")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror}).") from exc
    if size > settings.KNOWLEDGE_MAX_FILE_BYTES:
        raise InvalidInput(f"{path}: too large ({size} bytes; the limit is {settings.KNOWLEDGE_MAX_FILE_BYTES}).")
    raw = path.read_bytes()
    if path.suffix.lower() == ".pdf":
        return _pdf_text(path, raw), source_format
    if b"\x00" in raw[:8192]:
        raise InvalidInput(f"{path}: looks like a binary file, not text.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: is not UTF-8 text (bad byte at position {exc.start}).") from exc
    if not text.strip():
        raise InvalidInput(f"{path}: is empty.")
    # The sniff above only reads the first 8 KB; PostgreSQL text can hold no NUL anywhere.
    nul = text.find("\x00")
    if nul >= 0:
        raise InvalidInput(f"{path}: contains a NUL character (position {nul}); is it a binary file?")
    return text, source_format


def _pdf_text(path: Path, raw: bytes) -> str:
    """The text of every page, pages separated by blank lines. Raises InvalidInput naming the problem."""
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about odd files are noise here
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            raise InvalidInput(f"{path}: is an encrypted PDF; save it without a password first.")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InvalidInput(f"{path}: is not a readable PDF ({exc.__class__.__name__}: {exc}).") from exc
    text = "\n\n".join(page for page in pages if page).replace("\x00", "")
    if not text.strip():
        raise InvalidInput(f"{path}: has no extractable text (a scanned PDF needs OCR first).")
    return text


def _parsed_fields(
    parsed: ParsedDocument, *, body: str, source_format: str, kind: str, slug: str, **extra: Any
) -> dict[str, Any]:
    if kind not in Document.Kind.values:
        raise InvalidInput(f"Unknown document kind '{kind}'; expected one of {', '.join(Document.Kind.values)}.")
    if not slug:
        raise InvalidInput("The document needs a slug (letters, digits and hyphens).")
    product_id = str(extra.get("product_id", ""))
    return {
        "slug": slug,
        "title": parsed.title,
        "kind": kind,
        "source_format": source_format,
        "body": body,
        "html": parsed.html,
        "summary": parsed.summary,
        "checksum": document_checksum(
            title=parsed.title, kind=kind, source_format=source_format, body=body, product_id=product_id
        ),
        **extra,
    }


def _plan_chunks(parsed: ParsedDocument) -> list[ChunkPlan]:
    return chunk_sections(
        parsed.sections,
        budget=settings.KNOWLEDGE_CHUNK_TOKENS,
        overlap=settings.KNOWLEDGE_CHUNK_OVERLAP,
        count_tokens=embeddings.count_tokens,
    )


def _known_vectors(document_id: int | None, plans: list[ChunkPlan]) -> dict[str, Any]:
    if document_id is None:
        return {}
    wanted = {plan.checksum for plan in plans}
    rows = Chunk.objects.filter(document_id=document_id, checksum__in=wanted).values_list("checksum", "embedding")
    return dict(rows)


@transaction.atomic
def _document_store(pending: _Pending, vectors: dict[str, Any]) -> tuple[Document, int, int, int]:
    """Write one document and its chunks. Returns (document, embedded, kept, removed).

    Chunks are matched to stored rows by checksum: a matched row keeps its embedding and is
    only renumbered, the rest are deleted and new rows inserted, all in one transaction so a
    reader sees either the old chunk set or the new one.
    """
    fields = pending.fields
    document = Document.objects.select_for_update().filter(slug=fields["slug"]).first()
    if document is None:
        document = Document(**fields)
    else:
        for name, value in fields.items():
            setattr(document, name, value)
    document.indexed_at = timezone.now()
    document.save()

    stored: dict[str, list[Chunk]] = {}
    for chunk in document.chunks.select_for_update().order_by("position"):
        stored.setdefault(chunk.checksum, []).append(chunk)
    # A concurrent re-index may have removed a row whose embedding we meant to reuse.
    missing = [p for p in pending.plans if p.checksum not in vectors and p.checksum not in stored]
    if missing:
        fresh = embeddings.embed_texts([p.embedded_text for p in missing])
        vectors = {**vectors, **{p.checksum: v for p, v in zip(missing, fresh, strict=True)}}

    kept: list[Chunk] = []
    created: list[Chunk] = []
    for position, plan in enumerate(pending.plans):
        reusable = stored.get(plan.checksum)
        if reusable:
            chunk = reusable.pop(0)
            chunk.position, chunk.anchor, chunk.token_count = position, plan.anchor, plan.token_count
            kept.append(chunk)
        else:
            created.append(
                Chunk(
                    document=document,
                    position=position,
                    heading_path=plan.heading_path,
                    anchor=plan.anchor,
                    text=plan.text,
                    token_count=plan.token_count,
                    checksum=plan.checksum,
                    embedding=vectors[plan.checksum],
                )
            )
    leftover = [chunk.pk for rows in stored.values() for chunk in rows]
    if leftover:
        Chunk.objects.filter(pk__in=leftover).delete()
    if kept:
        Chunk.objects.bulk_update(kept, ["position", "anchor", "token_count"])
    if created:
        Chunk.objects.bulk_create(created)
    return document, len(created), len(kept), len(leftover)


def _new_texts(batch: list[_Pending]) -> dict[str, str]:
    """checksum -> text of every chunk in the batch that has no stored vector yet."""
    texts: dict[str, str] = {}
    for pending in batch:
        for plan in pending.plans:
            if plan.checksum not in pending.known_vectors:
                texts.setdefault(plan.checksum, plan.embedded_text)
    return texts


def _embed(texts: dict[str, str]) -> dict[str, Any]:
    return dict(zip(texts, embeddings.embed_texts(list(texts.values())), strict=True)) if texts else {}


def _write(batch: list[_Pending], vectors: dict[str, Any], report: IngestReport) -> list[Document]:
    documents = []
    for pending in batch:
        document, embedded, kept, removed = _document_store(pending, {**pending.known_vectors, **vectors})
        if pending.existing_id is None:
            report.added += 1
        else:
            report.updated += 1
        report.chunks_embedded += embedded
        report.chunks_kept += kept
        report.chunks_removed += removed
        documents.append(document)
    return documents


def _flush(batch: list[_Pending], report: IngestReport) -> list[Document]:
    """Embed every new chunk of the batch in one model call, then write each document."""
    documents = _write(batch, _embed(_new_texts(batch)), report)
    batch.clear()
    return documents


class _Pipeline:
    """Embeds one batch on a helper thread while the previous batch is written.

    The model releases the GIL and PostgreSQL works in its own process, so with two cores the
    database writes (including HNSW index inserts) and the parsing of the next files hide behind
    the embedding instead of adding to it. Writes stay on the calling thread (Django's
    connection belongs to it), in file order.
    """

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-embedding")
        self.in_flight: tuple[list[_Pending], Future[dict[str, Any]]] | None = None

    def submit(self, batch: list[_Pending]) -> None:
        job = self.pool.submit(_embed, _new_texts(batch))
        self._write_in_flight()
        self.in_flight = (list(batch), job)
        batch.clear()

    def finish(self) -> None:
        try:
            self._write_in_flight()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _write_in_flight(self) -> None:
        if self.in_flight is not None:
            batch, job = self.in_flight
            self.in_flight = None
            _write(batch, job.result(), self.report)


def document_ingest_path(
    *,
    path: Path | str,
    kind: str | None = None,
    prune: bool = True,
    on_file: Callable[[Path], None] | None = None,
) -> IngestReport:
    """Ingest one file or every supported file under a directory.

    Kind comes from front matter, else `kind`, else "policy"; the slug from front matter, else
    the file name. Unreadable, empty, binary, oversized or malformed files are skipped with a
    warning naming the file. With `prune`, documents that came from files under a directory
    that no longer exist there are deleted. Each document is written atomically.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidInput(f"{root}: no such file or directory.")
    report = IngestReport()
    files = knowledge_files(root)
    stored = {slug: (pk, checksum) for pk, slug, checksum in Document.objects.values_list("id", "slug", "checksum")}
    seen_sources: set[str] = set()
    batch: list[_Pending] = []
    pipeline = _Pipeline(report)
    try:
        _ingest_files(
            files,
            stored=stored,
            kind=kind,
            batch=batch,
            seen_sources=seen_sources,
            report=report,
            pipeline=pipeline,
            on_file=on_file,
        )
        if batch:
            pipeline.submit(batch)
    finally:
        pipeline.finish()
    if prune and root.is_dir():
        report.removed += _documents_prune(directory=source_label(root), keep=seen_sources)
    if report.added or report.updated or report.removed:
        chunk_statistics_refresh()
    return report


def _ingest_files(
    files: list[Path],
    *,
    stored: dict[str, tuple[int, str]],
    kind: str | None,
    batch: list[_Pending],
    seen_sources: set[str],
    report: IngestReport,
    pipeline: _Pipeline,
    on_file: Callable[[Path], None] | None,
) -> None:
    for file in files:
        if on_file:
            on_file(file)
        label = source_label(file)
        try:
            text, source_format = read_source_file(file)
            parsed = parse_document(text, source_format=source_format, title=file.stem.replace("-", " ").capitalize())
            body = text if source_format != "markdown" else _body_without_front_matter(text)
            fields = _parsed_fields(
                parsed,
                body=body,
                source_format=source_format,
                kind=parsed.meta.get("kind") or kind or Document.Kind.POLICY,
                slug=slugify(parsed.meta.get("slug") or file.stem)[:200],
                source=label[:500],
            )
        except InvalidInput as exc:
            message = exc.message if exc.message.startswith(str(file)) else f"{file}: {exc.message}"
            logger.warning("skipped %s", message)
            report.skipped.append((str(file), message))
            continue
        seen_sources.add(label)
        existing_id, existing_checksum = stored.get(fields["slug"], (None, None))
        if existing_checksum == fields["checksum"]:
            report.unchanged += 1
            continue
        plans = _plan_chunks(parsed)
        batch.append(_Pending(fields, plans, existing_id, _known_vectors(existing_id, plans)))
        if sum(len(p.plans) for p in batch) >= EMBED_BATCH:
            pipeline.submit(batch)


# The most common lexemes of the chunks' search vectors and the share of chunks holding each,
# as ANALYZE sampled them (pg_stats pads the frequencies with three summary numbers, which
# unnest pairs with NULL lexemes).
_LEXEME_FREQUENCY_SQL = """
INSERT INTO {table} (lexeme, frequency)
SELECT x.lexeme, x.freq
FROM pg_stats s
CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS x(lexeme, freq)
WHERE s.schemaname = current_schema() AND s.tablename = %s AND s.attname = 'search_vector' AND x.lexeme IS NOT NULL
ON CONFLICT (lexeme) DO NOTHING
"""


def chunk_statistics_refresh() -> None:
    """Refresh the statistics full-text ranking reads its term weights (IDF) from.

    ANALYZE samples the chunks (autovacuum would get there eventually; after an ingest we want
    the weights now), then the sampled lexeme frequencies are copied to LexemeFrequency in one
    transaction, so a concurrent search sees either the old weights or the new ones.
    """
    table = connection.ops.quote_name(LexemeFrequency._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Chunk._meta.db_table}")
        with transaction.atomic():
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - the model's own table name
            cursor.execute(_LEXEME_FREQUENCY_SQL.format(table=table), [Chunk._meta.db_table])


# Chunks changed since the last ANALYZE, or autovacuum analyzed after the last refresh (its
# sample went to pg_stats only, not to LexemeFrequency), or the table was never analyzed here.
_STATISTICS_STALE_SQL = """
SELECT n_mod_since_analyze > 0 OR coalesce(last_autoanalyze > last_analyze, last_analyze IS NULL)
FROM pg_stat_user_tables WHERE relid = %s::regclass
"""


def chunk_statistics_stale() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_STATISTICS_STALE_SQL, [Chunk._meta.db_table])
        row = cursor.fetchone()
    return bool(row and row[0])


def chunk_statistics_refresh_if_stale() -> bool:
    """chunk_statistics_refresh when the chunks changed since it last ran; True when it ran.

    For writers that do not refresh themselves (catalog documents follow every stock change,
    one product at a time): the periodic job calls this, so an ANALYZE runs at most once per
    period whatever the number of changes.
    """
    if not chunk_statistics_stale():
        return False
    chunk_statistics_refresh()
    return True


def _body_without_front_matter(text: str) -> str:
    return split_front_matter(text)[1].strip() + "\n"


@transaction.atomic
def _documents_prune(*, directory: str, keep: Iterable[str]) -> int:
    prefix = directory.rstrip("/") + "/"
    gone = Document.objects.filter(source__startswith=prefix).exclude(source__in=list(keep))
    count = gone.count()
    gone.delete()
    return count


def document_reindex(*, document_id: int) -> IngestReport:
    """Re-parse a stored document's body and bring its chunks up to date.

    Used after an edit in admin: the body in the database is the source. Unchanged chunks
    keep their embeddings. Raises NotFound when the document is gone.
    """
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        raise NotFound(f"Document {document_id} does not exist.")
    parsed = parse_document(document.body, source_format=document.source_format, title=document.title)
    if document.source_format != Document.Format.HTML:
        # A title edited in admin wins over a heading in the body.
        parsed.title = document.title
        parsed.sections = [
            type(section)(path=[document.title, *section.path[1:]], anchor=section.anchor, blocks=section.blocks)
            for section in parsed.sections
        ]
    fields = _parsed_fields(
        parsed,
        body=document.body,
        source_format=document.source_format,
        kind=document.kind,
        slug=document.slug,
        product_id=document.product_id,
    )
    plans = _plan_chunks(parsed)
    report = IngestReport()
    _flush([_Pending(fields, plans, document.pk, _known_vectors(document.pk, plans))], report)
    chunk_statistics_refresh()
    return report


def document_reindex_enqueue(*, document_id: int) -> None:
    """Queue a re-index on the embeddings queue once the caller's transaction commits."""
    task_enqueue_on_commit(app.signature(REINDEX_TASK), document_id)
