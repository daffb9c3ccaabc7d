"""Linking a number (emailed code, signed link), status callbacks, retries, the 24-hour window."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation
from tickets.models import TicketEvent
from tickets.staff_services import ticket_reply
from whatsapp.models import LinkCode, OutboundMessage, WhatsAppContact
from whatsapp.services import dispatch, link_url, outbound_deliver_pending, outbound_queue_text
from whatsapp.tests.conftest import (
    linked_contact,
    make_account,
    notification,
    run_webhook,
    status_callback,
    text_message,
)

pytestmark = pytest.mark.django_db


def send_link_request(client, phone: str, email: str, django_capture_on_commit_callbacks) -> None:
    # The code reaches the mail only through the email task's arguments; run that hand-off
    # here (inline) so the in-process test sees the mail. test_worker.py does it with a worker.
    with dispatch.inline(), django_capture_on_commit_callbacks(execute=True):
        run_webhook(client, notification(messages=[text_message(phone, f"link {email}")]))


def test_the_code_flow_links_the_number(client, graph, new_phone, mailoutbox, django_capture_on_commit_callbacks):
    customer = make_account()
    phone = new_phone()

    send_link_request(client, phone, customer.email.upper(), django_capture_on_commit_callbacks)

    (mail,) = mailoutbox
    assert mail.to == [customer.email]
    code = re.search(r"^\s+(\d{6})$", mail.body, re.MULTILINE).group(1)
    assert f"+{phone}" in mail.body
    assert "we've emailed it a 6-digit code" in graph.delivered()[-1].text
    assert code not in str(LinkCode.objects.values_list("code_hash", flat=True))

    run_webhook(client, notification(messages=[text_message(phone, code)]))

    contact = WhatsAppContact.objects.get(phone=phone)
    assert contact.is_verified and contact.customer == customer
    assert "now linked" in graph.delivered()[-1].text


def test_an_unknown_email_gets_the_same_answer_and_no_mail(client, graph, new_phone, mailoutbox, django_capture_on_commit_callbacks):
    customer = make_account()
    known_phone, unknown_phone = new_phone(), new_phone()
    send_link_request(client, known_phone, customer.email, django_capture_on_commit_callbacks)
    send_link_request(client, unknown_phone, "nobody@example.com", django_capture_on_commit_callbacks)

    assert len(mailoutbox) == 1
    known, unknown = graph.delivered()
    assert known.text.replace(customer.email, "EMAIL") == unknown.text.replace("nobody@example.com", "EMAIL")


def test_wrong_codes_are_counted_and_lock_out(client, graph, new_phone, mailoutbox, django_capture_on_commit_callbacks):
    customer = make_account()
    phone = new_phone()
    send_link_request(client, phone, customer.email, django_capture_on_commit_callbacks)
    code = re.search(r"^\s+(\d{6})$", mailoutbox[0].body, re.MULTILINE).group(1)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    for _ in range(5):
        run_webhook(client, notification(messages=[text_message(phone, wrong)]))
    run_webhook(client, notification(messages=[text_message(phone, code)]))  # right, but too late

    assert LinkCode.objects.get().attempts == 5
    assert not WhatsAppContact.objects.get(phone=phone).is_verified
    assert "too many times" in graph.delivered()[-1].text
    assert "1 more time" in graph.delivered()[-3].text


def test_an_expired_code_does_not_link(client, graph, new_phone, mailoutbox, django_capture_on_commit_callbacks, llm):
    from chat.tests.llm_server import ScriptedLLM

    customer = make_account()
    phone = new_phone()
    send_link_request(client, phone, customer.email, django_capture_on_commit_callbacks)
    code = re.search(r"^\s+(\d{6})$", mailoutbox[0].body, re.MULTILINE).group(1)
    LinkCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    llm.add(ScriptedLLM.text("I'm not sure what that number is."))

    run_webhook(client, notification(messages=[text_message(phone, code)]))

    assert not WhatsAppContact.objects.get(phone=phone).is_verified


def test_the_signed_link_links_the_number_to_the_signed_in_account(client, graph, new_phone):
    customer = make_account()
    phone = new_phone()
    run_webhook(client, notification(messages=[text_message(phone, "link")]), deliver=False)  # creates the contact
    contact = WhatsAppContact.objects.get(phone=phone)
    path = link_url(contact).removeprefix("https://support.cobalt.example")

    assert client.get(path).status_code == 302  # login first
    client.force_login(customer.user)
    page = client.get(path)
    assert page.status_code == 200 and f"+{phone}" in page.content.decode()
    assert not WhatsAppContact.objects.get(phone=phone).is_verified  # GET changes nothing

    response = client.post(path)

    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.is_verified and contact.customer == customer


def test_a_tampered_signed_link_is_refused(client, graph, new_phone):
    customer = make_account()
    run_webhook(client, notification(messages=[text_message(new_phone(), "link")]), deliver=False)
    contact = WhatsAppContact.objects.get()
    path = link_url(contact).removeprefix("https://support.cobalt.example")
    client.force_login(customer.user)

    response = client.post(path[:-3] + "abc")

    assert response.status_code == 404
    assert not WhatsAppContact.objects.get().is_verified


def test_status_callbacks_move_the_message_forward_only(client, graph, new_phone):
    phone = new_phone()
    contact = linked_contact(make_account(), phone)
    outbound_queue_text(contact=contact, text="Hello")
    outbound_deliver_pending(contact_id=contact.pk, final_attempt=False)
    message = OutboundMessage.objects.get()
    assert message.status == "sent" and message.wamid == graph.delivered()[0].wamid

    run_webhook(client, notification(statuses=[status_callback(message.wamid, "read", phone)]))
    run_webhook(client, notification(statuses=[status_callback(message.wamid, "delivered", phone)]))  # late

    message.refresh_from_db()
    assert message.status == "read" and message.read_at is not None and message.delivered_at is not None


def test_a_failed_status_callback_is_recorded_for_staff(client, graph, new_phone):
    phone = new_phone()
    contact = linked_contact(make_account(), phone)
    outbound_queue_text(contact=contact, text="Hello")
    outbound_deliver_pending(contact_id=contact.pk, final_attempt=False)
    message = OutboundMessage.objects.get()

    errors = [{"code": 131047, "title": "Re-engagement message"}]
    run_webhook(client, notification(statuses=[status_callback(message.wamid, "failed", phone, errors=errors)]))

    message.refresh_from_db()
    assert message.status == "failed" and "131047 Re-engagement message" in message.last_error


def test_transient_send_failures_are_retried_and_recorded(graph, new_phone):
    from whatsapp.graph import GraphTransientError

    contact = linked_contact(make_account(), new_phone())
    outbound_queue_text(contact=contact, text="first")
    outbound_queue_text(contact=contact, text="second")
    graph.fail_next(1, status=503)

    with pytest.raises(GraphTransientError):
        outbound_deliver_pending(contact_id=contact.pk, final_attempt=False)
    first, second = OutboundMessage.objects.order_by("id")
    assert (first.status, first.attempts, second.status) == ("queued", 1, "queued")
    assert "503" in first.last_error

    assert outbound_deliver_pending(contact_id=contact.pk, final_attempt=False) == 2
    assert [sent.text for sent in graph.delivered()] == ["first", "second"]  # order kept


def test_the_last_attempt_marks_the_message_failed_and_moves_on(graph, new_phone):
    contact = linked_contact(make_account(), new_phone())
    outbound_queue_text(contact=contact, text="doomed")
    outbound_queue_text(contact=contact, text="next")
    graph.fail_next(1, status=500)

    assert outbound_deliver_pending(contact_id=contact.pk, final_attempt=True) == 1

    doomed, following = OutboundMessage.objects.order_by("id")
    assert doomed.status == "failed" and doomed.failed_at is not None
    assert following.status == "sent"


def test_a_permanent_refusal_is_not_retried(graph, settings, new_phone):
    settings.WHATSAPP_ACCESS_TOKEN = "revoked"
    contact = linked_contact(make_account(), new_phone())
    outbound_queue_text(contact=contact, text="Hello")

    assert outbound_deliver_pending(contact_id=contact.pk, final_attempt=False) == 0

    message = OutboundMessage.objects.get()
    assert message.status == "failed" and "401" in message.last_error and message.attempts == 1


# --- staff replies and the 24-hour window -------------------------------------------------


@pytest.fixture
def escalated(client, graph, llm, new_phone):
    """A linked number whose WhatsApp conversation was handed to a person."""
    customer = make_account()
    phone = new_phone()
    linked_contact(customer, phone)
    run_webhook(client, notification(messages=[text_message(phone, "I want to talk to a person")]))
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.status == Conversation.Status.ESCALATED
    ticket = conversation.tickets.get()
    graph.reset()
    return ticket, WhatsAppContact.objects.get(phone=phone)


def scheduled_tasks(callbacks) -> set[str]:
    """Names of the Celery tasks the captured on-commit callbacks would enqueue."""
    return {
        getattr(cell.cell_contents, "name", "")
        for callback in callbacks
        for cell in (getattr(callback, "__closure__", None) or ())
    } - {""}


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="agent", password="agent-pass-123", is_staff=True, first_name="Riley")


def test_a_staff_reply_inside_the_window_goes_out_on_whatsapp_not_email(escalated, staff, graph, django_capture_on_commit_callbacks):
    ticket, contact = escalated

    with django_capture_on_commit_callbacks() as callbacks:
        ticket_reply(ticket_id=ticket.pk, author=staff, text="Hi! I've **refunded** the shipping.")
    outbound_deliver_pending(contact_id=contact.pk, final_attempt=False)

    (sent,) = graph.delivered()
    assert sent.to == contact.phone
    assert sent.text == f"*Riley* (Cobalt Market support, ticket {ticket.number}):\n\nHi! I've *refunded* the shipping."
    assert "tickets.send_ticket_reply" not in scheduled_tasks(callbacks)
    assert not TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.INTERNAL_NOTE).exists()


def test_a_staff_reply_after_the_window_is_emailed_with_a_note(
    escalated, staff, graph, smtp_outbox, django_capture_on_commit_callbacks
):
    from tickets.emails import ticket_reply_email_send

    ticket, contact = escalated
    WhatsAppContact.objects.filter(pk=contact.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))

    before = OutboundMessage.objects.count()
    with django_capture_on_commit_callbacks() as callbacks:
        event = ticket_reply(ticket_id=ticket.pk, author=staff, text="Sorry for the wait — your refund is on its way.")

    assert OutboundMessage.objects.count() == before
    assert "tickets.send_ticket_reply" in scheduled_tasks(callbacks)
    note = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.INTERNAL_NOTE)
    assert "outside WhatsApp's 24-hour customer-service window" in note.text
    assert ticket.customer.email in note.text
    # The email path is the ticket's usual one (its task runs it after commit).
    assert ticket_reply_email_send(event_id=event.pk)
    (mail,) = smtp_outbox.wait_for(1)
    assert mail["To"] == ticket.customer.email


def test_the_window_is_measured_from_the_customers_last_message(escalated, staff, graph, settings):
    ticket, contact = escalated
    WhatsAppContact.objects.filter(pk=contact.pk).update(last_inbound_at=timezone.now() - timedelta(hours=23, minutes=50))

    before = OutboundMessage.objects.count()
    ticket_reply(ticket_id=ticket.pk, author=staff, text="Still there?")
    assert OutboundMessage.objects.count() == before + 1

    settings.WHATSAPP_SESSION_WINDOW_HOURS = 23
    ticket_reply(ticket_id=ticket.pk, author=staff, text="And now?")
    assert OutboundMessage.objects.count() == before + 1
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.INTERNAL_NOTE).count() == 1
