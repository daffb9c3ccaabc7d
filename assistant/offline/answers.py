"""Answers that need no form: the help center with citations, the catalog, small talk, honesty.

Help-center answers quote the best retrieved passage and cite it; when retrieval is not
confident the assistant says so and offers a person instead of guessing. Product answers come
from the catalog tools (check_stock, search_products), never from memory.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from assistant.nlu.catalog import normalize, singular
from assistant.nlu.entities import SIZE_WORDS
from assistant.offline.turn import Turn, method_words
from assistant.types import OFFER_HUMAN, citation_label
from knowledge.selectors import citation_url, document_public_get

SNIPPET_CHARS = 480
# A list introduced by a lead-in ("There are a few common reasons:") is shown up to this length.
LIST_CHARS = 900
LIST_ITEM_CHARS = 220


# --- help center ------------------------------------------------------------------------------


def _body(text: str) -> str:
    """A chunk's text without the heading lines the chunker prefixes."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()


def _snippet(text: str) -> str:
    """The passage cut at a sentence end, never after a list's lead-in: the list comes with it."""
    body = _body(text)
    if len(body) <= SNIPPET_CHARS:
        return body
    blocks = [block.strip() for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", body) if block.strip()]
    kept: list[str] = []
    size, listing = 0, False
    for block in blocks:
        is_item = bool(_LIST_ITEM.match(block))
        listing = (listing and is_item) or bool(kept and kept[-1].endswith(":"))
        if size + len(block) > (LIST_CHARS if listing else SNIPPET_CHARS):
            if not kept:
                cut = block[:SNIPPET_CHARS]
                end = max(cut.rfind(". "), cut.rfind(".\n"))
                return (cut[: end + 1] if end > 120 else cut.rstrip() + "…").strip()
            if not kept[-1].endswith(":"):
                if listing:
                    kept.append("\n…")  # the list goes on in the cited article
                break
            block = _shorten(block)
        kept.append(("\n" if is_item else "\n\n") + block)
        size += len(block)
    if len(kept) > 1 and kept[-1].endswith(":"):
        kept.pop()
    return "".join(kept).strip()


_LIST_ITEM = re.compile(r"\s*(?:[-*•]|\d+[.)])\s")


def _shorten(text: str, limit: int = LIST_ITEM_CHARS) -> str:
    """The first sentences of `text` up to `limit` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text)
    kept = ""
    for sentence in sentences:
        if kept and len(kept) + len(sentence) + 1 > limit:
            break
        kept = f"{kept} {sentence}".strip()
    return kept if len(kept) <= limit else kept[: limit - 1].rstrip() + "…"


def _continuation(hit: Any) -> str:
    """When a passage only leads in to a list ("There are a few common reasons:") whose items are
    the subsections that follow it, those items in brief; "" otherwise."""
    body = _body(hit.text)
    if not body.endswith(":") or getattr(hit, "kind", "") == "product":
        return ""
    slug, _, anchor = str(hit.citation.get("id", "")).partition("#")
    document = document_public_get(slug=slug) if slug else None
    if document is None:
        return ""
    chunks = list(document.chunks.order_by("position").values_list("heading_path", "anchor", "text"))
    start = next((i for i, (_p, _a, text) in enumerate(chunks) if text == hit.text), None)
    if start is None:
        start = next((i for i, (_p, a, _t) in enumerate(chunks) if a == anchor), None)
    if start is None:
        return ""
    parent = chunks[start][0]
    items: list[str] = []
    size = 0
    for heading_path, _anchor, text in chunks[start + 1 :]:
        if not heading_path.startswith(parent + " › "):
            break
        item = f"• {heading_path.rsplit(' › ', 1)[-1]}: {_shorten(_body(text))}"
        if size + len(item) > LIST_CHARS:
            items.append("• …and more in the article.")
            break
        items.append(item)
        size += len(item)
    return "\n".join(items)


# Regional sections of an article, by heading: the customer's address picks among them.
_REGIONS: list[tuple[str, re.Pattern[str]]] = [
    (
        "remote",
        re.compile(r"\balaska|\bhawaii|\bterritor|\bpuerto rico|\bguam\b|\bapo\b|\bfpo\b", re.IGNORECASE),
    ),
    (
        "international",
        re.compile(
            r"\binternational|\boutside the (?:us|u\.s\.|united states)\b|\boverseas\b|\bworldwide\b|\babroad\b"
            r"|\bother countries\b|\bcustoms\b",
            re.IGNORECASE,
        ),
    ),
    (
        "domestic",
        re.compile(
            r"\bcontiguous\b|\bdomestic\b|\bunited states\b|\bwithin the us\b|\bmainland\b|\blower 48\b"
            r"|\b(?:us|u\.s\.) (?:orders|addresses|shipping)\b",
            re.IGNORECASE,
        ),
    ),
]
_HOME_COUNTRIES = {"", "us", "usa", "u s", "u s a", "united states", "united states of america", "america"}
_REMOTE_STATES = {"ak", "hi", "pr", "gu", "vi", "as", "mp", "aa", "ae", "ap", "alaska", "hawaii", "puerto rico", "guam"}


def _region_of(text: str) -> str:
    return next((region for region, pattern in _REGIONS if pattern.search(text)), "")


def _customer_region(turn: Turn) -> str:
    customer = turn.request.context.customer
    if customer is None:
        return ""
    if normalize(customer.country or "") not in _HOME_COUNTRIES:
        return "international"
    return "remote" if normalize(customer.state or "") in _REMOTE_STATES else "domestic"


def _fitting_section(turn: Turn, hits: list[Any]) -> Any:
    """The hit to answer from: the best one, unless it is a regional section that doesn't fit the
    customer's address (international shipping for a US address), or the introduction of an
    article set out region by region, and the question named no region — then that article's
    section for the customer's region."""
    best = hits[0]
    heading = str(best.citation.get("heading", ""))
    region = _region_of(heading)
    introduction = "#" not in str(best.citation.get("id", "")) or heading == best.citation.get("title")
    wanted = _customer_region(turn)
    if not wanted or region == wanted or _region_of(turn.text) or not (region or introduction):
        return best
    for hit in hits[1:]:
        same_article = hit.citation.get("title") == best.citation.get("title")
        if same_article and _region_of(str(hit.citation.get("heading", ""))) == wanted:
            return hit
    slug = str(best.citation.get("id", "")).partition("#")[0]
    document = document_public_get(slug=slug) if slug else None
    if document is None:
        return best
    sections = [
        (heading_path.rsplit(" › ", 1)[-1], anchor, text)
        for heading_path, anchor, text in document.chunks.order_by("position").values_list(
            "heading_path", "anchor", "text"
        )
    ]
    if introduction and len({_region_of(title) for title, _a, _t in sections} - {""}) < 2:
        return best  # not an article organised by region
    for title, anchor, text in sections:
        if _region_of(title) == wanted:
            citation = {
                "id": f"{slug}#{anchor}" if anchor else slug,
                "title": document.title,
                "heading": title,
                "url": citation_url(slug=slug, kind=document.kind, anchor=anchor),
            }
            return _Hit(citation, text)
    return best


def knowledge_answer(turn: Turn, *, lead: str = "", query: str = "") -> str | None:
    """The best help-center passage with its citation, or None when retrieval isn't confident.

    `query` searches afresh (a part of a compound message) instead of using the turn's hits.
    """
    retrieved = turn.request.retrieved
    hits, confident = (list(retrieved.hits), retrieved.confident) if not query else ([], False)
    if not hits:
        record = turn.tool("search_knowledge_base", query=query or turn.text)
        if record.outcome.ok:
            result = record.outcome.result
            confident = bool(result.get("confident"))
            hits = [_Hit(r["citation"], r["text"], r.get("kind", "")) for r in result.get("results", [])]
    # A product page is answered from the catalog (product_answer), never quoted: its text lists
    # item ids and prices that the catalog tools give in words.
    hits = [hit for hit in hits if _kind(hit) != "product"]
    if not hits or not confident:
        return None
    best = _fitting_section(turn, hits)
    ref = len(turn.citations) + 1
    citation = {"ref": ref, **best.citation}
    turn.citations.append(citation)
    source = citation_label(citation) or "our help center"
    passage = _snippet(best.text)
    listing = _continuation(best)
    if listing:
        passage = f"{passage}\n{listing}"
    text = f"{lead}{passage} [{ref}]\n\n(From “{source}”.)"
    others = [hit for hit in hits if hit is not best]
    if others and others[0].citation.get("title") != best.citation.get("title"):
        turn.citations.append({"ref": ref + 1, **others[0].citation})
        text += f" See also “{others[0].citation.get('title')}” [{ref + 1}]."
    return text


class _Hit:
    def __init__(self, citation: dict[str, Any], text: str, kind: str = "") -> None:
        self.citation, self.text, self.kind = citation, text, kind


def _kind(hit: Any) -> str:
    return str(getattr(hit, "kind", "") or "")


def product_from_knowledge(turn: Turn) -> str | None:
    """When the best help-center match is a product's page ("do you sell bikes?"), that product
    answered from the catalog; None otherwise."""
    retrieved = turn.request.retrieved
    if not retrieved.confident or not retrieved.hits:
        return None
    best = retrieved.hits[0]
    product_id = getattr(best, "product_id", "")
    if _kind(best) != "product" or not product_id:
        return None
    return product_answer(turn, product_id=product_id)


def policy_answer(turn: Turn) -> str:
    answer = knowledge_answer(turn)
    if answer is None:
        return "I couldn't find a reliable answer to that in our help center, and I'd rather not guess. " + OFFER_HUMAN
    return answer


# --- catalog --------------------------------------------------------------------------------


def _product_ids(turn: Turn) -> list[tuple[str, ...]]:
    return [mention.product_ids for mention in turn.entities.products]


def _wanted(turn: Turn) -> set[str]:
    words = normalize(turn.text).split()
    wanted = set(words) | {option.value for option in turn.entities.options}
    wanted |= {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    for size in turn.entities.sizes:
        wanted |= set(SIZE_WORDS.get(size, (size,)))
    return wanted


def _values(variant: dict[str, Any]) -> list[str]:
    return [normalize(str(value)) for value in variant["options"].values()]


def _asked_values(turn: Turn, product_id: str, variants: list[dict[str, Any]]) -> list[str]:
    """The option values the customer means for this product: named now, else kept from the focus.

    A value named now replaces the focused value of the same option ("what about black?" after
    "size 11 in blue" means 11 in black); options not named keep their focused value.
    """
    wanted = _wanted(turn)
    key_of = {normalize(str(value)): str(key) for variant in variants for key, value in variant["options"].items()}
    numbers = set(_NUMBER.findall(turn.text))
    # "1.7 litres" names "1.7L", "12 inch" names "12 inch": a value's number with a unit counts.
    named = [
        value
        for value in key_of
        if value in wanted or ((m := _MEASURE.fullmatch(value)) is not None and m.group(1) in numbers)
    ]
    # "rose gold" is one value, not "rose gold" and "gold".
    named = [value for value in named if not any(value != other and f" {value} " in f" {other} " for other in named)]
    if product_id != turn.state.last_product_id:
        return named
    named_keys = {key_of[value] for value in named}
    kept = [value for value in turn.state.focus_options if value in key_of and key_of[value] not in named_keys]
    return named + kept


def _matching_variants(asked: list[str], variants: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Variants with the most of the asked option values, and how many values they have."""
    scored = [(sum(1 for value in _values(variant) if value in asked), variant) for variant in variants]
    best = max((score for score, _ in scored), default=0)
    return [variant for score, variant in scored if score == best and best > 0], best


def _closest(asked: list[str], variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Available variants, the closest to what was asked first: most asked values kept, then the
    nearest size (10 or 12 for an 11), then price."""

    def distance(variant: dict[str, Any]) -> tuple[int, float, float]:
        values = _values(variant)
        kept = sum(1 for value in values if value in asked)
        gap = 0.0
        numbers = [float(v) for v in asked if _NUMBER.fullmatch(v)]
        for value in values:
            if _NUMBER.fullmatch(value) and numbers and value not in asked:
                gap += min(abs(float(value) - number) for number in numbers)
        return (-kept, gap, float(variant["price"]))

    return sorted((v for v in variants if v["available"]), key=distance)


_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MEASURE = re.compile(r"(\d+(?:\.\d+)?)\s*[a-z\"']+(?:\s[a-z]+)?")


def _options(variant: dict[str, Any]) -> str:
    """Option values in words: "size 11, black" (a bare size number needs its key to read well)."""
    words = []
    for key, value in variant["options"].items():
        text = str(value)
        words.append(f"size {text}" if "size" in str(key).lower() and _NUMBER.fullmatch(text) else text)
    return ", ".join(words)


def _pick_product(turn: Turn) -> tuple[str | None, str]:
    mentions = _product_ids(turn)
    if mentions:
        ids = mentions[0]
        if turn.state.last_product_id in ids:
            # "the shoes" while the Cloudstep Running Shoes are in focus: the focused ones.
            return turn.state.last_product_id, ""
        if len(ids) > 1:
            names = [turn.entities.products[0].names[i] for i in range(len(ids))]
            return None, f"Which one do you mean: {', '.join(names[:-1])} or {names[-1]}?"
        return ids[0], ""
    if turn.state.last_product_id:
        return turn.state.last_product_id, ""
    return None, ""


def _focus(turn: Turn, stock: dict[str, Any], asked: list[str], *, frame: str) -> None:
    values = list(dict.fromkeys(value for variant in stock["variants"] for value in _values(variant)))
    turn.state.focus_product(stock["product_id"], values=values, options=asked)
    turn.state.frame = frame


def stock_answer(turn: Turn, *, restock_requested: bool = False) -> str:
    product_id, question = _pick_product(turn)
    if product_id is None:
        if question:
            return question
        if restock_requested:
            # "how do restock alerts work?": no product named, so the question is about alerts.
            answer = knowledge_answer(turn)
            if answer is not None:
                return answer + "\n\nTell me the product and option, and I'll set up an alert for you."
        return recommendation_answer(turn, lead="I'm not sure which product you mean. ")
    record = turn.tool("check_stock", product=product_id)
    if not record.outcome.ok:
        return (record.outcome.error or {}).get("message", "I couldn't check that product.")
    stock = record.outcome.result
    variants = stock["variants"]
    asked = _asked_values(turn, stock["product_id"], variants)
    _focus(turn, stock, asked, frame="stock")
    chosen, matched = _matching_variants(asked, variants)
    name = stock["name"]
    exact = matched > 0 and matched == len(asked)
    if exact and (len(chosen) == 1 or all(not v["available"] for v in chosen)):
        variant = chosen[0]
        if variant["available"]:
            turn.state.offer = {}
            return f"Yes — {name} ({_options(variant)}) is {variant['stock']}, ${variant['price']:.2f}."
        if restock_requested:
            return subscribe_restock(turn, variant["item_id"], name)
        turn.state.offer = {"kind": "restock", "item_id": variant["item_id"], "name": name}
        return (
            f"Sorry — {name} ({_options(variant)}) is out of stock right now.{_instead(asked, variants)} "
            "Would you like me to email you when it's back in stock?"
        )
    if asked and not exact:
        # No option has everything asked ("size 12 in blue" when there is no 12): say so, and
        # show the nearest options rather than the whole grid.
        turn.state.offer = {}
        return (
            f"I don't see {name} in {', '.join(asked)} — that combination isn't one we sell."
            f"{_instead(asked, variants, lead='Closest in stock')}"
        )
    available = [v for v in (chosen or variants) if v["available"]]
    missing = [v for v in (chosen or variants) if not v["available"]]
    if restock_requested and missing:
        if len(missing) == 1:
            return subscribe_restock(turn, missing[0]["item_id"], name)
        turn.state.offer = {}
        turn.state.frame = "restock"
        listing = "; ".join(_options(v) for v in missing[:6])
        return f"Which option of {name} should I alert you about? Out of stock: {listing}."
    if not available:
        if missing:
            turn.state.offer = (
                {"kind": "restock", "item_id": missing[0]["item_id"], "name": name} if len(missing) == 1 else {}
            )
        turn.state.frame = "restock"
        return f"Sorry — {name} is out of stock in every option right now. Tell me which option and I can alert you when it's back."
    prices = [v["price"] for v in available]
    text = f"{name}: {len(available)} of {len(chosen or variants)} options in stock, ${min(prices):.2f}–${max(prices):.2f}."
    text += "\nIn stock: " + "; ".join(f"{_options(v)} (${v['price']:.2f})" for v in available[:6])
    if len(available) > 6:
        text += f" and {len(available) - 6} more"
    if missing:
        text += (
            "\nOut of stock: " + "; ".join(_options(v) for v in missing[:4]) + " — I can alert you when one is back."
        )
    return text + "\nTell me the option you want and I'll check it."


def _instead(asked: list[str], variants: list[dict[str, Any]], *, lead: str = "In stock instead") -> str:
    closest = _closest(asked, variants)[:4]
    if not closest:
        return ""
    return f" {lead}: " + "; ".join(f"{_options(v)} (${v['price']:.2f})" for v in closest) + "."


def subscribe_restock(turn: Turn, item_id: str, name: str) -> str:
    record = turn.tool("subscribe_restock_alert", item_id=item_id)
    turn.state.offer = {}
    if not record.outcome.ok:
        return (record.outcome.error or {}).get("message", "I couldn't set up that alert.")
    options = _options({"options": record.outcome.result.get("options") or {}})
    return f"Done — I'll email you as soon as {name} ({options}) is back in stock."


def product_answer(turn: Turn, *, product_id: str | None = None) -> str:
    question = ""
    if product_id is None:
        product_id, question = _pick_product(turn)
    if product_id is None:
        return question or recommendation_answer(turn)
    record = turn.tool("check_stock", product=product_id)
    if not record.outcome.ok:
        return (record.outcome.error or {}).get("message", "I couldn't look that product up.")
    stock = record.outcome.result
    variants = stock["variants"]
    asked = _asked_values(turn, stock["product_id"], variants)
    _focus(turn, stock, asked, frame="stock")
    keys: dict[str, list[str]] = {}
    for variant in variants:
        for key, value in variant["options"].items():
            keys.setdefault(str(key), [])
            if str(value) not in keys[str(key)]:
                keys[str(key)].append(str(value))
    available = [v for v in variants if v["available"]]
    prices = [v["price"] for v in (available or variants)]
    price = f"${min(prices):.2f}" if min(prices) == max(prices) else f"${min(prices):.2f}–${max(prices):.2f}"
    lines = [f"{stock['name']}: {price}, {len(available)} of {len(variants)} options in stock."]
    chosen, matched = _matching_variants(asked, variants)
    if matched:
        # "is the kettle 1.7 litres?": the options asked about, with their stock.
        lines += [f"• {_options(v)}: {v['stock']}, ${v['price']:.2f}" for v in chosen[:4]]
    attributes = _attributes_asked(turn, stock)
    if not attributes and _ANOTHER_PRODUCT.match(turn.text):
        attributes = list(turn.state.last_attributes)  # "is the e-reader waterproof?" … "what about the jacket?"
    turn.state.last_attributes = attributes
    if attributes:
        found = [(attribute, _attribute_line(stock, keys, attribute)) for attribute in attributes]
        lines += [line for _attribute, line in found if line]
        unknown = [attribute for attribute, line in found if not line]
        if unknown and not matched and len(unknown) == len(attributes):
            lines.append(_unknown_attributes(turn, stock, unknown))
        return "\n".join(lines)
    if matched:
        return "\n".join(lines)
    lines += [f"• {key}: {', '.join(values)}" for key, values in keys.items()]
    return "\n".join(lines) + "\nAsk me about a specific option to check its stock."


# Words of a product question that are not the attribute asked about.
_QUESTION_WORDS = set(
    """a about also an and any anything are available be buy can cost costs could describe detail details do does
    for from get go good has have hello hey hi how i if in info information is it it's its item just know like
    look looking me more much my need of on one or please pls price priced prices product s sell so stock tell
    that the them there these they thing this those to u want what whats which will with would you your yours
    thanks thank ok okay really actually come comes came work works made does kind sort type than then""".split()
)
# Words customers use for an attribute, and the word the catalog writes it with.
_ATTRIBUTE_WORDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("rain", "rainy", "wet", "splash", "shower", "swim", "swimming", "waterproof"), ("water",)),
    **dict.fromkeys(("colour", "colours", "colors", "shade"), ("color",)),
    **dict.fromkeys(("big", "bigger", "larger", "smaller", "fit", "sizes", "sizing"), ("size", "capacity")),
    **dict.fromkeys(("litre", "litres", "liter", "liters", "volume", "hold", "holds"), ("capacity", "size")),
    **dict.fromkeys(("heavy", "weigh", "light", "lighter"), ("weight",)),
    **dict.fromkeys(("warm", "warmer", "warmest", "cold", "winter", "temperature"), ("temperature", "warm")),
    **dict.fromkeys(("tall", "long", "longer", "length"), ("length", "size")),
    **dict.fromkeys(("charging", "charge", "battery"), ("battery", "power")),
    **dict.fromkeys(("watts", "watt", "wattage", "powerful"), ("power",)),
    **dict.fromkeys(("memory", "space", "gigabytes"), ("storage",)),
}


_ANOTHER_PRODUCT = re.compile(r"\s*(?:ok(?:ay)?,?\s+)?(?:and|what about|how about|same for|and the)\b", re.IGNORECASE)


def _attributes_asked(turn: Turn, stock: dict[str, Any]) -> list[str]:
    """Content words of the question that name neither the product nor one of its option values:
    the attribute the customer wants to know about ("waterproof", "warranty", "battery")."""
    name_words = {singular(word) for word in normalize(stock["name"]).split()}
    for mention in turn.entities.products:
        name_words |= {singular(word) for word in normalize(mention.text).split()}
    values = {value for variant in stock["variants"] for value in _values(variant)}
    found = []
    for word in normalize(turn.text).split():
        if (
            len(word) >= 4
            and word not in _QUESTION_WORDS
            and singular(word) not in name_words
            and word not in values
            and not word.isdigit()
            and word not in found
        ):
            found.append(word)
    return found[:3]


def _stems(word: str) -> set[str]:
    return {singular(word)[:5]} | {stem[:5] for stem in _ATTRIBUTE_WORDS.get(word, ())}


def _attribute_line(stock: dict[str, Any], keys: dict[str, list[str]], attribute: str) -> str:
    """What the option grid, then the product text say about `attribute` ("" when neither does)."""
    stems = _stems(attribute)
    for key, values in keys.items():
        if any(word.startswith(stem) for word in normalize(key).split() for stem in stems):
            return f"• {key.capitalize()}: {', '.join(values)}, depending on the option."
    description = str(stock.get("description") or "").strip()
    for sentence in re.split(r"(?<=[.!?])\s+", description):
        if any(word.startswith(stem) for word in normalize(sentence).split() for stem in stems):
            return f"• {attribute.capitalize()}: yes — the product description says “{sentence.strip()}”"
    return ""


def _unknown_attributes(turn: Turn, stock: dict[str, Any], unknown: list[str]) -> str:
    """Neither the options nor the product text say: the help center if one of its passages (not a
    product page) is about the question ("is there a warranty?"), else say so honestly."""
    stems = {stem for word in unknown for stem in _stems(word)}
    hits = list(turn.request.retrieved.hits) if turn.request.retrieved.confident else []

    def names_it(text: str) -> bool:
        return any(word.startswith(stem) for word in normalize(text).split() for stem in stems)

    # A passage whose heading names the attribute ("Warranty") before one that only mentions it.
    hits.sort(key=lambda hit: not names_it(citation_label(hit.citation)))
    for hit in hits:
        if getattr(hit, "kind", "") == "product":
            continue
        if names_it(_body(hit.text)) or names_it(citation_label(hit.citation)):
            ref = len(turn.citations) + 1
            turn.citations.append({"ref": ref, **hit.citation})
            return f"{_snippet(hit.text)} [{ref}]\n\n(From “{citation_label(hit.citation)}”.)"
    description = str(stock.get("description") or "").strip()
    said = f" Its description reads: “{description}”" if description else ""
    named = f"whether it's {unknown[0]}" if len(unknown) == 1 else "that"
    return (
        f"The product details don't say {named}, so I wouldn't count on it.{said} If it matters, I can ask our "
        "team to confirm — just say “talk to a person”."
    )


def recommendation_answer(turn: Turn, *, lead: str = "") -> str:
    budget = turn.entities.budget
    mentions = turn.entities.products
    query = " ".join(mentions[0].names) if mentions else _strip_budget(turn.text)
    arguments: dict[str, Any] = {"query": query or turn.text}
    if budget is not None:
        arguments["max_price"] = budget
    record = turn.tool("search_products", **arguments)
    if not record.outcome.ok:
        return lead + (record.outcome.error or {}).get("message", "I couldn't search the catalog right now.")
    products = record.outcome.result.get("products", [])
    within = f" under ${budget:.2f}" if budget is not None else ""
    if not products:
        return f"{lead}I couldn't find anything matching that{within}. Could you describe it differently?"
    lines = [f"{lead}Here's what I'd suggest{within}:"]
    for product in products[:3]:
        variant = (product.get("matching_variants") or [None])[0]
        detail = f"{_options(variant)} at ${variant['price']:.2f}" if variant else f"from ${product['price_from']:.2f}"
        lines.append(f"• {product['name']} — {detail} ({product['available_variants']} options in stock)")
    turn.state.last_product_id = products[0]["product_id"]
    return "\n".join(lines)


def _strip_budget(text: str) -> str:
    return re.sub(
        r"(?:under|below|less than|up to|max(?:imum)?|budget(?: of| is)?|within|around|about|for)?\s*\$?\d[\d,.]*\s*(?:dollars?|bucks|usd)?",
        " ",
        text,
        flags=re.I,
    ).strip()


def comparison_answer(turn: Turn) -> str:
    ids = [ids[0] for ids in _product_ids(turn) if len(ids) >= 1]
    if len(ids) < 2:
        return "Which two products would you like me to compare? Name both, e.g. “compare the Laptop and the Tablet”."
    rows = []
    for product_id in ids[:2]:
        record = turn.tool("check_stock", product=product_id)
        if not record.outcome.ok:
            return (record.outcome.error or {}).get("message", "I couldn't look up one of those products.")
        rows.append(record.outcome.result)
    lines = ["Side by side:"]
    for stock in rows:
        variants = stock["variants"]
        available = [v for v in variants if v["available"]]
        prices = [v["price"] for v in (available or variants)]
        keys = sorted({str(k) for v in variants for k in v["options"]})
        lines.append(
            f"• {stock['name']}: ${min(prices):.2f}–${max(prices):.2f}; {len(available)} of {len(variants)} options in stock; "
            f"options: {', '.join(keys)}"
        )
    cheaper = min(rows, key=lambda s: min(v["price"] for v in s["variants"]))
    lines.append(f"The {cheaper['name']} starts cheaper.")
    return "\n".join(lines)


def payment_methods_answer(turn: Turn, *, mine: bool = False) -> str:
    if mine:
        methods = turn.payment_methods()
        if methods:
            listing = "\n".join(f"• {_method_with_balance(m)}" for m in methods.values())
            return f"These payment methods are saved on your account:\n{listing}"
    return policy_answer(turn)


def _method_with_balance(method: dict[str, Any]) -> str:
    """A saved method in words; a gift card with what is left on it ("how much is on my gift card")."""
    words = method_words(method)
    if method.get("source") == "gift_card" and method.get("balance") is not None and "$" not in words:
        words += f" — ${Decimal(str(method['balance'])):.2f} left"
    return words


# --- small talk -------------------------------------------------------------------------------

CAPABILITIES = (
    "track an order, cancel or change a pending order, return or exchange delivered items, check stock "
    "and prices, set up restock alerts, and answer questions about our policies"
)


def greeting(turn: Turn) -> str:
    name = turn.request.profile.name.split(" ")[0] if turn.request.profile.name else ""
    return f"Hi{' ' + name if name else ''}! I can {CAPABILITIES}. What can I do for you?"


def goodbye(turn: Turn) -> str:
    return "Thanks for chatting with Cobalt Market — have a great day!"


def thanks(turn: Turn) -> str:
    return "You're welcome! Is there anything else I can help with?"


# Orders a customer may well be waiting on, the one on its way first.
_OPEN_STATUSES = ("processed", "pending", "pending (item modified)")


def next_step(turn: Turn) -> str:
    """One concrete thing to do next: check the customer's open order (a "yes" does it), else the
    things I can do."""
    recent = turn.request.profile.recent_orders
    open_orders = sorted(
        (order for order in recent if order.get("status") in _OPEN_STATUSES),
        key=lambda order: _OPEN_STATUSES.index(order["status"]),
    )
    if open_orders and not turn.state.offer:
        order = open_orders[0]
        where = "on its way" if order["status"] == "processed" else "not shipped yet"
        turn.state.offer = {"kind": "track", "order_id": order["order_id"]}
        return f"Would you like me to check on order {order['order_id']} ({where})? Just say yes."
    return f"I can {CAPABILITIES} — what would you like to do?"


def out_of_scope(turn: Turn) -> str:
    return f"Sorry, that's not something I can help with. {next_step(turn)} " + OFFER_HUMAN
