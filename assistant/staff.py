"""Drafting help for staff: a suggested reply and a regenerated conversation summary.

Both use the LLM when one is configured (through assistant.llm.client, the one place that talks
to a provider) and fall back to the offline way when it is not — or when the provider fails,
since an agent waiting for a draft is better served by a plain one than by an error:

* offline reply: a greeting, the help-center passage that best matches what the customer
  last asked (with its link), what is known about the orders they mentioned, a sign-off;
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
from chat.models import Conversation, Message
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


def _customer_question(ticket: Ticket, messages: list[Any]) -> str:
    said = [message.text for message in messages if message.role == "user"]
    return said[-1] if said else ticket.subject


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
    """A draft answer to the customer's latest message; the agent edits it before sending."""
    messages = _recent_messages(ticket)
    question = _customer_question(ticket, messages)
    hits = _knowledge(question)
    if llm_enabled():
        try:
            return _llm_reply(ticket=ticket, messages=messages, hits=hits, author=author)
        except Exception:  # noqa: BLE001 - any provider failure falls back to the offline draft
            logger.warning("LLM reply suggestion failed; using the offline draft", exc_info=True)
    return _offline_reply(ticket=ticket, question=question, hits=hits, author=author)


def _agent_name(author: AbstractBaseUser | None) -> str:
    return (getattr(author, "first_name", "") or "") if author is not None else ""


def _llm_reply(*, ticket: Ticket, messages: list[Any], hits: list[Any], author: AbstractBaseUser | None) -> Draft:
    knowledge = "\n\n".join(
        f"[{index}] {hit.citation.get('title', '')}: {hit.text}" for index, hit in enumerate(hits, 1)
    )
    prompt = (
        f"Ticket {ticket.number} ({ticket.get_priority_display()} priority): {ticket.subject}\n\n"
        f"Summary:\n{ticket.summary}\n\nConversation (oldest first):\n{_transcript_text(messages)}\n\n"
        f"Help-center passages:\n{knowledge or '(none found)'}"
    )
    system = (
        "You draft replies for a Cobalt Market support agent. Write a short, friendly reply to the "
        "customer's latest message, in plain text. Use only facts from the conversation and the "
        "help-center passages; cite passages as [1], [2]. Never promise refunds or actions that the "
        "conversation does not show were done. "
        f"Sign off as {_agent_name(author) or 'the support team'}."
    )
    response = chat_completion(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": redact(prompt)}]
    )
    text = response.content.strip()
    if not text:
        raise ValueError("the model returned an empty draft")
    return Draft(text=text, source="llm", citations=[hit.citation for hit in hits])


def _offline_reply(*, ticket: Ticket, question: str, hits: list[Any], author: AbstractBaseUser | None) -> Draft:
    customer = ticket.customer
    parts = [f"Hi {customer.first_name},", "", "Thank you for your patience, and sorry for the wait."]
    mentioned = {match.upper().lstrip("#") for match in _ORDER_ID.findall(f"{question} {ticket.summary}")}
    if mentioned:
        orders = Order.objects.filter(customer=customer, order_id__in=[f"#{order_id}" for order_id in mentioned])
        for order in orders.order_by("order_id"):
            parts.append(f"I've checked order {order.order_id}: it is currently {order.get_status_display().lower()}.")
    citations: list[dict[str, Any]] = []
    if hits:
        top = hits[0]
        passage = " ".join(top.text.split())
        sentences = re.split(r"(?<=[.!?])\s+", passage)
        excerpt = " ".join(sentences[:2])
        title = top.citation.get("title") or top.document_title
        url = top.citation.get("url", "")
        parts.append(f"Here is what our help center says about this ({title}{': ' + url if url else ''}):")
        parts.append(excerpt)
        citations.append(top.citation)
    else:
        parts.append(f"About your message — “{question[:200]}” — I'm looking into it and will update you here.")
    parts += [
        "",
        "Is there anything else I can help with?",
        "",
        f"Best regards,\n{_agent_name(author) or 'Cobalt Market support'}",
    ]
    return Draft(text="\n".join(parts), source="offline", citations=citations)


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
