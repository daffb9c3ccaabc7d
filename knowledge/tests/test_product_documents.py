"""Catalog documents built from orders.Product / Variant."""

from __future__ import annotations

from decimal import Decimal

import pytest

from knowledge.models import Chunk, Document
from knowledge.selectors import chunk_search
from knowledge.services import product_document_sync
from knowledge.tasks import sync_product_document
from orders.tests.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def kettle():
    product = ProductFactory(
        product_id="8310926033",
        name="Electric Kettle",
        product_type="Electric Kettle",
        description="A fast-boiling kettle with automatic shut-off.",
    )
    VariantFactory(
        product=product,
        item_id="9472539378",
        options={"capacity": "1.5L", "material": "glass"},
        price=Decimal("143.89"),
        stock_quantity=4,
    )
    VariantFactory(
        product=product,
        item_id="2698416822",
        options={"capacity": "2L", "material": "steel"},
        price=Decimal("149.45"),
        stock_quantity=0,
    )
    return product


def test_product_document_describes_name_type_options_prices_and_stock(kettle):
    document = product_document_sync(product_id="8310926033")
    assert document is not None
    assert (document.kind, document.slug, document.product_id, document.title) == (
        "product",
        "product-8310926033",
        "8310926033",
        "Electric Kettle",
    )
    text = "\n".join(document.chunks.values_list("text", flat=True))
    assert "automatic shut-off" in text
    assert "Item 9472539378: capacity 1.5L, material glass. Price $143.89, in stock." in text
    assert "Item 2698416822: capacity 2L, material steel. Price $149.45, out of stock." in text


def test_unchanged_product_is_a_no_op_and_a_stock_change_reembeds_one_section(kettle):
    document = product_document_sync(product_id="8310926033")
    assert document is not None
    ids = set(Chunk.objects.values_list("pk", flat=True))
    indexed_at = document.indexed_at

    # Selling one of four does not change what the document says.
    kettle.variants.filter(item_id="9472539378").update(stock_quantity=3)
    assert product_document_sync(product_id="8310926033").indexed_at == indexed_at

    kettle.variants.filter(item_id="2698416822").update(stock_quantity=6)
    product_document_sync(product_id="8310926033")
    after = set(Chunk.objects.values_list("pk", flat=True))
    assert len(ids - after) == 1 and len(after - ids) == 1  # only the options section changed
    assert "2L, material steel. Price $149.45, in stock" in Chunk.objects.get(anchor="options-and-prices").text


def test_product_search_by_item_id_and_by_product_filter(kettle):
    product_document_sync(product_id="8310926033")
    hit = chunk_search(query="is item 2698416822 available?", k=3).hits[0]
    assert (hit.document_slug, hit.text_rank) == ("product-8310926033", 1)
    assert hit.citation["url"] == "/help/product-8310926033/#options-and-prices"
    scoped = chunk_search(query="glass", product_id="8310926033")
    assert {h.document_slug for h in scoped.hits} == {"product-8310926033"}


def test_deleted_product_removes_its_document(kettle):
    product_document_sync(product_id="8310926033")
    kettle.delete()
    assert sync_product_document.run("8310926033") is None
    assert not Document.objects.filter(slug="product-8310926033").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_restocking_a_sold_out_option_refreshes_the_catalog_document_through_a_worker(kettle, celery_worker):
    import time

    from orders.services import variant_set_stock

    product_document_sync(product_id="8310926033")
    variant_set_stock(item_id="2698416822", stock_quantity=5)  # out of stock -> in stock
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        text = "\n".join(Chunk.objects.filter(document__slug="product-8310926033").values_list("text", flat=True))
        if "Price $149.45, in stock" in text:
            break
        time.sleep(0.2)
    assert "Item 2698416822: capacity 2L, material steel. Price $149.45, in stock." in text


def test_ingesting_the_catalog_refreshes_the_search_word_weights(kettle, tmp_path):
    from django.core.management import call_command

    from knowledge.models import LexemeFrequency

    call_command("ingest_knowledge", str(tmp_path), catalog=True, verbosity=0)
    # The kettle's page is the only chunk set: its words are in the sampled frequencies now,
    # not after the next article ingest.
    assert {"kettl", "shut"} <= set(LexemeFrequency.objects.values_list("lexeme", flat=True))


def _flush_table_statistics():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # sent when this session next goes idle
        cursor.execute("SELECT 1")


@pytest.mark.django_db(transaction=True)
def test_the_periodic_job_refreshes_the_word_weights_only_after_chunks_changed(kettle):
    from knowledge.models import LexemeFrequency
    from knowledge.tasks import refresh_chunk_statistics

    product_document_sync(product_id="8310926033")
    _flush_table_statistics()
    assert refresh_chunk_statistics.run() is True
    assert "kettl" in set(LexemeFrequency.objects.values_list("lexeme", flat=True))
    _flush_table_statistics()
    assert refresh_chunk_statistics.run() is False  # nothing changed since

    ProductFactory(product_id="5550001111", name="Zephyr Scarf", product_type="Scarf", description="Soft merino wool.")
    product_document_sync(product_id="5550001111")
    _flush_table_statistics()
    assert refresh_chunk_statistics.run() is True
    assert {"kettl", "zephyr", "merino"} <= set(LexemeFrequency.objects.values_list("lexeme", flat=True))


@pytest.mark.django_db
def test_the_word_weights_job_is_scheduled():
    from django_celery_beat.models import PeriodicTask

    periodic = PeriodicTask.objects.get(task="knowledge.tasks.refresh_chunk_statistics")
    assert periodic.enabled and periodic.interval.every == 10 and periodic.interval.period == "minutes"


def test_ingesting_the_catalog_removes_pages_of_products_deleted_without_the_hooks(kettle, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    from orders.models import Product

    product_document_sync(product_id="8310926033")
    Product.objects.filter(pk=kettle.pk).delete()  # a raw delete: no catalog hook ran
    out = StringIO()
    call_command("ingest_knowledge", str(tmp_path), catalog=True, verbosity=0, stdout=out)
    assert not Document.objects.filter(slug="product-8310926033").exists()
    assert "1 of deleted products removed" in out.getvalue()
