"""`manage.py ingest_knowledge [PATH...]`: index help-center files (default knowledge/content/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from knowledge.models import Document
from knowledge.services import (
    CONTENT_DIR,
    IngestReport,
    chunk_statistics_refresh,
    document_ingest_path,
    knowledge_files,
    product_document_sync,
)
from orders.models import Product
from supportbot.errors import InvalidInput


class Command(BaseCommand):
    help = "Ingest Markdown, HTML and text files into the knowledge base (unchanged files are skipped)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", type=Path, help=f"Files or directories (default: {CONTENT_DIR}).")
        parser.add_argument(
            "--kind", choices=Document.Kind.values, help="Kind for files whose front matter names none."
        )
        parser.add_argument(
            "--catalog", action="store_true", help="Also build/refresh one document per catalog product."
        )
        parser.add_argument("--no-prune", action="store_true", help="Keep documents whose file left the directory.")

    def handle(self, *args: Any, **options: Any) -> None:
        paths: list[Path] = options["paths"] or [CONTENT_DIR]
        total = IngestReport()
        count = sum(len(knowledge_files(p)) for p in paths if p.exists())
        with tqdm(total=count, unit="file", desc="Ingesting", disable=count < 2 or options["verbosity"] < 1) as bar:
            for path in paths:
                try:
                    report = document_ingest_path(
                        path=path, kind=options["kind"], prune=not options["no_prune"], on_file=lambda _: bar.update()
                    )
                except InvalidInput as exc:
                    raise CommandError(exc.message) from exc
                for name in (
                    "added",
                    "updated",
                    "unchanged",
                    "removed",
                    "chunks_embedded",
                    "chunks_kept",
                    "chunks_removed",
                ):
                    setattr(total, name, getattr(total, name) + getattr(report, name))
                total.skipped.extend(report.skipped)
        if options["catalog"]:
            product_ids = list(Product.objects.order_by("product_id").values_list("product_id", flat=True))
            # Pages of products deleted behind the catalog hooks' back go too (the sync deletes them).
            gone = Document.objects.filter(kind=Document.Kind.PRODUCT).exclude(product_id__in=product_ids)
            stale = sorted(set(gone.values_list("product_id", flat=True)))
            catalog = IngestReport()
            for product_id in tqdm(
                product_ids + stale, unit="product", desc="Catalog", disable=options["verbosity"] < 1
            ):
                product_document_sync(product_id=product_id, report=catalog)
            if catalog.added or catalog.updated or catalog.removed:
                chunk_statistics_refresh()  # once for the whole catalog, so search weighs its words now
            removed = f"; {catalog.removed} of deleted products removed" if catalog.removed else ""
            self.stdout.write(f"Catalog: {len(product_ids)} product documents up to date{removed}.")
        for _file, message in total.skipped:
            self.stderr.write(self.style.WARNING(f"Skipped {message}"))
        self.stdout.write(f"Knowledge base: {total.summary()}.")
