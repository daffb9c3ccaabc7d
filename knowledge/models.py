"""Help-center documents and their searchable chunks.

A Document keeps its own source text (Markdown, HTML or plain text) and the sanitized HTML
rendered from it, so the help center can show it and a re-index never needs the original file.
Its chunks carry the embedding (HNSW cosine index) and a generated tsvector (GIN index) that
the hybrid search in selectors.py reads.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.urls import reverse
from pgvector.django import HnswIndex, VectorField

from knowledge.embeddings import DIMENSIONS


class Audience(StrEnum):
    """Who a search or an article page serves, which decides the document kinds it may read."""

    CUSTOMER = "customer"  # customers, guests and anonymous visitors: Document.PUBLIC_KINDS only
    STAFF = "staff"  # support staff's own tools (Suggest reply, the admin search): every kind


class Document(models.Model):
    class Kind(models.TextChoices):
        POLICY = "policy", "Policy"
        FAQ = "faq", "FAQ"
        MANUAL = "manual", "Manual"
        PRODUCT = "product", "Product"
        RESOLVED_TICKET = "resolved-ticket", "Resolved ticket"

    class Format(models.TextChoices):
        MARKDOWN = "markdown", "Markdown"
        HTML = "html", "HTML"
        TEXT = "text", "Plain text"

    # The allow-list of what customers may read, in search results, the assistant's context and
    # article pages. Resolved tickets quote other customers, so they help staff only. A kind
    # added to Kind above stays staff-only until it is listed here.
    PUBLIC_KINDS = (Kind.POLICY, Kind.FAQ, Kind.MANUAL, Kind.PRODUCT)

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.POLICY, db_index=True)
    source = models.CharField(max_length=500, blank=True, help_text="File path or URL the document came from.")
    source_format = models.CharField(max_length=10, choices=Format.choices, default=Format.MARKDOWN)
    body = models.TextField(help_text="Source text; saving re-indexes the document in the background.")
    html = models.TextField(blank=True, editable=False, help_text="Sanitized HTML rendered from the body.")
    summary = models.CharField(max_length=300, blank=True, editable=False)
    # Catalog documents name their product so retrieval can be narrowed to it.
    product_id = models.CharField(max_length=40, blank=True, db_index=True)
    checksum = models.CharField(max_length=64, blank=True, editable=False)
    indexed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("knowledge:article", kwargs={"slug": self.slug})

    @property
    def is_public(self) -> bool:
        return self.kind in self.PUBLIC_KINDS

    @classmethod
    def kinds_visible_to(cls, audience: Audience) -> tuple[str, ...]:
        if audience == Audience.STAFF:
            return tuple(cls.Kind.values)
        return tuple(str(kind) for kind in cls.PUBLIC_KINDS)


class Chunk(models.Model):
    """One retrievable passage: a section (or part of a long section) of a document."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    # "Document title › Section › Subsection": embedded and full-text indexed with the text,
    # so a question that only matches a heading still finds the passage.
    heading_path = models.CharField(max_length=500)
    anchor = models.CharField(max_length=200, blank=True, help_text="Heading id on the article page.")
    text = models.TextField()
    token_count = models.PositiveIntegerField()
    checksum = models.CharField(max_length=64, help_text="sha256 of the embedded text.")
    embedding = VectorField(dimensions=DIMENSIONS)
    search_vector = models.GeneratedField(
        expression=SearchVector("heading_path", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document_id", "position"]
        constraints = [
            # Deferred: a re-index renumbers surviving chunks in place inside one transaction.
            models.UniqueConstraint(
                fields=["document", "position"],
                name="knowledge_chunk_unique_position",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]
        indexes = [
            HnswIndex(
                name="knowledge_chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="knowledge_chunk_search_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.heading_path} (#{self.position})"

    @property
    def embedded_text(self) -> str:
        return embedded_text(self.heading_path, self.text)


def embedded_text(heading_path: str, text: str) -> str:
    """What the model embeds for a chunk: its heading path, then its text."""
    return f"{heading_path}\n\n{text}"


class LexemeFrequency(models.Model):
    """Share of chunks containing a lexeme, for the most common lexemes: full text's IDF source.

    A copy of what ANALYZE keeps in pg_stats.most_common_elems for Chunk.search_vector, taken by
    knowledge.services.chunk_statistics_refresh. Searching reads this indexed table instead of
    the pg_stats view, whose privilege checks and array unnesting would run on every search.
    """

    lexeme = models.TextField(primary_key=True)
    frequency = models.FloatField()

    def __str__(self) -> str:
        return f"{self.lexeme}: {self.frequency:.4f}"
