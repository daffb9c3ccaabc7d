"""Buttons inside the thread: confirm/decline an action, feedback, "Notify me"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from assistant import actions as actions_service
from chat import portal_selectors as selectors
from chat.forms import FeedbackForm
from chat.models import Message, PendingAction
from chat.services.feedback import feedback_give
from chat.views.pages import (
    HtmxHttpRequest,
    _conversation_url,
    _error,
    _no_customer,
    _user,
)
from orders.selectors import customer_for_user
from orders.services import restock_subscription_create
from supportbot.errors import ApplicationError, NotFound

# --- buttons in the thread -----------------------------------------------------------------


@login_required
@require_POST
def action_decide(request: HtmxHttpRequest, action_id: int, decision: str) -> HttpResponse:
    """Confirm or decline a proposed action (the card's buttons). Safe to press twice."""
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    action = PendingAction.objects.filter(pk=action_id, customer=customer).select_related("conversation").first()
    if action is None:
        if request.htmx:
            return _error(request, "That action was not found.", status=404)
        raise Http404("That action was not found.")
    before = selectors.last_message_id(conversation=action.conversation)
    error = ""
    try:
        if decision == "confirm":
            actions_service.action_confirm(
                action_id=action.pk, customer=customer, idempotency_key=request.POST.get("idempotency_key") or None
            )
        else:
            actions_service.action_decline(action_id=action.pk, customer=customer)
    except ApplicationError as exc:
        error = exc.message
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(_conversation_url(action.conversation, anchor=f"action-{action.pk}"))
    action.refresh_from_db()
    added = selectors.thread_messages_after(conversation=action.conversation, user=_user(request), after_id=before)
    context = {"action": action, "action_error": error, "added": added, "conversation": action.conversation}
    return render(request, "chat/chat.html#action-decided", context)


@login_required
@require_POST
def feedback(request: HtmxHttpRequest, message_id: int) -> HttpResponse:
    """Thumbs up/down on an assistant message, with an optional comment."""
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    form = FeedbackForm(request.POST)
    error = ""
    record = None
    if not form.is_valid():
        error = "Please choose thumbs up or thumbs down."
    else:
        try:
            record = feedback_give(
                message_id=message_id,
                user=_user(request),
                rating=form.cleaned_data["rating"],
                comment=form.cleaned_data["comment"],
            )
        except NotFound as exc:
            if request.htmx:
                return _error(request, exc.message, status=404)
            raise Http404(exc.message) from exc
        except ApplicationError as exc:
            error = exc.message
    message = Message.objects.select_related("conversation").get(pk=message_id) if record else None
    if not request.htmx:
        if error:
            messages.error(request, error)
            return redirect("chat:index")
        messages.success(request, "Thanks for your feedback.")
        assert message is not None
        return redirect(_conversation_url(message.conversation, anchor=f"m{message_id}"))
    if error:
        return _error(request, error, status=400)
    assert message is not None
    message.my_feedback = [record]  # type: ignore[attr-defined]
    return render(request, "chat/chat.html#feedback", {"message": message, "feedback_saved": True})


@login_required
@require_POST
def restock_subscribe(request: HtmxHttpRequest, item_id: str) -> HttpResponse:
    """ "Notify me" on a product card: a back-in-stock email for that item."""
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    error = ""
    try:
        restock_subscription_create(customer=customer, item_id=item_id)
    except ApplicationError as exc:
        error = exc.message
    notice = "" if error else "Done — we'll email you when it's back in stock."
    if request.htmx:
        if error:
            return _error(request, error, status=400)
        return render(request, "chat/chat.html#restock-done", {"notice": notice, "item_id": item_id})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    back = request.POST.get("conversation")
    if back and back.isdigit():
        return redirect("chat:conversation", conversation_id=int(back))
    return redirect("chat:index")
