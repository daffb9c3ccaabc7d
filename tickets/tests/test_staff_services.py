"""Replies, notes, assignment, priority and status changes, the SLA clock, reply emails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from chat.models import Conversation, Message
from supportbot.errors import InvalidInput, RuleViolation
from tickets import staff_services
from tickets.emails import ticket_reply_email_send
from tickets.models import Ticket, TicketEvent
from tickets.services import ticket_create_from_conversation
from tickets.staff_selectors import tickets_sla_breached
from tickets.tests.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("priority", "hours"), [("urgent", 1), ("high", 4), ("medium", 24), ("low", 72)])
def test_sla_hours_by_priority_default(priority, hours):
    # The defaults live in one place, the settings block (supportbot/settings.py).
    start = timezone.now()
    assert staff_services.sla_due(priority=priority, clock_started=start) == start + timedelta(hours=hours)


def test_opening_a_ticket_and_restarting_its_clock_read_the_same_hours(escalated, settings):
    # One function computes the due time: a setting without a priority's hours is refused the
    # same way when a ticket opens and when the customer writes again, never with a hidden default.
    settings.TICKET_SLA_HOURS = {"urgent": 1, "high": 4, "low": 72}
    conversation = Conversation.objects.create(customer=escalated.customer)
    with pytest.raises(ImproperlyConfigured, match="TICKET_SLA_HOURS has no hours for priority 'medium'"):
        ticket_create_from_conversation(conversation=conversation, subject="Help", summary="", priority="medium")
    Ticket.objects.filter(pk=escalated.pk).update(priority="medium")
    with pytest.raises(ImproperlyConfigured, match="TICKET_SLA_HOURS has no hours for priority 'medium'"):
        staff_services.ticket_customer_reply(ticket_id=escalated.pk, text="Any news?")

    settings.TICKET_SLA_HOURS = {"urgent": 1, "high": 4, "medium": 10, "low": 72}
    opened = ticket_create_from_conversation(conversation=conversation, subject="Help", summary="", priority="medium")
    assert abs(opened.sla_due_at - timedelta(hours=10) - opened.created_at) < timedelta(seconds=1)
    event = staff_services.ticket_customer_reply(ticket_id=escalated.pk, text="Any news?")
    escalated.refresh_from_db()
    assert escalated.sla_due_at == event.created_at + timedelta(hours=10)


def test_sla_hours_follow_the_setting_and_reject_unknown_priorities(settings):
    settings.TICKET_SLA_HOURS = {"urgent": 0.5, "high": 2, "medium": 8, "low": 48}
    assert staff_services.sla_hours("urgent") == 0.5 and staff_services.sla_hours("low") == 48
    with pytest.raises(InvalidInput, match="critical"):
        staff_services.sla_hours("critical")


def test_changing_priority_re_measures_the_running_clock(escalated, agent, settings):
    settings.TICKET_SLA_HOURS = {"urgent": 1, "high": 4, "medium": 24, "low": 72}
    Ticket.objects.filter(pk=escalated.pk).update(
        priority="medium", sla_due_at=escalated.created_at + timedelta(hours=24)
    )

    ticket = staff_services.ticket_change_priority(ticket_id=escalated.pk, actor=agent, priority="urgent")

    assert ticket.sla_due_at == escalated.created_at + timedelta(hours=1)
    event = ticket.events.get(kind=TicketEvent.Kind.PRIORITY_CHANGE)
    assert (event.old_value, event.new_value, event.author) == ("medium", "urgent", agent)


def test_breached_means_the_clock_runs_and_the_due_time_passed(escalated, agent):
    Ticket.objects.filter(pk=escalated.pk).update(sla_due_at=timezone.now() - timedelta(minutes=1))
    assert list(tickets_sla_breached(Ticket.objects.all())) == [escalated]
    escalated.refresh_from_db()
    assert escalated.sla_breached

    # A public reply stops the clock: the ticket waits on the customer and is not breached.
    staff_services.ticket_reply(ticket_id=escalated.pk, author=agent, text="Looking into it now.")
    escalated.refresh_from_db()
    assert escalated.status == Ticket.Status.WAITING_ON_CUSTOMER
    assert not escalated.sla_breached and not tickets_sla_breached(Ticket.objects.all()).exists()


def test_a_public_reply_goes_into_the_chat_and_assigns_the_first_responder(
    escalated, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        event = staff_services.ticket_reply(ticket_id=escalated.pk, author=agent, text="Hi! Your refund is on its way.")

    assert len(callbacks) == 1  # the reply email, enqueued only once the reply is committed
    assert event.kind == TicketEvent.Kind.PUBLIC_REPLY and event.customer_visible
    message = event.message
    assert message.conversation_id == escalated.conversation_id
    assert (message.role, message.model, message.text) == (
        "assistant",
        staff_services.STAFF_MODEL,
        "Hi! Your refund is on its way.",
    )
    escalated.refresh_from_db()
    assert escalated.assignee == agent
    kinds = list(escalated.events.values_list("kind", flat=True))
    assert kinds == ["public_reply", "status_change", "assignee_change"]


def test_an_internal_note_stays_off_the_chat_and_the_mail(escalated, agent, django_capture_on_commit_callbacks):
    before = Message.objects.filter(conversation_id=escalated.conversation_id).count()
    with django_capture_on_commit_callbacks() as callbacks:
        note = staff_services.ticket_note(
            ticket_id=escalated.pk, author=agent, text="Customer is a VIP; refund approved."
        )

    assert callbacks == [] and note.message is None and not note.customer_visible
    assert Message.objects.filter(conversation_id=escalated.conversation_id).count() == before


def test_public_reply_is_emailed_through_smtp_once(escalated, agent, smtp_outbox):
    event = staff_services.ticket_reply(
        ticket_id=escalated.pk, author=agent, text="Your refund of $42 was issued today."
    )

    assert ticket_reply_email_send(event_id=event.pk) is True
    assert ticket_reply_email_send(event_id=event.pk) is False  # a redelivered task mails nothing

    mails = smtp_outbox.wait_for(1)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == escalated.customer.email
    assert escalated.number in mail["Subject"]
    body = mail.get_payload()[0].get_payload(decode=True).decode()
    assert "Your refund of $42 was issued today." in body and "Alex replied" in body
    event.refresh_from_db()
    assert event.emailed_at is not None


def test_notes_are_never_emailed(escalated, agent, smtp_outbox):
    note = staff_services.ticket_note(ticket_id=escalated.pk, author=agent, text="internal only")
    assert ticket_reply_email_send(event_id=note.pk) is False
    assert smtp_outbox.messages == []


def test_assign_records_the_change_and_opens_a_new_ticket(escalated, agent, lead):
    ticket = staff_services.ticket_assign(ticket_id=escalated.pk, actor=lead, assignee=agent)
    assert ticket.assignee == agent and ticket.status == Ticket.Status.OPEN
    event = ticket.events.get(kind=TicketEvent.Kind.ASSIGNEE_CHANGE)
    assert (event.old_value, event.new_value, event.author) == ("", "alex", lead)


def test_only_active_staff_can_be_assigned_or_act(escalated, agent, customer):
    with pytest.raises(InvalidInput, match="not an active staff account"):
        staff_services.ticket_assign(ticket_id=escalated.pk, actor=agent, assignee=customer.user)
    with pytest.raises(RuleViolation):
        staff_services.ticket_reply(ticket_id=escalated.pk, author=customer.user, text="I am staff, honest")
    gone = make_staff("gone")
    gone.is_active = False
    gone.save()
    with pytest.raises(InvalidInput):
        staff_services.ticket_assign(ticket_id=escalated.pk, actor=agent, assignee=gone)
    assert not escalated.events.exists()


def test_bad_input_is_refused_with_a_clear_error_and_writes_nothing(escalated, agent):
    with pytest.raises(InvalidInput, match="empty"):
        staff_services.ticket_reply(ticket_id=escalated.pk, author=agent, text="   ")
    with pytest.raises(InvalidInput, match="status"):
        staff_services.ticket_change_status(ticket_id=escalated.pk, actor=agent, status="done")
    with pytest.raises(InvalidInput, match="does not exist"):
        staff_services.ticket_note(ticket_id=999_999, author=agent, text="x")
    assert not escalated.events.exists()


def test_resolving_hands_the_conversation_back_to_the_assistant(escalated, agent):
    ticket = staff_services.ticket_resolve(ticket_id=escalated.pk, actor=agent)

    assert ticket.status == Ticket.Status.RESOLVED and ticket.resolved_at is not None
    conversation = Conversation.objects.get(pk=escalated.conversation_id)
    assert conversation.status == Conversation.Status.OPEN
    last = conversation.messages.order_by("-id").first()
    assert escalated.number in last.text and "resolved" in last.text

    # Reopening restarts the clock and clears the resolution time.
    reopened = staff_services.ticket_change_status(ticket_id=escalated.pk, actor=agent, status="open")
    assert reopened.resolved_at is None and reopened.sla_due_at > timezone.now()


def test_a_customer_reply_restarts_the_clock_and_reopens(escalated, agent, settings):
    settings.TICKET_SLA_HOURS = {"urgent": 1, "high": 4, "medium": 24, "low": 72}
    staff_services.ticket_reply(ticket_id=escalated.pk, author=agent, text="Can you send a photo?")
    event = staff_services.ticket_customer_reply(ticket_id=escalated.pk, text="Here it is.")

    escalated.refresh_from_db()
    assert escalated.status == Ticket.Status.OPEN
    assert escalated.sla_due_at == event.created_at + timedelta(hours=staff_services.sla_hours(escalated.priority))
    assert event.author == escalated.customer.user
