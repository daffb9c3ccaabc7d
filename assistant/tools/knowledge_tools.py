"""search_knowledge_base: the help center (and catalog documents) through hybrid retrieval.

A thin adapter over knowledge.selectors.chunk_search with its default, customer audience:
what this tool returns goes to the model and on to whoever is chatting, so it covers public
kinds only, whoever the context names. Resolved support tickets quote other customers and
reach staff through their own tools (Suggest reply, the admin's knowledge search).
"""

from __future__ import annotations

from typing import Any

from assistant.tools.registry import ToolContext, tool
from knowledge.selectors import chunk_search
from supportbot.errors import InvalidInput

RESULTS = 5
MAX_QUERY_CHARS = 1000


@tool(
    name="search_knowledge_base",
    description=(
        "Search Cobalt Market's help center (policies, FAQs, how-to guides, product pages) for passages that "
        "answer the customer's question. Returns the top passages, each with a citation (id, title, heading, url) "
        "to quote, and `confident`: when false nothing relevant was found, so say so and offer a human agent "
        "instead of guessing."
    ),
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string", "description": "The question, in the customer's words."}},
        "required": ["query"],
    },
)
def search_knowledge_base(context: ToolContext, *, query: str) -> dict[str, Any]:
    text = " ".join(query.split())
    if not text:
        raise InvalidInput("The query is empty; pass the customer's question.")
    result = chunk_search(query=text[:MAX_QUERY_CHARS], k=RESULTS)
    return {
        "confident": result.confident,
        "results": [
            {
                "citation": hit.citation,
                "kind": hit.kind,
                "text": hit.text,
                "score": hit.score,
                "similarity": hit.similarity,
            }
            for hit in result.hits
        ],
    }
