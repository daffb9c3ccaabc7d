"""`python manage.py bench_dashboard`: server time of the support analytics dashboard at scale.

Bulk-inserts synthetic rows for one throwaway customer — by default 100,000 conversations over
the last 90 days and 1,000,000 messages (half of them assistant answers with a latency), with
a ticket (some rated) for 15% of the conversations, feedback on 5% of the answers and a tool
call for every fifth answer — then times the real dashboard view (every query plus template
and SVG rendering, through RequestFactory as a superuser) for the default 30-day range and
for the whole 90 days, after sealing the finished days' latency rollup as the beat task would
(tickets.analytics_rollup). Everything inserted is deleted afterwards, also when interrupted;
the triggers subtract the deleted answers from the sealed days.
Target: <= 300 ms server time.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.test import RequestFactory
from django.utils import timezone
from tqdm import tqdm

from chat.models import Conversation, Feedback, Message, ToolCallLog
from orders.models import Customer
from tickets import dashboard_views
from tickets.analytics_rollup import dashboard_rollup_seal
from tickets.models import DailyAnswerLatency, DashboardRollupDay, Ticket

TARGET_MS = 300.0
DAYS = 90
BATCH = 10_000
INTENTS = [
    "track_order",
    "return_item",
    "cancel_order",
    "refund_status",
    "product_question",
    "greeting",
    "complaint",
    "exchange_item",
    "shipping_policy",
    "change_address",
]
TOOLS = ["get_order_details", "search_knowledge_base", "check_stock", "track_order", "cancel_pending_order"]
HANDLE = "bench_dashboard_customer"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Benchmark the support dashboard with 100k conversations and 1M messages (synthetic, cleaned up)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--conversations", type=int, default=100_000)
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--runs", type=int, default=15, help="Timed dashboard requests per range (default 15).")
        parser.add_argument("--seed", type=int, default=8)
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Leave the rows in place to inspect query plans (the next run removes them).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.rng = random.Random(options["seed"])
        self._cleanup()  # leftovers of an interrupted run
        try:
            customer, staff = self._populate(options["conversations"], options["messages"])
            # The past days' latency histograms, as the hourly beat task would have built them
            # by now (today stays live); then vacuum and statistics, as autovacuum would have.
            started = time.perf_counter()
            sealed = dashboard_rollup_seal()
            self.stdout.write(
                f"Rollup: sealed {sealed.sealed_days} days ({sealed.answers:,} answers) in "
                f"{(time.perf_counter() - started) * 1000:.0f} ms"
            )
            with connection.cursor() as cursor:
                for model in (
                    Conversation,
                    Message,
                    Feedback,
                    ToolCallLog,
                    Ticket,
                    DailyAnswerLatency,
                    DashboardRollupDay,
                ):
                    cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
            results = {
                "last 30 days (default)": self._time(staff, {}, options["runs"]),
                f"all {DAYS} days": self._time(
                    staff,
                    {
                        "start": (timezone.localdate() - timedelta(days=DAYS - 1)).isoformat(),
                        "end": timezone.localdate().isoformat(),
                    },
                    options["runs"],
                ),
            }
        finally:
            if not options["keep"]:
                self._cleanup()
        self.stdout.write(
            f"\nDashboard server time, {options['conversations']:,} conversations / {options['messages']:,} messages:"
        )
        worst = 0.0
        for label, times in results.items():
            p50, p95 = statistics.median(times), _percentile(times, 0.95)
            worst = max(worst, p95)
            self.stdout.write(f"  {label:<24} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   max {max(times):7.1f} ms")
        verdict = "OK" if worst <= TARGET_MS else "OVER TARGET"
        self.stdout.write(f"Target <= {TARGET_MS:.0f} ms: {verdict} (worst p95 {worst:.1f} ms)")

    # --- data -------------------------------------------------------------------------

    def _populate(self, conversations: int, messages: int) -> tuple[Customer, Any]:
        rng = self.rng
        now = timezone.now()
        customer = Customer.objects.create(
            handle=HANDLE, first_name="Bench", last_name="Mark", email="bench@example.invalid"
        )
        user_model = get_user_model()
        staff = user_model.objects.create_superuser(
            username="bench_dashboard_staff", email="bench@example.invalid", password=None
        )
        voter = user_model.objects.create_user(username="bench_dashboard_voter", password=None)
        span = DAYS * 86_400

        conversation_ids: list[int] = []
        starts: list[Any] = []
        with tqdm(total=conversations, desc="conversations", unit="row") as bar:
            for offset in range(0, conversations, BATCH):
                rows = []
                for _ in range(min(BATCH, conversations - offset)):
                    started = now - timedelta(seconds=rng.randrange(span))
                    rows.append(
                        Conversation(
                            customer=customer,
                            started_at=started,
                            last_activity_at=started + timedelta(minutes=rng.randrange(1, 40)),
                            intent=rng.choice(INTENTS),
                            status=rng.choice(["open", "open", "open", "resolved", "escalated"]),
                        )
                    )
                with transaction.atomic():
                    created = Conversation.objects.bulk_create(rows, batch_size=BATCH)
                conversation_ids += [row.pk for row in created]
                starts += [row.started_at for row in created]
                bar.update(len(rows))

        tickets = []
        for index in rng.sample(range(conversations), k=conversations * 15 // 100):
            tickets.append(
                Ticket(
                    number=f"B-{index}",
                    customer=customer,
                    conversation_id=conversation_ids[index],
                    subject="bench",
                    sla_due_at=starts[index] + timedelta(hours=24),
                    csat_score=rng.choice([None, None, 1, 2, 3, 4, 5, 5]),
                )
            )
        Ticket.objects.bulk_create(tickets, batch_size=BATCH)

        # Messages, feedback and tool calls are generated inside PostgreSQL (INSERT ... SELECT
        # over generate_series): a million ORM objects would take longer than the benchmark.
        first, last = min(conversation_ids), max(conversation_ids)
        with tqdm(total=messages, desc="messages", unit="row") as bar:
            for offset in range(0, messages, BATCH * 10):
                size = min(BATCH * 10, messages - offset)
                self._insert_select(
                    Message,
                    {
                        "conversation": "c.id",
                        "role": "CASE WHEN s.g %% 2 = 1 THEN 'assistant' ELSE 'user' END",
                        "text": "'Synthetic benchmark message.'",
                        # A long-tailed latency: mostly 100-500 ms, a few seconds now and then.
                        "latency_ms": "CASE WHEN s.g %% 2 = 1 THEN (100 + random() * 400 + power(random(), 8) * 3000)::int END",
                        "model": "CASE WHEN s.g %% 2 = 1 THEN 'offline' ELSE '' END",
                        "created_at": "c.started_at + random() * interval '30 minutes'",
                    },
                    source=(
                        "(SELECT g, %s + floor(random() * (%s - %s + 1))::bigint AS cid FROM generate_series(%s, %s) g) s "  # noqa: S608
                        f"JOIN {Conversation._meta.db_table} c ON c.id = s.cid"
                    ),
                    params=[first, last, first, offset + 1, offset + size],
                )
                bar.update(size)
        self._insert_select(
            Feedback,
            {
                "message": "m.id",
                "user": str(int(voter.pk)),
                "rating": "CASE WHEN random() < 0.75 THEN 'up' ELSE 'down' END",
                "created_at": "m.created_at",
            },
            source=f"{Message._meta.db_table} m",
            where="m.conversation_id BETWEEN %s AND %s AND m.role = 'assistant' AND random() < 0.05",
            params=[first, last],
        )
        tools = "ARRAY[" + ",".join(f"'{name}'" for name in TOOLS) + "]"
        self._insert_select(
            ToolCallLog,
            {
                "customer": str(int(customer.pk)),
                "tool": f"({tools})[1 + floor(random() * {len(TOOLS)})::int]",
                "ok": "random() > 0.08",
                "created_at": f"now() - random() * interval '{DAYS} days'",
            },
            source="generate_series(1, %s) g",
            params=[messages // 10],
        )
        return customer, staff

    def _insert_select(
        self, model: Any, values: dict[str, str], *, source: str, params: list[Any], where: str = ""
    ) -> None:
        """INSERT INTO model SELECT <values> FROM <source>; unlisted columns get the field default.

        `values` maps field names to SQL expressions written in this module (never input).
        """
        columns, expressions, defaults = [], [], []
        for model_field in model._meta.concrete_fields:
            if model_field.primary_key:
                continue
            columns.append(connection.ops.quote_name(model_field.column))
            if model_field.name in values:
                expressions.append(values[model_field.name])
            else:
                expressions.append("%s")
                defaults.append(model_field.get_db_prep_save(model_field.get_default(), connection))
        sql = (
            f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(expressions)} FROM {source}" + (f" WHERE {where}" if where else "")
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, defaults + params)

    def _cleanup(self) -> None:
        """Delete the benchmark rows with set-based SQL (a cascade through the ORM would load 1M rows).

        Table names are interpolated from model metadata, never from input; values are bound.
        """
        customer = Customer.objects.filter(handle=HANDLE).first()
        users = get_user_model().objects.filter(username__in=["bench_dashboard_staff", "bench_dashboard_voter"])
        with transaction.atomic(), connection.cursor() as cursor:
            if customer is not None:
                conversations = f"SELECT id FROM {Conversation._meta.db_table} WHERE customer_id = %s"  # noqa: S608
                message_table = Message._meta.db_table
                cursor.execute(
                    f"DELETE FROM {Feedback._meta.db_table} WHERE message_id IN "  # noqa: S608
                    f"(SELECT id FROM {message_table} WHERE conversation_id IN ({conversations}))",
                    [customer.pk],  # noqa: S608
                )
                cursor.execute(f"DELETE FROM {ToolCallLog._meta.db_table} WHERE customer_id = %s", [customer.pk])  # noqa: S608
                cursor.execute(f"DELETE FROM {Ticket._meta.db_table} WHERE customer_id = %s", [customer.pk])  # noqa: S608
                cursor.execute(f"DELETE FROM {message_table} WHERE conversation_id IN ({conversations})", [customer.pk])  # noqa: S608
                cursor.execute(f"DELETE FROM {Conversation._meta.db_table} WHERE customer_id = %s", [customer.pk])  # noqa: S608
                customer.delete()
            users.delete()

    # --- timing -----------------------------------------------------------------------

    def _time(self, staff: Any, params: dict[str, str], runs: int) -> list[float]:
        factory = RequestFactory()
        times = []
        for run in range(runs + 1):
            request = factory.get("/admin/tickets/ticket/dashboard/", params)
            request.user = staff
            request.session = {}  # type: ignore[assignment]
            started = time.perf_counter()
            response = dashboard_views.dashboard(request)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.status_code
            if run:  # the first request warms caches (templates, the planner); not counted
                times.append(elapsed)
        return times
