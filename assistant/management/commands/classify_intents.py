"""`manage.py classify_intents < utterances.txt`: one JSON line per input line, nothing else.

Each output line is {"text", "intent", "confidence", "sentiment", "entities"}. Lines are
read and embedded in batches (the embedding model dominates the cost), and written in input
order; an empty input line gets an empty-text result so outputs stay aligned with inputs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from assistant.management.commands._output import move_logs_to_stderr
from assistant.nlu.catalog import CatalogIndex, get_catalog_index
from assistant.nlu.classifier import get_intent_model
from assistant.nlu.entities import Entities
from assistant.nlu.pipeline import understand_many
from assistant.nlu.sentiment import analyze_sentiment
from knowledge.embeddings import embed_texts, warm_up


def batches(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line.rstrip("\r\n"))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Command(BaseCommand):
    help = "Classify utterances from stdin (one per line) into JSON lines: intent, confidence, sentiment, entities."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=256, help="Utterances embedded together (default 256).")
        parser.add_argument("--stats", action="store_true", help="Print the throughput on stderr at the end.")
        parser.add_argument(
            "--no-catalog", action="store_true", help="Skip product/option matching against the catalog."
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=os.cpu_count() or 1,
            help="Threads for the embedding model (default: every core; this is a batch job, unlike a web request).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        move_logs_to_stderr()
        from django.db import DatabaseError

        # Read when the model is first loaded, which is below.
        os.environ["EMBEDDING_THREADS"] = str(max(1, options["threads"]))
        warm_up()
        get_intent_model()
        catalog: CatalogIndex | None = None
        if not options["no_catalog"]:
            try:
                catalog = get_catalog_index()
            except DatabaseError as exc:
                sys.stderr.write(
                    f"classify_intents: catalog unavailable ({exc.__class__.__name__}); no product entities.\n"
                )
        out = sys.stdout
        started, count = time.perf_counter(), 0
        for batch in batches(iter(sys.stdin), max(1, options["batch_size"])):
            filled = [(i, text) for i, text in enumerate(batch) if text.strip()]
            texts = [text.strip() for _, text in filled]
            results = {
                i: r
                for (i, _), r in zip(
                    filled,
                    understand_many(texts, embeddings=embed_texts(texts, query=True), catalog=catalog),
                    strict=True,
                )
            }
            for i, text in enumerate(batch):
                result = results.get(i)
                if result is not None:
                    record = result.as_json()
                else:
                    record = {
                        "text": text,
                        "intent": "out_of_scope",
                        "confidence": 0.0,
                        "sentiment": analyze_sentiment("").as_dict(),
                        "entities": Entities().as_dict(),
                    }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            count += len(batch)
        if options["stats"]:
            elapsed = time.perf_counter() - started
            sys.stderr.write(
                f"classify_intents: {count} utterances in {elapsed:.2f} s ({count / elapsed if elapsed else 0:.0f}/s, "
                f"{options['threads']} thread(s), model loading excluded)\n"
            )
