"""Background jobs on the embeddings queue (every task named knowledge.* is routed there)."""

from __future__ import annotations

from celery import shared_task

from knowledge import services


@shared_task(name="knowledge.tasks.reindex_document", acks_late=True)
def reindex_document(document_id: int) -> str:
    """Re-chunk and re-embed one document from its stored body. Safe to run twice."""
    return services.document_reindex(document_id=document_id).summary()


@shared_task(name="knowledge.tasks.sync_product_document", acks_late=True)
def sync_product_document(product_id: str) -> int | None:
    """Rebuild a product's catalog document from orders.Product/Variant. Safe to run twice."""
    document = services.product_document_sync(product_id=product_id)
    return document.pk if document else None


@shared_task(name="knowledge.tasks.refresh_chunk_statistics")
def refresh_chunk_statistics() -> bool:
    """Periodic: the full-text term weights follow chunk changes no ingest refreshed (catalog syncs)."""
    return services.chunk_statistics_refresh_if_stale()
