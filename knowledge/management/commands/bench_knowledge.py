"""`manage.py bench_knowledge`: retrieval latency and recall at 100k chunks, ingestion throughput.

Everything runs in throwaway schemas (knowledge_bench, knowledge_bench_ingest) that are
dropped at the end, so the real knowledge base is only read (for seed texts and vectors).

1. Synthetic corpus: N chunks (default 100,000) whose texts are recombined sentences of the
   real help center and whose vectors are mixtures of real chunk embeddings plus noise, so
   both the text statistics and the neighbourhood structure resemble a real corpus (pure
   random vectors would be unrealistically hard for HNSW). Indexes built as in production.
2. HNSW recall@10 against exact search (numpy brute force) at several ef_search values.
3. Hybrid search latency (p50/p95) of the real chunk_search, excluding the query embedding
   (computed beforehand), for the labeled eval questions.
4. Ingestion throughput of real Markdown through document_ingest_path against the raw
   model encode rate of the very same chunk texts, and the time of an unchanged re-ingest.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test.utils import override_settings
from tqdm import tqdm

from knowledge import selectors
from knowledge.embeddings import DIMENSIONS, embed_texts
from knowledge.models import Audience, Chunk, Document
from knowledge.parsing import parse_document, split_front_matter
from knowledge.services import CONTENT_DIR, chunk_statistics_refresh, document_ingest_path
from knowledge.services.documents import _plan_chunks

SCHEMA = "knowledge_bench"
INGEST_SCHEMA = "knowledge_bench_ingest"
QUESTIONS = Path(__file__).resolve().parents[2] / "eval" / "questions.jsonl"
CHUNKS_PER_DOCUMENT = 10


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


class Command(BaseCommand):
    help = "Benchmark hybrid retrieval on 100k synthetic chunks and ingestion against the raw encode rate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunks", type=int, default=100_000, help="Synthetic corpus size (default 100000).")
        parser.add_argument(
            "--ingest-documents", type=int, default=40, help="Markdown documents for the ingestion part."
        )
        parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 64, 100, 200])
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--noise", type=float, default=0.035, help="Per-dimension noise added to mixed real vectors."
        )
        parser.add_argument("--keep", action="store_true", help="Keep the synthetic schema for inspection.")
        parser.add_argument("--only", choices=["retrieval", "ingestion"], help="Run one part only.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.rng = np.random.default_rng(options["seed"])
        random.seed(options["seed"])
        seeds = list(Chunk.objects.values_list("heading_path", "text", "embedding"))
        if len(seeds) < 50:
            raise CommandError(
                "The knowledge base has too few chunks to seed the benchmark; run ingest_knowledge first."
            )
        questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            self.home = cursor.fetchone()[0]
        try:
            if options["only"] != "ingestion":
                self._retrieval(seeds, questions, options)
            if options["only"] != "retrieval":
                self._ingestion(options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET search_path")
                if not options["keep"]:
                    cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
                cursor.execute(f"DROP SCHEMA IF EXISTS {INGEST_SCHEMA} CASCADE")
            self.stdout.write("Benchmark schemas dropped." if not options["keep"] else f"Kept schema {SCHEMA}.")

    # --- retrieval ---------------------------------------------------------------------

    def _retrieval(self, seeds: list[tuple[str, str, Any]], questions: list[str], options: dict[str, Any]) -> None:
        total = options["chunks"]
        base = np.asarray([np.asarray(vector, dtype=np.float32) for _, _, vector in seeds])
        sentences = [[s.strip() for s in text.replace("\n", " ").split(". ") if s.strip()] for _, text, _ in seeds]
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            cursor.execute(f"CREATE SCHEMA {SCHEMA}")
            for table in ("knowledge_document", "knowledge_chunk", "knowledge_lexemefrequency"):
                cursor.execute(
                    f"CREATE TABLE {SCHEMA}.{table} (LIKE {self.home}.{table} "
                    "INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING CONSTRAINTS)"
                )

        started = time.perf_counter()
        vectors = self._load_synthetic(total, base, seeds, sentences, options["noise"])
        load_seconds = time.perf_counter() - started

        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute(f"ALTER TABLE {SCHEMA}.knowledge_document ADD PRIMARY KEY (id)")
            cursor.execute(f"ALTER TABLE {SCHEMA}.knowledge_chunk ADD PRIMARY KEY (id)")
            cursor.execute(f"ALTER TABLE {SCHEMA}.knowledge_lexemefrequency ADD PRIMARY KEY (lexeme)")
            cursor.execute(f"CREATE INDEX ON {SCHEMA}.knowledge_chunk (document_id)")
            cursor.execute(f"CREATE INDEX ON {SCHEMA}.knowledge_chunk USING gin (search_vector)")
            gin_seconds = time.perf_counter() - started
            started = time.perf_counter()
            cursor.execute(
                f"CREATE INDEX ON {SCHEMA}.knowledge_chunk USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = 16, ef_construction = 64)"
            )
            hnsw_seconds = time.perf_counter() - started
            cursor.execute(f"ANALYZE {SCHEMA}.knowledge_document")
            cursor.execute("RESET maintenance_work_mem")
            # ANALYZE of the chunks and the copy of their lexeme frequencies, as after an ingest.
            cursor.execute(f"SET search_path TO {SCHEMA}, {self.home}")
            try:
                chunk_statistics_refresh()
            finally:
                cursor.execute("RESET search_path")
        self.stdout.write(
            f"Corpus: {total:,} chunks loaded in {load_seconds:.1f}s; GIN index {gin_seconds:.1f}s, "
            f"HNSW index (m=16, ef_construction=64) {hnsw_seconds:.1f}s"
        )

        query_vectors = embed_texts([selectors.truncate_query(q) for q in questions], query=True)
        self._recall(vectors, query_vectors, options["ef_search"])
        self._latency(questions, query_vectors)

    def _load_synthetic(
        self,
        total: int,
        base: np.ndarray,
        seeds: list[tuple[str, str, Any]],
        sentences: list[list[str]],
        noise_sd: float,
    ) -> np.ndarray:
        from pgvector.psycopg import register_vector

        raw = connection.connection
        if raw is None:
            connection.ensure_connection()
            raw = connection.connection
        register_vector(raw)
        documents = (total + CHUNKS_PER_DOCUMENT - 1) // CHUNKS_PER_DOCUMENT
        kinds = ["policy", "faq", "manual", "product", "resolved-ticket"]
        with raw.cursor() as cursor:
            with cursor.copy(
                f"COPY {SCHEMA}.knowledge_document (id, title, slug, kind, source, source_format, body, html, summary, "
                "product_id, checksum, indexed_at, created_at, updated_at) FROM STDIN"
            ) as copy:
                for number in range(1, documents + 1):
                    copy.write_row(
                        (
                            number,
                            f"Synthetic document {number}",
                            f"synthetic-{number}",
                            kinds[number % 5],
                            "",
                            "markdown",
                            "",
                            "",
                            "",
                            str(9_000_000_000 + number),
                            "",
                            "now",
                            "now",
                            "now",
                        )
                    )
        vectors = np.empty((total, DIMENSIONS), dtype=np.float32)
        first = self.rng.integers(0, len(base), total)
        second = self.rng.integers(0, len(base), total)
        mix = self.rng.uniform(0.55, 0.9, total).astype(np.float32)[:, None]
        batch = 10_000
        with raw.cursor() as cursor, tqdm(total=total, unit="chunk", desc="Loading synthetic chunks") as bar:
            with cursor.copy(
                f"COPY {SCHEMA}.knowledge_chunk (document_id, position, heading_path, anchor, text, token_count, "
                "checksum, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["bigint", "integer", "varchar", "varchar", "text", "integer", "varchar", "vector"])
                for start in range(0, total, batch):
                    end = min(total, start + batch)
                    noise = self.rng.normal(0, noise_sd, (end - start, DIMENSIONS)).astype(np.float32)
                    block = (
                        mix[start:end] * base[first[start:end]] + (1 - mix[start:end]) * base[second[start:end]] + noise
                    )
                    block /= np.linalg.norm(block, axis=1, keepdims=True)
                    vectors[start:end] = block
                    for offset, vector in enumerate(block):
                        row = start + offset
                        a, b = int(first[row]), int(second[row])
                        words = random.sample(sentences[a], min(3, len(sentences[a]))) + random.sample(
                            sentences[b], min(2, len(sentences[b]))
                        )
                        # A unique code per chunk, like the SKUs and order numbers of a real store.
                        text = ". ".join(words) + f". Reference code SB{row:07d}."
                        heading = (
                            f"Synthetic document {row // CHUNKS_PER_DOCUMENT + 1} › {seeds[a][0].split(' › ')[-1]}"
                        )
                        copy.write_row(
                            (
                                row // CHUNKS_PER_DOCUMENT + 1,
                                row % CHUNKS_PER_DOCUMENT,
                                heading[:500],
                                "",
                                text,
                                len(text) // 4,
                                hashlib.sha256(text.encode()).hexdigest(),
                                vector,
                            )
                        )
                    bar.update(end - start)
        return vectors

    def _recall(self, vectors: np.ndarray, queries: np.ndarray, ef_values: list[int]) -> None:
        exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10] + 1  # ids are row numbers + 1 (identity)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(id) FROM {SCHEMA}.knowledge_chunk")  # noqa: S608 - constant schema name
            offset = cursor.fetchone()[0] - 1
            self.stdout.write(f"HNSW recall@10 vs exact search ({len(queries)} queries):")
            for ef in ef_values:
                cursor.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(ef)])
                found, timings = 0, []
                for query, truth in zip(queries, exact, strict=True):
                    literal = "[" + ",".join(f"{v:.7g}" for v in query) + "]"
                    started = time.perf_counter()
                    cursor.execute(
                        f"SELECT id FROM {SCHEMA}.knowledge_chunk ORDER BY embedding <=> %s::vector LIMIT 10",  # noqa: S608
                        [literal],
                    )
                    ids = {row[0] - offset for row in cursor.fetchall()}
                    timings.append((time.perf_counter() - started) * 1000)
                    found += len(ids & set(truth.tolist()))
                self.stdout.write(
                    f"  ef_search={ef:<4} recall@10={found / (10 * len(queries)):.3f}  "
                    f"p50={percentile(timings, 50):.2f} ms  p95={percentile(timings, 95):.2f} ms"
                )

    def _latency(self, questions: list[str], vectors: np.ndarray) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"SET search_path TO {SCHEMA}, {self.home}")
        try:
            for question, vector in list(zip(questions, vectors, strict=True))[:20]:  # warm caches
                selectors.chunk_search(query=question, query_embedding=vector)
            # Customers' searches filter to public kinds (a fifth of the synthetic documents are
            # resolved tickets); staff search every kind without the filter.
            timings: dict[Audience, list[float]] = {Audience.CUSTOMER: [], Audience.STAFF: []}
            for _ in range(3):
                for audience, spent in timings.items():
                    for question, vector in zip(questions, vectors, strict=True):
                        started = time.perf_counter()
                        result = selectors.chunk_search(query=question, query_embedding=vector, k=5, audience=audience)
                        spent.append((time.perf_counter() - started) * 1000)
                        assert result.hits, question
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET search_path")
        for audience, spent in timings.items():
            self.stdout.write(
                f"Hybrid chunk_search as {audience} (k=5, embedding excluded, {len(spent)} searches): "
                f"p50={percentile(spent, 50):.2f} ms  p95={percentile(spent, 95):.2f} ms  max={max(spent):.2f} ms"
            )

    # --- ingestion ---------------------------------------------------------------------

    def _write_corpus(self, folder: Path, count: int) -> None:
        """Real help-center sections recombined into `count` new articles."""
        sections: list[str] = []
        for path in sorted(CONTENT_DIR.glob("*.md")):
            body = split_front_matter(path.read_text())[1]
            sections += ["## " + part.strip() for part in body.split("\n## ")[1:]]
        for number in range(1, count + 1):
            chosen = random.sample(sections, 8)
            text = f"---\ntitle: Store guide {number}\nkind: manual\n---\n\nGuide {number} gathers answers for customers.\n\n"
            folder.joinpath(f"guide-{number}.md").write_text(text + "\n\n".join(chosen) + "\n")

    def _sample_texts(self, folder: Path) -> list[str]:
        """The chunk texts the ingestion will embed, computed without writing anything."""
        texts = []
        for path in sorted(folder.glob("*.md")):
            parsed = parse_document(path.read_text(), source_format="markdown")
            texts += [plan.embedded_text for plan in _plan_chunks(parsed)]
        return texts

    def _ingestion(self, options: dict[str, Any]) -> None:
        folder = Path(tempfile.mkdtemp(prefix="kb-bench-"))
        try:
            self._write_corpus(folder, options["ingest_documents"])
            with connection.cursor() as cursor:
                cursor.execute(f"DROP SCHEMA IF EXISTS {INGEST_SCHEMA} CASCADE")
                cursor.execute(f"CREATE SCHEMA {INGEST_SCHEMA}")
                for table in ("knowledge_document", "knowledge_chunk", "knowledge_lexemefrequency"):
                    cursor.execute(f"CREATE TABLE {INGEST_SCHEMA}.{table} (LIKE {self.home}.{table} INCLUDING ALL)")
                cursor.execute(f"SET search_path TO {INGEST_SCHEMA}, {self.home}")
            embed_texts(["warm up the model"])
            # The raw encode rate is measured before and after the ingestion and averaged, so
            # load from other processes on a shared machine skews both sides alike.
            sample = self._sample_texts(folder)
            started = time.perf_counter()
            embed_texts(sample)
            encode_before = time.perf_counter() - started
            with override_settings(DEBUG=False):
                started = time.perf_counter()
                first = document_ingest_path(path=folder)
                ingest_seconds = time.perf_counter() - started
                texts = [chunk.embedded_text for chunk in Chunk.objects.order_by("document_id", "position")]
                started = time.perf_counter()
                again = document_ingest_path(path=folder)
                reingest_seconds = time.perf_counter() - started
                documents = Document.objects.count()
            started = time.perf_counter()
            embed_texts(texts)
            encode_seconds = (time.perf_counter() - started + encode_before * len(texts) / len(sample)) / 2
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with connection.cursor() as cursor:
                cursor.execute("RESET search_path")
        ingest_rate = first.chunks_embedded / ingest_seconds
        encode_rate = len(texts) / encode_seconds
        self.stdout.write(
            f"Ingestion: {documents} documents, {first.chunks_embedded} chunks in {ingest_seconds:.1f}s = "
            f"{ingest_rate:.1f} chunks/s; raw model encode of the same {len(texts)} texts {encode_seconds:.1f}s = "
            f"{encode_rate:.1f} chunks/s -> {100 * ingest_rate / encode_rate:.0f}% of the raw encode rate"
        )
        self.stdout.write(
            f"Unchanged re-ingest: {again.unchanged} documents in {reingest_seconds:.2f}s = "
            f"{100 * reingest_seconds / ingest_seconds:.1f}% of the first ingest"
        )
