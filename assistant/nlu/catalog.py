"""A small in-memory index of the catalog for entity extraction: product names and option values.

Built from orders.models in two queries and kept by the process (orders.catalog_cache): it is
rebuilt when products or variants are added or removed, or after CATALOG_TTL seconds, so a
renamed product is picked up without a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orders.catalog_cache import CatalogCache
from orders.models import Product, Variant

CATALOG_TTL = 300.0

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")

# How customers name the catalog's product kinds when they don't use the store's word.
PRODUCT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "t shirt": ("tee", "tshirt", "tee shirt", "shirt"),
    "smartphone": ("phone", "cell phone", "mobile", "mobile phone", "cellphone"),
    "headphones": ("headset", "cans"),
    "wireless earbuds": ("earbuds", "earphones", "ear buds", "airpods"),
    "laptop": ("notebook computer", "computer"),
    "running shoes": ("runners", "trainers"),
    "sneakers": ("sneaker", "kicks"),
    "wristwatch": ("watch",),
    "smart watch": ("smartwatch",),
    "mechanical keyboard": ("keyboard",),
    "gaming mouse": ("mouse",),
    "e reader": ("ereader", "kindle", "ebook reader"),
    "portable charger": ("power bank", "powerbank", "battery pack"),
    "bluetooth speaker": ("speaker",),
    "water bottle": ("bottle",),
    "fleece jacket": ("jacket", "fleece"),
    "office chair": ("chair",),
}


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces; hyphens and punctuation become spaces."""
    return " ".join(_WORD.findall(text.lower().replace("-", " ")))


def singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxh":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def singular_phrase(phrase: str) -> str:
    return " ".join(singular(word) for word in phrase.split())


@dataclass
class CatalogProduct:
    product_id: str
    name: str
    product_type: str
    # Normalised singular forms a customer may use for this product (name, type, synonyms).
    aliases: set[str] = field(default_factory=set)


@dataclass
class CatalogIndex:
    products: dict[str, CatalogProduct] = field(default_factory=dict)
    # alias (normalised, singular) -> product ids
    alias_to_products: dict[str, set[str]] = field(default_factory=dict)
    # option value (normalised) -> {(product_id, option key)}
    option_values: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    # item id -> product id, so a bare 10-digit number can be told apart
    item_to_product: dict[str, str] = field(default_factory=dict)
    max_alias_words: int = 1

    def add_product(self, product_id: str, name: str, product_type: str) -> None:
        entry = CatalogProduct(product_id=product_id, name=name, product_type=product_type)
        for phrase in {normalize(name), normalize(product_type)}:
            if not phrase:
                continue
            entry.aliases.add(singular_phrase(phrase))
            entry.aliases.add(phrase.replace(" ", ""))
            for synonym in PRODUCT_SYNONYMS.get(phrase, ()):
                entry.aliases.add(singular_phrase(synonym))
        self.products[product_id] = entry
        for alias in entry.aliases:
            self.alias_to_products.setdefault(alias, set()).add(product_id)
            self.max_alias_words = max(self.max_alias_words, len(alias.split()))

    def add_variant(self, product_id: str, item_id: str, options: dict[str, object]) -> None:
        self.item_to_product[item_id] = product_id
        for key, value in options.items():
            normalized = normalize(str(value))
            if normalized:
                self.option_values.setdefault(normalized, set()).add((product_id, str(key)))


def build_catalog_index() -> CatalogIndex:
    index = CatalogIndex()
    for product_id, name, product_type in Product.objects.values_list("product_id", "name", "product_type"):
        index.add_product(product_id, name, product_type)
    for product_id, item_id, options in Variant.objects.values_list("product__product_id", "item_id", "options"):
        if isinstance(options, dict):
            index.add_variant(product_id, item_id, options)
    return index


_index = CatalogCache(build_catalog_index, max_age=CATALOG_TTL)


def get_catalog_index(*, check: bool = True) -> CatalogIndex:
    """The shared index; with `check`, rebuilt first if the catalog changed (see orders.catalog_cache)."""
    return _index.get(check=check)


def forget_catalog_index() -> None:
    _index.forget()
