"""Support analytics: every dashboard figure is one aggregate query in PostgreSQL.

No metric loops over rows in Python; each selector returns a handful of aggregated values or
one row per day / intent / tool. All take a DateRange (whole days, inclusive, in the site's
time zone) and count what *happened* in it: conversations by start, messages, feedback, tool
calls, refunds and emails by their own timestamps, tickets (CSAT) by creation. The
conversation figures share one pass over the period's conversations; answer latency reads
finished days from an exact daily histogram (tickets.analytics_rollup), the rest live.

Definitions
-----------
* automated resolution rate (RESOLUTION_DEFINITION): conversations the assistant resolved without
  a person / all conversations. Resolved without a person: no ticket and no thumbs-down, and
  either an action was carried out (a change the customer confirmed, or a restock alert) or
  the customer left it after the assistant's reply (the chat marked resolved, or no new message
  for CONVERSATION_IDLE_MINUTES). A conversation exists only once the customer has written and
  every message gets a reply, so "left it" is not checked against the message table, which a
  scan per dashboard load would cost more than the whole page's budget. A conversation still
  going with nothing done counts in neither numerator nor the escalation rate, so the two rates
  need not add up to 1.
* escalation rate: conversations with at least one ticket / all conversations.
* latency: `Message.latency_ms` of assistant answers (server time of the turn); staff and
  handoff messages carry none.
* cart recoveries: reminders whose cart was ordered after the reminder (`converted_at`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import Aggregate, Avg, Count, FloatField, Q, Sum
from django.utils import timezone

from chat.models import Conversation, Feedback, Message, ToolCallLog
from orders.models import PaymentTransaction
from orders.models_notifications import CartReminder, RestockNotification
from tickets.models import DailyAnswerLatency, DashboardRollupDay, Ticket

CONVERSATION_IDLE_MINUTES = 30
# Tools that act for the customer without a confirmation card; every consequential tool acts
# through a confirmation, logged with source "confirmation" (a test checks this list against
# the tool registry, which this module may not import).
UNCONFIRMED_ACTION_TOOLS = ("subscribe_restock_alert",)
RESOLUTION_DEFINITION = (
    "Resolved by the assistant: conversations that never reached a person (no ticket) and got no thumbs-down, "
    "in which the assistant either carried out what the customer asked (a confirmed cancellation, return, "
    "exchange or order change, or a restock alert) or the customer left it after the assistant's reply "
    f"(no new message for {CONVERSATION_IDLE_MINUTES} minutes). Share of all conversations started in the period."
)
TOP_INTENTS = 10
DEFAULT_DAYS = 30
MAX_DAYS = 366


# Labels whose plain reading would mislead staff; every other label reads as its words.
_INTENT_WORDS = {
    "contact_human_agent": "Ask for a person",
    "contact_customer_service": "Contact details",
    "check_cancellation_fee": "Cancellation fee",
    "check_refund_policy": "Refund policy",
    "get_refund": "Refund request",
    "track_refund": "Refund status",
    "affirm": "Yes / confirm",
    "deny": "No / decline",
    "out_of_scope": "Off-topic",
    "set_up_shipping_address": "Add a shipping address",
}
_TOOL_WORDS = {
    "get_order_details": "Look up an order",
    "get_product_details": "Look up a product",
    "get_user_details": "Look up the customer",
    "list_all_product_types": "List product types",
    "find_user_id_by_email": "Find customer by email",
    "find_user_id_by_name_zip": "Find customer by name and ZIP",
    "cancel_pending_order": "Cancel an order",
    "modify_pending_order_address": "Change an order's address",
    "modify_pending_order_payment": "Change an order's payment",
    "modify_pending_order_items": "Change an order's items",
    "return_delivered_order_items": "Return items",
    "exchange_delivered_order_items": "Exchange items",
    "modify_user_address": "Change the customer's address",
    "transfer_to_human_agents": "Hand over to a person",
    "search_knowledge_base": "Search the help center",
    "subscribe_restock_alert": "Restock alert",
    "track_order": "Track an order",
    "search_products": "Search products",
    "check_stock": "Check stock",
}


def _words(label: str) -> str:
    text = label.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "(none)"


def intent_name(label: str) -> str:
    """An intent as staff read it: "track_order" → "Track order"."""
    return _INTENT_WORDS.get(label) or _words(label)


def tool_name(name: str) -> str:
    """A tool as staff read it: "return_delivered_order_items" → "Return items"."""
    return _TOOL_WORDS.get(name) or _words(name)


class PercentilesCont(Aggregate):
    """PostgreSQL percentile_cont over an array of fractions: several percentiles, one sort."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fractions)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression: Any, *, fractions: tuple[float, ...], **extra: Any) -> None:
        literal = "ARRAY[" + ",".join(f"{float(value)!r}" for value in fractions) + "]::double precision[]"
        super().__init__(expression, fractions=literal, output_field=ArrayField(FloatField()), **extra)


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, *, today: date | None = None) -> DateRange:
        today = today or timezone.localdate()
        return cls(start=today - timedelta(days=days - 1), end=today)

    @property
    def since(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def until(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def q(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.since, f"{field_name}__lt": self.until})


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class ConversationOutcomes:
    total: int
    escalated: int
    automated: int

    @property
    def escalation_rate(self) -> float | None:
        return _rate(self.escalated, self.total)

    @property
    def automated_resolution_rate(self) -> float | None:
        return _rate(self.automated, self.total)


@dataclass
class ConversationActivity:
    per_day: list[tuple[date, int]]
    outcomes: ConversationOutcomes
    intents: list[tuple[str, int]]


PER_DAY, PER_INTENT, TOTAL = 1, 2, 3


def conversation_activity(
    *, period: DateRange, now: datetime | None = None, limit: int = TOP_INTENTS
) -> ConversationActivity:
    """Conversations per day, outcomes and top intents from one pass over the period's conversations.

    One scan counts per (day, intent) — a hash aggregate of at most days × intents groups — and
    GROUPING SETS sum those into one row per day, one per intent and the total (separate
    queries would read the same rows once each; grouping sets straight over the rows make
    PostgreSQL sort all of them, spilling to disk). Whether a conversation has
    a ticket is a hash join against the tickets' distinct conversation ids, computed once per
    conversation — EXISTS inside FILTER clauses would make PostgreSQL probe the ticket index per row;
    the executed actions and thumbs-down that decide "resolved by the assistant" are hash-joined
    the same way (a thumbs-down finds its conversation by the message's primary key, a few
    thousand probes, rather than a join that reads the message table). The per-conversation
    outcome is MATERIALIZED so the aggregate above it sees narrow rows and hashes them; inlined,
    the planner sorted all of them on disk.
    """
    # Table names come from model metadata; values are bound.
    sql = f"""
        WITH outcome AS MATERIALIZED (
            SELECT (c.started_at AT TIME ZONE %(tz)s)::date AS day, c.intent,
                t.conversation_id IS NOT NULL AS escalated,
                t.conversation_id IS NULL AND c.status <> %(escalated)s AND down.conversation_id IS NULL
                    AND (acted.conversation_id IS NOT NULL
                         OR c.status = %(resolved)s OR c.last_activity_at < %(idle_before)s) AS automated
            FROM {Conversation._meta.db_table} c
            LEFT JOIN (SELECT DISTINCT conversation_id FROM {Ticket._meta.db_table} WHERE conversation_id IS NOT NULL) t
                ON t.conversation_id = c.id
            LEFT JOIN (
                SELECT DISTINCT conversation_id FROM {ToolCallLog._meta.db_table}
                WHERE ok AND NOT proposed AND created_at >= %(since)s
                    AND (source = %(confirmation)s OR tool = ANY(%(acting_tools)s))
            ) acted ON acted.conversation_id = c.id
            LEFT JOIN (
                SELECT DISTINCT (SELECT m.conversation_id FROM {Message._meta.db_table} m WHERE m.id = f.message_id)
                    AS conversation_id
                FROM {Feedback._meta.db_table} f
                WHERE f.rating = %(down)s AND f.created_at >= %(since)s
            ) down ON down.conversation_id = c.id
            WHERE c.started_at >= %(since)s AND c.started_at < %(until)s
        ),
        per_day_and_intent AS (
            SELECT day, intent, count(*) AS conversations, count(*) FILTER (WHERE escalated) AS escalated,
                count(*) FILTER (WHERE automated) AS automated
            FROM outcome
            GROUP BY 1, 2
        )
        SELECT grouping(day, intent) AS kind, day, intent, coalesce(sum(conversations), 0)::bigint AS conversations,
            coalesce(sum(escalated), 0)::bigint, coalesce(sum(automated), 0)::bigint
        FROM per_day_and_intent
        GROUP BY GROUPING SETS ((day), (intent), ())
        ORDER BY kind, conversations DESC, intent
    """  # noqa: S608
    params: dict[str, Any] = {
        "tz": timezone.get_current_timezone_name(),
        "since": period.since,
        "until": period.until,
        "escalated": Conversation.Status.ESCALATED,
        "resolved": Conversation.Status.RESOLVED,
        "confirmation": ToolCallLog.Source.CONFIRMATION,
        "acting_tools": list(UNCONFIRMED_ACTION_TOOLS),
        "down": Feedback.Rating.DOWN,
        "idle_before": (now or timezone.now()) - timedelta(minutes=CONVERSATION_IDLE_MINUTES),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # Aggregated rows, by `kind` (the grouping() bitmask): 1 = one per day, 2 = one per intent,
    # most frequent first, 3 = the total (zeros when the period has no conversations).
    counts = {day: count for kind, day, _, count, *_ in rows if kind == PER_DAY}
    intents = [(intent, count) for kind, _, intent, count, *_ in rows if kind == PER_INTENT and intent]
    total, escalated, automated = next(row[3:] for row in rows if row[0] == TOTAL)
    return ConversationActivity(
        per_day=[(day, counts.get(day, 0)) for day in (period.start + timedelta(days=n) for n in range(period.days))],
        outcomes=ConversationOutcomes(total=total, escalated=escalated, automated=automated),
        intents=intents[:limit],
    )


def conversations_per_day(*, period: DateRange) -> list[tuple[date, int]]:
    """Every day of the range with its number of new conversations (zero-filled)."""
    return conversation_activity(period=period).per_day


def conversation_outcomes(*, period: DateRange, now: datetime | None = None) -> ConversationOutcomes:
    return conversation_activity(period=period, now=now).outcomes


def top_intents(*, period: DateRange, limit: int = TOP_INTENTS) -> list[tuple[str, int]]:
    return conversation_activity(period=period, limit=limit).intents


@dataclass
class Satisfaction:
    rated: int
    average: float | None
    distribution: dict[int, int] = field(default_factory=dict)  # score 1..5 -> tickets


def csat(*, period: DateRange) -> Satisfaction:
    values = Ticket.objects.filter(period.q("created_at"), csat_score__isnull=False).aggregate(
        rated=Count("id"),
        average=Avg("csat_score"),
        **{f"s{score}": Count("id", filter=Q(csat_score=score)) for score in range(1, 6)},
    )
    return Satisfaction(
        rated=values["rated"],
        average=float(values["average"]) if values["average"] is not None else None,
        distribution={score: values[f"s{score}"] for score in range(1, 6)},
    )


@dataclass
class Thumbs:
    up: int
    down: int

    @property
    def up_ratio(self) -> float | None:
        return _rate(self.up, self.up + self.down)


def thumbs(*, period: DateRange) -> Thumbs:
    values = Feedback.objects.filter(period.q("created_at")).aggregate(
        up=Count("id", filter=Q(rating=Feedback.Rating.UP)), down=Count("id", filter=Q(rating=Feedback.Rating.DOWN))
    )
    return Thumbs(**values)


@dataclass
class Latency:
    answers: int
    median_ms: float | None
    p95_ms: float | None


def assistant_latency(*, period: DateRange) -> Latency:
    """Median and p95 of answer latency in one statement: sealed days from the rollup's exact
    histogram (tickets.analytics_rollup), the other days (today at least) live from chat_message.

    Equal to `assistant_latency_live` at all times: the histogram is merged across days, and
    percentile_cont's rule — interpolate between the values at 0-based ranks floor(f·(n−1)) and
    ceil(f·(n−1)) — is applied to its running totals, in the same double-precision arithmetic.
    """
    # Table names come from model metadata; values are bound.
    sql = f"""
        WITH sealed AS (
            SELECT day FROM {DashboardRollupDay._meta.db_table}
            WHERE time_zone = %(tz)s AND day BETWEEN %(start)s AND %(end)s
        ),
        live_days AS (
            SELECT (d::timestamp AT TIME ZONE %(tz)s) AS since, ((d + interval '1 day') AT TIME ZONE %(tz)s) AS until
            FROM generate_series(%(start)s::timestamp, %(end)s::timestamp, interval '1 day') AS d
            WHERE d::date NOT IN (SELECT day FROM sealed)
        ),
        counts AS (
            SELECT h.latency_ms, h.answers::bigint AS n FROM {DailyAnswerLatency._meta.db_table} h
            WHERE h.time_zone = %(tz)s AND h.day IN (SELECT day FROM sealed)
            UNION ALL
            SELECT m.latency_ms, 1 FROM live_days l JOIN {Message._meta.db_table} m
                ON m.created_at >= l.since AND m.created_at < l.until
            WHERE m.role = %(role)s AND m.latency_ms IS NOT NULL
        ),
        histogram AS (SELECT latency_ms, sum(n) AS n FROM counts GROUP BY latency_ms HAVING sum(n) > 0),
        ranked AS (SELECT latency_ms, sum(n) OVER (ORDER BY latency_ms) AS upto FROM histogram),
        total AS (SELECT coalesce(sum(n), 0) AS answers FROM histogram),
        positions AS (
            SELECT f.fraction, f.fraction * (t.answers - 1)::float8 AS pos, t.answers
            FROM unnest(%(fractions)s::float8[]) AS f(fraction), total t
        ),
        bounds AS (
            SELECT p.fraction, p.pos, p.answers,
                (SELECT min(r.latency_ms) FROM ranked r WHERE r.upto > floor(p.pos))::float8 AS lo,
                (SELECT min(r.latency_ms) FROM ranked r WHERE r.upto > ceil(p.pos))::float8 AS hi
            FROM positions p
        )
        SELECT answers, lo + (hi - lo) * (pos - floor(pos)) FROM bounds ORDER BY fraction
    """  # noqa: S608
    params: dict[str, Any] = {
        "tz": timezone.get_current_timezone_name(),
        "start": period.start,
        "end": period.end,
        "role": Message.Role.ASSISTANT,
        "fractions": [0.5, 0.95],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (answers, median), (_, p95) = cursor.fetchall()
    if not answers:
        return Latency(answers=0, median_ms=None, p95_ms=None)
    return Latency(answers=int(answers), median_ms=median, p95_ms=p95)


def assistant_latency_live(*, period: DateRange) -> Latency:
    """The definition `assistant_latency` must match: percentile_cont over the messages."""
    values = Message.objects.filter(
        period.q("created_at"), role=Message.Role.ASSISTANT, latency_ms__isnull=False
    ).aggregate(answers=Count("latency_ms"), percentiles=PercentilesCont("latency_ms", fractions=(0.5, 0.95)))
    median, p95 = values["percentiles"] or (None, None)
    return Latency(answers=values["answers"], median_ms=median, p95_ms=p95)


@dataclass
class ToolUsage:
    tool: str
    calls: int
    failures: int
    proposed: int

    @property
    def failure_rate(self) -> float | None:
        return _rate(self.failures, self.calls)


def tool_usage(*, period: DateRange) -> list[ToolUsage]:
    rows = (
        ToolCallLog.objects.filter(period.q("created_at"))
        .values("tool")
        .annotate(
            calls=Count("id"), failures=Count("id", filter=Q(ok=False)), proposed=Count("id", filter=Q(proposed=True))
        )
        .order_by("-calls", "tool")
    )
    return [ToolUsage(**row) for row in rows]


@dataclass
class Refunds:
    count: int
    amount: Decimal


def refunds_issued(*, period: DateRange) -> Refunds:
    values = PaymentTransaction.objects.filter(
        period.q("created_at"), transaction_type=PaymentTransaction.Type.REFUND
    ).aggregate(count=Count("id"), amount=Sum("amount"))
    return Refunds(count=values["count"], amount=values["amount"] or Decimal("0.00"))


@dataclass
class EmailJobs:
    restock_alerts_sent: int
    cart_reminders_sent: int
    cart_recoveries: int

    @property
    def cart_recovery_rate(self) -> float | None:
        return _rate(self.cart_recoveries, self.cart_reminders_sent)


def email_jobs(*, period: DateRange) -> EmailJobs:
    restock = RestockNotification.objects.filter(period.q("sent_at"), status=RestockNotification.Status.SENT).count()
    carts = CartReminder.objects.aggregate(
        sent=Count("id", filter=period.q("sent_at") & Q(status=CartReminder.Status.SENT)),
        recovered=Count("cart_id", filter=period.q("converted_at"), distinct=True),
    )
    return EmailJobs(restock_alerts_sent=restock, cart_reminders_sent=carts["sent"], cart_recoveries=carts["recovered"])


@dataclass
class Dashboard:
    period: DateRange
    per_day: list[tuple[date, int]]
    outcomes: ConversationOutcomes
    satisfaction: Satisfaction
    thumbs: Thumbs
    latency: Latency
    intents: list[tuple[str, int]]
    tools: list[ToolUsage]
    refunds: Refunds
    emails: EmailJobs


def dashboard(*, period: DateRange) -> Dashboard:
    """All dashboard figures for `period` (eight aggregate queries)."""
    conversations = conversation_activity(period=period)
    return Dashboard(
        period=period,
        per_day=conversations.per_day,
        outcomes=conversations.outcomes,
        satisfaction=csat(period=period),
        thumbs=thumbs(period=period),
        latency=assistant_latency(period=period),
        intents=conversations.intents,
        tools=tool_usage(period=period),
        refunds=refunds_issued(period=period),
        emails=email_jobs(period=period),
    )
