"""`manage.py bench_offline`: server time of an offline-assistant turn, after warm-up.

A turn is the whole `chat_turn` (store the message, NLU, retrieval, tools, dialogue state,
rendering, persisting the answer) with no LLM configured. The bench builds a small store of
its own inside a transaction that is rolled back at the end, so it leaves the database as it
found it, then replays a mix of conversations: tracking, stock, a policy question, a
cancellation form, a return form, a comparison and small talk. Target: p95 ≤ 60 ms.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from tqdm import tqdm

from assistant.nlu.classifier import get_intent_model
from assistant.turn import chat_turn
from chat.models import Conversation, PendingAction
from knowledge import embeddings
from orders.models import (
    Customer,
    Fulfillment,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    Product,
    Variant,
)
from supportbot.runtime import process_ready

TARGET_P95_MS = 60.0


class _Rollback(Exception):
    pass


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def build_store() -> dict[str, Any]:
    """A customer with a pending and a delivered order and a few products (rolled back later)."""
    user = get_user_model().objects.create_user(username="bench-offline@example.com", password=None)
    customer = Customer.objects.create(
        user=user,
        handle="bench_offline_0001",
        first_name="Bench",
        last_name="Runner",
        email="bench-offline@example.com",
        address1="1 Main St",
        city="Austin",
        state="TX",
        country="USA",
        zip="78701",
    )
    card = PaymentMethod.objects.create(
        customer=customer, payment_method_id="credit_card_bench_1", source="credit_card", brand="visa", last_four="4242"
    )
    PaymentMethod.objects.create(
        customer=customer, payment_method_id="gift_card_bench_1", source="gift_card", balance=Decimal("200.00")
    )
    catalog: dict[str, list[Variant]] = {}
    for index, (name, options, price, stock) in enumerate(
        [
            ("Bench Headphones", [{"color": "black"}, {"color": "white"}], "150.00", [5, 0]),
            ("Bench T-Shirt", [{"size": "M", "color": "blue"}, {"size": "L", "color": "blue"}], "20.00", [5, 5]),
            ("Bench Tablet", [{"storage": "64GB"}], "299.00", [3]),
        ]
    ):
        product = Product.objects.create(product_id=f"99000000{index:02d}", name=name, product_type=name)
        catalog[name] = [
            Variant.objects.create(
                product=product,
                item_id=f"98000000{index}{n}",
                options=option,
                price=Decimal(price),
                stock_quantity=stock[n],
            )
            for n, option in enumerate(options)
        ]
    orders: dict[str, Order] = {}
    for key, status, variants in (
        ("pending", "pending", [catalog["Bench Headphones"][0]]),
        ("delivered", "delivered", [catalog["Bench T-Shirt"][0], catalog["Bench Tablet"][0]]),
    ):
        order = Order.objects.create(
            order_id=f"#W99{len(orders):05d}",
            customer=customer,
            status=status,
            address1="1 Main St",
            city="Austin",
            state="TX",
            country="USA",
            zip="78701",
        )
        for variant in variants:
            OrderItem.objects.create(
                order=order,
                product=variant.product,
                variant=variant,
                name=variant.product.name,
                price=variant.price,
                options=variant.options,
            )
        PaymentTransaction.objects.create(
            order=order, transaction_type="payment", amount=sum(v.price for v in variants), payment_method=card
        )
        if status == "delivered":
            Fulfillment.objects.create(
                order=order,
                tracking_ids=["1Z999"],
                carrier="UPS",
                item_ids=[v.item_id for v in variants],
                tracking_status="delivered",
            )
        orders[key] = order
    return {"customer": customer, "user": user, "orders": orders}


def scripts(store: dict[str, Any]) -> list[tuple[str, list[str]]]:
    pending, delivered = store["orders"]["pending"].order_id, store["orders"]["delivered"].order_id
    return [
        ("track", [f"where is my order {delivered}?"]),
        ("stock", ["are the white bench headphones in stock?"]),
        ("policy", ["how long does a refund take to reach my card?"]),
        ("cancel form", [f"I want to cancel order {pending}", "I ordered it by mistake"]),
        ("return form", ["I'd like to return the bench t-shirt", "refund it to my gift card"]),
        ("compare", ["compare the bench tablet and the bench headphones"]),
        ("small talk", ["hi there", "thanks!"]),
    ]


class Command(BaseCommand):
    help = "Benchmark an offline-assistant chat turn (server time p50/p95, SQL queries) after warm-up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rounds", type=int, default=15, help="Times each conversation is replayed (default 15).")
        parser.add_argument("--warmup", type=int, default=2, help="Rounds run first and not measured (default 2).")

    def handle(self, *args: Any, **options: Any) -> None:
        get_intent_model()
        process_ready()  # warms the embedding model and freezes start-up objects, as a web worker does
        self.stdout.write(
            f"Embedding backend: {embeddings.backend()}, {embeddings.threads()} thread(s) (EMBEDDING_THREADS)"
        )
        timings: dict[str, list[float]] = defaultdict(list)
        queries: list[int] = []
        try:
            with override_settings(LLM_BASE_URL="", LLM_MODEL=""), transaction.atomic():
                store = build_store()
                plan = scripts(store)
                total_rounds = options["warmup"] + options["rounds"]
                for round_number in tqdm(range(total_rounds), desc="Benchmarking", unit="round"):
                    measured = round_number >= options["warmup"]
                    for name, messages in plan:
                        self._conversation(
                            store, name, messages, timings if measured else None, queries if measured else None
                        )
                raise _Rollback
        except _Rollback:
            pass
        everything = [value for values in timings.values() for value in values]
        self.stdout.write(f"Offline turns measured: {len(everything)} (after {options['warmup']} warm-up rounds)")
        self.stdout.write(f"{'scenario':<14}{'turns':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
        for name, values in timings.items():
            self.stdout.write(
                f"{name:<14}{len(values):>6}{statistics.median(values):>9.1f}{_percentile(values, 0.95):>9.1f}{max(values):>9.1f}"
            )
        p95 = _percentile(everything, 0.95)
        self.stdout.write(
            f"{'all':<14}{len(everything):>6}{statistics.median(everything):>9.1f}{p95:>9.1f}{max(everything):>9.1f}"
        )
        self.stdout.write(f"SQL queries per turn: median {statistics.median(queries):.0f}, max {max(queries)}")
        verdict = self.style.SUCCESS("meets") if p95 <= TARGET_P95_MS else self.style.WARNING("misses")
        self.stdout.write(f"p95 {p95:.1f} ms {verdict} the {TARGET_P95_MS:.0f} ms target.")

    def _conversation(
        self,
        store: dict[str, Any],
        name: str,
        messages: list[str],
        timings: dict[str, list[float]] | None,
        queries: list[int] | None,
    ) -> None:
        conversation = Conversation.objects.create(customer=store["customer"])
        for text in messages:
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                chat_turn(conversation=conversation, text=text, user=store["user"])
                elapsed = (time.perf_counter() - started) * 1000
            if timings is not None and queries is not None:
                timings[name].append(elapsed)
                queries.append(len(captured))
        # Leave nothing waiting, so the next round's proposal is a fresh one.
        PendingAction.objects.filter(conversation=conversation, status=PendingAction.Status.PROPOSED).update(
            status=PendingAction.Status.DECLINED
        )
