"""Cut sections into chunks that fit the embedding model, counted by its own tokenizer.

A section that fits the budget is one chunk. A longer one is packed block by block
(paragraphs, list items); a block that alone exceeds the budget is cut at sentences, and a
sentence that still does at word boundaries. Consecutive chunks of one section share up to
`overlap` tokens so a fact straddling a cut is whole in at least one of them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from knowledge.models import embedded_text
from knowledge.parsing import Section

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
HEADING_SEPARATOR = " › "


@dataclass(frozen=True)
class ChunkPlan:
    heading_path: str
    anchor: str
    text: str
    token_count: int

    @property
    def embedded_text(self) -> str:
        return embedded_text(self.heading_path, self.text)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.embedded_text.encode()).hexdigest()


def _split_long(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Pieces of one over-long block, each within budget: sentences first, then word windows."""
    pieces: list[str] = []
    for sentence in SENTENCE_END.split(text):
        if count(sentence) <= budget:
            pieces.append(sentence)
            continue
        words = sentence.split()
        current: list[str] = []
        for word in words:
            if current and count(" ".join([*current, word])) > budget:
                pieces.append(" ".join(current))
                current = []
            current.append(word)
        if current:
            pieces.append(" ".join(current))
    return pieces


def pack_units(units: list[tuple[str, int]], *, budget: int, overlap: int) -> list[list[tuple[str, int]]]:
    """Group (text, tokens) units into windows of at most `budget` tokens with trailing overlap."""
    windows: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    size = 0
    for unit in units:
        if current and size + unit[1] > budget:
            windows.append(current)
            # Carry the tail of the finished window forward, never so much that the new
            # unit would not fit: the overlap is a courtesy, the budget is a hard limit.
            carried: list[tuple[str, int]] = []
            carried_size = 0
            for previous in reversed(current):
                if carried_size + previous[1] > overlap or carried_size + previous[1] + unit[1] > budget:
                    break
                carried.insert(0, previous)
                carried_size += previous[1]
            current, size = carried, carried_size
        current.append(unit)
        size += unit[1]
    if current:
        windows.append(current)
    return windows


def chunk_sections(
    sections: list[Section], *, budget: int, overlap: int, count_tokens: Callable[[str], int]
) -> list[ChunkPlan]:
    plans: list[ChunkPlan] = []
    for section in sections:
        heading_path = HEADING_SEPARATOR.join(section.path)
        # The heading path is embedded with every chunk, so it spends part of the budget.
        text_budget = max(16, budget - count_tokens(heading_path))
        units: list[tuple[str, int]] = []
        for block in section.blocks:
            tokens = count_tokens(block)
            if tokens <= text_budget:
                units.append((block, tokens))
            else:
                units.extend((piece, count_tokens(piece)) for piece in _split_long(block, text_budget, count_tokens))
        for window in pack_units(units, budget=text_budget, overlap=overlap):
            plans.append(
                ChunkPlan(
                    heading_path=heading_path[:500],
                    anchor=section.anchor[:200],
                    text="\n".join(text for text, _ in window),
                    token_count=sum(tokens for _, tokens in window),
                )
            )
    return plans
