"""Help-center knowledge for one turn: searched once, the query embedding kept for the brain."""

from __future__ import annotations

from assistant.types import RetrievedContext
from knowledge.selectors import chunk_search, embed_query

KNOWLEDGE_HITS = 4


def retrieve_knowledge(text: str) -> RetrievedContext:
    """Help-center hits for the customer's message; the query embedding is kept for the brain to reuse."""
    embedding = embed_query(text)
    result = chunk_search(query=text, query_embedding=embedding, k=KNOWLEDGE_HITS)
    return RetrievedContext(hits=list(result.hits), confident=bool(result.confident), query_embedding=embedding)
