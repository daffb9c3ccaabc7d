"""Entities in a customer message: ids, contact details, payment methods, reasons, money, catalog words.

Regular expressions find what has a fixed shape (order and item ids, emails, zips, amounts,
"the Visa ending 1234"); rapidfuzz matches product names and option values against the
catalog, so "tshirt", "ear buds" or "blak" still land. Nothing here touches a customer's data:
resolving "my last order" or "the gift card" to a record is the dialogue manager's job, done
through the tools as the acting customer.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from assistant.nlu.catalog import CatalogIndex, normalize, singular, singular_phrase

# "#W1234567", "W1234567", "w 1234567", "order 1234567", "#1234567" or a bare seven-digit number.
_ORDER_ID = re.compile(r"(?<![\w$.])#?\s?w?\s?(\d{7})(?![\d.,]\d|\d)", re.IGNORECASE)
_TEN_DIGITS = re.compile(r"(?<!\d)(\d{10})(?!\d)")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_ZIP = re.compile(r"(?<![\d#$.,-])(\d{5})(?:-\d{4})?(?![\d.,]\d|\d)")
_ZIP_HINT = re.compile(r"\b(?:zip|postal|postcode|post code)\b", re.IGNORECASE)

_LAST_FOUR = re.compile(
    r"(?:ending|ends|end)\s*(?:in|with|on)?\s*(?:the\s+)?(?:digits\s+)?(\d{4})\b"
    r"|last\s*(?:4|four)(?:\s*digits)?\s*(?:are|is|of|:|=)?\s*(\d{4})\b"
    r"|[x*•]{2,}[\s-]*(\d{4})\b",
    re.IGNORECASE,
)
_BRANDS = {
    "visa": "visa",
    "mastercard": "mastercard",
    "master card": "mastercard",
    "mc": "mastercard",
    "amex": "american express",
    "american express": "american express",
    "discover": "discover",
}
_BRAND = re.compile(r"\b(visa|master\s?card|amex|american express|discover)\b", re.IGNORECASE)
_GIFT_CARD = re.compile(r"\bgift\s*-?\s*c[ae]?r?ds?\b|\bgiftcards?\b|\bstore credit\b", re.IGNORECASE)
_PAYPAL = re.compile(r"\bpay\s*-?\s*pal\b", re.IGNORECASE)
_CARD = re.compile(r"\b(?:credit|debit)\s*-?\s*cards?\b|\bcards?\b", re.IGNORECASE)
_ORIGINAL = re.compile(
    r"\boriginal(?:\s+(?:payment|form|method|card|way))?|\bsame\s+(?:card|method|payment|way)"
    r"|\b(?:way|how|what)\s+i\s+(?:paid|payed)|\bwhere\s+(?:the\s+money|it)\s+came\s+from|\bback\s+to\s+my\s+card\b",
    re.IGNORECASE,
)

_REASONS: list[tuple[str, re.Pattern[str]]] = [
    (
        "ordered by mistake",
        re.compile(
            r"\bmistake\b|\bmistaken(?:ly)?\b|\baccident(?:al(?:ly)?)?\b|\bby error\b|\bdidn'?t mean to\b|\bdid not mean to\b"
            r"|\bwrong (?:item|size|color|colour|thing|one|product)\b|\bordered (?:it )?twice\b|\bduplicate\b|\bmis-?clicked\b",
            re.IGNORECASE,
        ),
    ),
    (
        "no longer needed",
        re.compile(
            r"\bno longer need|\bdon'?t need|\bdo not need|\bdont need|\bnot needed\b|\bno need\b|\bchanged my mind\b"
            r"|\bchange of mind\b|\bdon'?t want|\bdo not want|\bnot (?:want|need)(?:ed)? (?:it|them) anymore\b"
            r"|\bfound (?:it|one|them) cheaper\b|\bno longer want|\bnot interested\b",
            re.IGNORECASE,
        ),
    ),
]

_MONEY = r"\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s*(k\b)?\s*(?:dollars?|bucks|usd|\$)?"
_AMOUNT_MAX = re.compile(
    r"\b(?:under|below|less than|cheaper than|up to|upto|max(?:imum)?|at most|no more than|not more than|"
    r"budget(?:\s+(?:of|is|around|about))?|within|around|about|for)\s*(?:of\s+)?" + _MONEY,
    re.IGNORECASE,
)
_AMOUNT_MIN = re.compile(r"\b(?:over|above|more than|at least|minimum|min)\s*" + _MONEY, re.IGNORECASE)
_AMOUNT_PLAIN = re.compile(
    r"\$\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?|(?<![\d#])(\d+)(?:\.(\d{1,2}))?\s*(?:dollars?|bucks|usd)\b",
    re.IGNORECASE,
)

_ORDER_REFS: list[tuple[str, re.Pattern[str]]] = [
    (
        "other",
        re.compile(
            r"\b(?:the\s+)?other\s+(?:order|one|purchase|package)\b|\bnot (?:that|this) (?:one|order)\b", re.IGNORECASE
        ),
    ),
    (
        "previous",
        re.compile(r"\b(?:previous|earlier|older|prior)\s+(?:order|one|purchase)\b|\bthe one before\b", re.IGNORECASE),
    ),
    (
        "latest",
        re.compile(
            r"\b(?:last|latest|most recent|recent|newest|current|new)\s+(?:order|purchase|one|package|delivery)\b",
            re.IGNORECASE,
        ),
    ),
    ("first", re.compile(r"\b(?:first|oldest)\s+(?:order|one|purchase)\b", re.IGNORECASE)),
]

# Size words customers use, with the catalog values they stand for.
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "xs": ("xs", "extra small"),
    "extra small": ("xs", "extra small"),
    "x small": ("xs", "extra small"),
    "small": ("s", "small"),
    "s": ("s", "small"),
    "medium": ("m", "medium"),
    "med": ("m", "medium"),
    "m": ("m", "medium"),
    "large": ("l", "large"),
    "l": ("l", "large"),
    "xl": ("xl", "extra large"),
    "extra large": ("xl", "extra large"),
    "x large": ("xl", "extra large"),
    "xxl": ("xxl",),
    "2xl": ("xxl",),
}
_SIZE_AFTER_WORD = re.compile(r"\bsize\s*(?:is|of|:|=)?\s*([a-z0-9.]+(?:\s+large|\s+small)?)", re.IGNORECASE)
_SIZE_LOOSE = re.compile(
    r"\b(extra small|x small|extra large|x large|xxl|2xl|xl|xs|small|medium|large)\b", re.IGNORECASE
)
_SIZE_LETTER = re.compile(r"(?<![\w'])(S|M|L|XL|XXL|XS)(?![\w'])")
# Option values too common as plain words to be read as an option outside a product context.
_OPTION_STOPWORDS = {"no", "yes", "none", "full", "half", "basic", "plain", "standard", "custom", "fixed", "new"}
_FUZZY_MIN_LEN = 6


@dataclass(frozen=True)
class PaymentRef:
    kind: str  # credit_card, paypal, gift_card, or original (the order's own method)
    brand: str = ""
    last_four: str = ""


@dataclass(frozen=True)
class Amount:
    value: float
    kind: str  # max (a budget), min, or exact


@dataclass(frozen=True)
class ProductMention:
    text: str  # the words in the message
    product_ids: tuple[str, ...]  # more than one when the words fit several products ("camera")
    names: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class OptionMention:
    text: str
    value: str  # the catalog's value, normalised
    product_ids: tuple[str, ...]


@dataclass
class Entities:
    order_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    product_ids: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    zips: list[str] = field(default_factory=list)
    payment_methods: list[PaymentRef] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    amounts: list[Amount] = field(default_factory=list)
    products: list[ProductMention] = field(default_factory=list)
    options: list[OptionMention] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    order_refs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Only the kinds found, as plain JSON values."""
        return {key: value for key, value in asdict(self).items() if value}

    @property
    def budget(self) -> float | None:
        for amount in self.amounts:
            if amount.kind == "max":
                return amount.value
        return None


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _money(whole: str, cents: str | None, thousands: str | None = None) -> float:
    value = float(whole.replace(",", "")) + (float(f"0.{cents}") if cents else 0.0)
    return value * 1000 if thousands else value


def extract_order_ids(text: str) -> list[str]:
    return _unique([f"#W{match.group(1)}" for match in _ORDER_ID.finditer(text)])


def extract_payment_methods(text: str) -> list[PaymentRef]:
    found: list[PaymentRef] = []
    if _GIFT_CARD.search(text):
        found.append(PaymentRef(kind="gift_card"))
    if _PAYPAL.search(text):
        found.append(PaymentRef(kind="paypal"))
    last_fours = [next(group for group in match.groups() if group) for match in _LAST_FOUR.finditer(text)]
    brands = [_BRANDS[" ".join(match.group(1).lower().split())] for match in _BRAND.finditer(text)]
    if brands or last_fours:
        for index in range(max(len(brands), len(last_fours))):
            found.append(
                PaymentRef(
                    kind="credit_card",
                    brand=brands[index] if index < len(brands) else "",
                    last_four=last_fours[index] if index < len(last_fours) else "",
                )
            )
    elif _CARD.search(_GIFT_CARD.sub(" ", text)):
        found.append(PaymentRef(kind="credit_card"))
    if _ORIGINAL.search(text):
        found.append(PaymentRef(kind="original"))
    return _unique(found)


def extract_reasons(text: str) -> list[str]:
    return [reason for reason, pattern in _REASONS if pattern.search(text)]


def extract_amounts(text: str) -> list[Amount]:
    found: list[Amount] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in (("max", _AMOUNT_MAX), ("min", _AMOUNT_MIN)):
        for match in pattern.finditer(text):
            whole, cents, thousands = match.group(1), match.group(2), match.group(3)
            # "for 2" is a quantity, not a budget: a bare number needs a money word or "$" there.
            if kind == "max" and match.group(0).lower().startswith(("for", "around", "about")):
                if "$" not in match.group(0) and not re.search(r"dollar|buck|usd|k\b", match.group(0), re.IGNORECASE):
                    continue
            found.append(Amount(value=_money(whole, cents, thousands), kind=kind))
            taken.append(match.span())
    for match in _AMOUNT_PLAIN.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        whole = match.group(1) or match.group(3)
        cents = match.group(2) or match.group(4)
        found.append(Amount(value=_money(whole, cents), kind="exact"))
    return _unique(found)


def extract_sizes(text: str) -> list[str]:
    sizes: list[str] = []
    for match in _SIZE_AFTER_WORD.finditer(text):
        sizes.append(normalize(match.group(1)))
    for match in _SIZE_LOOSE.finditer(text):
        sizes.append(normalize(match.group(1)))
    for match in _SIZE_LETTER.finditer(text):
        sizes.append(match.group(1).lower())
    canonical: list[str] = []
    for size in sizes:
        options = SIZE_WORDS.get(size)
        canonical.append(options[0] if options else size)
    return _unique(canonical)


def _ngrams(words: list[str], longest: int) -> list[tuple[int, int, str]]:
    grams = []
    for size in range(min(longest, len(words)), 0, -1):
        for start in range(0, len(words) - size + 1):
            grams.append((start, start + size, " ".join(words[start : start + size])))
    return grams


@dataclass
class _FuzzyTables:
    """Per-index lookup lists for rapidfuzz, built once per catalog index."""

    aliases: list[str]
    option_values: list[str]
    # The last word of multi-word product names ("shoes" → Running Shoes): weaker matches.
    heads: dict[str, set[str]]
    # The last two words of longer product names ("sleeping bag" → Down Sleeping Bag): a product
    # is often named without its brand or material word.
    tails: dict[str, set[str]]
    longest_option: int


def _tables(index: CatalogIndex) -> _FuzzyTables:
    cached = getattr(index, "_fuzzy_tables", None)
    if isinstance(cached, _FuzzyTables):
        return cached
    heads: dict[str, set[str]] = {}
    tails: dict[str, set[str]] = {}
    for product_id, product in index.products.items():
        words = singular_phrase(normalize(product.name)).split()
        if len(words) > 1 and len(words[-1]) >= 4 and words[-1] not in {"set", "kit", "machine", "maker"}:
            heads.setdefault(words[-1], set()).add(product_id)
        if len(words) > 2:
            tails.setdefault(" ".join(words[-2:]), set()).add(product_id)
    tables = _FuzzyTables(
        aliases=[alias for alias in index.alias_to_products if len(alias) >= 4],
        option_values=[value for value in index.option_values if len(value) >= _FUZZY_MIN_LEN],
        heads=heads,
        tails={tail: ids for tail, ids in tails.items() if tail not in index.alias_to_products},
        longest_option=max((len(value.split()) for value in index.option_values), default=1),
    )
    index._fuzzy_tables = tables  # type: ignore[attr-defined]
    return tables


def _best_matches(queries: list[str], choices: list[str], cutoff: float) -> list[tuple[str, float] | None]:
    """For each query, the best choice at or above `cutoff` (one vectorised rapidfuzz call)."""
    if not queries or not choices:
        return [None] * len(queries)
    scores = process.cdist(queries, choices, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.uint8, workers=1)
    best: list[tuple[str, float] | None] = []
    for row in scores:
        position = int(row.argmax())
        best.append((choices[position], float(row[position])) if row[position] >= cutoff else None)
    return best


def extract_products(text: str, index: CatalogIndex, *, words: list[str] | None = None) -> list[ProductMention]:
    words = normalize(text).split() if words is None else words
    if not words or not index.alias_to_products:
        return []
    tables = _tables(index)
    candidates: list[tuple[float, int, int, str, set[str]]] = []
    fuzzy: list[tuple[int, int, str, str]] = []
    for start, end, gram in _ngrams(words, index.max_alias_words):
        single = singular_phrase(gram)
        squashed = single.replace(" ", "")
        for form in (single, squashed):
            if form in index.alias_to_products:
                candidates.append((100.0, start, end, gram, index.alias_to_products[form]))
                break
        else:
            if end - start == 2 and single in tables.tails:
                candidates.append((95.0, start, end, gram, tables.tails[single]))
                continue
            if len(squashed) >= 5:
                fuzzy.append((start, end, gram, single))
            if end - start == 1 and single in tables.heads:
                candidates.append((80.0, start, end, gram, tables.heads[single]))
    for (start, end, gram, _single), best in zip(
        fuzzy, _best_matches([item[3] for item in fuzzy], tables.aliases, 86), strict=True
    ):
        if best is not None:
            candidates.append((best[1] - 5, start, end, gram, index.alias_to_products[best[0]]))
    # Best first (score, then longer spans); keep matches that don't overlap a better one.
    candidates.sort(key=lambda c: (-c[0], -(c[2] - c[1])))
    used: set[int] = set()
    mentions: list[ProductMention] = []
    for score, start, end, gram, product_ids in candidates:
        span = set(range(start, end))
        if span & used:
            continue
        used |= span
        ordered = tuple(sorted(product_ids, key=lambda pid: index.products[pid].name))
        mentions.append(
            ProductMention(
                text=gram, product_ids=ordered, names=tuple(index.products[pid].name for pid in ordered), score=score
            )
        )
    return mentions


def extract_options(text: str, index: CatalogIndex, *, words: list[str] | None = None) -> list[OptionMention]:
    words = normalize(text).split() if words is None else words
    tables = _tables(index)
    found: list[OptionMention] = []
    seen: set[str] = set()
    fuzzy: list[str] = []
    for _start, _end, gram in _ngrams(words, tables.longest_option):
        value = gram if gram in index.option_values else singular_phrase(gram)
        owners = index.option_values.get(value)
        if owners is not None:
            if len(value) > 2 and value not in _OPTION_STOPWORDS and not value.isdigit() and value not in seen:
                seen.add(value)
                found.append(
                    OptionMention(text=gram, value=value, product_ids=tuple(sorted({pid for pid, _ in owners})))
                )
        elif len(gram) >= _FUZZY_MIN_LEN:
            fuzzy.append(gram)
    for gram, best in zip(fuzzy, _best_matches(fuzzy, tables.option_values, 88), strict=True):
        if best is not None and best[0] not in seen:
            seen.add(best[0])
            owners = index.option_values[best[0]]
            found.append(OptionMention(text=gram, value=best[0], product_ids=tuple(sorted({pid for pid, _ in owners}))))
    return found


def extract_entities(text: str, index: CatalogIndex | None = None) -> Entities:
    """Everything recognisable in `text`; catalog words only when an index is given."""
    entities = Entities()
    entities.order_ids = extract_order_ids(text)
    ten_digit = _unique(_TEN_DIGITS.findall(text))
    if index is not None:
        entities.product_ids = [value for value in ten_digit if value in index.products]
        entities.item_ids = [value for value in ten_digit if value not in index.products]
    else:
        entities.item_ids = ten_digit
    entities.emails = _unique(_EMAIL.findall(text))
    without_ids = _ORDER_ID.sub(" ", _TEN_DIGITS.sub(" ", text))
    zips = _unique(_ZIP.findall(without_ids))
    # A lone five-digit number is a zip only when the message says so, or nothing else fits.
    entities.zips = (
        zips if _ZIP_HINT.search(text) or not re.search(r"[$]|\bdollars?\b|\bbucks\b", text, re.IGNORECASE) else []
    )
    entities.payment_methods = extract_payment_methods(text)
    entities.reasons = extract_reasons(text)
    entities.amounts = [
        a for a in extract_amounts(without_ids) if not (a.kind == "exact" and f"{a.value:.0f}" in entities.zips)
    ]
    entities.sizes = extract_sizes(text)
    entities.order_refs = [name for name, pattern in _ORDER_REFS if pattern.search(text)]
    if index is not None:
        words = normalize(text).split()
        entities.products = extract_products(text, index, words=words)
        entities.options = extract_options(text, index, words=words)
    return entities


def words_of(text: str) -> set[str]:
    """Singular normalised words, for matching a message against option values."""
    return {singular(word) for word in normalize(text).split()}
