"""One budget of chat turns per customer, shared by the web chat, the JSON API and WhatsApp.

CHAT_RATE_LIMIT (e.g. 20/m) counts every message a customer sends to the assistant, whatever
channel it arrives on, so using three channels does not triple it. The customer is the account
behind the login; a WhatsApp number not linked to an account chats as its own guest customer
(whatsapp.services.contacts), so such a number has a budget of its own, per phone number.

The DRF throttles (supportbot.throttling) stay in front of the JSON API as a generic limit on
all its endpoints; this budget is the one for the expensive part, a turn of the assistant.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django_ratelimit.core import _split_rate, is_ratelimited

from chat.models import Message, PendingTurn
from supportbot.errors import RateLimited

if TYPE_CHECKING:
    from orders.models import Customer

TURN_RATE_LIMITED = "You're sending messages faster than we can answer. Please wait a minute, then try again."
_GROUP = "chat.turn"


def check_chat_turn_rate(*, customer: Customer) -> None:
    """Count one chat turn for `customer`; raise RateLimited when it is over CHAT_RATE_LIMIT.

    Call it once per message, after the message was validated (a refused over-long message
    doesn't use up the budget) and before it is stored: a refused message is not stored.

    Counted in the cache (Redis), and in the database as a backstop. The cache counter fails
    open while Redis is unreachable (RATELIMIT_FAIL_OPEN): its add() misses and its incr()
    raises, which django-ratelimit reads as a first request. The messages the customer sent in
    the same period are in the database whatever Redis does, so they are counted too (one
    indexed count per turn), and the limit holds during an outage.
    """
    rate = settings.CHAT_RATE_LIMIT
    limit, period = _split_rate(rate)
    identity = f"customer:{customer.pk}"
    # django-ratelimit reads its key from a request; ours is the customer, whatever the channel,
    # so an empty request stands in for the webhook task that has none.
    over_in_cache = is_ratelimited(
        HttpRequest(), group=_GROUP, key=lambda _group, _request: identity, rate=rate, increment=True
    )
    if over_in_cache or _turns_in_database(customer=customer, seconds=period) >= limit:
        raise RateLimited(TURN_RATE_LIMITED, extra={"retry_after": period})


def _turns_in_database(*, customer: Customer, seconds: int) -> int:
    since = timezone.now() - timedelta(seconds=seconds)
    sent = Message.objects.filter(
        conversation__customer=customer, role=Message.Role.USER, created_at__gte=since
    ).count()
    # A web turn handed to its stream has not stored its message yet; one being answered has.
    waiting = 0
    if customer.user_id is not None:
        waiting = PendingTurn.objects.filter(
            user_id=customer.user_id, state=PendingTurn.State.PENDING, created_at__gte=since
        ).count()
    return sent + waiting
