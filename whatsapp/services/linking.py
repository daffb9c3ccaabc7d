"""Proving a WhatsApp number belongs to an account: an emailed one-time code or a signed link.

Code: the customer writes "link you@example.com". If a portal account has that email, a
6-digit code is emailed to it (the reply is the same either way, so the chat can't be used
to learn who has an account). Replying with the code links the number. Codes expire after
LINK_CODE_MINUTES, allow MAX_CODE_ATTEMPTS wrong guesses, and a number may request
MAX_CODES_PER_HOUR, so neither guessing nor mailing someone repeatedly is possible.

Signed link: a URL carrying the contact id and number, signed with SECRET_KEY, valid for
LINK_URL_MINUTES. Opened while logged in to the portal, it asks to confirm and then links the
number to that account. The page shows the full number: someone tricked into opening another
person's link sees whose number they would be letting into their orders.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from orders.models import Customer
from supportbot.errors import InvalidInput, NotFound, RuleViolation
from whatsapp.models import LinkCode, WhatsAppContact
from whatsapp.services.contacts import contact_link
from whatsapp.services.dispatch import dispatch_link_code_email

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

LINK_CODE_MINUTES = 15
MAX_CODE_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 3
LINK_URL_MINUTES = 30
_SIGNING_SALT = "whatsapp.link"
_HMAC_SALT = "whatsapp.link-code"

LINK_COMMAND = re.compile(r"^\s*link\s+(?P<email>\S+@\S+\.\S+?)\s*[.!]?\s*$", re.IGNORECASE)
CODE_REPLY = re.compile(r"^\s*(?P<code>\d{3}\s?\d{3})\s*$")


def _hash(code: str) -> str:
    return salted_hmac(_HMAC_SALT, code, algorithm="sha256").hexdigest()


def link_instructions(contact: WhatsAppContact) -> str:
    return (
        "To link this number to your Cobalt Market account, send “link” followed by your account email "
        "(for example “link you@example.com”) and reply with the 6-digit code we email you. "
        f"Or, signed in to the portal, open this link: {link_url(contact)}"
    )


@transaction.atomic
def link_code_request(*, contact: WhatsAppContact, email: str) -> str:
    """Email a code to the account with `email`, if there is one; returns the reply to send."""
    email = email.strip().strip("<>").lower()
    since = timezone.now() - timedelta(hours=1)
    if LinkCode.objects.filter(contact=contact, created_at__gte=since).count() >= MAX_CODES_PER_HOUR:
        raise RuleViolation("You've asked for several codes in the last hour. Please use the latest one, or try again later.")
    same_reply = (
        f"If {email} belongs to a Cobalt Market account, we've emailed it a 6-digit code. "
        f"Reply here with the code to link this number (it expires in {LINK_CODE_MINUTES} minutes)."
    )
    customer = Customer.objects.filter(email__iexact=email, user__isnull=False, user__is_active=True).order_by("id").first()
    if customer is None:
        return same_reply
    # A new code replaces any earlier one: only the latest email's code works.
    LinkCode.objects.filter(contact=contact, used_at__isnull=True).update(expires_at=timezone.now())
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = timezone.now()
    link_code = LinkCode.objects.create(
        contact=contact,
        customer=customer,
        code_hash=_hash(code),
        created_at=now,
        expires_at=now + timedelta(minutes=LINK_CODE_MINUTES),
    )
    # Only the hash is stored; the code travels to the email task in its arguments (seconds
    # in the broker) and from there only to the account's inbox.
    dispatch_link_code_email(link_code.pk, code)
    return same_reply


@transaction.atomic
def link_code_email_send(*, link_code_id: int, code: str) -> bool:
    """Mail the code to the account's email, once. False when there is nothing to send.

    Raises the mail server's error (smtplib.SMTPException / OSError) so the task retries.
    """
    link_code = LinkCode.objects.select_for_update().select_related("customer", "contact").filter(pk=link_code_id).first()
    if link_code is None or link_code.emailed_at is not None or link_code.used_at is not None:
        return False
    if link_code.expires_at <= timezone.now() or not constant_time_compare(_hash(code), link_code.code_hash):
        return False
    context = {
        "customer": link_code.customer,
        "code": code,
        "phone": f"+{link_code.contact.phone}",
        "minutes": LINK_CODE_MINUTES,
        "site_url": settings.SITE_URL,
    }
    send_mail(
        subject="Your code to link WhatsApp to your Cobalt Market account",
        message=render_to_string("whatsapp/emails/link_code.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[link_code.customer.email],
    )
    link_code.emailed_at = timezone.now()
    link_code.save(update_fields=["emailed_at"])
    return True


def link_code_confirm(*, contact: WhatsAppContact, code: str) -> Customer:
    """Link the number if `code` is its latest live code; returns the linked customer.

    Raises RuleViolation (no live code, too many attempts) or InvalidInput (wrong code). A
    wrong guess is counted even though the error is raised: the count is saved in its own
    block and the error raised after it, so it is not rolled back with the refusal.
    """
    code = re.sub(r"\s", "", code)
    refusal: InvalidInput | None = None
    with transaction.atomic():
        link_code = (
            LinkCode.objects.select_for_update()
            .select_related("customer")
            .filter(contact=contact, used_at__isnull=True, expires_at__gt=timezone.now())
            .order_by("-created_at")
            .first()
        )
        if link_code is None:
            raise RuleViolation(
                "There's no code waiting for this number (codes expire after "
                f"{LINK_CODE_MINUTES} minutes). Send “link you@example.com” to get a new one."
            )
        if link_code.attempts >= MAX_CODE_ATTEMPTS:
            raise RuleViolation("That code was entered wrongly too many times. Send “link you@example.com” to get a new one.")
        if not constant_time_compare(_hash(code), link_code.code_hash):
            link_code.attempts += 1
            link_code.save(update_fields=["attempts"])
            left = MAX_CODE_ATTEMPTS - link_code.attempts
            refusal = InvalidInput(
                "That code doesn't match the one we emailed. "
                + (f"You can try {left} more time{'s' if left != 1 else ''}." if left else "Send “link you@example.com” for a new one.")
            )
        else:
            link_code.used_at = timezone.now()
            link_code.save(update_fields=["used_at"])
            contact_link(contact_id=contact.pk, customer=link_code.customer)
    if refusal is not None:
        raise refusal
    contact.refresh_from_db()
    return link_code.customer


def link_url(contact: WhatsAppContact) -> str:
    """A signed portal URL that links this number to whoever opens it signed in."""
    token = signing.dumps({"contact": contact.pk, "phone": contact.phone}, salt=_SIGNING_SALT, compress=True)
    return settings.SITE_URL + reverse("whatsapp:link", kwargs={"token": token})


def link_token_contact(token: str) -> WhatsAppContact:
    """The contact a signed link names; NotFound when it is tampered with or expired."""
    try:
        data = signing.loads(token, salt=_SIGNING_SALT, max_age=timedelta(minutes=LINK_URL_MINUTES))
    except signing.SignatureExpired as exc:
        raise NotFound(f"This link has expired (links work for {LINK_URL_MINUTES} minutes). Ask for a new one on WhatsApp.") from exc
    except signing.BadSignature as exc:
        raise NotFound("This link isn't valid. Ask for a new one on WhatsApp.") from exc
    contact = WhatsAppContact.objects.filter(pk=data.get("contact"), phone=data.get("phone")).first()
    if contact is None:
        raise NotFound("This link isn't valid. Ask for a new one on WhatsApp.")
    return contact


@transaction.atomic
def link_signed_confirm(*, token: str, user: AbstractBaseUser | AnonymousUser) -> WhatsAppContact:
    """Link the number a signed link names to the signed-in user's customer account."""
    from chat.services.agent import customer_for_user
    from whatsapp.services.outbound import outbound_queue_text

    contact = link_token_contact(token)
    customer = customer_for_user(user)
    contact = contact_link(contact_id=contact.pk, customer=customer)
    if contact.in_session_window():
        outbound_queue_text(contact=contact, text=linked_reply(customer))
    return contact


def linked_reply(customer: Customer) -> str:
    return (
        f"Thanks{', ' + customer.first_name if customer.first_name else ''} — this number is now linked to your "
        "Cobalt Market account. Ask me about your orders any time."
    )
