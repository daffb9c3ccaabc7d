"""One call from a customer's message to what the offline assistant needs to know about it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from assistant.nlu.catalog import CatalogIndex, get_catalog_index
from assistant.nlu.classifier import get_intent_model
from assistant.nlu.entities import Entities, extract_entities
from assistant.nlu.sentiment import Sentiment, analyze_sentiment


@dataclass
class Understanding:
    text: str
    intent: str
    confidence: float
    ranking: list[tuple[str, float]]
    entities: Entities
    sentiment: Sentiment
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def confident(self) -> bool:
        return self.confidence >= settings.NLU_CONFIDENCE_THRESHOLD

    def as_json(self) -> dict[str, Any]:
        """The classify_intents line: text, intent, confidence, sentiment, entities."""
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "sentiment": self.sentiment.as_dict(),
            "entities": self.entities.as_dict(),
        }


def understand_many(
    texts: list[str],
    *,
    embeddings: np.ndarray | None = None,
    catalog: CatalogIndex | None = None,
    sentiments: list[Sentiment] | None = None,
) -> list[Understanding]:
    """Classify and extract for a batch; embeddings (one row per text) are computed if not given."""
    if not texts:
        return []
    predictions = get_intent_model().predict(texts, embeddings)
    results = []
    for position, (text, prediction) in enumerate(zip(texts, predictions, strict=True)):
        results.append(
            Understanding(
                text=text,
                intent=prediction.intent,
                confidence=prediction.confidence,
                ranking=prediction.ranking,
                entities=extract_entities(text, catalog),
                sentiment=sentiments[position] if sentiments is not None else analyze_sentiment(text),
            )
        )
    return results


def understand(
    text: str,
    *,
    embedding: np.ndarray | None = None,
    catalog: CatalogIndex | None = None,
    sentiment: Sentiment | None = None,
    use_catalog: bool = True,
) -> Understanding:
    """Intent, entities and sentiment of one message; reuses the turn's query embedding if given."""
    if catalog is None and use_catalog:
        catalog = get_catalog_index()
    embeddings = None if embedding is None else np.asarray(embedding).reshape(1, -1)
    return understand_many(
        [text], embeddings=embeddings, catalog=catalog, sentiments=[sentiment] if sentiment is not None else None
    )[0]


# Where one message asks for a second thing: "…, and also …", "… plus …", "…? Also …", and a
# clause that starts over with its own request ("… and can you …", "… and I need to …").
_REQUEST_BREAK = re.compile(
    r"(?:\s*[,;]\s*(?:and\s+)?|\s+and\s+)(?:also|plus|additionally|btw|by the way|another thing)\b[,:]?\s*"
    r"|\s+(?:plus|btw|by the way|oh and|additionally)\s+"
    r"|\s*[,;]?\s+and\s+(?=(?:can|could|would|will)\s+(?:you|i|u)\b|i\s+(?:also\s+)?(?:want|need|would like|'d like|wanna)\b"
    r"|(?:how|what|where|when|why)\b|(?:tell|show|let)\s+me\b|check\s+(?:on\s+)?(?:my|the|#|order)|also\b"
    r"|(?:change|cancel|return|exchange|update|swap|track)\s+(?:the|my|order|#)\b)"
    r"|(?<=[?!.])\s+(?=\S)",
    re.IGNORECASE,
)
_MIN_PART_WORDS = 2


def split_requests(text: str) -> list[str]:
    """The separate requests in one message, in order ("where's my keyboard and also can i change
    the adress" → two); the whole text when it reads as one request. Fragments too short to be a
    request ("hi.", "ok and") stay with their neighbour."""
    parts: list[str] = []
    for piece in _REQUEST_BREAK.split(text):
        piece = piece.strip(" ,;")
        if not piece:
            continue
        if parts and len(piece.split()) < _MIN_PART_WORDS:
            parts[-1] = f"{parts[-1]} {piece}"
        elif parts and len(parts[-1].split()) < _MIN_PART_WORDS:
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts or [text]
