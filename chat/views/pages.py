"""Chat pages (the thread with its conversation list, the widget panel) and the helpers the
other chat views share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import reswap, retarget

from chat import portal_selectors as selectors
from chat.forms import MessageForm
from chat.models import Conversation
from chat.selectors import access_conversation
from chat.services.turns import turns_open
from orders.selectors import customer_for_user
from supportbot.errors import NotFound
from supportbot.htmx import HtmxHttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from orders.models import Customer


# --- helpers -------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    # Every view here is behind login_required, so the user is a real account.
    return request.user  # type: ignore[return-value]


def _no_customer(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "chat/no_customer.html", status=403)


def _error(request: HtmxHttpRequest, message: str, *, status: int, retry: bool = False) -> HttpResponse:
    """An htmx error: the error partial, swapped into the error area whatever the request targeted."""
    response = render(request, "partials/error.html", {"error": message, "retry": retry}, status=status)
    return reswap(retarget(response, "#chat-errors"), "innerHTML")


def _conversation_url(conversation: Conversation | None, *, anchor: str = "latest") -> str:
    if conversation is None:
        return reverse("chat:index")
    return f"{reverse('chat:conversation', args=[conversation.pk])}#{anchor}"


def _thread_context(request: HtmxHttpRequest, customer: Customer, conversation: Conversation | None) -> dict[str, Any]:
    counterpart = selectors.conversation_counterpart(conversation=conversation)
    return {
        "customer": customer,
        "conversation": conversation,
        "conversations": selectors.conversations_for_customer(customer=customer),
        "thread": selectors.thread_messages(conversation=conversation, user=_user(request)) if conversation else [],
        **(turns_open(conversation=conversation) if conversation else {}),
        "counterpart": counterpart,
        "quick_replies": counterpart.quick_replies,
        "form": MessageForm(initial={"conversation": conversation.pk if conversation else None}),
    }


# --- pages ---------------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HtmxHttpRequest) -> HttpResponse:
    """The chat page on the customer's most recent conversation (or a fresh composer)."""
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    conversation = None if request.GET.get("new") else selectors.conversation_latest(customer=customer)
    return render(request, "chat/chat.html", _thread_context(request, customer, conversation))


@login_required
@require_GET
def conversation_detail(request: HtmxHttpRequest, conversation_id: int) -> HttpResponse:
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    try:
        conversation = access_conversation(customer=customer, conversation_id=conversation_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(request, "chat/chat.html", _thread_context(request, customer, conversation))


@login_required
@require_GET
def widget(request: HtmxHttpRequest) -> HttpResponse:
    """The floating widget's panel: the latest conversation's recent messages and a composer."""
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    if not request.htmx:
        return redirect("chat:index")
    conversation = selectors.conversation_latest(customer=customer)
    thread = (
        selectors.thread_messages(conversation=conversation, user=_user(request), limit=selectors.WIDGET_THREAD_SIZE)
        if conversation
        else []
    )
    counterpart = selectors.conversation_counterpart(conversation=conversation)
    context = {
        "conversation": conversation,
        "thread": thread,
        **(turns_open(conversation=conversation) if conversation else {}),
        "counterpart": counterpart,
        "quick_replies": counterpart.quick_replies,
        "form": MessageForm(initial={"conversation": conversation.pk if conversation else None}),
    }
    return render(request, "chat/chat.html#widget-panel", context)
