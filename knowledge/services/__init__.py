"""Writes for the knowledge base (see documents.py for ingestion, catalog.py for products)."""

from knowledge.services.catalog import product_document_sync, product_document_sync_enqueue
from knowledge.services.documents import (
    CONTENT_DIR,
    FORMATS_BY_SUFFIX,
    IngestReport,
    chunk_statistics_refresh,
    chunk_statistics_refresh_if_stale,
    document_checksum,
    document_ingest_path,
    document_reindex,
    document_reindex_enqueue,
    knowledge_files,
    read_source_file,
    source_label,
)

__all__ = [
    "CONTENT_DIR",
    "FORMATS_BY_SUFFIX",
    "IngestReport",
    "chunk_statistics_refresh",
    "chunk_statistics_refresh_if_stale",
    "document_checksum",
    "document_ingest_path",
    "document_reindex",
    "document_reindex_enqueue",
    "knowledge_files",
    "product_document_sync",
    "product_document_sync_enqueue",
    "read_source_file",
    "source_label",
]
