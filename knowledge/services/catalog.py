"""Catalog documents: one kind="product" document per orders.Product, kept in step with it."""

from __future__ import annotations

from django.utils.text import slugify

from knowledge.models import Document
from knowledge.parsing import parse_document
from knowledge.services.documents import IngestReport, _flush, _known_vectors, _parsed_fields, _Pending, _plan_chunks
from orders.models import Product
from supportbot.celery import app
from supportbot.services import task_enqueue_on_commit

# Queued by name: knowledge.tasks imports these services.
SYNC_PRODUCT_TASK = "knowledge.tasks.sync_product_document"


def _product_markdown(product: Product) -> str:
    """The catalog page of a product as Markdown: what the assistant needs to answer about it.

    Availability is stated as in/out of stock rather than a count, so an ordinary sale does
    not change the text (and force a re-embedding) unless the item sells out.
    """
    lines = [f"{product.name} is a {product.product_type} sold by Cobalt Market (product id {product.product_id})."]
    if product.description.strip():
        lines += ["", product.description.strip()]
    variants = list(product.variants.all())
    lines += ["", "## Options and prices", ""]
    if not variants:
        lines.append("This product has no items for sale at the moment.")
    for variant in variants:
        options = ", ".join(f"{key} {value}" for key, value in variant.options.items()) or "standard"
        state = "in stock" if variant.available else "out of stock"
        lines.append(f"- Item {variant.item_id}: {options}. Price ${variant.price:,.2f}, {state}.")
    option_names = sorted({str(key) for variant in variants for key in variant.options})
    if option_names:
        lines += [
            "",
            "## Choosing options",
            "",
            f"Choose {', '.join(option_names)} on the product page before adding it to your cart.",
        ]
    return "\n".join(lines) + "\n"


def product_document_sync(*, product_id: str, report: IngestReport | None = None) -> Document | None:
    """Create or update the kind="product" document for a catalog product.

    Returns None (and deletes the document) when the product no longer exists. Unchanged
    products are a no-op; changed ones re-embed only the sections whose text changed. What
    happened is added to `report` when given. The full-text statistics are not refreshed here
    (see chunk_statistics_refresh_if_stale).
    """
    report = report if report is not None else IngestReport()
    slug = slugify(f"product-{product_id}")[:200]
    product = Product.objects.filter(product_id=product_id).prefetch_related("variants").first()
    if product is None:
        _deleted, by_model = Document.objects.filter(slug=slug, kind=Document.Kind.PRODUCT).delete()
        report.removed += by_model.get(Document._meta.label, 0)
        return None
    body = _product_markdown(product)
    parsed = parse_document(body, source_format=Document.Format.MARKDOWN, title=product.name)
    fields = _parsed_fields(
        parsed,
        body=body,
        source_format=Document.Format.MARKDOWN,
        kind=Document.Kind.PRODUCT,
        slug=slug,
        product_id=product.product_id,
        source=f"catalog:{product.product_id}",
    )
    existing = Document.objects.filter(slug=slug).first()
    if existing is not None and existing.checksum == fields["checksum"]:
        report.unchanged += 1
        return existing
    plans = _plan_chunks(parsed)
    existing_id = existing.pk if existing else None
    return _flush([_Pending(fields, plans, existing_id, _known_vectors(existing_id, plans))], report)[0]


def product_document_sync_enqueue(*, product_id: str) -> None:
    """Queue a catalog-document refresh after the caller's transaction commits (for orders services)."""
    task_enqueue_on_commit(app.signature(SYNC_PRODUCT_TASK), product_id)
