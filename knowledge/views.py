"""The public help center: article list with search, and article pages (citation targets)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from knowledge import selectors


def help_center(request: HttpRequest) -> HttpResponse:
    query = " ".join(request.GET.get("q", "").split())[:500]
    result = selectors.chunk_search(query=query, k=8) if query else None
    context = {"documents": selectors.documents_for_help_center(), "query": query, "result": result}
    template = "knowledge/help_center.html#results" if getattr(request, "htmx", False) else "knowledge/help_center.html"
    return render(request, template, context)


def article(request: HttpRequest, slug: str) -> HttpResponse:
    document = selectors.document_public_get(slug=slug)
    if document is None:
        raise Http404("No such article.")
    return render(request, "knowledge/article.html", {"document": document, "sections": selectors.article_sections(document=document)})
