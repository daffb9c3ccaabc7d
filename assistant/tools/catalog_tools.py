"""Catalog tools for the assistant: product search, stock, restock alerts.

Thin adapters over orders selectors/services. Product search matches the query against
product names, types, option values and descriptions with rapidfuzz (typo-tolerant); when no
product is named clearly, it also searches the catalog by meaning (the product pages of the
knowledge base, see _with_meaning). The texts it matches are kept per process (see
_search_texts); the matched products are read fresh, so prices and stock are current.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process, utils

from assistant.tools.registry import ToolContext, tool
from knowledge.selectors import products_matching
from orders import selectors, services
from orders.catalog_cache import CatalogCache
from supportbot.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from orders.models import Product, Variant

MATCH_AT_LEAST = 60
# A fuzzy score this high means the customer named the product: no need to search by meaning.
STRONG_MATCH = 85
# Cosine similarity a product page needs to count as a semantic match.
SEMANTIC_AT_LEAST = 0.3
RESULTS = 5
LOW_STOCK = 3


def _build_search_texts() -> list[tuple[str, str, str]]:
    return [(product.product_id, product.name, _haystack(product)) for product in selectors.products_for_catalog()]


# What the catalog tools match against: each product's id, name and search text (name, type,
# options and the start of the description). Building it reads the whole catalog, so a process
# keeps it until the catalog changes (see orders.catalog_cache). Prices and stock are never
# cached: the matched products are read fresh.
SEARCH_TEXTS_TTL = 60.0
_search_texts_cache = CatalogCache(_build_search_texts, max_age=SEARCH_TEXTS_TTL)


def _search_texts() -> list[tuple[str, str, str]]:
    """(product_id, name, search text) of every product."""
    return _search_texts_cache.get()


def _haystack(product: Product) -> str:
    options = {str(value) for variant in product.variants.all() for value in variant.options.values()}
    return " ".join([product.name, product.product_type, *sorted(options), product.description[:300]])


def _price(value: Decimal) -> float:
    return float(round(value, 2))


def _variant(variant: Variant) -> dict[str, Any]:
    if not variant.available:
        stock = "out of stock"
    elif variant.stock_quantity <= LOW_STOCK:
        stock = f"only {variant.stock_quantity} left"
    else:
        stock = "in stock"
    return {
        "item_id": variant.item_id,
        "options": variant.options,
        "price": _price(variant.price),
        "available": variant.available,
        "stock": stock,
    }


def _summary(product: Product, variants: list[Variant], *, max_price: float | None = None) -> dict[str, Any]:
    available = [variant for variant in variants if variant.available]
    within = [variant for variant in available if max_price is None or variant.price <= Decimal(str(max_price))]
    prices = [variant.price for variant in available] or [variant.price for variant in variants]
    return {
        "product_id": product.product_id,
        "name": product.name,
        "type": product.product_type,
        "price_from": _price(min(prices)) if prices else None,
        "price_to": _price(max(prices)) if prices else None,
        "available_variants": len(available),
        "variants": len(variants),
        "matching_variants": [_variant(variant) for variant in sorted(within, key=lambda v: v.price)[:3]],
    }


@tool(
    name="search_products",
    description="Search the catalog by what the customer describes (name, kind, colour, size...), optionally under a maximum price.",
    parameters={
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": "What the customer is looking for, e.g. 'waterproof hiking boots'.",
            },
            "max_price": {"type": "number", "description": "Only variants at or under this price."},
        },
        "required": ["query"],
    },
)
def search_products(context: ToolContext, query: str, max_price: float | None = None) -> dict[str, Any]:
    query = " ".join(query.split())
    if not query:
        raise InvalidInput("Please say what product you are looking for.")
    if max_price is not None and max_price <= 0:
        raise InvalidInput("The maximum price must be more than zero.")
    texts = _search_texts()
    haystacks = {index: text for index, (_product_id, _name, text) in enumerate(texts)}
    matches = process.extract(
        query,
        haystacks,
        scorer=fuzz.WRatio,
        limit=RESULTS * 3,
        score_cutoff=MATCH_AT_LEAST,
        processor=utils.default_process,
    )
    ranked = [(texts[index][0], float(score)) for _text, score, index in matches]
    if not ranked or ranked[0][1] < STRONG_MATCH:
        ranked = _with_meaning(query, ranked)
    products = selectors.products_with_variants([product_id for product_id, _score in ranked])
    results = []
    for product_id, score in ranked:
        found = products.get(product_id)
        if found is None:  # deleted since the texts were built
            continue
        summary = _summary(found.product, found.variants, max_price=max_price)
        if max_price is not None and not summary["matching_variants"]:
            continue
        results.append({**summary, "match": round(score)})
        if len(results) == RESULTS:
            break
    return {"query": query, "max_price": max_price, "products": results}


def _with_meaning(query: str, lexical: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Blend in semantic matches (product pages of the knowledge base) when words alone match weakly.

    Reciprocal-rank fusion of the two rankings; the score shown is the better of the fuzzy
    score and the similarity as a percentage.
    """
    semantic = [
        (product_id, similarity * 100)
        for product_id, similarity in products_matching(query=query, k=RESULTS * 2)
        if similarity >= SEMANTIC_AT_LEAST
    ]
    fused: dict[str, float] = {}
    shown: dict[str, float] = {}
    for ranking in (lexical, semantic):
        for rank, (product_id, score) in enumerate(ranking, start=1):
            fused[product_id] = fused.get(product_id, 0.0) + 1 / (60 + rank)
            shown[product_id] = max(shown.get(product_id, 0.0), score)
    return [(product_id, shown[product_id]) for product_id in sorted(fused, key=lambda pid: -fused[pid])]


def _find_product(product: str) -> selectors.ProductVariants:
    """By product id, else the closest product name (fuzzy; typos are fine). One or two queries."""
    wanted = product.strip()
    names = [(product_id, name) for product_id, name, _text in _search_texts()]
    product_id = next((pid for pid, _name in names if pid == wanted), None)
    if product_id is None:
        best = process.extractOne(
            wanted,
            {index: name for index, (_pid, name) in enumerate(names)},
            scorer=fuzz.WRatio,
            score_cutoff=75,
            processor=utils.default_process,
        )
        product_id = names[best[2]][0] if best is not None else None
    found = selectors.product_with_variants(product_id) if product_id is not None else None
    if found is None:
        raise NotFound(f"We couldn't find a product called “{wanted}”. Try search_products with a description.")
    return found


@tool(
    name="check_stock",
    description="Stock and price of each variant of a product (by product id or name), or of one item id.",
    parameters={
        "type": "object",
        "properties": {
            "product": {"type": "string", "description": "A product id or product name, e.g. 'Running Shoes'."},
            "item_id": {"type": "string", "description": "One variant's item id."},
        },
    },
)
def check_stock(context: ToolContext, product: str | None = None, item_id: str | None = None) -> dict[str, Any]:
    if not product and not item_id:
        raise InvalidInput("Say which product (product or item_id) to check.")
    if item_id:
        variant = selectors.variant_with_product(item_id.strip())
        if variant is None:
            raise NotFound(f"We couldn't find item {item_id} in the catalog.")
        return {"product_id": variant.product.product_id, "name": variant.product.name, "variant": _variant(variant)}
    found = _find_product(product or "")
    return {
        "product_id": found.product.product_id,
        "name": found.product.name,
        # The product text answers attribute questions ("is it waterproof?") the options don't.
        "description": found.product.description,
        "variants": [_variant(variant) for variant in found.variants],
    }


@tool(
    name="subscribe_restock_alert",
    description="Email the customer when an out-of-stock item (variant) is back in stock.",
    parameters={
        "type": "object",
        "properties": {"item_id": {"type": "string", "description": "The out-of-stock variant's item id."}},
        "required": ["item_id"],
    },
)
def subscribe_restock_alert(context: ToolContext, item_id: str) -> dict[str, Any]:
    if context.customer is None:
        raise InvalidInput("Restock alerts are for a signed-in customer.")
    subscription = services.restock_subscription_create(customer=context.customer, item_id=item_id)
    variant = subscription.variant
    return {
        "subscribed": True,
        "item_id": variant.item_id,
        "product": variant.product.name,
        "options": variant.options,
        "message": "We'll email you when it's back in stock.",
    }
