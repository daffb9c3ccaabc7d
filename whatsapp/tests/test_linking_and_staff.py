"""Linking a number (a code emailed to the account), status callbacks, retries, the 24-hour window."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from chat.models import Conversation
from tickets.models import TicketEvent
from tickets.staff_services import ticket_reply
from whatsapp.models import LinkCode, OutboundMessage, WhatsAppContact
from whatsapp.services import contact_for_phone, contact_unlink, dispatch, outbound_deliver_pending, outbound_queue_text
from whatsapp.services.linking import EMAIL_QUESTION, LINK_ASK, LINK_EMAIL
from whatsapp.tests.conftest import (
    linked_contact,
    make_account,
    notification,
    run_webhook,
    status_callback,
    text_message,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def say(client, graph, django_capture_on_commit_callbacks):
    """Write `text` from `phone` on WhatsApp; returns the reply the number got.

    The code reaches the mail only through the email task's arguments; that hand-off runs
    here (inline) so the in-process test sees the mail. test_worker.py does it with a worker.
    """

    def send(phone: str, text: str) -> str:
        before = len(graph.delivered())
        with dispatch.inline(), django_capture_on_commit_callbacks(execute=True):
            run_webhook(client, notification(messages=[text_message(phone, text)]))
        replies = graph.delivered()[before:]
        assert replies, f"no reply to {text!r}"
        return replies[-1].text

    return send


def mail_body(mail) -> str:
    return mail.get_payload(decode=True).decode()


def emailed_code(mail) -> str:
    return re.search(r"^\s+(\d{6})\s*$", mail_body(mail), re.MULTILINE).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_old_signed_link_is_gone_and_binds_nothing(client, graph, new_phone):
    victim = make_account()
    contact = contact_for_phone(phone=new_phone())  # the attacker's number
    # A link in the format the removed page accepted, signed with this site's key.
    token = signing.dumps({"contact": contact.pk, "phone": contact.phone}, salt="whatsapp.link", compress=True)
    client.force_login(victim.user)

    assert client.get(f"/whatsapp/link/{token}").status_code == 404
    assert client.post(f"/whatsapp/link/{token}").status_code == 404

    contact.refresh_from_db()
    assert not contact.is_verified and contact.customer is None
    with pytest.raises(NoReverseMatch):
        reverse("whatsapp:link", kwargs={"token": token})


def test_link_my_account_asks_for_the_email_and_the_emailed_code_links_the_number(say, new_phone, smtp_outbox):
    customer = make_account(email="jane.doe@example.com", first_name="Jane")
    phone = new_phone()

    assert say(phone, "link my account") == EMAIL_QUESTION
    reply = say(phone, "Jane.Doe@example.com")

    assert reply.startswith("We've emailed a code to j***@example.com; reply with it here to link this number")
    assert "10 minutes" in reply
    (mail,) = smtp_outbox.wait_for(1)
    assert mail["To"] == customer.email and mail.get_all("Cc") is None and mail.get_all("Bcc") is None
    code = emailed_code(mail)
    assert f"+{phone}" in mail_body(mail)
    assert code not in reply
    assert code not in str(list(LinkCode.objects.values_list("code_hash", flat=True)))
    assert not WhatsAppContact.objects.get(phone=phone).is_verified  # asking links nothing

    assert "now linked" in say(phone, code)

    contact = WhatsAppContact.objects.get(phone=phone)
    assert contact.is_verified and contact.customer == customer
    assert LinkCode.objects.get().used_at is not None
    assert say(phone, "link my account") == "This number is already linked to Jane’s Cobalt Market account."


def test_a_code_is_single_use(say, new_phone, smtp_outbox, llm):
    from assistant.tests.llm_server import ScriptedLLM

    customer = make_account()
    phone = new_phone()
    say(phone, f"link {customer.email}")
    code = emailed_code(smtp_outbox.wait_for(1)[0])
    assert "now linked" in say(phone, code)
    contact_unlink(contact_id=WhatsAppContact.objects.get(phone=phone).pk)
    llm.add(ScriptedLLM.text("I'm not sure what that number is."))

    assert say(phone, code) == "I'm not sure what that number is."
    assert not WhatsAppContact.objects.get(phone=phone).is_verified


def test_an_unknown_email_gets_the_same_reply_no_mail_and_the_same_refusal(say, new_phone, smtp_outbox):
    customer = make_account(email="sam@example.com")
    known_phone, unknown_phone = new_phone(), new_phone()

    known = say(known_phone, "link sam@example.com")
    unknown = say(unknown_phone, "link sally-nobody@example.com")

    assert known == unknown  # both "s***@example.com"
    assert len(smtp_outbox.wait_for(2, timeout=1)) == 1
    # Typing a guess afterwards is answered alike too.
    code = emailed_code(smtp_outbox.messages[0])
    assert say(known_phone, wrong(code)) == say(unknown_phone, wrong(code))
    assert not WhatsAppContact.objects.filter(customer=customer).exists()


def test_five_wrong_codes_void_the_code(say, new_phone, smtp_outbox):
    customer = make_account()
    phone = new_phone()
    say(phone, f"link {customer.email}")
    code = emailed_code(smtp_outbox.wait_for(1)[0])

    replies = [say(phone, wrong(code)) for _ in range(5)]
    too_late = say(phone, code)  # right, but the code is void

    assert "1 more time" in replies[3] and "no longer works" in replies[4]
    assert "too many times" in too_late
    assert LinkCode.objects.get().attempts == 5
    assert not WhatsAppContact.objects.get(phone=phone).is_verified


def test_the_number_of_wrong_tries_is_a_setting(say, new_phone, smtp_outbox, settings):
    settings.WHATSAPP_LINK_CODE_MAX_ATTEMPTS = 2
    customer = make_account()
    phone = new_phone()
    say(phone, f"link {customer.email}")
    code = emailed_code(smtp_outbox.wait_for(1)[0])
    say(phone, wrong(code))
    say(phone, wrong(code))

    assert "too many times" in say(phone, code)
    assert not WhatsAppContact.objects.get(phone=phone).is_verified


def test_an_expired_code_does_not_link(say, new_phone, smtp_outbox, llm):
    from assistant.tests.llm_server import ScriptedLLM

    customer = make_account()
    phone = new_phone()
    say(phone, f"link {customer.email}")
    code = emailed_code(smtp_outbox.wait_for(1)[0])
    link_code = LinkCode.objects.get()
    assert link_code.expires_at - link_code.created_at == timedelta(minutes=10)
    LinkCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    llm.add(ScriptedLLM.text("I'm not sure what that number is."))

    say(phone, code)

    assert not WhatsAppContact.objects.get(phone=phone).is_verified


def test_a_code_typed_on_another_number_links_nothing(say, new_phone, smtp_outbox):
    account_a, account_b = make_account(), make_account()
    phone_x, phone_y = new_phone(), new_phone()
    say(phone_x, f"link {account_a.email}")
    say(phone_y, f"link {account_b.email}")
    mails = smtp_outbox.wait_for(2)
    code_for_a = emailed_code(next(mail for mail in mails if mail["To"] == account_a.email))

    assert "doesn't match" in say(phone_y, code_for_a)

    y = WhatsAppContact.objects.get(phone=phone_y)
    assert not y.is_verified and y.customer is None
    # X's code still works on X, for A only.
    assert "now linked" in say(phone_x, code_for_a)
    assert WhatsAppContact.objects.get(phone=phone_x).customer == account_a
    assert not WhatsAppContact.objects.filter(customer=account_b).exists()


def test_a_new_request_voids_the_earlier_code_so_a_code_for_a_links_no_one_else(say, new_phone, smtp_outbox):
    account_a, account_b = make_account(), make_account()
    phone = new_phone()
    say(phone, f"link {account_a.email}")
    say(phone, f"link {account_b.email}")
    mails = smtp_outbox.wait_for(2)
    code_for_a = emailed_code(next(mail for mail in mails if mail["To"] == account_a.email))
    code_for_b = emailed_code(next(mail for mail in mails if mail["To"] == account_b.email))

    assert "doesn't match" in say(phone, code_for_a)
    assert not WhatsAppContact.objects.get(phone=phone).is_verified

    assert "now linked" in say(phone, code_for_b)
    assert WhatsAppContact.objects.get(phone=phone).customer == account_b


def test_a_number_may_ask_for_three_codes_an_hour_whatever_the_email(say, new_phone, smtp_outbox):
    phone = new_phone()
    replies = [say(phone, f"link nobody{n}@example.com") for n in range(4)]

    assert all(reply.startswith("We've emailed a code to n***@example.com") for reply in replies[:3])
    assert "several codes in the last hour" in replies[3]
    assert LinkCode.objects.filter(contact__phone=phone).count() == 3


def test_an_account_gets_at_most_three_code_emails_an_hour_with_the_same_reply(say, new_phone, smtp_outbox):
    customer = make_account()
    phones = [new_phone() for _ in range(4)]

    replies = [say(phone, customer.email) for phone in phones]

    assert len(set(replies)) == 1  # the fourth number is told exactly what the others were
    assert len(smtp_outbox.wait_for(4, timeout=1)) == 3
    assert all(mail["To"] == customer.email for mail in smtp_outbox.messages)
    assert LinkCode.objects.filter(customer=customer).count() == 3


@pytest.mark.parametrize(
    "text",
    [
        "link",
        "link my account",
        "Link my WhatsApp",
        "please connect this number to my account",
        "How do I link my account?",
    ],
)
def test_ways_of_asking_to_link(text):
    assert LINK_ASK.match(text)


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("jane@example.com", "jane@example.com"),
        ("link jane@example.com", "jane@example.com"),
        ("link my account: <jane@mail.example.com>.", "jane@mail.example.com"),
    ],
)
def test_ways_of_giving_the_email(text, email):
    match = LINK_EMAIL.match(text)
    assert match and match.group("email") == email


@pytest.mark.parametrize(
    "text", ["where is my order?", "verify my order #W123", "link jane at example dot com", "my email is"]
)
def test_other_messages_are_not_link_requests(text):
    assert not LINK_ASK.match(text) and not LINK_EMAIL.match(text)


def test_the_numbers_page_lists_the_customers_linked_numbers_and_unlinks_them(client, graph, new_phone):
    customer, other = make_account(), make_account()
    mine, theirs = linked_contact(customer, new_phone()), linked_contact(other, new_phone())
    client.force_login(customer.user)

    page = client.get(reverse("whatsapp:numbers")).content.decode()
    assert f"+{mine.phone}" in page and f"+{theirs.phone}" not in page
    assert "/whatsapp/link/" not in page

    assert client.post(reverse("whatsapp:unlink", args=[theirs.pk])).status_code == 404
    assert WhatsAppContact.objects.get(pk=theirs.pk).customer == other
    assert client.get(reverse("whatsapp:unlink", args=[mine.pk])).status_code == 405  # a GET changes nothing

    response = client.post(reverse("whatsapp:unlink", args=[mine.pk]), follow=True)

    assert f"+{mine.phone} is no longer linked" in response.content.decode()
    mine.refresh_from_db()
    assert not mine.is_verified and mine.customer is None


def test_the_code_email_points_to_the_numbers_page(say, new_phone, smtp_outbox):
    customer = make_account()
    say(new_phone(), f"link {customer.email}")

    (mail,) = smtp_outbox.wait_for(1)
    assert "https://support.cobalt.example/whatsapp/numbers/" in mail_body(mail)


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
    return django_user_model.objects.create_user(
        username="agent", password="agent-pass-123", is_staff=True, first_name="Riley"
    )


def test_a_staff_reply_inside_the_window_goes_out_on_whatsapp_not_email(
    escalated, staff, graph, django_capture_on_commit_callbacks
):
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
    WhatsAppContact.objects.filter(pk=contact.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=23, minutes=50)
    )

    before = OutboundMessage.objects.count()
    ticket_reply(ticket_id=ticket.pk, author=staff, text="Still there?")
    assert OutboundMessage.objects.count() == before + 1

    settings.WHATSAPP_SESSION_WINDOW_HOURS = 23
    ticket_reply(ticket_id=ticket.pk, author=staff, text="And now?")
    assert OutboundMessage.objects.count() == before + 1
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.INTERNAL_NOTE).count() == 1
