"""My tickets: the customer's list and detail, staff public replies (never internal notes),
replying, and the CSAT rating once resolved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistant.turn import chat_turn
from chat.models import Conversation
from tickets.models import Ticket, TicketEvent
from tickets.staff_services import ticket_note, ticket_reply, ticket_resolve
from tickets.tests.conftest import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.user)
    return client


def test_my_tickets_lists_only_my_tickets(logged_in, escalated):
    other = make_customer()
    theirs = Conversation.objects.create(customer=other)
    chat_turn(conversation=theirs, text="Talk to a human please", user=other.user)
    their_ticket = Ticket.objects.get(customer=other)

    html = logged_in.get(reverse("tickets:list")).content.decode()

    assert escalated.number in html and "talk to a person about my refund" in html
    assert their_ticket.number not in html
    assert logged_in.get(reverse("tickets:detail", args=[their_ticket.number])).status_code == 404


def test_the_detail_shows_staff_replies_but_never_internal_notes(logged_in, escalated, agent):
    ticket_reply(ticket_id=escalated.pk, author=agent, text="Hi! I've issued your **refund** today.")
    ticket_note(ticket_id=escalated.pk, author=agent, text="Customer seems upset; watch this one.")

    html = logged_in.get(reverse("tickets:detail", args=[escalated.number])).content.decode()

    assert "I've issued your <strong>refund</strong> today." in html
    assert "Alex" in html
    assert "watch this one" not in html


def test_the_customer_can_reply_on_the_ticket(logged_in, escalated, agent):
    ticket_reply(ticket_id=escalated.pk, author=agent, text="Which order is it?")

    response = logged_in.post(reverse("tickets:reply", args=[escalated.number]), {"text": "Order #W1234567, thanks"})

    assert response.status_code == 302
    event = TicketEvent.objects.get(ticket=escalated, kind=TicketEvent.Kind.CUSTOMER_REPLY)
    assert event.text == "Order #W1234567, thanks"
    escalated.refresh_from_db()
    assert escalated.status == Ticket.Status.OPEN  # waiting on customer → open again
    assert "Order #W1234567, thanks" in logged_in.get(response["Location"]).content.decode()


def test_an_empty_reply_is_refused_with_a_clear_error(logged_in, escalated):
    response = logged_in.post(reverse("tickets:reply", args=[escalated.number]), {"text": " "})
    assert response.status_code == 400 and "Please write your reply" in response.content.decode()
    assert not TicketEvent.objects.filter(kind=TicketEvent.Kind.CUSTOMER_REPLY).exists()


def test_rating_is_offered_only_once_resolved_and_accepted_once(logged_in, escalated, agent):
    detail = reverse("tickets:detail", args=[escalated.number])
    rate = reverse("tickets:rate", args=[escalated.number])
    assert "Rate our support" not in logged_in.get(detail).content.decode()
    logged_in.post(rate, {"score": "5"})
    escalated.refresh_from_db()
    assert escalated.csat_score is None  # not resolved yet: refused

    ticket_resolve(ticket_id=escalated.pk, actor=agent)
    assert "Rate our support" in logged_in.get(detail).content.decode()
    logged_in.post(rate, {"score": "4", "comment": "Quick and kind."})
    logged_in.post(rate, {"score": "1"})  # a second rating changes nothing

    escalated.refresh_from_db()
    assert (escalated.csat_score, escalated.csat_comment) == (4, "Quick and kind.")
    page = logged_in.get(detail).content.decode()
    assert "You rated this ticket 4 out of 5" in page and "Rate our support" not in page


@pytest.mark.parametrize("score", ["0", "6", "great", ""])
def test_a_rating_outside_1_to_5_is_refused(logged_in, escalated, agent, score):
    ticket_resolve(ticket_id=escalated.pk, actor=agent)
    response = logged_in.post(reverse("tickets:rate", args=[escalated.number]), {"score": score})
    assert response.status_code == 400
    escalated.refresh_from_db()
    assert escalated.csat_score is None


def test_another_customer_cannot_reply_or_rate(client, escalated, agent):
    ticket_resolve(ticket_id=escalated.pk, actor=agent)
    client.force_login(make_customer().user)
    assert client.post(reverse("tickets:reply", args=[escalated.number]), {"text": "hi"}).status_code == 404
    assert client.post(reverse("tickets:rate", args=[escalated.number]), {"score": "1"}).status_code == 404
    escalated.refresh_from_db()
    assert escalated.csat_score is None
