"""`manage.py bench_orders`: time import/export of the sample shop and the store's read tools.

Everything runs inside one transaction that is rolled back at the end, so the benchmark leaves
the database as it found it. Targets (issue 3): import ≤ 10 s, export ≤ 5 s, each read tool
≤ 5 ms at p95 with ≤ 5 queries per call.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from tqdm import tqdm

from assistant.tools import ToolContext, call_tool
from orders.interchange import shop_export, shop_import, shop_read
from orders.models import Customer, Order, Product

TARGETS = {"import_s": 10.0, "export_s": 5.0, "p95_ms": 5.0, "queries": 5}


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Benchmark import_shop/export_shop on the sample shop and p95 latency + query count of each read tool."

    def add_arguments(self, parser: CommandParser) -> None:
        default = Path(settings.BASE_DIR).parent / "shared" / "data" / "retail-shop"
        parser.add_argument("--data", type=Path, default=default, help=f"Shop directory (default {default}).")
        parser.add_argument("--calls", type=int, default=300, help="Calls per read tool (default 300).")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["data"] / "orders.json").is_file():
            raise CommandError(f"No sample shop at {options['data']} (pass --data DIR).")
        rows: list[tuple[str, str, str, str]] = []
        try:
            with transaction.atomic():
                self._run(options, rows)
                raise _Rollback
        except _Rollback:
            pass
        self.stdout.write(f"{'measure':34} {'value':>12} {'target':>10}  ok")
        for name, value, target, ok in rows:
            self.stdout.write(f"{name:34} {value:>12} {target:>10}  {ok}")

    def _run(self, options: dict[str, Any], rows: list[tuple[str, str, str, str]]) -> None:
        data = shop_read(options["data"])
        started = time.perf_counter()
        shop_import(data=data)
        took = time.perf_counter() - started
        rows.append(
            (
                "import_shop (sample)",
                f"{took:.2f} s",
                f"≤ {TARGETS['import_s']:.0f} s",
                _ok(took <= TARGETS["import_s"]),
            )
        )
        with tempfile.TemporaryDirectory() as directory:
            started = time.perf_counter()
            shop_export(directory=Path(directory))
            took = time.perf_counter() - started
        rows.append(
            (
                "export_shop (sample)",
                f"{took:.2f} s",
                f"≤ {TARGETS['export_s']:.0f} s",
                _ok(took <= TARGETS["export_s"]),
            )
        )

        rng = random.Random(options["seed"])
        customers = list(Customer.objects.filter(handle__in=list(data.users)))
        order_ids = list(Order.objects.filter(order_id__in=list(data.orders)).values_list("order_id", "customer_id"))
        product_ids = list(
            Product.objects.filter(product_id__in=list(data.products)).values_list("product_id", flat=True)
        )
        by_pk = {c.pk: c for c in customers}

        def order_call() -> tuple[str, dict[str, Any], ToolContext]:
            order_id, customer_pk = rng.choice(order_ids)
            return "get_order_details", {"order_id": order_id}, ToolContext(customer=by_pk[customer_pk])

        def user_call() -> tuple[str, dict[str, Any], ToolContext]:
            customer = rng.choice(customers)
            return "get_user_details", {"user_id": customer.handle}, ToolContext(customer=customer)

        def email_call() -> tuple[str, dict[str, Any], ToolContext]:
            customer = rng.choice(customers)
            return "find_user_id_by_email", {"email": customer.email.upper()}, ToolContext(customer=None)

        def name_zip_call() -> tuple[str, dict[str, Any], ToolContext]:
            c = rng.choice(customers)
            return (
                "find_user_id_by_name_zip",
                {"first_name": c.first_name, "last_name": c.last_name, "zip": c.zip},
                ToolContext(customer=None),
            )

        generators = {
            "get_order_details": order_call,
            "get_user_details": user_call,
            "get_product_details": lambda: (
                "get_product_details",
                {"product_id": rng.choice(product_ids)},
                ToolContext(customer=None),
            ),
            "list_all_product_types": lambda: ("list_all_product_types", {}, ToolContext(customer=None)),
            "find_user_id_by_email": email_call,
            "find_user_id_by_name_zip": name_zip_call,
            "calculate": lambda: (
                "calculate",
                {"expression": f"({rng.uniform(1, 999):.2f} + {rng.uniform(1, 99):.2f}) * 2 - 1"},
                ToolContext(customer=None),
            ),
        }
        for label, generate in tqdm(generators.items(), desc="Read tools", unit="tool", file=sys.stderr):
            timings, queries = [], []
            for index in range(options["calls"] + 10):
                name, arguments, context = generate()
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    outcome = call_tool(name, arguments, context=context)
                    elapsed = (time.perf_counter() - started) * 1000
                if not outcome.ok:
                    raise CommandError(f"{name}({arguments}) failed: {outcome.error}")
                if index >= 10:  # the first calls warm caches and connections
                    timings.append(elapsed)
                    queries.append(len(captured.captured_queries))
            p95 = statistics.quantiles(timings, n=100)[94]
            rows.append(
                (
                    f"{label} p95 (p50 {statistics.median(timings):.2f} ms)",
                    f"{p95:.2f} ms",
                    f"≤ {TARGETS['p95_ms']:.0f} ms",
                    _ok(p95 <= TARGETS["p95_ms"]),
                )
            )
            rows.append(
                (
                    f"{label} queries/call (max)",
                    str(max(queries)),
                    f"≤ {TARGETS['queries']}",
                    _ok(max(queries) <= TARGETS["queries"]),
                )
            )


def _ok(passed: bool) -> str:
    return "yes" if passed else "NO"
