"""Support tickets: what the assistant hands to a person.

The agent creates them at escalation (`tickets.services.ticket_create_from_conversation`);
staff work them in admin. Numbers ("T-1042") come from a PostgreSQL sequence, so two
escalations at the same moment never get the same number.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils import timezone

from supportbot.errors import InvalidInput

# Who may see the support analytics (the admin dashboard and /api/chat/analytics).
DASHBOARD_PERMISSION = "tickets.view_support_dashboard"


class Ticket(models.Model):
    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        WAITING_ON_CUSTOMER = "waiting on customer", "Waiting on customer"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING_ON_CUSTOMER)
    # The SLA clock runs while the customer awaits an answer (see tickets.staff_services).
    SLA_CLOCK_STATUSES = (Status.NEW, Status.OPEN)

    number = models.CharField(max_length=20, unique=True, editable=False)
    customer = models.ForeignKey("orders.Customer", on_delete=models.CASCADE, related_name="tickets")
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    subject = models.CharField(max_length=200)
    # The intent the conversation was about (e.g. "cancel_order", "complaint").
    category = models.CharField(max_length=60, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=25, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_tickets"
    )
    # The conversation summary made at escalation, so staff need not read the whole transcript.
    summary = models.TextField(blank=True)
    sla_due_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    csat_score = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("view_support_dashboard", "Can view the support analytics dashboard")]
        indexes = [
            models.Index(fields=["status", "priority"]),
            models.Index(fields=["sla_due_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(csat_score__isnull=True) | models.Q(csat_score__gte=1, csat_score__lte=5),
                name="ticket_csat_score_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"{self.number}: {self.subject}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def sla_breached(self) -> bool:
        return self.status in self.SLA_CLOCK_STATUSES and self.sla_due_at < timezone.now()

    def resolve(self) -> None:
        """Mark resolved (the caller saves). Resolving twice keeps the first resolution time."""
        self.status = self.Status.RESOLVED
        self.resolved_at = self.resolved_at or timezone.now()


def sla_hours(priority: str) -> float:
    """Hours to the next answer for a ticket of `priority`: settings.TICKET_SLA_HOURS.

    The setting is the only source of the hours. settings.py starts it from the documented
    defaults and lets the environment override single priorities, so every priority is always
    there; a settings override in code that drops one is a configuration mistake and fails
    loudly (ImproperlyConfigured) rather than quietly using hours written down nowhere else.
    An unknown priority is the caller's mistake: InvalidInput.
    """
    if priority not in Ticket.Priority.values:
        raise InvalidInput(
            f"Unknown ticket priority {priority!r}; expected one of {', '.join(Ticket.Priority.values)}."
        )
    try:
        return float(settings.TICKET_SLA_HOURS[priority])
    except KeyError:
        raise ImproperlyConfigured(f"TICKET_SLA_HOURS has no hours for priority {priority!r}.") from None


def sla_due(*, priority: str, clock_started: datetime) -> datetime:
    """When the next answer is due on a ticket of `priority` whose SLA clock started at `clock_started`.

    Used when a ticket opens, when the customer writes again and when staff reopen it.
    """
    return clock_started + timedelta(hours=sla_hours(priority))


class TicketEvent(models.Model):
    """One thing that happened on a ticket, and who did it: the ticket's history.

    Replies (public, from staff or the customer) are the conversation with the customer;
    internal notes are for staff only; the *_change kinds record old → new values. Written only
    by tickets.staff_services and tickets.handoff, never edited afterwards.
    """

    class Kind(models.TextChoices):
        PUBLIC_REPLY = "public_reply", "Public reply"
        INTERNAL_NOTE = "internal_note", "Internal note"
        CUSTOMER_REPLY = "customer_reply", "Customer reply"
        STATUS_CHANGE = "status_change", "Status change"
        ASSIGNEE_CHANGE = "assignee_change", "Assignee change"
        PRIORITY_CHANGE = "priority_change", "Priority change"
        SUMMARY = "summary", "Summary regenerated"

    # What the customer may see (My tickets, the chat): never internal notes or bookkeeping.
    CUSTOMER_VISIBLE_KINDS = (Kind.PUBLIC_REPLY, Kind.CUSTOMER_REPLY)

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The staff user (or the customer's user for customer replies); null for the system or a
    # since-deleted account.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="ticket_events"
    )
    text = models.TextField(blank=True)
    old_value = models.CharField(max_length=150, blank=True)
    new_value = models.CharField(max_length=150, blank=True)
    # The chat message a public reply was posted as, or the customer's chat message routed here.
    message = models.ForeignKey(
        "chat.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="ticket_events"
    )
    # Public replies are mailed to the customer once; set by the mail job when the server accepted it.
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on ticket {self.ticket_id}"

    @property
    def customer_visible(self) -> bool:
        return self.kind in self.CUSTOMER_VISIBLE_KINDS


class DashboardRollupDay(models.Model):
    """A local day whose assistant-latency histogram is complete in DailyAnswerLatency.

    Written only by tickets.analytics_rollup.dashboard_rollup_seal. From the moment a day is
    sealed, database triggers on chat_message (migration 0004) apply every later insert,
    update or delete of that day's answers to the histogram, so a sealed day stays exact
    whoever writes — the ORM, a cascade, or raw SQL. Days without a row are computed live.
    """

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["time_zone", "day"], name="dashboard_rollup_day_unique")]

    def __str__(self) -> str:
        return f"{self.day} ({self.time_zone})"


class DailyAnswerLatency(models.Model):
    """How many assistant answers of one sealed local day took exactly `latency_ms`.

    An exact histogram, so the dashboard's median and p95 from it equal percentile_cont over the
    messages themselves. The triggers delete rows that deletions bring to zero answers (0006).
    (No CHECK answers >= 0: PostgreSQL checks an upsert's proposed row before it detects the
    conflict, so the triggers' negative deltas for deletions would fail it.)
    """

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    latency_ms = models.PositiveIntegerField()
    answers = models.IntegerField()

    class Meta:
        constraints = [
            # `answers` included: the dashboard sums a range of days as an index-only scan.
            models.UniqueConstraint(
                fields=["time_zone", "day", "latency_ms"], include=["answers"], name="daily_answer_latency_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.answers} answers at {self.latency_ms} ms"
