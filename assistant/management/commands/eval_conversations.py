"""`manage.py eval_conversations FILE [--shop DIR] [--verbose] [--min-pass RATE]`: scripted conversations, end to end.

The file format and the checks are in assistant/evals/conversations.py; this is the terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from assistant.evals.conversations import SuiteError, conversation_run, suite_check_store, suite_read
from assistant.llm.client import llm_enabled
from knowledge.services import IngestReport, chunk_statistics_refresh, product_document_sync
from orders.interchange import shop_read


class Command(BaseCommand):
    help = (
        "Run scripted conversations (JSON Lines) through the web chat's services as each named customer, "
        "each from the same store state, and report which pass."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The suite: one conversation per line (JSON Lines).")
        parser.add_argument(
            "--shop",
            type=Path,
            help=(
                "Load this tau-bench-shaped store (users/products/orders.json) and its products' help-center pages "
                "first; default: the store as it is."
            ),
        )
        parser.add_argument("--verbose", action="store_true", help="Print the transcript of each failing conversation.")
        parser.add_argument(
            "--min-pass",
            type=float,
            default=0.0,
            help="Exit with status 1 when the pass rate (0 to 1) is below this (default 0).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0.0 <= options["min_pass"] <= 1.0:
            raise CommandError("--min-pass is a rate between 0 and 1, e.g. 0.9.")
        try:
            # The file's shape first: a typo costs nothing, not a store import.
            suite = suite_read(options["file"])
            if options["shop"]:
                call_command("import_shop", str(options["shop"]), verbosity=options["verbosity"], stdout=self.stdout)
                _catalog_pages_sync(options["shop"])
            suite_check_store(suite)
        except SuiteError as error:
            raise CommandError(f"Nothing was run: {error}") from error
        brain = f"the LLM ({settings.LLM_MODEL})" if llm_enabled() else "the offline assistant"
        self.stdout.write(f"{len(suite)} conversations from {options['file']} on {brain}.")
        passed = 0
        with tqdm(suite, desc="Conversations", unit="conv", disable=options["verbosity"] == 0) as bar:
            for spec in bar:
                result = conversation_run(spec)
                passed += result.passed
                with tqdm.external_write_mode():
                    if result.passed:
                        self.stdout.write(f"PASS {spec.id}")
                        continue
                    self.stdout.write(self.style.ERROR(f"FAIL {spec.id}: {result.failure}"))
                    if options["verbose"]:
                        self.stdout.write("\n".join(result.transcript))
        rate = passed / len(suite)
        self.stdout.write(f"{passed}/{len(suite)} conversations passed ({rate:.2f})")
        if rate < options["min_pass"]:
            raise CommandError(f"The pass rate {rate:.2f} is below --min-pass {options['min_pass']:.2f}.", returncode=1)


def _catalog_pages_sync(directory: Path) -> None:
    """Bring the imported products' catalog pages into the help center before the first conversation.

    import_shop writes the products but not their pages (`ingest_knowledge --catalog` builds those);
    without them, questions about the imported products' options would measure a half-loaded store
    rather than the assistant. Unchanged pages cost nothing on a second run.
    """
    report = IngestReport()
    for product_id in sorted(shop_read(directory).products):
        product_document_sync(product_id=product_id, report=report)
    if report.added or report.updated:
        chunk_statistics_refresh()  # so full-text search weighs the new pages' words now
