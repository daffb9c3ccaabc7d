"""The public help center over the real HTTP stack."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from knowledge.models import Document
from knowledge.services import document_ingest_path
from knowledge.tests.conftest import SHIPPING, TICKET, WARRANTY

pytestmark = pytest.mark.django_db


@pytest.fixture
def articles(write_article):
    write_article("shipping.md", SHIPPING)
    write_article("ticket-4411.md", TICKET)
    document_ingest_path(path=write_article("warranty.md", WARRANTY).parent)


def test_index_lists_public_articles_only(client, articles):
    response = client.get(reverse("knowledge:index"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/help/shipping/"' in body and 'href="/help/warranty/"' in body
    assert "espresso" not in body  # the resolved ticket is not a public article
    assert 'role="search"' in body and 'name="q"' in body


def test_search_box_runs_real_retrieval_and_links_citations(client, articles):
    response = client.get(reverse("knowledge:index"), {"q": "my parcel never showed up"})
    body = response.content.decode()
    assert response.status_code == 200
    first_link = re.search(r'<ol class="search-results">\s*<li>\s*<a href="([^"]+)"', body)
    assert first_link and first_link.group(1) == "/help/shipping/#lost-packages"


def test_htmx_search_returns_only_the_results_fragment(client, articles):
    response = client.get(reverse("knowledge:index"), {"q": "warranty length"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<h2>Results for" in body and "<html" not in body and "All articles" not in body


def test_stop_word_search_says_nothing_matched(client, articles):
    response = client.get(reverse("knowledge:index"), {"q": "the and of"})
    assert response.status_code == 200
    assert "No articles match" in response.content.decode()


def test_article_page_renders_sanitized_html_with_every_citation_anchor(client, articles):
    document = Document.objects.get(slug="shipping")
    response = client.get(document.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Shipping and lost parcels</h1>" in body
    for anchor in document.chunks.exclude(anchor="").values_list("anchor", flat=True):
        assert f'id="{anchor}"' in body
        assert f'href="#{anchor}"' in body  # the table of contents


def test_resolved_tickets_and_unknown_slugs_are_not_found(client, articles):
    assert client.get("/help/ticket-4411/").status_code == 404
    assert client.get("/help/no-such-article/").status_code == 404
