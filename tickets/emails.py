"""The email a customer gets when staff reply to their ticket.

`ticket_reply_email_send` may run twice (a retried or redelivered task): the event row is
locked and `emailed_at` checked before the send and set in the same transaction, so a reply
is mailed at most once per successful send. If the mail server refuses, the transaction rolls
back, `emailed_at` stays empty and the task's retry sends it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from tickets.models import TicketEvent


def _tickets_url() -> str:
    try:
        return settings.SITE_URL + reverse("tickets:list")
    except NoReverseMatch:  # the portal's URLs are not mounted (e.g. an API-only deployment)
        return settings.SITE_URL


@transaction.atomic
def ticket_reply_email_send(*, event_id: int) -> bool:
    """Mail a public reply to the ticket's customer. False when there is nothing (more) to send.

    Raises the mail server's error (smtplib.SMTPException / OSError) so the task retries.
    """
    event = (
        TicketEvent.objects.select_for_update(of=("self",))
        .select_related("ticket__customer", "author")
        .filter(pk=event_id, kind=TicketEvent.Kind.PUBLIC_REPLY)
        .first()
    )
    if event is None or event.emailed_at is not None:
        return False
    ticket = event.ticket
    customer = ticket.customer
    if not customer.email:
        return False
    context = {
        "customer": customer,
        "ticket": ticket,
        "reply": event.text,
        "agent_name": (getattr(event.author, "first_name", "") or "Cobalt Market support"),
        "tickets_url": _tickets_url(),
        "site_url": settings.SITE_URL,
    }
    message = EmailMultiAlternatives(
        subject=f"[{ticket.number}] {ticket.subject}",
        body=render_to_string("tickets/emails/staff_reply.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[customer.email],
        headers={"X-Supportbot-Ticket": ticket.number},
    )
    message.attach_alternative(render_to_string("tickets/emails/staff_reply.html", context), "text/html")
    message.send()
    event.emailed_at = timezone.now()
    event.save(update_fields=["emailed_at"])
    return True
