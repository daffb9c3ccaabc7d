"""Staff admin: listing, the retrieval search page, and re-indexing through a real worker."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from knowledge.models import Chunk, Document
from knowledge.services import document_ingest_path
from knowledge.tests.conftest import SHIPPING, WARRANTY


@pytest.mark.django_db
def test_changelist_shows_kind_chunk_count_and_last_indexed(admin_client, write_article):
    document_ingest_path(path=write_article("shipping.md", SHIPPING))
    response = admin_client.get(reverse("admin:knowledge_document_changelist"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Shipping and lost parcels" in body
    assert '<td class="field-chunk_count">3</td>' in body
    assert '<td class="field-kind">Policy</td>' in body
    assert 'class="field-indexed_at nowrap"' in body
    assert reverse("admin:knowledge_document_search") in body


@pytest.mark.django_db
def test_search_page_runs_real_retrieval_with_scores(admin_client, write_article):
    write_article("shipping.md", SHIPPING)
    document_ingest_path(path=write_article("warranty.md", WARRANTY).parent)
    response = admin_client.get(reverse("admin:knowledge_document_search"), {"q": "my parcel never came"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Shipping and lost parcels › Lost packages" in body
    assert "/help/shipping/#lost-packages" in body
    assert "Confident" in body
    filtered = admin_client.get(
        reverse("admin:knowledge_document_search"), {"q": "my parcel never came", "kind": "faq"}
    )
    assert "Lost packages" not in filtered.content.decode()


@pytest.mark.django_db
def test_search_page_is_staff_only(client):
    response = client.get(reverse("admin:knowledge_document_search"), {"q": "refund"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_reindex_action_enqueues_a_task_that_a_real_worker_runs(admin_client, write_article, celery_worker):
    document_ingest_path(path=write_article("warranty.md", WARRANTY))
    document = Document.objects.get(slug="warranty")
    before = document.indexed_at
    # Edited behind admin's back (e.g. bulk SQL): only a re-index brings the chunks up to date.
    Document.objects.filter(pk=document.pk).update(
        body=document.body + "\n## Accidental damage\n\nDrops are not covered.\n"
    )

    response = admin_client.post(
        reverse("admin:knowledge_document_changelist"),
        {"action": "reindex", "_selected_action": [document.pk]},
        follow=True,
    )
    assert "Queued 1 document(s) for re-indexing." in response.content.decode()

    deadline = time.monotonic() + 120
    while (
        time.monotonic() < deadline and not Chunk.objects.filter(document=document, anchor="accidental-damage").exists()
    ):
        time.sleep(0.5)
    assert Chunk.objects.filter(document=document, anchor="accidental-damage").exists(), celery_worker.log()[-3000:]
    document.refresh_from_db()
    assert document.indexed_at > before
    assert "knowledge.tasks.reindex_document" in celery_worker.log()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_saving_in_admin_reindexes_in_the_background(admin_client, write_article, celery_worker):
    document_ingest_path(path=write_article("warranty.md", WARRANTY))
    document = Document.objects.get(slug="warranty")
    response = admin_client.post(
        reverse("admin:knowledge_document_change", args=[document.pk]),
        {
            "title": "Warranty and repairs",
            "slug": "warranty",
            "kind": "faq",
            "source_format": "markdown",
            "source": document.source,
            "product_id": "",
            "body": document.body,
            "chunks-TOTAL_FORMS": "0",
            "chunks-INITIAL_FORMS": "0",
            "chunks-MIN_NUM_FORMS": "0",
            "chunks-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    deadline = time.monotonic() + 120
    while (
        time.monotonic() < deadline
        and not Chunk.objects.filter(heading_path__startswith="Warranty and repairs").exists()
    ):
        time.sleep(0.5)
    assert Chunk.objects.filter(
        document=document, heading_path="Warranty and repairs › How long is the warranty?"
    ).exists()
