"""Proving a WhatsApp number belongs to an account: a one-time code emailed to the account.

The customer writes "link my account" (we ask for the account's email) or the email itself.
A 6-digit code is emailed to the account with that email, and the reply names the address
masked ("j***@example.com") whether or not an account has it, so the chat can't be used to
learn who has an account. Typing the code back from the same number links it.

This is the only way a number is bound to an account. A link or button on the web that binds
"the number that asked" to "whoever is signed in and clicks" would let an attacker send a
signed-in customer a link and then act as them from the attacker's phone.

Every request is recorded as a LinkCode row, even for an email no account has (a decoy: no
customer, no mail, a code nobody knows), so the per-number limit, a later code reply and the
wording all behave the same either way. Codes are stored as keyed hashes, expire after
WHATSAPP_LINK_CODE_MINUTES, allow WHATSAPP_LINK_CODE_MAX_ATTEMPTS wrong tries, are single
use and one per number (a new request voids the previous code). A number may ask for
WHATSAPP_LINK_CODES_PER_NUMBER_PER_HOUR codes, and an account receives at most
WHATSAPP_LINK_CODES_PER_EMAIL_PER_HOUR code emails, so the mail can't be used to spam it.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from orders.models import Customer
from supportbot.errors import InvalidInput, RuleViolation
from whatsapp.models import LinkCode, WhatsAppContact
from whatsapp.services.contacts import contact_link
from whatsapp.services.dispatch import dispatch_on_commit

_HMAC_SALT = "whatsapp.link-code"

# "link", "link my account", "please connect this number to my account", "how do I link my whatsapp?"
_LINK_PHRASE = (
    r"(?:(?:please|can\s+you|can\s+i|i\s+want\s+to|i'?d\s+like\s+to|how\s+(?:do|can)\s+i)\s+)?"
    r"(?:link|connect|verify)"
    r"(?:\s+(?:my|this|the|your|a))?"
    r"(?:\s+(?:cobalt\s+market\s+|store\s+)?(?:account|number|phone(?:\s+number)?|whatsapp))?"
    r"(?:\s+(?:to|with)(?:\s+(?:my|the|your))?(?:\s+(?:cobalt\s+market\s+|store\s+)?account)?)?"
)
_EMAIL = r"<?(?P<email>[^\s@<>]+@[^\s@<>]+\.[^\s@<>.]+)>?"
LINK_ASK = re.compile(rf"^\s*(?:please\s+)?{_LINK_PHRASE}(?:\s+please)?\s*[.!?]*\s*$", re.IGNORECASE)
# "link you@example.com", "link my account: you@example.com", or the bare address.
LINK_EMAIL = re.compile(rf"^\s*(?P<phrase>{_LINK_PHRASE}\s*[:,]?\s+)?{_EMAIL}\s*[.!]?\s*$", re.IGNORECASE)
CODE_REPLY = re.compile(r"^\s*(?P<code>\d{3}\s?\d{3})\s*$")

EMAIL_QUESTION = (
    "Sure. What's the email address of your Cobalt Market account? Send it here and we'll email "
    "you a 6-digit code to link this number."
)


# Queued by name: whatsapp.tasks imports these services.
EMAIL_LINK_CODE_TASK = "whatsapp.email_link_code"


def dispatch_link_code_email(link_code_id: int, code: str) -> None:
    dispatch_on_commit(
        EMAIL_LINK_CODE_TASK,
        link_code_id,
        code,
        in_process=lambda: link_code_email_send(link_code_id=link_code_id, code=code),
    )


def _hash(code: str) -> str:
    return salted_hmac(_HMAC_SALT, code, algorithm="sha256").hexdigest()


def _code_minutes() -> int:
    return int(settings.WHATSAPP_LINK_CODE_MINUTES)


def email_masked(email: str) -> str:
    """ "jane@example.com" → "j***@example.com": enough to spot a typo, not to learn an address."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def link_instructions() -> str:
    return (
        "To link this number to your Cobalt Market account, send the email address of your account "
        "(for example “link you@example.com”) and reply here with the 6-digit code we email you."
    )


@transaction.atomic
def link_code_request(*, contact: WhatsAppContact, email: str) -> str:
    """Email a code to the account with `email`, if there is one; returns the reply to send.

    Precondition: the caller holds the contact's row lock (inbound processing does), so one
    number's requests are counted one at a time. Raises RuleViolation when this number has
    asked for too many codes in the last hour; that says nothing about the email.
    """
    email = email.strip().strip("<>").lower()
    now = timezone.now()
    since = now - timedelta(hours=1)
    if (
        LinkCode.objects.filter(contact=contact, created_at__gte=since).count()
        >= settings.WHATSAPP_LINK_CODES_PER_NUMBER_PER_HOUR
    ):
        raise RuleViolation(
            "You've asked for several codes in the last hour. Please use the latest one, or try again later."
        )
    minutes = _code_minutes()
    reply = (
        f"We've emailed a code to {email_masked(email)}; reply with it here to link this number "
        f"(it expires in {minutes} minutes). No email? Check that this is your Cobalt Market "
        "account's address and send it again."
    )
    # Locked so that requests from several numbers for one account are counted one at a time.
    customer = (
        Customer.objects.select_for_update()
        .filter(email__iexact=email, user__isnull=False, user__is_active=True)
        .order_by("id")
        .first()
    )
    if customer is not None:
        mailed = LinkCode.objects.filter(customer=customer, created_at__gte=since).count()
        if mailed >= settings.WHATSAPP_LINK_CODES_PER_EMAIL_PER_HOUR:
            customer = None  # the same reply and a decoy code: the limit must not reveal the account
    # One live code per number: a new request voids the earlier ones.
    LinkCode.objects.filter(contact=contact, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    code = f"{secrets.randbelow(1_000_000):06d}"
    link_code = LinkCode.objects.create(
        contact=contact,
        customer=customer,
        code_hash=_hash(code),
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    if customer is not None:
        # Only the hash is stored; the code travels to the email task in its arguments (seconds
        # in the broker) and from there only to the account's inbox.
        dispatch_link_code_email(link_code.pk, code)
    return reply


@transaction.atomic
def link_code_email_send(*, link_code_id: int, code: str) -> bool:
    """Mail the code to the account's email, once. False when there is nothing to send.

    Raises the mail server's error (smtplib.SMTPException / OSError) so the task retries.
    """
    link_code = (
        LinkCode.objects.select_for_update(of=("self",))
        .select_related("customer", "contact")
        .filter(pk=link_code_id)
        .first()
    )
    if (
        link_code is None
        or link_code.customer is None
        or link_code.emailed_at is not None
        or link_code.used_at is not None
    ):
        return False
    if link_code.expires_at <= timezone.now() or not constant_time_compare(_hash(code), link_code.code_hash):
        return False
    context = {
        "customer": link_code.customer,
        "code": code,
        "phone": f"+{link_code.contact.phone}",
        "minutes": _code_minutes(),
        "site_url": settings.SITE_URL,
        "numbers_path": reverse("whatsapp:numbers"),
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


def link_code_pending(contact: WhatsAppContact) -> bool:
    """Whether the number has a live code, so a 6-digit message is read as that code."""
    return contact.link_codes.filter(used_at__isnull=True, expires_at__gt=timezone.now()).exists()


def link_code_confirm(*, contact: WhatsAppContact, code: str) -> Customer:
    """Link the number if `code` is its latest live code; returns the linked customer.

    Only a code requested by this number counts, and it links only the account it was
    emailed to. Raises RuleViolation (no live code, too many attempts) or InvalidInput
    (wrong code). A wrong guess is counted even though the error is raised: the count is
    saved in its own block and the error raised after it, so it is not rolled back with
    the refusal.
    """
    code = re.sub(r"\s", "", code)
    max_attempts = int(settings.WHATSAPP_LINK_CODE_MAX_ATTEMPTS)
    new_code = "Send your account's email address to get a new one."
    refusal: InvalidInput | None = None
    with transaction.atomic():
        link_code = (
            LinkCode.objects.select_for_update(of=("self",))
            .select_related("customer")
            .filter(contact=contact, used_at__isnull=True, expires_at__gt=timezone.now())
            .order_by("-created_at", "-id")
            .first()
        )
        if link_code is None:
            raise RuleViolation(
                f"There's no code waiting for this number (codes expire after {_code_minutes()} minutes). {new_code}"
            )
        if link_code.attempts >= max_attempts:
            raise RuleViolation(f"That code was entered wrongly too many times, so it no longer works. {new_code}")
        matches = constant_time_compare(_hash(code), link_code.code_hash)
        if not matches or link_code.customer is None:
            link_code.attempts += 1
            link_code.save(update_fields=["attempts"])
            left = max_attempts - link_code.attempts
            refusal = InvalidInput(
                "That code doesn't match the one we emailed. "
                + (
                    f"You can try {left} more time{'s' if left != 1 else ''}."
                    if left
                    else f"That code no longer works. {new_code}"
                )
            )
        else:
            link_code.used_at = timezone.now()
            link_code.save(update_fields=["used_at"])
            contact_link(contact_id=contact.pk, customer=link_code.customer)
    if refusal is not None:
        raise refusal
    assert link_code.customer is not None  # a decoy code never reaches this point
    contact.refresh_from_db()
    return link_code.customer


def linked_reply(customer: Customer) -> str:
    return (
        f"Thanks{', ' + customer.first_name if customer.first_name else ''} — this number is now linked to your "
        "Cobalt Market account. Ask me about your orders any time."
    )
