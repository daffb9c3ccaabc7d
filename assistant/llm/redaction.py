"""PII redaction: card numbers, email addresses and phone numbers.

Applied to the audit log (ToolCallLog), to log lines, and — unless LLM_REDACT_PII is off — to
everything sent to an LLM provider. Store identifiers must survive: order ids ("#W2611340",
"W2611340"), item ids (10 digits, e.g. "1008292230") and payment-method ids
("credit_card_7815826") are not phone or card numbers, and the model needs them to act.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# 13–19 digits, optionally grouped by spaces or dashes; confirmed by the Luhn checksum so
# item ids and other long numbers are left alone.
_CARD = re.compile(r"(?<![\w#])(?:\d[ -]?){12,18}\d(?![\w])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A phone number has separators or a leading + / parenthesised area code; a bare run of
# digits is more likely an item id ("1008292230") than a phone number, so it needs a "+".
_PHONE = re.compile(
    r"(?<![\w#])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?![\w])"
    r"|(?<![\w#])\+\d{8,15}(?![\w])"
)

CARD_MASK = "[card number]"
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return CARD_MASK if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return PHONE_MASK if 8 <= len(digits) <= 15 else match.group()


def redact_text(text: str) -> str:
    """`text` with card numbers, email addresses and phone numbers masked."""
    if not text:
        return text
    return _redact_remembered(text) if len(text) <= REMEMBER_UP_TO else _redact_text(text)


# Each LLM request re-sends the conversation and the retrieved passages, so the same texts are
# redacted turn after turn: remembered, they cost a dictionary lookup instead of three regex
# passes over the whole history. Bounded: at most 4096 texts of at most REMEMBER_UP_TO
# characters (~8 MB).
REMEMBER_UP_TO = 2000


def _redact_text(text: str) -> str:
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


_redact_remembered = lru_cache(maxsize=4096)(_redact_text)


def redact(value: Any) -> Any:
    """Redact every string inside a JSON-like value (dict keys are kept as they are)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
