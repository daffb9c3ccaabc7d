"""A customer with data in every kind of table — WhatsApp numbers (linked, and once linked) with
their guest chat, failed logins, failed tasks, a pending turn, dialogue state, a resolved-ticket
document quoting them — is exported whole and erased whole, in one transaction, leaving other
customers' rows alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from smtplib import SMTPRecipientsRefused

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection
from django.urls import reverse

from chat.models import Conversation, Message, PendingTurn
from chat.models_offline import DialogueState
from knowledge.models import Chunk, Document
from knowledge.services.documents import document_ingest_path
from orders.models import Customer
from orders.tests.factories import OrderFactory
from supportbot.models import FailedTask
from supportbot.services import failed_task_record
from tickets.data_rights import customer_anonymize, customer_data_export
from tickets.models import Ticket
from tickets.services import ticket_create_from_conversation
from tickets.tests.conftest import PASSWORD, make_customer
from whatsapp.models import InboundEvent, LinkCode, OutboundMessage, WhatsAppContact
from whatsapp.services.contacts import contact_for_phone, contact_link, contact_unlink

pytestmark = pytest.mark.django_db


@dataclass
class Person:
    customer: Customer
    phone: str
    old_phone: str
    order_id: str
    ticket: Ticket
    conversation: Conversation
    guest: Customer
    old_guest: Customer


def _failed_login(client, username: str) -> None:
    response = client.post(reverse("login"), {"username": username, "password": "wrong-password"})
    assert response.status_code in (200, 403, 429)


def _inbound(contact: WhatsAppContact, conversation: Conversation, text: str) -> None:
    InboundEvent.objects.create(
        key=f"wamid.{contact.phone}.{InboundEvent.objects.count()}",
        kind=InboundEvent.Kind.MESSAGE,
        phone=contact.phone,
        payload={"from": contact.phone, "profile": {"name": contact.profile_name}, "text": {"body": text}},
        contact=contact,
        conversation=conversation,
    )


def _person(client, tmp_path: Path, *, phone: str, old_phone: str, name: str) -> Person:
    """A customer with a row in each table that can hold their data."""
    customer = make_customer(first_name=name)
    order = OrderFactory(customer=customer)
    conversation = Conversation.objects.create(customer=customer)
    Message.objects.create(conversation=conversation, role="user", text=f"{name} here, about {order.order_id}")
    ticket = ticket_create_from_conversation(
        conversation=conversation, subject="Cracked tank", summary="", priority=Ticket.Priority.MEDIUM
    )

    # A number that chatted as a guest, then was linked to the account.
    contact = contact_for_phone(phone=phone, profile_name=f"{name} Mobile")
    guest_conversation = Conversation.objects.create(
        customer=contact.guest_customer, channel=Conversation.Channel.WHATSAPP
    )
    Message.objects.create(conversation=guest_conversation, role="user", text=f"hi, this is {name} before linking")
    _inbound(contact, guest_conversation, f"hi, this is {name} before linking")
    contact_link(contact_id=contact.pk, customer=customer)
    LinkCode.objects.create(contact=contact, customer=customer, code_hash="x", expires_at="2030-01-01T00:00Z")
    OutboundMessage.objects.create(
        contact=contact,
        conversation=conversation,
        payload={"to": phone},
        text=f"Hello {name}",
        wamid=f"wamid.out.{phone}",
    )
    # A number once linked to the account, unlinked since: what it wrote in their chat is theirs.
    old_contact = contact_for_phone(phone=old_phone, profile_name=f"{name} Old Phone")
    contact_link(contact_id=old_contact.pk, customer=customer)
    _inbound(old_contact, conversation, f"{name} writing from the old phone")
    contact_unlink(contact_id=old_contact.pk)

    _failed_login(client, customer.email)
    _failed_login(client, customer.email.upper())
    # Written by axes on a successful login, and on failures when its failure log is turned on.
    for model in (AccessLog, AccessFailureLog):
        model.objects.create(
            username=customer.email,
            ip_address="203.0.113.7",
            user_agent="phone",
            http_accept="*/*",
            path_info="/accounts/login/",
        )

    failed_task_record(
        task_id=f"t-{phone}",
        name="orders.send_password_reset",
        args=[],
        kwargs={"user_id": customer.user_id, "to_email": customer.email, "domain": "shop.example"},
        exception=SMTPRecipientsRefused({customer.email: (550, b"mailbox unavailable")}),
        traceback="",
    )
    failed_task_record(
        task_id=f"r-{phone}",
        name="orders.send_return_instructions",
        args=[order.order_id],
        kwargs={},
        exception=ConnectionRefusedError("mail server down"),
        traceback="",
    )

    PendingTurn.objects.create(
        token=f"turn{phone}", conversation=conversation, user=customer.user, text=f"{name}: cancel it please"
    )
    DialogueState.objects.create(
        conversation=conversation,
        data={"form": "cancel", "slots": {"order_id": order.order_id, "reason": f"{name} moved"}},
    )

    folder = tmp_path / f"tickets-{phone}"
    folder.mkdir()
    (folder / f"resolved-{phone}.md").write_text(
        f"---\ntitle: Resolved {ticket.number}\nkind: resolved-ticket\n---\n\n"
        f"{name} ({customer.email}) reported a cracked water tank on {order.order_id}. We sent a new tank.\n"
    )
    document_ingest_path(path=folder, prune=False)
    return Person(
        customer,
        phone,
        old_phone,
        order.order_id,
        ticket,
        conversation,
        contact.guest_customer,
        old_contact.guest_customer,
    )


@pytest.fixture
def person(client, tmp_path) -> Person:
    return _person(client, tmp_path, phone="15550001111", old_phone="15550002222", name="Jane")


@pytest.fixture
def bystander(client, tmp_path) -> Person:
    return _person(client, tmp_path, phone="15550003333", old_phone="15550004444", name="Omar")


def test_the_export_holds_a_row_from_every_table(person, bystander):
    data = json.loads(json.dumps(customer_data_export(customer_id=person.customer.pk), default=str))

    assert {row["phone"] for row in data["whatsapp_numbers"]} == {person.phone, person.old_phone}
    assert {row["id"] for row in data["customers"]} == {person.customer.pk, person.guest.pk, person.old_guest.pk}
    texts = {row["text"] for row in data["messages"]}
    assert "hi, this is Jane before linking" in texts  # the number's chat as a guest
    assert {row["payload"]["text"]["body"] for row in data["whatsapp_inbound_events"]} == {
        "hi, this is Jane before linking",
        "Jane writing from the old phone",
    }
    assert [row["text"] for row in data["whatsapp_outbound_messages"]] == ["Hello Jane"]
    assert len(data["whatsapp_link_codes"]) == 1
    # Typed in another case, the login is still hers.
    assert sorted(row["username"] for row in data["login_attempts"]) == [
        person.customer.email.upper(),
        person.customer.email,
    ]
    assert len(data["login_failures"]) == 1 and len(data["logins"]) == 1
    assert sorted(row["name"] for row in data["failed_tasks"]) == [
        "orders.send_password_reset",
        "orders.send_return_instructions",
    ]
    assert [row["text"] for row in data["pending_turns"]] == ["Jane: cancel it please"]
    assert data["dialogue_states"][0]["data"]["slots"]["reason"] == "Jane moved"
    assert [row["title"] for row in data["resolved_ticket_documents"]] == [f"Resolved {person.ticket.number}"]
    # Nothing of the other customer.
    dump = json.dumps(data)
    assert bystander.customer.email not in dump and bystander.phone not in dump and "Omar" not in dump


def _rows_of(person: Person) -> dict[str, int]:
    email = person.customer.email
    return {
        "whatsapp numbers": WhatsAppContact.objects.filter(phone__in=[person.phone, person.old_phone]).count(),
        "inbound events": InboundEvent.objects.filter(phone__in=[person.phone, person.old_phone]).count(),
        "outbound messages": OutboundMessage.objects.filter(payload__to=person.phone).count(),
        "link codes": LinkCode.objects.filter(contact__phone=person.phone).count(),
        "guest customers": Customer.objects.filter(pk__in=[person.guest.pk, person.old_guest.pk]).count(),
        "guest logins": get_user_model()
        .objects.filter(username__in=[f"whatsapp-{person.phone}", f"whatsapp-{person.old_phone}"])
        .count(),
        "login attempts": AccessAttempt.objects.filter(username__iexact=email).count(),
        "login failures": AccessFailureLog.objects.filter(username__iexact=email).count(),
        "logins": AccessLog.objects.filter(username__iexact=email).count(),
        "failed tasks": FailedTask.objects.filter(task_id__in=[f"t-{person.phone}", f"r-{person.phone}"]).count(),
        "pending turns": PendingTurn.objects.filter(token=f"turn{person.phone}").count(),
        "dialogue states": DialogueState.objects.filter(conversation_id=person.conversation.pk).count(),
        "documents": Document.objects.filter(title=f"Resolved {person.ticket.number}").count(),
        "chunks": Chunk.objects.filter(document__title=f"Resolved {person.ticket.number}").count(),
    }


def test_erasure_removes_every_row_and_leaves_others(person, bystander, lead):
    bystander_rows = _rows_of(bystander)
    assert all(bystander_rows.values()), bystander_rows

    report = customer_anonymize(customer_id=person.customer.pk, actor=lead)

    assert _rows_of(person) == dict.fromkeys(bystander_rows, 0)
    assert _rows_of(bystander) == bystander_rows
    customer = Customer.objects.get(pk=person.customer.pk)
    assert customer.first_name == "Erased" and customer.orders.get().order_id == person.order_id
    assert report.deleted["whatsapp.InboundEvent"] == 2 and report.deleted["supportbot.FailedTask"] == 2
    assert Customer.objects.get(pk=bystander.customer.pk).first_name == "Omar"


def test_erasure_is_all_or_nothing(person, lead):
    before = _rows_of(person)
    # The last step (deleting the login) fails in the database: nothing before it may stay done.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'login rows are read-only'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_delete BEFORE DELETE ON auth_user FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()"
        )

    with pytest.raises(DatabaseError, match="read-only"):
        customer_anonymize(customer_id=person.customer.pk, actor=lead)

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_delete ON auth_user")
    assert _rows_of(person) == before
    customer = Customer.objects.get(pk=person.customer.pk)
    assert customer.first_name == "Jane" and customer.user is not None
    assert customer.user.check_password(PASSWORD)
