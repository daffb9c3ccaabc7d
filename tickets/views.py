"""My tickets: the customer's support tickets, the staff's public replies, replying and rating.

Plain forms with POST/redirect (they work without JavaScript); a customer only ever reaches
their own tickets — anything else is a 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from orders.selectors import customer_for_user
from supportbot.errors import ApplicationError
from tickets import portal_selectors as selectors
from tickets.forms import RatingForm, ReplyForm
from tickets.models import Ticket
from tickets.portal_services import ticket_rate as rate_ticket
from tickets.staff_services import ticket_customer_reply

if TYPE_CHECKING:
    from orders.models import Customer


def _ticket_or_404(customer: Customer | None, number: str) -> Ticket:
    ticket = selectors.ticket_for_customer(customer=customer, number=number) if customer else None
    if ticket is None:
        raise Http404("That ticket was not found.")
    return ticket


@login_required
@require_GET
def my_tickets(request: HttpRequest) -> HttpResponse:
    customer = customer_for_user(request.user)
    tickets = list(selectors.tickets_for_customer(customer=customer)) if customer else []
    return render(request, "tickets/my_tickets.html", {"tickets": tickets})


def _render_detail(
    request: HttpRequest,
    ticket: Ticket,
    *,
    reply_form: ReplyForm | None = None,
    rating_form: RatingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "ticket": ticket,
        "thread": selectors.ticket_public_thread(ticket=ticket),
        "reply_form": reply_form or ReplyForm(),
        "rating_form": rating_form or RatingForm(),
        "can_reply": ticket.status != Ticket.Status.CLOSED,
        "can_rate": ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED) and ticket.csat_score is None,
    }
    return render(request, "tickets/ticket_detail.html", context, status=status)


@login_required
@require_GET
def ticket_detail(request: HttpRequest, number: str) -> HttpResponse:
    return _render_detail(request, _ticket_or_404(customer_for_user(request.user), number))


@login_required
@require_POST
def ticket_reply(request: HttpRequest, number: str) -> HttpResponse:
    ticket = _ticket_or_404(customer_for_user(request.user), number)
    form = ReplyForm(request.POST)
    if not form.is_valid() or ticket.status == Ticket.Status.CLOSED:
        if form.is_valid():
            form.add_error(None, "This ticket is closed. Start a new conversation in the chat if you need more help.")
        return _render_detail(request, ticket, reply_form=form, status=400)
    try:
        ticket_customer_reply(ticket_id=ticket.pk, text=form.cleaned_data["text"])
    except ApplicationError as exc:
        form.add_error("text", exc.message)
        return _render_detail(request, ticket, reply_form=form, status=400)
    messages.success(request, "Your reply was sent to our support team.")
    return redirect("tickets:detail", number=ticket.number)


@login_required
@require_POST
def ticket_rate(request: HttpRequest, number: str) -> HttpResponse:
    customer = customer_for_user(request.user)
    ticket = _ticket_or_404(customer, number)
    form = RatingForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, ticket, rating_form=form, status=400)
    assert customer is not None
    try:
        rate_ticket(
            ticket_id=ticket.pk,
            customer=customer,
            score=form.cleaned_data["score"],
            comment=form.cleaned_data["comment"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Thank you for rating our support.")
    return redirect("tickets:detail", number=ticket.number)
