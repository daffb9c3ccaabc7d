"""A believable demo store for Cobalt Market, generated from a seed (same seed → same store).

Catalog: eight departments of products with option grids (some variants sold out, a few
withdrawn). Customers with cards, PayPal and gift cards. Orders spread over the last three
months in every status, with tracking for shipped ones, refunds for cancelled ones and
request fields for returns and exchanges. A few carts left open days ago (for cart recovery).
The demo customer (supportbot.demo) owns an order in every status.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from orders.models import (
    Cart,
    CartItem,
    Customer,
    Fulfillment,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    Product,
    RestockSubscription,
    Variant,
)
from orders.services import money
from supportbot import demo

# department → [(product name, {option: values}, base price, description)]
CATALOG: dict[str, list[tuple[str, dict[str, list[str]], int, str]]] = {
    "Apparel": [
        (
            "Harbor Crew T-Shirt",
            {"color": ["navy", "white", "rust"], "size": ["S", "M", "L", "XL"]},
            24,
            "Heavyweight cotton tee with a relaxed fit.",
        ),
        (
            "Drift Hoodie",
            {"color": ["grey", "black"], "size": ["S", "M", "L"]},
            58,
            "Brushed fleece hoodie with a lined hood.",
        ),
        (
            "Trailhead Rain Jacket",
            {"color": ["olive", "yellow"], "size": ["M", "L", "XL"]},
            119,
            "Packable waterproof shell with taped seams.",
        ),
        (
            "Merino Crew Socks",
            {"size": ["S/M", "L/XL"], "pack": ["2-pack", "4-pack"]},
            16,
            "Cushioned merino wool socks.",
        ),
        (
            "Canvas Work Pants",
            {"color": ["khaki", "charcoal"], "waist": ["30", "32", "34", "36"]},
            64,
            "Durable canvas with a gusseted crotch.",
        ),
        ("Cobalt Baseball Cap", {"color": ["blue", "sand"]}, 22, "Six-panel cap with an adjustable strap."),
    ],
    "Footwear": [
        (
            "Cloudstep Running Shoes",
            {"color": ["blue", "black"], "size": ["8", "9", "10", "11"]},
            110,
            "Light road runners with a cushioned midsole.",
        ),
        (
            "Ridge Hiking Boots",
            {"size": ["8", "9", "10", "11"], "material": ["leather", "synthetic"]},
            149,
            "Waterproof mid-height boots.",
        ),
        (
            "Harbor Slip-On Sneakers",
            {"color": ["white", "navy"], "size": ["7", "8", "9", "10"]},
            54,
            "Canvas slip-ons with a rubber sole.",
        ),
        ("Cabin Slippers", {"size": ["S", "M", "L"]}, 35, "Wool-lined slippers with a grippy sole."),
        (
            "Trail Sandals",
            {"color": ["black", "brown"], "size": ["8", "9", "10"]},
            49,
            "Adjustable straps, quick-dry footbed.",
        ),
    ],
    "Home": [
        (
            "Linen Duvet Cover",
            {"size": ["twin", "queen", "king"], "color": ["white", "sage", "clay"]},
            129,
            "Stone-washed linen duvet cover.",
        ),
        ("Wool Throw Blanket", {"color": ["oat", "slate"]}, 79, "Soft lambswool throw, 130 × 170 cm."),
        (
            "Ceramic Table Lamp",
            {"color": ["white", "teal"], "bulb": ["warm", "cool"]},
            68,
            "Glazed ceramic base with a linen shade.",
        ),
        ("Bamboo Bath Towel Set", {"color": ["white", "grey", "blue"]}, 45, "Two bath towels and two hand towels."),
        (
            "Scented Soy Candle",
            {"scent": ["cedar", "fig", "sea salt"], "size": ["small", "large"]},
            18,
            "Hand-poured soy wax candle.",
        ),
        ("Floor Cushion", {"color": ["mustard", "navy"]}, 39, "Round cotton cushion for sitting on the floor."),
    ],
    "Kitchen": [
        ("Cast Iron Skillet", {"size": ["8 inch", "10 inch", "12 inch"]}, 39, "Pre-seasoned cast iron skillet."),
        ("Pour-Over Coffee Set", {"material": ["glass", "ceramic"]}, 42, "Dripper, carafe and 50 filters."),
        (
            "Chef's Knife",
            {"length": ["6 inch", "8 inch"], "handle": ["walnut", "black"]},
            89,
            "High-carbon stainless chef's knife.",
        ),
        (
            "Stoneware Dinner Set",
            {"color": ["speckled", "matte black"], "pieces": ["12", "16"]},
            95,
            "Dinner plates, side plates and bowls.",
        ),
        (
            "Insulated Water Bottle",
            {"capacity": ["500ml", "750ml", "1000ml"], "color": ["blue", "green", "black"]},
            29,
            "Keeps drinks cold for 24 hours.",
        ),
        (
            "Electric Kettle",
            {"color": ["white", "steel"], "capacity": ["1L", "1.7L"]},
            59,
            "Variable temperature kettle.",
        ),
    ],
    "Electronics": [
        (
            "Wireless Earbuds",
            {"color": ["black", "white"], "battery": ["standard", "extended"]},
            89,
            "Noise-isolating earbuds with a charging case.",
        ),
        (
            "Bluetooth Speaker",
            {"color": ["blue", "black", "red"], "water resistance": ["IPX4", "IPX7"]},
            69,
            "Portable speaker with 12-hour battery.",
        ),
        ("USB-C Charger", {"power": ["30W", "65W", "100W"]}, 35, "GaN wall charger with two ports."),
        ("E-Reader", {"storage": ["8GB", "32GB"], "color": ["black", "sage"]}, 139, "Glare-free 6-inch screen."),
        ("Smart Desk Lamp", {"color": ["white", "black"]}, 74, "Dimmable LED desk lamp with app control."),
        (
            "Mechanical Keyboard",
            {"switch": ["linear", "tactile", "clicky"], "layout": ["US", "UK"]},
            119,
            "Hot-swappable 75% keyboard.",
        ),
    ],
    "Outdoors": [
        ("Two-Person Tent", {"color": ["green", "orange"]}, 229, "Freestanding three-season tent."),
        (
            "Down Sleeping Bag",
            {"temperature": ["0°C", "-10°C"], "length": ["regular", "long"]},
            189,
            "Lightweight down sleeping bag.",
        ),
        ("Daypack 24L", {"color": ["black", "teal", "red"]}, 79, "Ventilated back panel and hip belt."),
        ("Trekking Poles", {"material": ["aluminium", "carbon"]}, 69, "Collapsible poles with cork grips."),
        ("Camp Stove", {"fuel": ["gas", "multi-fuel"]}, 59, "Compact stove with piezo ignition."),
    ],
    "Beauty": [
        (
            "Daily Face Moisturizer",
            {"size": ["50ml", "100ml"], "skin type": ["dry", "normal", "oily"]},
            28,
            "Fragrance-free moisturizer.",
        ),
        ("Mineral Sunscreen SPF 50", {"size": ["50ml", "100ml"]}, 22, "Reef-friendly mineral sunscreen."),
        ("Bamboo Hair Brush", {"type": ["paddle", "round"]}, 19, "Bamboo brush with natural bristles."),
        ("Shea Body Lotion", {"scent": ["unscented", "lavender", "citrus"]}, 17, "Rich lotion with shea butter."),
        ("Beard Oil", {"scent": ["cedar", "unscented"]}, 21, "Nourishing jojoba-based oil."),
    ],
    "Toys & Games": [
        ("Wooden Building Blocks", {"pieces": ["50", "100"]}, 34, "Solid beech blocks in natural colours."),
        ("Strategy Board Game", {"edition": ["standard", "deluxe"]}, 45, "Two to four players, about an hour."),
        ("1000-Piece Jigsaw Puzzle", {"theme": ["harbor", "mountains", "city"]}, 24, "Thick, glare-free pieces."),
        ("Kids' Art Kit", {"age": ["3-5", "6-9"]}, 29, "Crayons, paints and a sketchbook."),
        ("Plush Otter", {"size": ["small", "large"]}, 19, "Soft plush toy, machine washable."),
    ],
}

FIRST_NAMES = [
    "Amara",
    "Ben",
    "Chloe",
    "Diego",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Isla",
    "Jonas",
    "Kavya",
    "Liam",
    "Maya",
    "Nico",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Victor",
    "Wren",
    "Xavier",
    "Yara",
    "Zane",
    "Aiko",
    "Bruno",
    "Camille",
    "Dev",
]
LAST_NAMES = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Alvarez",
    "Petrov",
    "Haddad",
    "Kim",
    "Nakamura",
    "Byrne",
    "Schulz",
    "Iyer",
    "Walsh",
    "Costa",
    "Rossi",
    "Novak",
    "Mensah",
    "Fischer",
    "Dubois",
    "Tanaka",
    "Silva",
]
CITIES = [
    ("Portland", "OR", "972"),
    ("Denver", "CO", "802"),
    ("Austin", "TX", "787"),
    ("Chicago", "IL", "606"),
    ("Boston", "MA", "021"),
    ("Seattle", "WA", "981"),
    ("Atlanta", "GA", "303"),
    ("Phoenix", "AZ", "850"),
    ("Madison", "WI", "537"),
    ("Raleigh", "NC", "276"),
]
STREETS = [
    "Maple Avenue",
    "Harbor Lane",
    "Cedar Street",
    "Hillcrest Road",
    "Lakeview Drive",
    "Elm Street",
    "Sunset Boulevard",
    "Pine Court",
]
CARRIERS = ["UPS", "FedEx", "USPS", "DHL"]
CARD_BRANDS = ["visa", "mastercard", "amex", "discover"]


@dataclass
class _Ids:
    """Unique random public ids of a given width."""

    rng: random.Random
    used: set[str] = field(default_factory=set)

    def digits(self, width: int, prefix: str = "") -> str:
        while True:
            value = prefix + "".join(self.rng.choice("0123456789") for _ in range(width))
            if value not in self.used:
                self.used.add(value)
                return value


def _pick_status(rng: random.Random) -> str:
    weights = {
        "pending": 30,
        "pending (item modified)": 5,
        "processed": 15,
        "delivered": 35,
        "cancelled": 8,
        "return requested": 4,
        "exchange requested": 3,
    }
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class DemoStoreBuilder:
    def __init__(self, *, seed: int, customers: int, orders: int, tick: Callable[[int], None]) -> None:
        self.rng = random.Random(seed)
        self.ids = _Ids(self.rng)
        self.customer_count, self.order_count, self.tick = customers, orders, tick
        self.now = timezone.now()

    def build(self) -> dict[str, int]:
        variants = self._catalog()
        customers = self._customers()
        demo_customer = customers[0]
        buyable = [v for v in variants if v.available]
        for status in Order.Status.values:  # the demo customer sees every status
            self._order(demo_customer, buyable, status)
        for _ in range(self.order_count):
            self._order(self.rng.choice(customers), buyable, _pick_status(self.rng))
            self.tick(1)
        self._carts(customers, buyable)
        sold_out = next(v for v in variants if not v.available)
        RestockSubscription.objects.get_or_create(
            customer=demo_customer, variant=sold_out, status=RestockSubscription.Status.ACTIVE
        )
        return {
            "products": Product.objects.count(),
            "variants": len(variants),
            "customers": len(customers),
            "orders": Order.objects.count(),
        }

    def _catalog(self) -> list[Variant]:
        variants: list[Variant] = []
        for department, products in CATALOG.items():
            for name, options, base, description in products:
                product = Product.objects.create(
                    product_id=self.ids.digits(10), name=name, product_type=department, description=description
                )
                keys = list(options)
                for combination in itertools.product(*(options[key] for key in keys)):
                    price = money(Decimal(base) * Decimal(str(self.rng.uniform(0.9, 1.15))))
                    stock = 0 if self.rng.random() < 0.15 else self.rng.randint(1, 40)
                    variants.append(
                        Variant(
                            product=product,
                            item_id=self.ids.digits(10),
                            options=dict(zip(keys, combination, strict=True)),
                            price=price,
                            stock_quantity=stock,
                            active=self.rng.random() > 0.03,
                        )
                    )
                self.tick(1)
        return Variant.objects.bulk_create(variants)

    def _address(self) -> dict[str, str]:
        city, state, zip_prefix = self.rng.choice(CITIES)
        return {
            "address1": f"{self.rng.randint(10, 9999)} {self.rng.choice(STREETS)}",
            "address2": f"Suite {self.rng.randint(100, 999)}" if self.rng.random() < 0.4 else "",
            "city": city,
            "state": state,
            "country": "USA",
            "zip": f"{zip_prefix}{self.rng.randint(10, 99)}",
        }

    def _customers(self) -> list[Customer]:
        demo_customer, _ = Customer.objects.get_or_create(
            handle=demo.DEMO_CUSTOMER_HANDLE,
            defaults={
                "first_name": demo.DEMO_CUSTOMER_FIRST_NAME,
                "last_name": demo.DEMO_CUSTOMER_LAST_NAME,
                "email": demo.DEMO_CUSTOMER_EMAIL,
                "address1": "12 Harbor Lane",
                "city": "Portland",
                "state": "OR",
                "country": "USA",
                "zip": "97201",
            },
        )
        customers = [demo_customer]
        taken = set(Customer.objects.values_list("handle", flat=True))
        while len(customers) < self.customer_count + 1:
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            number = self.rng.randint(1000, 9999)
            handle = f"{first}_{last}_{number}".lower()
            if handle in taken:
                continue
            taken.add(handle)
            customers.append(
                Customer.objects.create(
                    handle=handle,
                    first_name=first,
                    last_name=last,
                    email=f"{first}.{last}{number}@example.com".lower(),
                    **self._address(),
                )
            )
        methods = []
        for index, customer in enumerate(customers):
            kinds = (
                ["credit_card", "paypal", "gift_card"]
                if index == 0
                else self.rng.sample(["credit_card", "paypal", "gift_card"], self.rng.randint(1, 3))
            )
            for kind in kinds:
                methods.append(
                    PaymentMethod(
                        customer=customer,
                        payment_method_id=self.ids.digits(7, f"{kind}_"),
                        source=kind,
                        brand=self.rng.choice(CARD_BRANDS) if kind == "credit_card" else "",
                        last_four=self.ids.digits(4) if kind == "credit_card" else "",
                        balance=money(self.rng.randint(0, 300)) if kind == "gift_card" else None,
                    )
                )
        PaymentMethod.objects.bulk_create(methods)
        self.methods: dict[int, list[PaymentMethod]] = {}
        for method in methods:
            self.methods.setdefault(method.customer_id, []).append(method)
        return customers

    def _order(self, customer: Customer, buyable: list[Variant], status: str) -> Order:
        rng = self.rng
        chosen = rng.sample(buyable, rng.randint(1, 4))
        if status in (Order.Status.PENDING_ITEM_MODIFIED, Order.Status.EXCHANGE_REQUESTED):
            # The first item must have another buyable option to have been swapped for.
            per_product: dict[int, int] = {}
            for variant in buyable:
                per_product[variant.product_id] = per_product.get(variant.product_id, 0) + 1
            chosen[0] = rng.choice([v for v in buyable if per_product[v.product_id] > 1])
        if rng.random() < 0.1:
            chosen.append(chosen[0])  # two of the same item
        method = rng.choice(self.methods[customer.pk])
        placed = self.now - timedelta(days=rng.uniform(0, 90))
        address = {key: getattr(customer, key) for key in ("address1", "address2", "city", "state", "country", "zip")}
        order = Order.objects.create(
            order_id=self.ids.digits(7, "#W"), customer=customer, status=status, created_at=placed, **address
        )
        items = OrderItem.objects.bulk_create(
            [
                OrderItem(
                    order=order, product=v.product, variant=v, name=v.product.name, price=v.price, options=v.options
                )
                for v in chosen
            ]
        )
        total = sum((v.price for v in chosen), Decimal("0"))
        history = [
            PaymentTransaction(
                order=order, transaction_type="payment", amount=total, payment_method=method, created_at=placed
            )
        ]
        item_ids = [v.item_id for v in chosen]
        if status == Order.Status.CANCELLED:
            order.cancel_reason = rng.choice(Order.CancelReason.values)
            history.append(
                PaymentTransaction(
                    order=order,
                    transaction_type="refund",
                    amount=total,
                    payment_method=method,
                    created_at=placed + timedelta(hours=3),
                )
            )
        elif status in (Order.Status.PENDING_ITEM_MODIFIED, Order.Status.EXCHANGE_REQUESTED):
            old = items[0]
            siblings = [v for v in buyable if v.product_id == old.product_id and v.pk != old.variant_id]
            new = rng.choice(siblings)
            difference = money(new.price - old.price)
            if status == Order.Status.PENDING_ITEM_MODIFIED:
                old.variant, old.price, old.options = new, new.price, new.options
                old.save()
                kind = "payment" if difference > 0 else "refund"
                history.append(
                    PaymentTransaction(
                        order=order, transaction_type=kind, amount=abs(difference), payment_method=method
                    )
                )
            else:
                order.exchange_items, order.exchange_new_items = [old.variant.item_id], [new.item_id]
                order.exchange_payment_method, order.exchange_price_difference = method, difference
        elif status == Order.Status.RETURN_REQUESTED:
            order.return_items = sorted(item_ids[: rng.randint(1, len(item_ids))])
            order.return_payment_method = method
        if order.status in (
            Order.Status.PROCESSED,
            Order.Status.DELIVERED,
            Order.Status.RETURN_REQUESTED,
            Order.Status.EXCHANGE_REQUESTED,
        ):
            tracking = (
                (
                    Fulfillment.TrackingStatus.IN_TRANSIT
                    if rng.random() < 0.6
                    else Fulfillment.TrackingStatus.LABEL_CREATED
                )
                if order.status == Order.Status.PROCESSED
                else Fulfillment.TrackingStatus.DELIVERED
            )
            Fulfillment.objects.create(
                order=order,
                tracking_ids=[self.ids.digits(12)],
                carrier=rng.choice(CARRIERS),
                item_ids=[i.variant.item_id for i in items],
                tracking_status=tracking,
            )
        order.save()
        PaymentTransaction.objects.bulk_create(history)
        return order

    def _carts(self, customers: list[Customer], buyable: list[Variant]) -> None:
        for customer in self.rng.sample(customers[1:], 4) + [customers[0]]:
            stale = self.now - timedelta(days=self.rng.uniform(1, 6))
            cart = Cart.objects.create(customer=customer, status=Cart.Status.OPEN, created_at=stale, updated_at=stale)
            CartItem.objects.bulk_create(
                [
                    CartItem(cart=cart, variant=v, quantity=self.rng.randint(1, 2))
                    for v in self.rng.sample(buyable, self.rng.randint(1, 3))
                ]
            )


def store_is_empty() -> bool:
    return not (Product.objects.exists() or Order.objects.exists())


@transaction.atomic
def demo_store_create(
    *, seed: int = 2026, customers: int = 60, orders: int = 240, tick: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Generate the demo store (all or nothing). Precondition: no catalog rows clash (use on an empty store)."""
    return DemoStoreBuilder(seed=seed, customers=customers, orders=orders, tick=tick or (lambda n: None)).build()


def catalog_size() -> int:
    return sum(len(products) for products in CATALOG.values())
