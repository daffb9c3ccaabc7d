"""The WhatsApp channel's records: who writes from which number, what arrived, what we sent.

WhatsAppContact  one WhatsApp number; linked to a Customer only after verification
                 (`verified_at`). Until then it chats as its own guest customer, whose
                 ToolContext is unverified, so order and account tools refuse.
LinkCode         a one-time code emailed to an account, proving the number's owner holds it;
                 the only way a number is linked (see whatsapp.services.linking).
InboundEvent     the webhook ledger: one row per message id (per message id and status for
                 status callbacks). The unique key makes a redelivered event a no-op.
OutboundMessage  a message posted to the Graph API, with its delivery status and attempts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class WhatsAppContact(models.Model):
    # The WhatsApp id: the number in international format, digits only ("15551234567").
    phone = models.CharField(max_length=20, unique=True)
    profile_name = models.CharField(max_length=200, blank=True)
    # The verified account. Set only by `whatsapp.services.contact_link`.
    customer = models.ForeignKey(
        "orders.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="whatsapp_contacts"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    # Conversations need a customer: until the number is linked it chats as this placeholder,
    # which owns no orders and cannot sign in.
    guest_customer = models.OneToOneField(
        "orders.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="whatsapp_guest_contact"
    )
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The customer's last message; Meta allows free-form replies for 24 hours after it.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "WhatsApp contact"

    def __str__(self) -> str:
        return f"+{self.phone}"

    @property
    def is_verified(self) -> bool:
        return self.customer_id is not None and self.verified_at is not None

    @property
    def acting_customer_id(self) -> int | None:
        return self.customer_id if self.is_verified else self.guest_customer_id

    def in_session_window(self, now: datetime | None = None) -> bool:
        """Whether a free-form message may be sent now (Meta's customer-service window)."""
        if self.last_inbound_at is None:
            return False
        now = now or timezone.now()
        return now - self.last_inbound_at < timedelta(hours=settings.WHATSAPP_SESSION_WINDOW_HOURS)


class LinkCode(models.Model):
    # The number that asked: only a code typed from this number counts.
    contact = models.ForeignKey(WhatsAppContact, on_delete=models.CASCADE, related_name="link_codes")
    # The account the code was emailed to, and the only one it can link. Empty for a request
    # no code was mailed for (no such account, or its hourly limit reached): such a row still
    # counts against the number's limit and answers a typed code as a wrong one, so the chat
    # behaves the same whether or not an account has the email.
    customer = models.ForeignKey(
        "orders.Customer", on_delete=models.CASCADE, null=True, blank=True, related_name="whatsapp_link_codes"
    )
    # A keyed hash (salted_hmac): the code itself is only ever in the email.
    code_hash = models.CharField(max_length=128)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["contact", "-created_at"])]

    def __str__(self) -> str:
        return f"Link code for +{self.contact_id} → {self.customer_id}"


class InboundEvent(models.Model):
    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        STATUS = "status", "Status callback"

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    # The message id (wamid); for a status callback "<wamid>:<status>", since one message
    # gets several callbacks (sent, delivered, read) that are each processed once.
    key = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    phone = models.CharField(max_length=20, blank=True)
    # The message or status object as Meta sent it, with the sender's profile name.
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    contact = models.ForeignKey(
        WhatsAppContact, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_events"
    )
    # The conversation the message went to (staff replies find the number through it).
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="whatsapp_events"
    )
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["state", "received_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class OutboundMessage(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        BUTTONS = "buttons", "Reply buttons"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    # Status callbacks may arrive out of order (read before delivered): only moves forward count.
    PROGRESS: dict[str, int] = {Status.QUEUED: 0, Status.SENT: 1, Status.DELIVERED: 2, Status.READ: 3}

    contact = models.ForeignKey(WhatsAppContact, on_delete=models.CASCADE, related_name="outbound_messages")
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="whatsapp_messages"
    )
    chat_message = models.ForeignKey(
        "chat.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="whatsapp_messages"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    # The Graph API request body, exactly as posted.
    payload = models.JSONField()
    # What the customer reads (the body text), for admin.
    text = models.TextField(blank=True)
    wamid = models.CharField(max_length=255, unique=True, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["contact", "status"]), models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} to +{self.contact_id} ({self.status})"

    def apply_status(self, status: str, *, at: datetime, error: str = "") -> bool:
        """Record a delivery status (the caller saves). False when it would move backwards."""
        if status == self.Status.FAILED:
            if self.status == self.Status.FAILED:
                return False
            self.status, self.failed_at, self.last_error = self.Status.FAILED, at, error or self.last_error
            return True
        if status not in self.PROGRESS or self.status == self.Status.FAILED:
            return False
        stamp: dict[str, str] = {
            self.Status.SENT: "sent_at",
            self.Status.DELIVERED: "delivered_at",
            self.Status.READ: "read_at",
        }
        if getattr(self, stamp[status]) is None:
            setattr(self, stamp[status], at)
        if self.PROGRESS[status] <= self.PROGRESS[self.status]:
            return False
        self.status = status
        return True
