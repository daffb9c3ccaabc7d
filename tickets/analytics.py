"""Support analytics: every dashboard figure is one aggregate query in PostgreSQL.

No metric loops over rows in Python; each selector returns a handful of aggregated values or
one row per day / intent / tool. All take a DateRange (whole days, inclusive, in the site's
time zone) and count what *happened* in it: conversations by start, messages, feedback, tool
calls, refunds and emails by their own timestamps, tickets (CSAT) by creation.

Definitions
-----------
* automated resolution rate: conversations that ended without a ticket / all conversations.
  "Ended" means marked resolved or idle for CONVERSATION_IDLE_MINUTES — a chat the customer
  left with their answer. Conversations still going count in neither numerator nor rate's
  complement, so automated + escalation rates need not add up to 1.
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
from django.db.models import Aggregate, Avg, Count, Exists, FloatField, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

CONVERSATION_IDLE_MINUTES = 30
TOP_INTENTS = 10
DEFAULT_DAYS = 30
MAX_DAYS = 366


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


def conversations_per_day(*, period: DateRange) -> list[tuple[date, int]]:
    """Every day of the range with its number of new conversations (zero-filled)."""
    from chat.models import Conversation

    rows = (
        Conversation.objects.filter(period.q("started_at"))
        .annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(count=Count("id"))
        .values_list("day", "count")
    )
    counts = dict(rows)
    return [(day, counts.get(day, 0)) for day in (period.start + timedelta(days=n) for n in range(period.days))]


def conversation_outcomes(*, period: DateRange, now: datetime | None = None) -> ConversationOutcomes:
    """Three set-based counts. (One aggregate with EXISTS inside FILTER clauses made PostgreSQL
    probe the ticket index twice per conversation; as WHERE NOT EXISTS it hash-anti-joins.)"""
    from chat.models import Conversation
    from tickets.models import Ticket

    idle_before = (now or timezone.now()) - timedelta(minutes=CONVERSATION_IDLE_MINUTES)
    in_period = Conversation.objects.filter(period.q("started_at"))
    total = in_period.count()
    escalated = (
        Ticket.objects.filter(conversation__in=in_period.values("pk")).values("conversation_id").distinct().count()
    )
    automated = (
        in_period.filter(Q(status=Conversation.Status.RESOLVED) | Q(last_activity_at__lt=idle_before))
        .exclude(status=Conversation.Status.ESCALATED)
        .filter(~Exists(Ticket.objects.filter(conversation_id=OuterRef("pk"))))
        .count()
    )
    return ConversationOutcomes(total=total, escalated=escalated, automated=automated)


@dataclass
class Satisfaction:
    rated: int
    average: float | None
    distribution: dict[int, int] = field(default_factory=dict)  # score 1..5 -> tickets


def csat(*, period: DateRange) -> Satisfaction:
    from tickets.models import Ticket

    values = Ticket.objects.filter(period.q("created_at"), csat_score__isnull=False).aggregate(
        rated=Count("id"), average=Avg("csat_score"), **{f"s{score}": Count("id", filter=Q(csat_score=score)) for score in range(1, 6)}
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
    from chat.models import Feedback

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
    from chat.models import Message

    values = Message.objects.filter(period.q("created_at"), role=Message.Role.ASSISTANT, latency_ms__isnull=False).aggregate(
        answers=Count("latency_ms"), percentiles=PercentilesCont("latency_ms", fractions=(0.5, 0.95))
    )
    median, p95 = values["percentiles"] or (None, None)
    return Latency(answers=values["answers"], median_ms=median, p95_ms=p95)


def top_intents(*, period: DateRange, limit: int = TOP_INTENTS) -> list[tuple[str, int]]:
    from chat.models import Conversation

    return list(
        Conversation.objects.filter(period.q("started_at"))
        .exclude(intent="")
        .values("intent")
        .annotate(count=Count("id"))
        .order_by("-count", "intent")
        .values_list("intent", "count")[:limit]
    )


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
    from chat.models import ToolCallLog

    rows = (
        ToolCallLog.objects.filter(period.q("created_at"))
        .values("tool")
        .annotate(calls=Count("id"), failures=Count("id", filter=Q(ok=False)), proposed=Count("id", filter=Q(proposed=True)))
        .order_by("-calls", "tool")
    )
    return [ToolUsage(**row) for row in rows]


@dataclass
class Refunds:
    count: int
    amount: Decimal


def refunds_issued(*, period: DateRange) -> Refunds:
    from orders.models import PaymentTransaction

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
    from orders.models_notifications import CartReminder, RestockNotification

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
    """All dashboard figures for `period` (twelve aggregate queries)."""
    return Dashboard(
        period=period,
        per_day=conversations_per_day(period=period),
        outcomes=conversation_outcomes(period=period),
        satisfaction=csat(period=period),
        thumbs=thumbs(period=period),
        latency=assistant_latency(period=period),
        intents=top_intents(period=period),
        tools=tool_usage(period=period),
        refunds=refunds_issued(period=period),
        emails=email_jobs(period=period),
    )
