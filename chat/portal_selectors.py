"""Reads for the customer chat page and widget: conversation lists and threads ready to render.

Every function takes the acting customer and filters by it, so a view can't show someone
else's conversation by passing the wrong id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from chat.models import Conversation, Feedback, Message, PendingAction, PendingTurn

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from orders.models import Customer

CONVERSATION_LIST_SIZE = 30
THREAD_SIZE = 100
WIDGET_THREAD_SIZE = 12
# `Message.model` of a reply a person wrote in the staff admin (tickets.staff_services.STAFF_MODEL;
# chat sits below tickets, so the value is repeated rather than imported).
STAFF_MODEL = "staff"
TOPIC_MAX_CHARS = 48
QUICK_REPLIES = ("Track my order", "Return an item", "Talk to a human")
# With a person on the conversation the customer's messages go to them (the assistant stays
# out of the way), so canned requests, and asking for a person again, don't fit.
QUICK_REPLIES_WITH_STAFF: tuple[str, ...] = ()
_ORDER_MENTION = re.compile(r"#?\b(W\d{5,})\b", re.IGNORECASE)


def _shorten(text: str, *, limit: int = TOPIC_MAX_CHARS) -> str:
    """The first line of `text`, cut at a word boundary with an ellipsis when longer than `limit`."""
    line = " ".join((text or "").split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0] if " " in line[: limit - 1] else line[: limit - 1]
    return cut.rstrip(",.;:-–— ") + "…"


def conversations_for_customer(*, customer: Customer, limit: int = CONVERSATION_LIST_SIZE) -> list[Conversation]:
    """The customer's conversations, most recent activity first, each with a `topic` and `order_id`.

    The topic is the customer's first request (shortened); the order is the one that request
    names, else the one the latest proposed action was about. Times alone ("Dec 7, 08:07") told
    customers nothing about which conversation was which.
    """
    first_request = Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.USER).order_by(
        "created_at", "id"
    )
    latest_action_order = PendingAction.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id")
    conversations: list[Conversation] = list(
        Conversation.objects.filter(customer=customer)
        .annotate(
            first_request=Subquery(first_request.values("text")[:1]),
            action_order_id=Subquery(latest_action_order.values("arguments__order_id")[:1]),
        )
        .order_by("-last_activity_at", "-id")[:limit]
    )
    for conversation in conversations:
        request = getattr(conversation, "first_request", None) or ""
        mention = _ORDER_MENTION.search(request)
        action_order = getattr(conversation, "action_order_id", None)
        order_id = (
            f"#{mention.group(1).upper()}" if mention else (action_order if isinstance(action_order, str) else "")
        )
        conversation.order_id = order_id  # type: ignore[attr-defined]
        conversation.topic = _shorten(request) or (f"Order {order_id}" if order_id else "New conversation")  # type: ignore[attr-defined]
    return conversations


def conversation_latest(*, customer: Customer) -> Conversation | None:
    return Conversation.objects.filter(customer=customer).order_by("-last_activity_at", "-id").first()


def _thread_queryset(*, conversation: Conversation, user: User) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation=conversation)
        # Notes are staff-only; the LLM's tool-calling rounds carry no text worth showing.
        .exclude(role=Message.Role.NOTE)
        .prefetch_related(
            # The customer comes along: a card reads their payment methods by it.
            Prefetch("actions", queryset=PendingAction.objects.select_related("customer").order_by("created_at", "id")),
            Prefetch("feedback", queryset=Feedback.objects.filter(user=user), to_attr="my_feedback"),
            # Who wrote a staff reply: the ticket event it was posted as (through the reverse
            # relation, so chat needs no import of tickets).
            "ticket_events__author",
        )
    )


def _staff_first_name(message: Message) -> str:
    for event in message.ticket_events.all():  # type: ignore[attr-defined]
        if event.author is not None and event.author.first_name:
            return str(event.author.first_name)
    return ""


def _with_speakers(messages: list[Message]) -> list[Message]:
    """Marks each message with `from_staff` and, for staff replies, `staff_name` (first name or "")."""
    for message in messages:
        message.from_staff = message.role == Message.Role.ASSISTANT and message.model == STAFF_MODEL  # type: ignore[attr-defined]
        message.staff_name = _staff_first_name(message) if message.from_staff else ""  # type: ignore[attr-defined]
    return messages


def thread_messages(*, conversation: Conversation, user: User, limit: int = THREAD_SIZE) -> list[Message]:
    """The last `limit` visible messages of the conversation, oldest first."""
    newest = list(_thread_queryset(conversation=conversation, user=user).order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return _with_speakers(newest)


def thread_messages_after(
    *, conversation: Conversation, user: User, after_id: int, include_customer: bool = True
) -> list[Message]:
    """Messages stored after message `after_id` (what one turn added), oldest first."""
    queryset = _thread_queryset(conversation=conversation, user=user).filter(pk__gt=after_id)
    if not include_customer:
        queryset = queryset.exclude(role=Message.Role.USER)
    return _with_speakers(list(queryset.order_by("created_at", "id")))


def turn_replies(*, turn: PendingTurn, user: User) -> list[Message]:
    """What the assistant answered to a handed-over turn, oldest first ([] before it is stored).

    The answer is what follows the turn's own message up to the customer's next one.
    """
    asked = (
        Message.objects.filter(
            conversation_id=turn.conversation_id,
            role=Message.Role.USER,
            text=turn.text,
            created_at__gte=turn.created_at,
        )
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if asked is None:
        return []
    following = (
        _thread_queryset(conversation=turn.conversation, user=user).filter(pk__gt=asked).order_by("created_at", "id")
    )
    replies = []
    for message in following:
        if message.role == Message.Role.USER:
            break
        replies.append(message)
    return _with_speakers(replies)


def last_message_id(*, conversation: Conversation) -> int:
    return Message.objects.filter(conversation=conversation).order_by("-id").values_list("id", flat=True).first() or 0


@dataclass(frozen=True)
class Counterpart:
    """Who answers the customer in a conversation right now, and the quick replies that fit."""

    with_staff: bool
    staff_name: str = ""
    quick_replies: tuple[str, ...] = field(default=QUICK_REPLIES)

    @property
    def heading(self) -> str:
        if not self.with_staff:
            return "Chat with our assistant"
        if self.staff_name:
            return f"Chat with {self.staff_name} from our support team"
        return "Chat with our support team"


def conversation_counterpart(*, conversation: Conversation | None) -> Counterpart:
    """Read fresh from the database: a turn that just escalated changed the row, not the caller's copy."""
    if conversation is None:
        return Counterpart(with_staff=False)
    status = Conversation.objects.filter(pk=conversation.pk).values_list("status", flat=True).first()
    if status != Conversation.Status.ESCALATED:
        return Counterpart(with_staff=False)
    name = (
        Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT, model=STAFF_MODEL)
        .filter(ticket_events__author__first_name__gt="")
        .order_by("-created_at", "-id")
        .values_list("ticket_events__author__first_name", flat=True)
        .first()
    )
    return Counterpart(with_staff=True, staff_name=name or "", quick_replies=QUICK_REPLIES_WITH_STAFF)
