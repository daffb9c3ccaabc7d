"""`manage.py train_nlu [--if-stale] [--data FILE]`: train and cache the offline intent model.

The model is cached under NLU_MODEL_DIR, keyed by a hash of the data file, the classifier's
code and the library versions. With --if-stale (what bootstrap runs) nothing happens when a
model for exactly this data and code is already cached.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.nlu import classifier
from assistant.nlu.data import IntentDataError, load_intent_data


class Command(BaseCommand):
    help = "Train the offline assistant's intent classifier from assistant/nlu/intents.json and cache it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-stale", action="store_true", help="Do nothing if the cached model matches the data and code."
        )
        parser.add_argument(
            "--data", type=Path, default=None, help="Training data file (default assistant/nlu/intents.json)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        try:
            data = load_intent_data(options["data"], require_all_labels=options["data"] is None)
        except IntentDataError as exc:
            raise CommandError(str(exc)) from exc
        key = classifier.cache_key(data)
        if options["if_stale"] and not classifier.is_stale(data):
            self.stdout.write(f"Intent model is up to date ({classifier.model_path(key)}).")
            return
        embeddings = classifier.cached_embeddings([text for text, _ in data.train], progress=True)
        model = classifier.train_intent_model(data, embeddings=embeddings)
        path = classifier.save_intent_model(model)
        removed = classifier.prune_old_models(keep=key)
        classifier.forget_loaded_models()
        self.stdout.write(
            self.style.SUCCESS(
                f"Trained {len(model.labels)} intents on {model.train_size} examples in "
                f"{time.perf_counter() - started:.1f} s (fitting {model.train_seconds:.1f} s); saved {path}"
                + (f"; removed {removed} older model(s)." if removed else ".")
            )
        )
