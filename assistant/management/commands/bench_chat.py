"""`python manage.py bench_chat`: server time and SQL queries per chat turn, LLM time excluded.

A scripted LLM (a real Chat Completions server on 127.0.0.1, answering instantly) asks for
three read tools in parallel (track_order, check_stock, search_products) and then answers;
each turn therefore makes two LLM requests. "Server overhead" is the turn's wall time minus
the time spent inside LLM requests; it is also shown without knowledge retrieval (query
embedding + hybrid search, the knowledge app's cost) to isolate the agent's own work. Timed
turns run with DEBUG off and no query capture, as in production; five more turns, not timed,
count the SQL statements and the BEGIN/COMMIT around them. The benchmark data (one customer, a
small catalog, two orders) is created for the run and deleted afterwards.
Targets: p95 overhead <= 60 ms, <= 25 SQL queries (BEGIN/COMMIT included) per turn.
"""

from __future__ import annotations

import statistics
import time
from contextlib import nullcontext
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from tqdm import tqdm

from assistant import turn as agent
from assistant.llm import client as llm_module
from assistant.tests.llm_server import ScriptedLLM
from assistant.turn import chat_turn
from assistant.types import RetrievedContext
from chat.models import Conversation, ToolCallLog
from orders.models import Customer, Order, PaymentMethod, Product, Variant
from orders.tests.factories import make_order
from supportbot.runtime import process_ready

TARGET_P95_MS = 60.0
TARGET_QUERIES = 25
COUNTED_TURNS = 5


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Measure chat-turn server overhead (p50/p95) and SQL queries for a turn with three tool calls."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--turns", type=int, default=300)
        parser.add_argument("--warmup", type=int, default=20)
        parser.add_argument("--show-queries", action="store_true", help="Print the SQL of the last measured turn.")

    def handle(self, *args: Any, **options: Any) -> None:
        # The state a web worker is in when it takes requests (see supportbot.wsgi).
        process_ready()
        server = ScriptedLLM().start()
        created: dict[str, Any] = {}
        try:
            # DEBUG off as in production: with it on, Django logs every query through its debug cursor.
            with override_settings(
                LLM_BASE_URL=server.base_url, LLM_MODEL="bench-model", LLM_API_KEY="bench", DEBUG=False
            ):
                created = self._data()
                self._run(
                    server, created, turns=options["turns"], warmup=options["warmup"], show=options["show_queries"]
                )
        finally:
            server.stop()
            self._cleanup(created)

    def _data(self) -> dict[str, Any]:
        suffix = str(time.time_ns())[-8:]
        user = get_user_model().objects.create_user(
            f"bench-{suffix}", f"bench-{suffix}@example.com", "bench-only-password"
        )
        customer = Customer.objects.create(
            user=user,
            handle=f"bench_{suffix}",
            first_name="Bench",
            last_name="Mark",
            email=f"bench-{suffix}@example.com",
        )
        card = PaymentMethod.objects.create(
            customer=customer,
            payment_method_id=f"credit_card_{suffix}",
            source=PaymentMethod.Source.CREDIT_CARD,
            brand="visa",
            last_four="4242",
        )
        boots = Product.objects.create(product_id=f"b{suffix}", name="Bench Trail Boots", product_type="Bench Boots")
        variant = Variant.objects.create(
            product=boots, item_id=f"v{suffix}", options={"size": "9"}, price=Decimal("99.00"), stock_quantity=10
        )
        order = make_order(
            customer=customer,
            variants=[variant],
            payment_method=card,
            status=Order.Status.PROCESSED,
            order_id=f"#W{suffix}",
        )
        return {"user": user, "customer": customer, "order": order, "product": boots}

    def _cleanup(self, created: dict[str, Any]) -> None:
        if not created:
            return
        # The audit log outlives deleted conversations and customers (SET NULL), so the bench's
        # own rows go explicitly: left behind, ~1,000 per run pile up in the database.
        ToolCallLog.objects.filter(customer=created["customer"]).delete()
        Conversation.objects.filter(customer=created["customer"]).delete()
        Order.objects.filter(customer=created["customer"]).delete()
        created["customer"].delete()
        Product.objects.filter(pk=created["product"].pk).delete()
        created["user"].delete()

    def _run(self, server: ScriptedLLM, created: dict[str, Any], *, turns: int, warmup: int, show: bool) -> None:
        customer, order = created["customer"], created["order"]
        retrieval_ms = [0.0]
        original_retrieve = agent.retrieve_knowledge

        def timed_retrieve(text: str, **kwargs: Any) -> RetrievedContext:
            started = time.perf_counter()
            try:
                return original_retrieve(text, **kwargs)
            finally:
                retrieval_ms[0] += (time.perf_counter() - started) * 1000

        agent.retrieve_knowledge = timed_retrieve  # type: ignore[assignment]
        try:
            self._turns(server, customer, order, turns=turns, warmup=warmup, show=show, retrieval_ms=retrieval_ms)
        finally:
            agent.retrieve_knowledge = original_retrieve  # type: ignore[assignment]

    def _turns(
        self,
        server: ScriptedLLM,
        customer: Customer,
        order: Order,
        *,
        turns: int,
        warmup: int,
        show: bool,
        retrieval_ms: list[float],
    ) -> None:
        conversation = Conversation.objects.create(customer=customer)
        overheads: list[float] = []
        own: list[float] = []
        statements: list[int] = []
        walls: list[float] = []
        queries: list[int] = []
        user = customer.user
        assert user is not None  # created with a login in _data
        # Timed turns run as in production (no query capture); the last COUNTED_TURNS turns are
        # not timed and count every statement, BEGIN/COMMIT included, through the debug cursor.
        for index in tqdm(range(warmup + turns + COUNTED_TURNS), desc="chat turns", unit="turn"):
            counted = index >= warmup + turns
            server.add(
                ScriptedLLM.calls(
                    ("track_order", {"order_id": order.order_id}),
                    ("check_stock", {"product": "Bench Trail Boots"}),
                    ("search_products", {"query": "trail boots", "max_price": 150}),
                ),
                ScriptedLLM.text(f"Your order {order.order_id} is on its way, and the boots are in stock."),
            )
            llm_before = llm_module.usage_totals()["elapsed_ms"]
            retrieval_before = retrieval_ms[0]
            started = time.perf_counter()
            with CaptureQueriesContext(connection) if counted else nullcontext() as captured:
                chat_turn(
                    conversation=conversation,
                    text=f"Where is {order.order_id}, and are the trail boots in stock? ({index})",
                    user=user,
                )
            wall = (time.perf_counter() - started) * 1000
            llm_ms = llm_module.usage_totals()["elapsed_ms"] - llm_before
            if captured is not None:
                sqls = [query["sql"] for query in captured.captured_queries]
                queries.append(len(sqls))
                statements.append(sum(1 for sql in sqls if sql not in {"BEGIN", "COMMIT"}))
            elif index >= warmup:
                walls.append(wall)
                overheads.append(wall - llm_ms)
                own.append(wall - llm_ms - (retrieval_ms[0] - retrieval_before))
            if index % 20 == 19:
                # Keep history length (and so context size) comparable from turn to turn.
                conversation = Conversation.objects.create(customer=customer)
        if show:
            for sql in sqls:
                self.stdout.write(f"  {' '.join(sql.split())[:160]}")
        p50, p95 = statistics.median(overheads), _percentile(overheads, 0.95)
        self.stdout.write(
            f"turns measured: {len(overheads)} (after {warmup} warm-up), 3 tool calls + 2 LLM requests each"
        )
        self.stdout.write(
            f"wall time per turn:        p50 {statistics.median(walls):.1f} ms, p95 {_percentile(walls, 0.95):.1f} ms"
        )
        self.stdout.write(
            f"server overhead (no LLM):  p50 {p50:.1f} ms, p95 {p95:.1f} ms (target <= {TARGET_P95_MS:.0f} ms)"
        )
        self.stdout.write(
            f"  without retrieval:       p50 {statistics.median(own):.1f} ms, p95 {_percentile(own, 0.95):.1f} ms"
        )
        self.stdout.write(
            f"SQL per turn:              {max(statements)} statements + {max(queries) - max(statements)} BEGIN/COMMIT "
            f"(target <= {TARGET_QUERIES} queries)"
        )
        ok = p95 <= TARGET_P95_MS and max(queries) <= TARGET_QUERIES
        self.stdout.write(self.style.SUCCESS("targets met") if ok else self.style.WARNING("targets NOT met"))
