"""Staff tools: documents with their index state, re-indexing, and a retrieval search box.

The search page runs the same chunk_search the assistant uses, with every score shown, so
staff can see what the assistant would find for a question and why.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from knowledge import selectors, services
from knowledge.models import Audience, Chunk, Document


class ChunkInline(admin.TabularInline):
    model = Chunk
    extra = 0
    can_delete = False
    show_change_link = False
    fields = ("position", "heading_path", "anchor", "token_count", "text")
    readonly_fields = fields
    ordering = ("position",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "chunk_count", "indexed_at", "source")
    list_filter = ("kind",)
    search_fields = ("title", "slug", "source", "product_id")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("indexed_at", "checksum", "created_at", "updated_at")
    fields = ("title", "slug", "kind", "source_format", "source", "product_id", "body", *readonly_fields)
    inlines = [ChunkInline]
    actions = ["reindex"]
    change_list_template = "admin/knowledge/document/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return super().get_queryset(request).annotate(chunk_total=Count("chunks"))

    @admin.display(description="Chunks", ordering="chunk_total")
    def chunk_count(self, document: Document) -> int:
        return getattr(document, "chunk_total", 0)

    def save_model(self, request: HttpRequest, obj: Document, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.document_reindex_enqueue(document_id=obj.pk)
        messages.info(request, f"“{obj.title}” will be re-indexed in the background.")

    @admin.action(description="Re-index selected documents")
    def reindex(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for document_id in ids:
            services.document_reindex_enqueue(document_id=document_id)
        self.message_user(request, f"Queued {len(ids)} document(s) for re-indexing.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        search = path("search/", self.admin_site.admin_view(self.search_view), name="knowledge_document_search")
        return [search, *super().get_urls()]

    def search_view(self, request: HttpRequest) -> HttpResponse:
        query = " ".join(request.GET.get("q", "").split())[:1000]
        kinds = [kind for kind in request.GET.getlist("kind") if kind in Document.Kind.values]
        result = (
            selectors.chunk_search(query=query, k=10, kinds=kinds or None, audience=Audience.STAFF) if query else None
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Search the knowledge base",
            "query": query,
            "kinds": Document.Kind.choices,
            "selected_kinds": kinds,
            "result": result,
        }
        return TemplateResponse(request, "admin/knowledge/document/search.html", context)
