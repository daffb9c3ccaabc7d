"""Conversations with the assistant, the actions it proposes, feedback and the tool audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        ESCALATED = "escalated", "Escalated to a person"

    class Channel(models.TextChoices):
        WEB = "web", "Web chat"
        API = "api", "JSON API"
        TERMINAL = "terminal", "Terminal"
        WHATSAPP = "whatsapp", "WhatsApp"

    customer = models.ForeignKey("orders.Customer", on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    channel = models.CharField(max_length=12, choices=Channel.choices, default=Channel.WEB)
    started_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    # Made at escalation (and when older turns are trimmed from the LLM context).
    summary = models.TextField(blank=True)
    # Cached from the latest customer message, for lists and analytics without a join.
    intent = models.CharField(max_length=60, blank=True)
    sentiment_label = models.CharField(max_length=10, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    # Consecutive very negative customer messages; two in a row escalate.
    very_negative_streak = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-last_activity_at"]
        indexes = [
            models.Index(fields=["customer", "-last_activity_at"]),
            # The recovery sweep reads the conversations active in a time window, across customers.
            models.Index(fields=["last_activity_at"], name="chat_conv_last_activity"),
            models.Index(fields=["started_at"]),
            models.Index(fields=["status"]),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.customer_id}, {self.status})"

    def escalate(self) -> None:
        """Mark handed to a person (the caller saves)."""
        self.status = self.Status.ESCALATED


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "Customer"
        ASSISTANT = "assistant", "Assistant"
        TOOL = "tool", "Tool result"
        NOTE = "note", "Note"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField(blank=True)
    # Assistant messages: the tool calls the model made, [{"id", "name", "arguments"}].
    tool_calls = models.JSONField(default=list, blank=True)
    # Tool messages: {"tool_call_id", "name", "ok", "result" | "error"} (or "action_id" for a
    # confirmed action's result, which answers no model call of its own).
    tool_result = models.JSONField(null=True, blank=True)
    # [{"ref": 1, "title", "heading", "url"}] — the sources an answer cites as [1], [2].
    citations = models.JSONField(default=list, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # "offline" for the built-in assistant, the LLM model name otherwise.
    model = models.CharField(max_length=100, blank=True)
    intent = models.CharField(max_length=60, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(fields=["created_at", "role"]),
            # The dashboard's median/p95 answer latency reads only answered assistant turns
            # in a date range; covering them keeps that percentile an index-only scan.
            models.Index(
                fields=["created_at"],
                include=["latency_ms"],
                condition=models.Q(role="assistant", latency_ms__isnull=False),
                name="chat_msg_answer_latency",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class PendingTurn(models.Model):
    """A message the customer sent with htmx, handed from the POST to the stream that answers it.

    Kept in the database, not the cache, so a Redis outage cannot lose it. States move
    pending → answering → answered | failed; `claim` makes the pending → answering step a
    conditional UPDATE, so of two claimants racing for one turn (an EventSource reconnecting, the
    worker task answering turns whose stream never came) exactly one answers it. The customer's
    Message is stored by the turn itself (chat_turn), so the text lives here until then.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for its stream"
        ANSWERING = "answering", "Being answered"
        ANSWERED = "answered", "Answered"
        FAILED = "failed", "Not answered"

    token = models.CharField(max_length=32, unique=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="pending_turns")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # For a failed turn: what the customer was told.
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "state"]), models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"turn {self.token} ({self.state}): {self.text[:60]}"

    @classmethod
    def claim(cls, **lookup: object) -> PendingTurn | None:
        """Move the pending turn matching `lookup` to answering; None if another request has it (or none matches)."""
        claimed = cls.objects.filter(state=cls.State.PENDING, **lookup).update(
            state=cls.State.ANSWERING, claimed_at=timezone.now()
        )
        return cls.objects.filter(**lookup).first() if claimed else None

    def finish(self, *, error: str = "") -> None:
        """Record the outcome of a claimed turn (answered, or failed with the message the customer saw)."""
        self.state = self.State.FAILED if error else self.State.ANSWERED
        self.error = error
        PendingTurn.objects.filter(pk=self.pk).update(state=self.state, error=error)


class PendingAction(models.Model):
    """A consequential tool call awaiting the customer's confirmation.

    Created by `assistant.actions.action_propose` (from either assistant); executed only by
    `action_confirm`, at most once: the status moves proposed → confirmed under a row lock
    before the tool runs, and the stored `result` answers any later confirmation.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Awaiting confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        # A newer proposal for the same order (or account) replaced it before the customer decided.
        SUPERSEDED = "superseded", "Replaced by a newer request"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="pending_actions")
    customer = models.ForeignKey("orders.Customer", on_delete=models.CASCADE, related_name="pending_actions")
    # The assistant message that showed the confirmation card.
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions")
    tool = models.CharField(max_length=60)
    arguments = models.JSONField()
    description = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    # The model's call id, so its tool result can refer back to the proposal.
    tool_call_id = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    # {"ok": bool, "result" | "error"} once confirmed.
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "status"])]

    def __str__(self) -> str:
        return f"{self.tool} ({self.status}): {self.description[:60]}"

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.PROPOSED and self.expires_at <= timezone.now()


class Feedback(models.Model):
    class Rating(models.TextChoices):
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_feedback")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="feedback_one_per_message_user")]

    def __str__(self) -> str:
        return f"{self.rating} on message {self.message_id}"


class ToolCallLog(models.Model):
    """Audit: every tool run (by the model, by a confirmation, by the offline assistant).

    Arguments and results are stored redacted (card numbers, emails, phone numbers).
    """

    class Source(models.TextChoices):
        MODEL = "model", "LLM tool call"
        OFFLINE = "offline", "Offline assistant"
        CONFIRMATION = "confirmation", "Customer confirmation"

    customer = models.ForeignKey(
        "orders.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="tool_calls"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="tool_logs"
    )
    tool = models.CharField(max_length=60)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MODEL)
    arguments = models.JSONField(default=dict)
    ok = models.BooleanField()
    error_code = models.CharField(max_length=40, blank=True)
    outcome = models.JSONField(null=True, blank=True)
    # A consequential call that became a PendingAction instead of running.
    proposed = models.BooleanField(default=False)
    duration_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at", "tool"])]

    def __str__(self) -> str:
        return f"{self.tool} {'ok' if self.ok else 'failed'}"


from chat.models_offline import DialogueState  # noqa: E402,F401 - the offline assistant's dialogue state
