"""`manage.py eval_nlu`: accuracy, macro-F1 and the most confused intent pairs on two held-out splits.

* the eval split of assistant/nlu/intents.json, written beside the training phrases;
* the situations split (assistant/nlu/intents_situations.json), written from customers'
  situations without reading the training phrases: the closer of the two to what customers
  actually send, and the one to watch when phrases are added.

Neither is ever trained on (the loaders refuse overlap). --sweep re-scores both with other
mixes of the two classifiers (embedding vs character n-grams), which is how
classifier.EMBEDDING_WEIGHT was chosen.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.nlu.classifier import IntentModel, get_intent_model, normalize_for_chars
from assistant.nlu.data import IntentDataError, load_intent_data, load_situation_split
from knowledge.embeddings import embed_texts


def scores(truth: list[str], predicted: list[str]) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return float(accuracy_score(truth, predicted)), float(f1_score(truth, predicted, average="macro", zero_division=0))


class Command(BaseCommand):
    help = "Evaluate the intent classifier on the eval split and on the situations split."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=None, help="Data file (default assistant/nlu/intents.json).")
        parser.add_argument(
            "--situations",
            type=Path,
            default=None,
            help="Second eval split (default assistant/nlu/intents_situations.json; "
            "skipped when --data is given without it).",
        )
        parser.add_argument("--pairs", type=int, default=10, help="How many confused pairs to list (default 10).")
        parser.add_argument("--errors", action="store_true", help="List every misclassified utterance.")
        parser.add_argument("--sweep", action="store_true", help="Also score other embedding/character mixes.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = load_intent_data(options["data"], require_all_labels=options["data"] is None)
            splits: list[tuple[str, list[tuple[str, str]]]] = [(f"Eval split ({data.path.name})", data.eval)]
            if options["situations"] is not None or options["data"] is None:
                situations = load_situation_split(data, options["situations"])
                splits.append(
                    (
                        f"Situations split ({(options['situations'] or Path('intents_situations.json')).name})",
                        situations,
                    )
                )
        except IntentDataError as exc:
            raise CommandError(str(exc)) from exc
        if not data.eval:
            raise CommandError(f"{data.path} has no eval utterances.")
        model = get_intent_model(options["data"])
        for title, split in splits:
            self._report(model, title, split, options)

    def _report(self, model: IntentModel, title: str, split: list[tuple[str, str]], options: dict[str, Any]) -> None:
        texts = [text for text, _ in split]
        truth = [label for _, label in split]
        embeddings = embed_texts(texts, query=True)
        predictions = model.predict(texts, embeddings)
        predicted = [p.intent for p in predictions]
        accuracy, macro_f1 = scores(truth, predicted)
        self.stdout.write(f"{title}: {len(texts)} utterances, {len(set(truth))} intents.")
        self.stdout.write(f"Accuracy  {accuracy:.4f}")
        self.stdout.write(f"Macro-F1  {macro_f1:.4f}")
        confidences = np.array([p.confidence for p in predictions])
        correct = np.array([t == p for t, p in zip(truth, predicted, strict=True)])
        threshold = settings.NLU_CONFIDENCE_THRESHOLD
        confident = confidences >= threshold
        self.stdout.write(
            f"Above the confidence threshold {threshold:.2f}: {confident.mean():.1%} of utterances, "
            f"{(correct[confident].mean() if confident.any() else 0):.1%} of them correct."
        )
        weakest = self._weakest(truth, predicted, count=5)
        if weakest:
            self.stdout.write("Weakest intents (F1): " + ", ".join(f"{label} {f1:.2f}" for label, f1 in weakest))
        pairs = Counter((t, p) for t, p in zip(truth, predicted, strict=True) if t != p)
        if pairs:
            self.stdout.write("Most confused (true → predicted: count):")
            for (true_label, predicted_label), count in pairs.most_common(options["pairs"]):
                self.stdout.write(f"  {true_label} → {predicted_label}: {count}")
        if options["errors"]:
            self.stdout.write("Misclassified:")
            for text, t, p in zip(texts, truth, predictions, strict=True):
                if t != p.intent:
                    self.stdout.write(f"  [{t} → {p.intent} {p.confidence:.2f}] {text}")
        if options["sweep"]:
            self._sweep(model, texts, embeddings, truth)
        self.stdout.write("")

    @staticmethod
    def _weakest(truth: list[str], predicted: list[str], *, count: int) -> list[tuple[str, float]]:
        """The `count` intents with the lowest F1 below 1.0, lowest first."""
        from sklearn.metrics import f1_score

        labels = sorted(set(truth))
        per_label = f1_score(truth, predicted, labels=labels, average=None, zero_division=0)
        ranked = sorted(zip(labels, (float(f1) for f1 in per_label), strict=True), key=lambda pair: pair[1])
        return [(label, f1) for label, f1 in ranked if f1 < 1.0][:count]

    def _sweep(self, model: IntentModel, texts: list[str], embeddings: np.ndarray, truth: list[str]) -> None:
        semantic = model.embedding_model.predict_proba(embeddings)
        lexical = model.char_model.predict_proba(model.vectorizer.transform([normalize_for_chars(t) for t in texts]))
        self.stdout.write("Embedding weight → accuracy / macro-F1:")
        for weight in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0):
            mixed = weight * semantic + (1 - weight) * lexical
            predicted = [model.labels[i] for i in mixed.argmax(axis=1)]
            accuracy, macro_f1 = scores(truth, predicted)
            self.stdout.write(f"  {weight:.1f}: {accuracy:.4f} / {macro_f1:.4f}")
