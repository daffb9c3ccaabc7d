"""Sentiment of a customer message (VADER, a lexicon-based analyzer tuned for short social text).

Used for escalation (very negative twice in a row) and ticket priority. VADER needs no model
download and scores a message in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

NEGATIVE_BELOW = -0.05
POSITIVE_ABOVE = 0.05
# "Very negative": what a furious or desperate message scores; drives escalation.
VERY_NEGATIVE_BELOW = -0.6


@dataclass(frozen=True)
class Sentiment:
    label: str  # negative / neutral / positive
    score: float  # VADER compound score in [-1, 1]

    @property
    def very_negative(self) -> bool:
        return self.score <= VERY_NEGATIVE_BELOW

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "score": round(self.score, 3)}


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def analyze_sentiment(text: str) -> Sentiment:
    score = float(_analyzer().polarity_scores(text or "")["compound"])
    if score <= NEGATIVE_BELOW:
        label = "negative"
    elif score >= POSITIVE_ABOVE:
        label = "positive"
    else:
        label = "neutral"
    return Sentiment(label=label, score=score)


def priority_from_sentiment(sentiment: Sentiment) -> str:
    """Ticket priority (low/medium/high/urgent) from how upset the customer is."""
    if sentiment.score <= -0.75:
        return "urgent"
    if sentiment.score <= -0.4:
        return "high"
    if sentiment.score < 0.3:
        return "medium"
    return "low"
