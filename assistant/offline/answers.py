"""Answers that need no form: the help center with citations, the catalog, small talk, honesty.

Help-center answers quote the best retrieved passage and cite it; when retrieval is not
confident the assistant says so and offers a person instead of guessing. Product answers come
from the catalog tools (check_stock, search_products), never from memory.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.nlu.catalog import normalize
from assistant.nlu.entities import SIZE_WORDS
from assistant.offline.turn import Turn, method_words
from assistant.types import OFFER_HUMAN, citation_label

SNIPPET_CHARS = 480


# --- help center ------------------------------------------------------------------------------


def _snippet(text: str) -> str:
    # Drop the heading line the chunker prefixes, then cut at a sentence end.
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()
    if len(body) <= SNIPPET_CHARS:
        return body
    cut = body[:SNIPPET_CHARS]
    end = max(cut.rfind(". "), cut.rfind(".\n"))
    return (cut[: end + 1] if end > 120 else cut.rstrip() + "…").strip()


def knowledge_answer(turn: Turn, *, lead: str = "") -> str | None:
    """The best help-center passage with its citation, or None when retrieval isn't confident."""
    retrieved = turn.request.retrieved
    hits, confident = list(retrieved.hits), retrieved.confident
    if not hits:
        record = turn.tool("search_knowledge_base", query=turn.text)
        if record.outcome.ok:
            result = record.outcome.result
            confident = bool(result.get("confident"))
            hits = [_Hit(r["citation"], r["text"]) for r in result.get("results", [])]
    if not hits or not confident:
        return None
    best = hits[0]
    citation = {"ref": 1, **best.citation}
    turn.citations.append(citation)
    source = citation_label(citation) or "our help center"
    text = f"{lead}{_snippet(best.text)} [1]\n\n(From “{source}”.)"
    if (
        len(hits) > 1
        and hits[1].citation.get("id") != best.citation.get("id")
        and hits[1].citation.get("title") != best.citation.get("title")
    ):
        turn.citations.append({"ref": 2, **hits[1].citation})
        text += f" See also “{hits[1].citation.get('title')}” [2]."
    return text


class _Hit:
    def __init__(self, citation: dict[str, Any], text: str) -> None:
        self.citation, self.text = citation, text


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


def _matching_variants(turn: Turn, variants: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Variants whose option values the message names, and how many values matched."""
    wanted = _wanted(turn)
    scored = []
    for variant in variants:
        values = [normalize(str(v)) for v in variant["options"].values()]
        scored.append((sum(1 for value in values if value in wanted), variant))
    best = max((score for score, _ in scored), default=0)
    return [variant for score, variant in scored if score == best and best > 0], best


def _options(variant: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in variant["options"].values())


def _pick_product(turn: Turn) -> tuple[str | None, str]:
    mentions = _product_ids(turn)
    if mentions:
        ids = mentions[0]
        if len(ids) > 1:
            names = [turn.entities.products[0].names[i] for i in range(len(ids))]
            return None, f"Which one do you mean: {', '.join(names[:-1])} or {names[-1]}?"
        return ids[0], ""
    if turn.state.last_product_id:
        return turn.state.last_product_id, ""
    return None, ""


def stock_answer(turn: Turn, *, restock_requested: bool = False) -> str:
    product_id, question = _pick_product(turn)
    if product_id is None:
        if question:
            return question
        return recommendation_answer(turn, lead="I'm not sure which product you mean. ")
    record = turn.tool("check_stock", product=product_id)
    if not record.outcome.ok:
        return (record.outcome.error or {}).get("message", "I couldn't check that product.")
    stock = record.outcome.result
    turn.state.last_product_id = stock["product_id"]
    variants = stock["variants"]
    chosen, matched = _matching_variants(turn, variants)
    name = stock["name"]
    if matched and len(chosen) == 1 or (matched and all(not v["available"] for v in chosen)):
        variant = chosen[0]
        if variant["available"]:
            turn.state.offer = {}
            return f"Yes — {name} ({_options(variant)}) is {variant['stock']}, ${variant['price']:.2f}."
        if restock_requested:
            return subscribe_restock(turn, variant["item_id"], name)
        turn.state.offer = {"kind": "restock", "item_id": variant["item_id"], "name": name}
        others = [v for v in variants if v["available"]]
        alternatives = f" In stock instead: {'; '.join(_options(v) for v in others[:4])}." if others else ""
        return (
            f"Sorry — {name} ({_options(variant)}) is out of stock right now.{alternatives} "
            "Would you like me to email you when it's back in stock?"
        )
    available = [v for v in (chosen or variants) if v["available"]]
    missing = [v for v in (chosen or variants) if not v["available"]]
    if restock_requested and missing:
        if len(missing) == 1:
            return subscribe_restock(turn, missing[0]["item_id"], name)
        turn.state.offer = {}
        listing = "; ".join(_options(v) for v in missing[:6])
        return f"Which option of {name} should I alert you about? Out of stock: {listing}."
    if not available:
        if missing:
            turn.state.offer = (
                {"kind": "restock", "item_id": missing[0]["item_id"], "name": name} if len(missing) == 1 else {}
            )
        return f"Sorry — {name} is out of stock in every option right now. Tell me which option and I can alert you when it's back."
    prices = [v["price"] for v in available]
    text = f"{name}: {len(available)} of {len(chosen or variants)} options in stock, ${min(prices):.2f}–${max(prices):.2f}."
    text += "\nIn stock: " + "; ".join(f"{_options(v)} (${v['price']:.2f})" for v in available[:6])
    if missing:
        text += (
            "\nOut of stock: " + "; ".join(_options(v) for v in missing[:4]) + " — I can alert you when one is back."
        )
    return text


def subscribe_restock(turn: Turn, item_id: str, name: str) -> str:
    record = turn.tool("subscribe_restock_alert", item_id=item_id)
    turn.state.offer = {}
    if not record.outcome.ok:
        return (record.outcome.error or {}).get("message", "I couldn't set up that alert.")
    options = ", ".join(str(v) for v in record.outcome.result.get("options", {}).values())
    return f"Done — I'll email you as soon as {name} ({options}) is back in stock."


def product_answer(turn: Turn) -> str:
    product_id, question = _pick_product(turn)
    if product_id is None:
        return question or recommendation_answer(turn)
    record = turn.tool("check_stock", product=product_id)
    if not record.outcome.ok:
        return (record.outcome.error or {}).get("message", "I couldn't look that product up.")
    stock = record.outcome.result
    turn.state.last_product_id = stock["product_id"]
    variants = stock["variants"]
    keys: dict[str, list[str]] = {}
    for variant in variants:
        for key, value in variant["options"].items():
            keys.setdefault(str(key), [])
            if str(value) not in keys[str(key)]:
                keys[str(key)].append(str(value))
    available = [v for v in variants if v["available"]]
    prices = [v["price"] for v in (available or variants)]
    lines = [
        f"{stock['name']}: ${min(prices):.2f}–${max(prices):.2f}, {len(available)} of {len(variants)} options in stock."
    ]
    lines += [f"• {key}: {', '.join(values)}" for key, values in keys.items()]
    return "\n".join(lines) + "\nAsk me about a specific option to check its stock."


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
            listing = "\n".join(f"• {method_words(m)}" for m in methods.values())
            return f"These payment methods are saved on your account:\n{listing}"
    return policy_answer(turn)


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


def out_of_scope(turn: Turn) -> str:
    return f"Sorry, that's not something I can help with — I can {CAPABILITIES}. " + OFFER_HUMAN
