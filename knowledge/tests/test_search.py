"""Hybrid retrieval on the real database with the real embedding model."""

from __future__ import annotations

import pytest

from knowledge.models import Audience, Document, LexemeFrequency
from knowledge.selectors import (
    chunk_search,
    edit_distance,
    embed_query,
    lexeme_corrections,
    truncate_query,
    typo_candidates,
    without_bare_contractions,
)
from knowledge.services import document_ingest_path
from knowledge.tests.conftest import SHIPPING, TICKET, WARRANTY

pytestmark = pytest.mark.django_db

CATALOG = """---
title: Espresso machine
kind: product
---

## Variants

- Item 1008292230: 15 bar pressure, stainless steel, $1,100.
- Item 7774234341: 9 bar pressure, black, $1,230.
"""


@pytest.fixture
def corpus(write_article):
    for name, text in (
        ("shipping.md", SHIPPING),
        ("warranty.md", WARRANTY),
        ("ticket-4411.md", TICKET),
        ("espresso.md", CATALOG),
    ):
        write_article(name, text)
    document_ingest_path(
        path=write_article(
            "account.md",
            "---\ntitle: Account help\nkind: manual\n---\n\n## Resetting your password\n\nUse the Forgot password link on the login page; the reset email arrives within minutes.\n",
        ).parent
    )
    Document.objects.filter(slug="espresso").update(product_id="4354588079")


def test_exact_order_number_is_found_by_full_text(corpus):
    result = chunk_search(query="what happened with my order W5527310?", k=3, audience=Audience.STAFF)
    # Only the ticket (staff-only) contains the number: full text ranks it first, and fusion
    # keeps it at the top next to the semantically closest article ("Lost packages").
    ticket = next(hit for hit in result.hits[:2] if hit.document_slug == "ticket-4411")
    assert ticket.text_rank == 1
    assert ticket.citation["url"] == ""  # resolved tickets have no public page


def test_exact_item_id_is_found(corpus):
    result = chunk_search(query="is 7774234341 still sold", k=3)
    assert result.hits[0].document_slug == "espresso"
    assert result.hits[0].text_rank == 1


def test_paraphrase_without_shared_words_is_found_by_the_vector_ranking(corpus):
    query = "my parcel never showed up at my door"
    result = chunk_search(query=query, k=3)
    top = result.hits[0]
    assert (top.document_slug, top.heading) == ("shipping", "Lost packages")
    assert top.vector_rank == 1
    assert result.confident
    assert top.citation == {
        "id": "shipping#lost-packages",
        "title": "Shipping and lost parcels",
        "heading": "Lost packages",
        "url": "/help/shipping/#lost-packages",
    }


def test_hybrid_scores_are_ordered_and_scaled(corpus):
    result = chunk_search(query="how long is the warranty on electronics", k=5)
    scores = [hit.score for hit in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert result.hits[0].document_slug == "warranty"
    # Both retrievers ranked it first, so it has the best possible fused score.
    assert (result.hits[0].vector_rank, result.hits[0].text_rank, result.top_score) == (1, 1, 1.0)


def test_filters_by_kind_and_product(corpus):
    result = chunk_search(query="how long is the warranty", kinds=["policy", "manual"], k=10)
    assert result.hits and {hit.kind for hit in result.hits} <= {"policy", "manual"}
    product = chunk_search(query="pressure and price", product_id="4354588079", k=10)
    assert product.hits and {hit.document_slug for hit in product.hits} == {"espresso"}
    assert chunk_search(query="pressure and price", product_id="0000000000").hits == []


def test_unknown_kind_is_refused_with_a_clear_message(corpus):
    from supportbot.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Unknown document kind"):
        chunk_search(query="warranty", kinds=["blog"])


def test_off_topic_question_is_not_confident(corpus):
    result = chunk_search(query="what is a good recipe for banana bread with walnuts")
    assert not result.confident


def test_stop_words_or_symbols_return_nothing_without_querying(corpus, django_assert_num_queries):
    with django_assert_num_queries(0):
        for query in ("the of and is it", "?!?! ### ...", "", "   "):
            result = chunk_search(query=query)
            assert (result.hits, result.confident, result.top_score) == ([], False, 0.0)


def test_over_long_query_is_truncated_to_the_model_limit(corpus):
    from knowledge.embeddings import count_tokens, max_tokens

    long_query = "my parcel never showed up at my door even though tracking says it was delivered. " * 80
    assert count_tokens(truncate_query(long_query)) <= max_tokens() - 2
    result = chunk_search(query=long_query)
    assert result.hits and result.hits[0].document_slug == "shipping"


def test_precomputed_embedding_is_reused_and_search_is_two_queries(corpus, django_assert_max_num_queries):
    vector = embed_query("reset my password")
    with django_assert_max_num_queries(2):
        result = chunk_search(query="reset my password", query_embedding=vector)
    assert result.hits[0].document_slug == "account"


def test_a_product_page_counts_less_than_an_article_but_still_wins_when_named(write_article):
    write_article(
        "returns.md",
        "---\ntitle: Returns\nkind: policy\n---\n\n## Returning an item\n\n"
        "You can return a jacket or any other item within 30 days for a refund to the original payment method.\n",
    )
    document_ingest_path(
        path=write_article(
            "jacket.md",
            "---\ntitle: Storm Jacket\nkind: product\n---\n\n## About\n\n"
            "The Storm Jacket is a waterproof shell with taped seams. Returning it works like any item.\n",
        ).parent
    )
    policy = chunk_search(query="can I return a jacket I bought and get my money back", k=2)
    assert policy.hits[0].document_slug == "returns", [(hit.document_slug, hit.score) for hit in policy.hits]
    named = chunk_search(query="are the seams on the storm jacket taped, is it waterproof", k=2)
    assert named.hits[0].document_slug == "jacket" and named.hits[0].kind == "product"
    assert named.hits[0].score == 1.0  # clearly the closest: not down-weighted
    assert [hit.score for hit in policy.hits if hit.kind == "product"] == [
        round(policy.hits[1].score, 4)
    ] and policy.hits[1].score < 0.7


def test_full_text_weighs_a_rare_word_above_a_common_one(write_article):
    for number in range(12):
        write_article(
            f"note-{number}.md",
            f"---\ntitle: Note {number}\nkind: policy\n---\n\n## Receipts\n\n"
            f"Receipt {number}: every order shows its order number on the receipt.\n",
        )
    path = write_article(
        "cover.md", "---\ntitle: Cover\nkind: policy\n---\n\n## Repairs\n\nThe warranty covers repairs for two years.\n"
    )
    document_ingest_path(path=path.parent)
    # chunk_statistics_refresh (run by the ingest) copied ANALYZE's lexeme frequencies.
    frequencies = dict(LexemeFrequency.objects.values_list("lexeme", "frequency"))
    assert frequencies["order"] > 0.8 and frequencies["order"] > frequencies.get("warranti", 0.0)
    result = chunk_search(query="order warranty", k=3, mode="text")
    assert result.hits[0].document_slug == "cover"


def test_edit_distance_counts_an_adjacent_swap_as_one_edit():
    assert edit_distance("adress", "address") == 1
    assert edit_distance("reciev", "receiv") == 1
    assert edit_distance("refnd", "refund") == 1
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3


def test_only_words_the_embedding_model_does_not_know_are_typo_candidates():
    # "sofa" and "snow" are words the help center may never use, but they are words.
    assert typo_candidates("my adress, the sofa, the snow and cancle dont W5527310") == ["adress", "cancle"]
    # Nor are contractions typed without an apostrophe; full text leaves them out.
    assert without_bare_contractions("Whats the fee, i dont get it").split() == ["the", "fee,", "i", "get", "it"]


@pytest.fixture
def refund_corpus(write_article):
    write_article(
        "refunds.md",
        "---\ntitle: Refund timing\nkind: policy\n---\n\n## When the refund arrives\n\n"
        "A refund reaches your card within five business days after the return is received.\n",
    )
    write_article(
        "addresses.md",
        "---\ntitle: Addresses\nkind: policy\n---\n\n## Changing the delivery address\n\n"
        "You can change the address of an order until it ships.\n",
    )
    document_ingest_path(
        path=write_article(
            "orders.md",
            "---\ntitle: Order emails\nkind: policy\n---\n\n## Emails about your order\n\n"
            "Every order sends a confirmation email and a shipping email.\n",
        ).parent
    )


def test_a_misspelled_word_is_matched_by_full_text_after_correction(refund_corpus, django_assert_max_num_queries):
    result = chunk_search(query="where is my refnd", k=3, mode="text")
    assert result.hits and result.hits[0].document_slug == "refunds"
    result = chunk_search(query="i typed the wrong adress", k=3, mode="text")
    assert result.hits and result.hits[0].document_slug == "addresses"
    # The correction index is cached: a later misspelled search is still two queries.
    vector = embed_query("when does my refnd come")
    with django_assert_max_num_queries(2):
        hybrid = chunk_search(query="when does my refnd come", query_embedding=vector, k=3)
    assert hybrid.hits[0].document_slug == "refunds" and hybrid.hits[0].text_rank == 1


def test_corrections_prefer_the_closest_then_the_most_frequent_known_lexeme(refund_corpus):
    version = "test-" + ",".join(sorted(LexemeFrequency.objects.values_list("lexeme", flat=True)))
    assert lexeme_corrections(["refnd", "adress", "zzzzqq"], vocabulary_version=version) == {
        "refnd": "refund",
        "adress": "address",
    }


def test_a_passage_sharing_only_a_common_word_gets_no_full_text_vote(refund_corpus):
    # "order" is in every passage about orders; the question is about something else.
    query = "my order of garden furniture is missing two chair legs and the table top"
    vector = embed_query(query)
    hybrid = {hit.chunk_id: hit for hit in chunk_search(query=query, query_embedding=vector, k=3).hits}
    alone = {hit.chunk_id: hit for hit in chunk_search(query=query, query_embedding=vector, k=3, mode="vector").hits}
    weak = [hit for hit in hybrid.values() if hit.text_rank is not None]
    assert weak, "full text should have matched the passages about orders"
    for hit in weak:
        # Scores are scaled by the best possible fused score: 1.5/61 in hybrid, 1/61 alone.
        # Equal raw scores mean the full-text rank added nothing.
        assert hit.score * 1.5 == pytest.approx(alone[hit.chunk_id].score, abs=1e-3)
