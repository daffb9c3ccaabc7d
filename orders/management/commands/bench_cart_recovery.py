"""`manage.py bench_cart_recovery`: the cart-recovery selection against a million carts.

Bulk-inserts synthetic customers, carts (mostly ordered or already reminded, some open and due,
some too fresh), cart items and orders with set-based SQL, ANALYZEs, then walks the selection
batch by batch as the beat job does and reports per-batch time and the query plan. Selection
only: nothing is claimed or mailed. Every synthetic row is deleted afterwards.
"""

from __future__ import annotations

import statistics
import time
import uuid
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from orders.models import Product, Variant
from orders.notifications.cart_recovery import (
    CART_BATCH_SIZE,
    Cursor,
    carts_due_first_reminder,
    carts_due_first_reminder_queryset,
)


class Command(BaseCommand):
    help = "Benchmark: cart-recovery selection per batch with N synthetic carts (default 1,000,000)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--carts", type=int, default=1_000_000)
        parser.add_argument("--customers", type=int, default=50_000)
        parser.add_argument("--batches", type=int, default=40, help="Batches to time (default 40).")
        parser.add_argument("--batch-size", type=int, default=CART_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        tag = f"benchcart_{uuid.uuid4().hex[:6]}"
        product = Product.objects.create(product_id=tag, name="Benchmark mug", product_type="benchmark")
        variant = Variant.objects.create(
            product=product, item_id=tag, options={}, price=Decimal("9.00"), stock_quantity=5
        )
        try:
            self._populate(tag, variant.pk, options["carts"], options["customers"])
            self._measure(options["batches"], options["batch_size"])
        finally:
            self._clean(tag)
            product.delete()

    def _populate(self, tag: str, variant_id: int, carts: int, customers: int) -> None:
        steps = tqdm(total=5, desc="Synthetic data", unit="step")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO orders_customer (handle, first_name, last_name, email, address1, address2, city, state,
                       country, zip, created_at, updated_at)
                   SELECT %s || '_' || n, 'Bench', 'Cart' || n, %s || '_' || n || '@example.com', '', '', '', '', '', '', now(), now()
                   FROM generate_series(1, %s) AS n""",
                [tag, tag, customers],
            )
            steps.update()
            cursor.execute("SELECT min(id) FROM orders_customer WHERE handle LIKE %s", [f"{tag}\\_%"])
            first_customer = cursor.fetchone()[0]
            # Idle times spread over 60 days, owners drawn at random (seeded: same data each run).
            # 60 % ordered, 30 % open but already reminded, 10 % open and never reminded (the
            # recovery index's population; most of them due).
            cursor.execute("SELECT setseed(0.42)")
            cursor.execute(
                """INSERT INTO orders_cart (customer_id, status, created_at, updated_at, reminder_sent_at)
                   SELECT %s + floor(random() * %s)::int, CASE WHEN n %% 10 < 6 THEN 'ordered' ELSE 'open' END,
                          now() - (n %% 86400) * interval '1 minute', now() - (n %% 86400) * interval '1 minute',
                          CASE WHEN n %% 10 BETWEEN 6 AND 8 THEN now() - interval '1 hour' END
                   FROM generate_series(1, %s) AS n""",
                [first_customer, customers, carts],
            )
            steps.update()
            cursor.execute(
                """INSERT INTO orders_cartitem (cart_id, variant_id, quantity)
                   SELECT cart.id, %s, 1 FROM orders_cart cart JOIN orders_customer c ON c.id = cart.customer_id
                   WHERE c.handle LIKE %s AND cart.status = 'open' AND cart.id %% 7 <> 0""",
                [variant_id, f"{tag}\\_%"],
            )
            steps.update()
            # A fifth of the customers ordered in the last two days (excludes their carts).
            cursor.execute(
                """INSERT INTO orders_order (order_id, customer_id, status, address1, address2, city, state, country, zip,
                       cancel_reason, created_at, updated_at)
                   SELECT '#B' || c.id, c.id, 'pending', '', '', '', '', '', '', '', now() - (c.id %% 48) * interval '1 hour', now()
                   FROM orders_customer c WHERE c.handle LIKE %s AND c.id %% 5 = 0""",
                [f"{tag}\\_%"],
            )
            steps.update()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE orders_customer, orders_cart, orders_cartitem, orders_order")
        steps.update()
        steps.close()

    def _measure(self, batches: int, batch_size: int) -> None:
        now = timezone.now()
        plan = carts_due_first_reminder_queryset(now=now)[:batch_size].explain(analyze=True)
        self.stdout.write("EXPLAIN ANALYZE of the first batch:\n" + plan)
        self.stdout.write(
            "uses orders_cart_recovery_due: yes"
            if "orders_cart_recovery_due" in plan
            else "uses orders_cart_recovery_due: NO"
        )
        timings: list[float] = []
        after: Cursor | None = None
        selected = 0
        for _ in tqdm(range(batches), desc="Selection batches", unit="batch"):
            started = time.perf_counter()
            rows = carts_due_first_reminder(now=now, after=after, limit=batch_size)
            timings.append((time.perf_counter() - started) * 1000)
            if not rows:
                break
            selected += len(rows)
            after = Cursor(at=rows[-1][1], pk=rows[-1][0])
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders_cart")
            total = cursor.fetchone()[0]
        ordered = sorted(timings)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        self.stdout.write(
            f"{total} carts in the table; {len(timings)} batches of up to {batch_size}, {selected} carts selected; "
            f"per batch: median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {max(timings):.1f} ms"
        )

    def _clean(self, tag: str) -> None:
        with connection.cursor() as cursor:
            for sql in (
                "DELETE FROM orders_cartitem WHERE cart_id IN (SELECT cart.id FROM orders_cart cart JOIN orders_customer c ON c.id = cart.customer_id WHERE c.handle LIKE %s)",
                "DELETE FROM orders_cart WHERE customer_id IN (SELECT id FROM orders_customer WHERE handle LIKE %s)",
                "DELETE FROM orders_order WHERE customer_id IN (SELECT id FROM orders_customer WHERE handle LIKE %s)",
                "DELETE FROM orders_customer WHERE handle LIKE %s",
            ):
                cursor.execute(sql, [f"{tag}\\_%"])
        self.stdout.write("synthetic rows deleted")
