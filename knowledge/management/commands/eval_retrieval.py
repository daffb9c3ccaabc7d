"""`manage.py eval_retrieval`: recall@1, recall@5 and MRR@10 of vector, full-text and hybrid search.

Each labeled question names the article(s) that answer it. A question counts as found at k
when one of the first k *chunks* returned (what the assistant actually sees) belongs to one
of those articles; MRR@10 averages 1/rank of the first such chunk (0 beyond rank 10).
The query embedding is computed once per question and shared by the three modes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from knowledge import selectors
from knowledge.embeddings import embed_texts
from knowledge.models import Document

QUESTIONS = Path(__file__).resolve().parents[2] / "eval" / "questions.jsonl"
MODES: tuple[Literal["vector", "text", "hybrid"], ...] = ("vector", "text", "hybrid")


def load_questions(path: Path) -> list[dict[str, Any]]:
    questions = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            question, articles = str(item["question"]), list(item["articles"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f'{path}:{number}: expected {{"question": ..., "articles": [...]}} ({exc}).') from exc
        questions.append({"question": question, "articles": articles})
    return questions


class Command(BaseCommand):
    help = "Measure retrieval quality on the labeled question set (knowledge/eval/questions.jsonl)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--questions", type=Path, default=QUESTIONS)
        parser.add_argument("--misses", action="store_true", help="List hybrid misses at 5 with what came first.")

    def handle(self, *args: Any, **options: Any) -> None:
        questions = load_questions(options["questions"])
        slugs = set(Document.objects.values_list("slug", flat=True))
        unknown = sorted({a for q in questions for a in q["articles"]} - slugs)
        if unknown:
            raise CommandError(
                f"Questions name articles that are not indexed: {', '.join(unknown)} (run ingest_knowledge)."
            )
        vectors = embed_texts([selectors.truncate_query(q["question"]) for q in questions], query=True)
        totals = {mode: {"r1": 0.0, "r5": 0.0, "mrr": 0.0} for mode in MODES}
        misses = []
        for item, vector in tqdm(list(zip(questions, vectors, strict=True)), desc="Evaluating", unit="question"):
            for mode in MODES:
                result = selectors.chunk_search(query=item["question"], query_embedding=vector, k=10, mode=mode)
                ranked = [hit.document_slug for hit in result.hits]
                first = next((i for i, slug in enumerate(ranked, 1) if slug in item["articles"]), None)
                totals[mode]["r1"] += first == 1
                totals[mode]["r5"] += first is not None and first <= 5
                totals[mode]["mrr"] += 1 / first if first else 0.0
                if mode == "hybrid" and (first is None or first > 5):
                    misses.append((item["question"], item["articles"], ranked[:3]))
        count = len(questions)
        self.stdout.write(f"{count} questions, {Document.objects.count()} documents")
        self.stdout.write(f"{'mode':<8} {'recall@1':>9} {'recall@5':>9} {'MRR@10':>8}")
        for mode in MODES:
            t = totals[mode]
            self.stdout.write(f"{mode:<8} {t['r1'] / count:>9.3f} {t['r5'] / count:>9.3f} {t['mrr'] / count:>8.3f}")
        if options["misses"]:
            for question, expected, got in misses:
                self.stdout.write(f"MISS {question!r}: expected {expected}, got {got}")
