"""WhatsApp numbers, the customer each one chats as, and the conversation it writes in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from chat.models import Conversation
from chat.services.conversations import conversation_start
from orders.models import Customer
from supportbot.errors import NotFound
from whatsapp.models import WhatsAppContact

if TYPE_CHECKING:
    from datetime import datetime

GUEST_HANDLE_PREFIX = "whatsapp_"


def _guest_customer(*, phone: str, profile_name: str) -> Customer:
    """A placeholder customer for an unlinked number: it owns nothing and cannot sign in.

    Conversations and tickets need a customer, and staff should see "WhatsApp +1555…" in
    admin for a number that escalated before linking. The login is inactive with an
    unusable password; it exists because `chat_turn` acts for a user.
    """
    user = get_user_model().objects.create_user(username=f"whatsapp-{phone}", password=None, is_active=False)
    return Customer.objects.create(
        user=user,
        handle=f"{GUEST_HANDLE_PREFIX}{phone}",
        first_name=(profile_name or "WhatsApp")[:100],
        last_name=f"+{phone}",
        email="",
    )


@transaction.atomic
def contact_for_phone(*, phone: str, profile_name: str = "") -> WhatsAppContact:
    """The number's contact (created with its guest customer on first contact), row-locked.

    Precondition: `phone` is a WhatsApp id (digits). The lock orders concurrent events of
    one number, so a conversation's messages are answered one at a time.
    """
    WhatsAppContact.objects.get_or_create(phone=phone, defaults={"profile_name": profile_name[:200]})
    contact = WhatsAppContact.objects.select_for_update().get(phone=phone)
    changed: list[str] = []
    if contact.guest_customer_id is None:
        contact.guest_customer = _guest_customer(phone=phone, profile_name=profile_name)
        changed.append("guest_customer")
    if profile_name and contact.profile_name != profile_name[:200]:
        contact.profile_name = profile_name[:200]
        changed.append("profile_name")
    if changed:
        contact.save(update_fields=changed)
    return contact


def acting_customer(contact: WhatsAppContact) -> Customer:
    customer = contact.customer if contact.is_verified else contact.guest_customer
    assert customer is not None, "contact_for_phone creates the guest customer"
    return customer


@transaction.atomic
def contact_conversation(*, contact: WhatsAppContact, now: datetime | None = None) -> Conversation:
    """The conversation the number writes in now (caller holds the contact's row lock).

    A new one starts when the number is linked (the guest's chat stays the guest's), when the
    last one was resolved, and after a silence longer than the customer-service window — as
    a returning web visitor starts a fresh chat.
    """
    now = now or timezone.now()
    customer = acting_customer(contact)
    conversation = contact.conversation
    if (
        conversation is None
        or conversation.customer_id != customer.pk
        or conversation.status == Conversation.Status.RESOLVED
        or (conversation.status != Conversation.Status.ESCALATED and not contact.in_session_window(now))
    ):
        conversation = conversation_start(customer=customer, channel=Conversation.Channel.WHATSAPP)
        contact.conversation = conversation
        contact.save(update_fields=["conversation"])
    return conversation


@transaction.atomic
def contact_link(*, contact_id: int, customer: Customer) -> WhatsAppContact:
    """Link the number to `customer`, verified now. Only after the emailed code was typed back."""
    contact = WhatsAppContact.objects.select_for_update().get(pk=contact_id)
    contact.customer = customer
    contact.verified_at = timezone.now()
    contact.save(update_fields=["customer", "verified_at"])
    return contact


@transaction.atomic
def contact_unlink(*, contact_id: int) -> WhatsAppContact:
    """Forget the number's account; it chats as its guest again."""
    contact = WhatsAppContact.objects.select_for_update().get(pk=contact_id)
    contact.customer = None
    contact.verified_at = None
    contact.save(update_fields=["customer", "verified_at"])
    return contact


@transaction.atomic
def contact_unlink_for_customer(*, contact_id: int, customer: Customer) -> WhatsAppContact:
    """Unlink a number from the customer's own account (the portal's "Unlink").

    Raises NotFound for a number not linked to `customer`, so the page can't be used to
    unlink, or learn about, anyone else's number.
    """
    contact = WhatsAppContact.objects.select_for_update().filter(pk=contact_id, customer=customer).first()
    if contact is None:
        raise NotFound("That number isn't linked to your account.")
    return contact_unlink(contact_id=contact.pk)
