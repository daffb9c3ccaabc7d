"""The public help center: article list with search, and article pages (citation targets)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import retarget
from django_ratelimit.core import is_ratelimited

from knowledge import selectors

SEARCH_RATE_LIMITED = "You're searching faster than we can look things up. Please wait a minute, then search again."


def _search_rate(group: str, request: HttpRequest) -> str:
    # Each search embeds the query text: generous for customers, tighter per IP for anyone else.
    if request.user.is_authenticated:
        return str(settings.HELP_SEARCH_USER_RATE_LIMIT)
    return str(settings.HELP_SEARCH_RATE_LIMIT)


def help_center(request: HttpRequest) -> HttpResponse:
    query = " ".join(request.GET.get("q", "").split())[:500]
    limited = bool(query) and is_ratelimited(
        request, group="knowledge.search", key="user_or_ip", rate=_search_rate, increment=True
    )
    result = selectors.chunk_search(query=query, k=8) if query and not limited else None
    context = {
        "documents": selectors.documents_for_help_center(),
        "query": query,
        "result": result,
        "rate_limited": SEARCH_RATE_LIMITED if limited else "",
    }
    htmx = getattr(request, "htmx", False)
    template = "knowledge/help_center.html#results" if htmx else "knowledge/help_center.html"
    response = render(request, template, context, status=429 if limited else 200)
    # htmx swaps an error status only into a target the response names (static/js/chat.js).
    return retarget(response, "#search-results") if limited and htmx else response


def article(request: HttpRequest, slug: str) -> HttpResponse:
    document = selectors.document_public_get(slug=slug)
    if document is None:
        raise Http404("No such article.")
    return render(
        request,
        "knowledge/article.html",
        {"document": document, "sections": selectors.article_sections(document=document)},
    )
