"""Signed links in customer emails: one-click unsubscribe and cart restore.

The link itself is the credential (the customer may not be signed in when they click), so its
payload is signed with SECRET_KEY via django.core.signing and each kind of link has its own
salt: an unsubscribe token can never be replayed as a cart-restore token or the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.urls import reverse

from orders.models import EmailOptOut
from supportbot.errors import InvalidInput

_UNSUBSCRIBE_SALT = "orders.notifications.unsubscribe"
_CART_SALT = "orders.notifications.cart-restore"
# An unsubscribe link must keep working for as long as the customer may keep the email; a cart
# link goes stale with the cart, and a month is a generous window for an abandoned cart.
CART_LINK_MAX_AGE = timedelta(days=30)


@dataclass(frozen=True)
class UnsubscribeRequest:
    customer_id: int
    kind: str


@dataclass(frozen=True)
class CartRestoreRequest:
    cart_id: int
    reminder_id: int


def unsubscribe_token(*, customer_id: int, kind: str) -> str:
    return signing.dumps({"c": customer_id, "k": kind}, salt=_UNSUBSCRIBE_SALT, compress=True)


@lru_cache(maxsize=1)
def _unsubscribe_prefix() -> str:
    # reverse() once: a restock mails thousands of these links and reversing is not free.
    placeholder = "TOKEN"
    return settings.SITE_URL + reverse("notifications:unsubscribe", args=[placeholder]).removesuffix(f"{placeholder}/")


def unsubscribe_url(*, customer_id: int, kind: str) -> str:
    return f"{_unsubscribe_prefix()}{unsubscribe_token(customer_id=customer_id, kind=kind)}/"


def read_unsubscribe_token(token: str) -> UnsubscribeRequest:
    """The opt-out a token asks for. Raises InvalidInput if it was altered or is malformed."""
    try:
        payload = signing.loads(token, salt=_UNSUBSCRIBE_SALT)
        request = UnsubscribeRequest(customer_id=int(payload["c"]), kind=str(payload["k"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidInput("This unsubscribe link is not valid. Please use the link from your latest email.") from None
    if request.kind not in EmailOptOut.Kind.values:
        raise InvalidInput("This unsubscribe link is not valid. Please use the link from your latest email.")
    return request


def cart_restore_token(*, cart_id: int, reminder_id: int) -> str:
    return signing.TimestampSigner(salt=_CART_SALT).sign_object({"cart": cart_id, "r": reminder_id}, compress=True)


def cart_restore_url(*, cart_id: int, reminder_id: int) -> str:
    token = cart_restore_token(cart_id=cart_id, reminder_id=reminder_id)
    return settings.SITE_URL + reverse("notifications:cart_restore", args=[token])


def read_cart_restore_token(token: str) -> CartRestoreRequest:
    """The cart a token restores. Raises InvalidInput if it was altered, malformed or has expired."""
    try:
        payload = signing.TimestampSigner(salt=_CART_SALT).unsign_object(token, max_age=CART_LINK_MAX_AGE)
        return CartRestoreRequest(cart_id=int(payload["cart"]), reminder_id=int(payload["r"]))
    except signing.SignatureExpired:
        raise InvalidInput("This cart link has expired. Your saved items may still be in your account.") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidInput("This cart link is not valid. Please use the link from your latest email.") from None
