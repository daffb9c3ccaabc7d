"""Drafting help for staff: a suggested reply and a regenerated conversation summary.

Both use the LLM when one is configured (through assistant.llm.client, the one place that talks
to a provider) and fall back to the offline way when it is not — or when the provider fails,
since an agent waiting for a draft is better served by a plain one than by an error:

* offline reply: a template filled from the facts (`reply_facts`) — a greeting by name, the
  escalation reason acknowledged in the customer's terms, the status and tracking of the orders
  the conversation is about, and what the agent will do next; never a help-center paste, which
  answers a question the customer was no longer asking once they wanted a person;
* offline summary: the extractive escalation summary (why, what was said, actions).

The drafts write nothing. Summaries are stored by the llm-queue job (tickets.tasks.summarize_ticket
→ `ticket_summary_refresh` below, which stores through tickets.services.ticket_summary_store) and
ask for no fallback: a provider failure there is retried with backoff rather than quietly
replaced, since the extractive summary is already on the ticket.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from assistant.escalation import conversation_summary
from assistant.llm.client import chat_completion, llm_enabled
from assistant.llm.redaction import redact
from chat.models import Conversation, Message, PendingAction
from knowledge.models import Audience
from knowledge.selectors import chunk_search
from orders.models import Order
from tickets.models import Ticket
from tickets.services import ticket_summary_store
from tickets.staff_services import STAFF_MODEL

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

CONTEXT_MESSAGES = 20
KNOWLEDGE_HITS = 3
_ORDER_ID = re.compile(r"#?W\d{5,}", re.IGNORECASE)
_REASON_LINE = re.compile(r"^Why escalated: (.+)$", re.MULTILINE)
# The label the escalation summary gives the model's own words (and the one it had before).
_HINT_LINE = re.compile(
    r"^(?:The assistant's summary \(written by the AI; may be wrong\):|Assistant's summary:) (.+)$", re.MULTILINE
)


class SummaryUnavailable(Exception):
    """The configured LLM could not write a summary (the caller may retry later)."""


@dataclass
class Draft:
    text: str
    source: str  # "llm" or "offline"
    citations: list[dict[str, Any]] = field(default_factory=list)


def _recent_messages(ticket: Ticket) -> list[Any]:
    if ticket.conversation_id is None:
        return []
    recent = list(
        Message.objects.filter(conversation_id=ticket.conversation_id, role__in=["user", "assistant"])
        .exclude(text="")
        .order_by("-created_at", "-id")[:CONTEXT_MESSAGES]
    )
    recent.reverse()
    return recent


def _knowledge(query: str) -> list[Any]:
    # Staff only: resolved tickets (which quote other customers) are fair material for a draft
    # the agent reviews before sending.
    return list(chunk_search(query=query, k=KNOWLEDGE_HITS, audience=Audience.STAFF).hits)


def _transcript_text(messages: list[Any]) -> str:
    lines = []
    for message in messages:
        who = (
            "Customer" if message.role == "user" else ("Support agent" if message.model == STAFF_MODEL else "Assistant")
        )
        lines.append(f"{who}: {message.text}")
    return "\n".join(lines)


def reply_suggest(*, ticket: Ticket, author: AbstractBaseUser | None = None) -> Draft:
    """A draft answer to the customer; the agent edits it before sending.

    Both ways draft from the same facts: the conversation, the escalation reason and the
    customer's orders that the conversation is about (`reply_facts`).
    """
    messages = _recent_messages(ticket)
    facts = reply_facts(ticket=ticket, messages=messages)
    if llm_enabled():
        try:
            return _llm_reply(ticket=ticket, messages=messages, facts=facts, author=author)
        except Exception:  # noqa: BLE001 - any provider failure falls back to the offline draft
            logger.warning("LLM reply suggestion failed; using the offline draft", exc_info=True)
    draft = _offline_reply(facts=facts, author=author)
    # Related passages (resolved tickets included) sit beside the draft for the agent to read,
    # never pasted into it: the reply is about this customer's situation.
    draft.citations = [hit.citation for hit in _knowledge(facts.latest_request or ticket.subject)]
    return draft


def _agent_name(author: AbstractBaseUser | None) -> str:
    return (getattr(author, "first_name", "") or "") if author is not None else ""


def _llm_reply(*, ticket: Ticket, messages: list[Any], facts: ReplyFacts, author: AbstractBaseUser | None) -> Draft:
    # Help-center passages are background only: the reply is about this customer's situation.
    hits = _knowledge(facts.latest_request or ticket.subject)
    knowledge = "\n\n".join(
        f"[{index}] {hit.citation.get('title', '')}: {hit.text}" for index, hit in enumerate(hits, 1)
    )
    orders = "\n".join(f"- {order_status_sentence(order)}" for order in facts.orders) or "(none identified)"
    prompt = (
        f"Ticket {ticket.number} ({ticket.get_priority_display()} priority): {ticket.subject}\n"
        f"Customer's first name: {facts.first_name}\n"
        f"Why it was escalated: {facts.reason or '(not recorded)'}\n\n"
        f"Summary:\n{ticket.summary}\n\nConversation (oldest first):\n{_transcript_text(messages)}\n\n"
        f"The customer's orders this is about (from the database):\n{orders}\n\n"
        f"Help-center passages (background):\n{knowledge or '(none found)'}"
    )
    system = (
        "You draft replies for a Cobalt Market support agent who has just taken over a conversation from "
        "the assistant. Write a short, warm reply in plain text: greet the customer by first name, "
        "acknowledge why they asked for help, state the facts about their orders (status, carrier, "
        "tracking) exactly as given, and say what the agent will do next. Do not explain how to reach "
        "a person — they are talking to one. Use only the facts given; cite help-center passages as "
        "[1], [2] only if you use them. Never promise refunds or actions the facts do not show were done. "
        f"Sign off as {_agent_name(author) or 'the support team'}."
    )
    response = chat_completion(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": redact(prompt)}]
    )
    text = response.content.strip()
    if not text:
        raise ValueError("the model returned an empty draft")
    return Draft(text=text, source="llm", citations=[hit.citation for hit in hits])


# Intents that say nothing about what the customer needs (asking for a person, small talk).
_META_INTENTS = frozenset(
    {
        "contact_human_agent",
        "contact_customer_service",
        "greeting",
        "goodbye",
        "thanks",
        "affirm",
        "deny",
        "out_of_scope",
    }
)
_ORDER_INTENTS = frozenset(
    {"track_order", "delivery_period", "cancel_order", "change_order", "change_shipping_address", "complaint"}
)
# Words a customer uses for a parcel that has not reached them.
_NOT_ARRIVED = re.compile(
    r"\b(late|delayed|never (came|arrived)|not (here|arrived|received)|hasn'?t (come|arrived|shown)|"
    r"still (not|hasn'?t|waiting)|where('?s| is) my|missing|lost)\b",
    re.IGNORECASE,
)
# Keywords that name the topic when no intent does (e.g. "a person about my refund").
_TOPIC_WORDS = (
    ("track_order", re.compile(r"\b(deliver\w*|arriv\w*|ship\w*|tracking|parcel|package)\b", re.I)),
    ("get_refund", re.compile(r"\brefund\w*|money back\b", re.I)),
    ("return_item", re.compile(r"\breturn\w*\b", re.I)),
    ("exchange_item", re.compile(r"\bexchang\w*|wrong size\b", re.I)),
    ("cancel_order", re.compile(r"\bcancel\w*\b", re.I)),
    ("payment_issue", re.compile(r"\b(charged?|payment|billing|invoice)\b", re.I)),
)
# What the agent acknowledges, by topic: the customer's need in the customer's terms.
_ACKNOWLEDGE = {
    "track_order": "I understand you're waiting for your order and want to know where it is.",
    "delivery_period": "I understand you want to know when your order will arrive.",
    "cancel_order": "I understand you'd like to cancel your order.",
    "change_order": "I understand you'd like to change your order.",
    "change_shipping_address": "I understand you need the delivery address of your order changed.",
    "get_refund": "I understand you're asking about a refund.",
    "track_refund": "I understand you're waiting for a refund.",
    "check_refund_policy": "I understand you have a question about refunds.",
    "return_item": "I understand you'd like to return something you received.",
    "exchange_item": "I understand you'd like to exchange something you received.",
    "payment_issue": "I understand there is a problem with a payment or charge.",
    "check_invoice": "I understand you have a question about a charge on your invoice.",
    "complaint": "I'm sorry about the trouble you've had, and I understand you want it put right.",
    "stock_check": "I understand you're looking for an item that's out of stock.",
    "restock_alert": "I understand you're waiting for an item to come back in stock.",
}
_OPEN_ORDER_STATUSES = (Order.Status.PENDING, Order.Status.PENDING_ITEM_MODIFIED, Order.Status.PROCESSED)
RELATED_ORDERS = 3


@dataclass
class ReplyFacts:
    """What a reply to the ticket can rest on, gathered from the database (never invented)."""

    first_name: str
    reason: str
    topic: str  # an intent label, or "" when nothing says what the customer needs
    not_arrived: bool
    unhappy: bool
    latest_request: str
    orders: list[Order]
    escalated_as_urgent: bool


def _topic(ticket: Ticket, messages: list[Any]) -> str:
    """The customer's need: the latest meaningful intent, else keywords in their own words."""
    for message in reversed(messages):
        if message.role == "assistant" and message.intent and message.intent not in _META_INTENTS:
            return str(message.intent)
    if ticket.category and ticket.category not in _META_INTENTS:
        return ticket.category
    said = " ".join(message.text for message in messages if message.role == "user") or ticket.subject
    return next((label for label, words in _TOPIC_WORDS if words.search(said)), "")


def _related_orders(ticket: Ticket, messages: list[Any], topic: str, said: str) -> list[Order]:
    """The customer's orders the conversation is about: named by id (by the customer, a tool
    call or a card), else by a product word the customer used, else — for an order topic —
    the orders still on their way. Only the ticket's own customer's orders are considered."""
    named_in = [said, ticket.summary]
    for message in messages:
        named_in += [str(call.get("arguments", "")) for call in (message.tool_calls or [])]
    if ticket.conversation_id is not None:
        named_in += [
            str(arguments)
            for arguments in PendingAction.objects.filter(conversation_id=ticket.conversation_id).values_list(
                "arguments", flat=True
            )
        ]
    ids = {f"#{match.upper().lstrip('#')}" for match in _ORDER_ID.findall(" ".join(named_in))}
    orders = Order.objects.filter(customer=ticket.customer).prefetch_related("items", "fulfillments")
    if ids:
        return list(orders.filter(order_id__in=ids).order_by("-created_at")[:RELATED_ORDERS])
    words = {word for word in re.findall(r"[a-z]{4,}", said.lower())}
    if words:
        recent = list(orders.order_by("-created_at")[:50])
        named = [
            order
            for order in recent
            if any(words & set(re.findall(r"[a-z]{4,}", item.name.lower())) for item in order.items.all())
        ]
        if named:
            return named[:RELATED_ORDERS]
    if topic in _ORDER_INTENTS or _NOT_ARRIVED.search(said):
        return list(orders.filter(status__in=_OPEN_ORDER_STATUSES).order_by("-created_at")[:RELATED_ORDERS])
    return []


def reply_facts(*, ticket: Ticket, messages: list[Any] | None = None) -> ReplyFacts:
    messages = _recent_messages(ticket) if messages is None else messages
    said_list = [message.text for message in messages if message.role == "user"]
    said = " ".join(said_list) or ticket.subject
    reason = _REASON_LINE.search(ticket.summary or "")
    topic = _topic(ticket, messages)
    reason_text = reason.group(1).strip() if reason else ""
    return ReplyFacts(
        first_name=ticket.customer.first_name,
        reason=reason_text,
        topic=topic,
        not_arrived=bool(_NOT_ARRIVED.search(said)),
        unhappy="unhappy" in reason_text.lower()
        or "complain" in reason_text.lower()
        or any((message.sentiment_score or 0) <= -0.5 for message in messages if message.role == "user"),
        latest_request=_latest_request(said_list) or ticket.subject,
        orders=_related_orders(ticket, messages, topic, said),
        escalated_as_urgent=ticket.priority in (Ticket.Priority.URGENT, Ticket.Priority.HIGH),
    )


def _latest_request(said: list[str]) -> str:
    """The customer's latest message that asks for something (not "yes" or "a person please")."""
    for text in reversed(said):
        words = re.findall(r"[a-z']+", text.lower())
        if len(words) >= 3 and not re.search(r"\b(human|person|agent|someone|representative)\b", text, re.I):
            return text
    return ""


def _items_words(order: Order) -> str:
    names = [
        item.name + (f" ({', '.join(f'{key} {value}' for key, value in item.options.items())})" if item.options else "")
        for item in order.items.all()
    ]
    if not names:
        return ""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def order_status_sentence(order: Order) -> str:
    """One order's state in the customer's terms, with carrier and tracking when it has shipped."""
    items = _items_words(order)
    label = f"Your order {order.order_id}" + (f" for {items}" if items else "")
    shipments = [f for f in order.fulfillments.all() if f.tracking_ids or f.carrier]
    tracking = "; ".join(
        f"{shipment.carrier or 'the carrier'}, tracking number {', '.join(shipment.tracking_ids)}"
        + (f" — {shipment.get_tracking_status_display().lower()}" if shipment.tracking_status else "")
        for shipment in shipments
    )
    status = order.status
    if status in (Order.Status.PENDING, Order.Status.PENDING_ITEM_MODIFIED):
        return f"{label} has been placed but has not shipped yet."
    if status == Order.Status.PROCESSED:
        return f"{label} has shipped" + (f" with {tracking}." if tracking else ".")
    if status == Order.Status.DELIVERED:
        return f"{label} shows as delivered" + (f" ({tracking})." if tracking else ".")
    if status == Order.Status.CANCELLED:
        return f"{label} was cancelled."
    if status == Order.Status.RETURN_REQUESTED:
        return f"{label} has a return in progress."
    if status == Order.Status.EXCHANGE_REQUESTED:
        return f"{label} has an exchange in progress."
    return f"{label} is {order.get_status_display().lower()}."


def _next_step(facts: ReplyFacts) -> str:
    """What the agent will do now, following from the orders' state and the customer's need."""
    statuses = {order.status for order in facts.orders}
    carriers = sorted({f.carrier for order in facts.orders for f in order.fulfillments.all() if f.carrier})
    if facts.not_arrived and Order.Status.DELIVERED in statuses:
        return (
            "Since the carrier shows it as delivered but it hasn't reached you, I'm opening a trace with them "
            "and will come back to you with a replacement or a refund if it can't be found."
        )
    if facts.not_arrived and Order.Status.PROCESSED in statuses:
        who = " and ".join(carriers) or "the carrier"
        return (
            f"I'm contacting {who} now to find out where the parcel is and will update you here as soon as I hear back."
        )
    if facts.not_arrived and statuses & {Order.Status.PENDING, Order.Status.PENDING_ITEM_MODIFIED}:
        return (
            "I'm checking with our warehouse why it hasn't shipped yet and will let you know here when it's on its way."
        )
    if facts.topic in ("get_refund", "track_refund"):
        return "I'm checking the refund on our side and will confirm here when and where it is paid."
    if facts.topic in ("return_item", "exchange_item"):
        return "I'm setting this up for you and will confirm the next steps here."
    return "I'm looking into this now and will reply here (and by email) as soon as I have an answer."


def _offline_reply(*, facts: ReplyFacts, author: AbstractBaseUser | None) -> Draft:
    """A reply built from the facts: greeting, the reason acknowledged, the orders, what happens next."""
    agent = _agent_name(author)
    parts = [f"Hi {facts.first_name}," if facts.first_name else "Hi,", ""]
    intro = f"I'm {agent} from the support team" if agent else "I'm from the support team"
    if "asked for a person" in facts.reason.lower():
        parts.append(f"{intro}, and I've picked up your conversation — thank you for waiting.")
    else:
        parts.append(f"{intro}, and I've taken over your conversation from our assistant.")
    if facts.not_arrived and facts.orders:
        acknowledgement = "I'm sorry your order hasn't reached you yet — I know how frustrating the wait is."
    elif facts.topic in _ACKNOWLEDGE:
        acknowledgement = _ACKNOWLEDGE[facts.topic]
    elif facts.latest_request:
        acknowledgement = f"You wrote: “{facts.latest_request[:200]}” — I'm on it."
    else:
        acknowledgement = "I've read through your conversation so far."
    if facts.unhappy and not acknowledgement.startswith("I'm sorry"):
        acknowledgement = "I'm sorry this has been frustrating. " + acknowledgement
    parts.append(acknowledgement)
    if facts.orders:
        parts.append("")
        parts += [order_status_sentence(order) for order in facts.orders]
    parts += ["", _next_step(facts), "", f"Best regards,\n{agent or 'Cobalt Market support'}"]
    return Draft(text="\n".join(parts), source="offline")


def summary_generate(*, ticket: Ticket, fallback: bool = True) -> Draft:
    """A fresh summary of the ticket's conversation (LLM when configured, extractive otherwise).

    With `fallback` (a person is waiting), an LLM failure gives the extractive summary; without
    it, the failure is raised as SummaryUnavailable for the job to retry.
    """
    if ticket.conversation_id is None:
        return Draft(text=ticket.summary or ticket.subject, source="offline")
    conversation = Conversation.objects.get(pk=ticket.conversation_id)
    if llm_enabled():
        try:
            return _llm_summary(ticket=ticket)
        except Exception as exc:  # noqa: BLE001 - any provider failure: fall back, or let the job retry
            if not fallback:
                raise SummaryUnavailable(f"{type(exc).__name__}: {exc}") from exc
            logger.warning("LLM summary failed; using the extractive summary", exc_info=True)
    # The escalation's reason and the assistant's own hint exist only in the first summary;
    # carry them over so a regenerated summary never knows less than the original.
    reason = _REASON_LINE.search(ticket.summary or "")
    hint = _HINT_LINE.search(ticket.summary or "")
    return Draft(
        text=conversation_summary(
            conversation=conversation,
            reason=reason.group(1) if reason else "(not recorded)",
            hint=hint.group(1) if hint else "",
        ),
        source="offline",
    )


def _llm_summary(*, ticket: Ticket) -> Draft:
    system = (
        "Summarize this customer-support conversation for the agent who takes it over: why the customer "
        "wrote, the orders involved, what the assistant already did, and what is still open. At most six "
        "short lines of plain text."
    )
    conversation = _transcript_text(_recent_messages(ticket))
    response = chat_completion(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": redact(conversation)}]
    )
    text = response.content.strip()
    if not text:
        raise ValueError("the model returned an empty summary")
    return Draft(text=text, source="llm")


def ticket_summary_refresh(*, ticket_id: int) -> Ticket | None:
    """Write a fresh summary of the ticket's conversation and store it (the llm-queue job's body).

    The LLM is called outside any transaction: a provider taking seconds must not hold the
    ticket's row lock against staff working it. Returns None when the ticket is gone. Raises
    SummaryUnavailable when the configured LLM fails, for the job to retry.
    """
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return None
    started = timezone.now()
    draft = summary_generate(ticket=ticket, fallback=False)
    return ticket_summary_store(ticket_id=ticket_id, summary=draft.text, source=draft.source, generated_since=started)
