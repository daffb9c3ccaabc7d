"""Sending a message: htmx streams the answer over server-sent events; no JS posts and redirects.

The htmx POST validates, rate-limits and hands the turn to `stream` through a PendingTurn row
(chat.services.turns: the database, so a Redis outage loses nothing), and answers at once with the
customer's bubble and a typing indicator; the indicator opens an EventSource on `stream`, an async
view, which claims the turn, runs it on the event loop and sends the answer's tokens as they come,
then the rendered messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from assistant.pending_turns import aturn_run
from assistant.turn import chat_turn
from chat import portal_selectors as selectors
from chat.forms import MessageForm
from chat.models import Conversation, PendingTurn
from chat.selectors import access_conversation
from chat.services.conversations import conversation_start
from chat.services.ratelimit import check_chat_turn_rate
from chat.services.turns import FAILED_MESSAGE, TURN_STUCK_SECONDS, turn_hand_over
from chat.views.pages import (
    HtmxHttpRequest,
    _conversation_url,
    _error,
    _no_customer,
    _thread_context,
    _user,
)
from orders.selectors import customer_for_user
from supportbot.db import release_pooled_connection
from supportbot.errors import ApplicationError, NotFound, RateLimited
from supportbot.steps import sync_step

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from orders.models import Customer

logger = logging.getLogger(__name__)

# The web chat keeps a refused message in the composer, and says so.
KEPT_IN_THE_BOX = " Your message is still in the box."


# --- sending -------------------------------------------------------------------------------


@login_required
@require_POST
def send(request: HtmxHttpRequest) -> HttpResponse:
    """Send the customer's message. htmx: stream the answer; no JS: answer, then redirect."""
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return _send_invalid(request, customer, form)
    conversation: Conversation | None = None
    if form.cleaned_data["conversation"]:
        try:
            conversation = access_conversation(customer=customer, conversation_id=form.cleaned_data["conversation"])
        except NotFound as exc:
            if request.htmx:
                return _error(request, f"{exc.message} Reload the page to start a new one.", status=404)
            raise Http404(exc.message) from exc
    # Counted after validation, so a refused over-long message doesn't use up the allowance.
    try:
        check_chat_turn_rate(customer=customer)
    except RateLimited as exc:
        if request.htmx:
            return _error(request, exc.message + KEPT_IN_THE_BOX, status=429)
        messages.error(request, exc.message + KEPT_IN_THE_BOX)
        return _render_composer_page(request, customer, conversation, form, status=429)

    created = conversation is None
    if conversation is None:
        conversation = conversation_start(customer=customer, channel=Conversation.Channel.WEB)
    text = form.cleaned_data["text"]
    if request.htmx:
        return _start_streamed_turn(request, conversation=conversation, text=text, created=created)
    try:
        chat_turn(conversation=conversation, text=text, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(_conversation_url(conversation))


def _send_invalid(request: HtmxHttpRequest, customer: Customer, form: MessageForm) -> HttpResponse:
    error = " ".join(str(message) for errors in form.errors.values() for message in errors)
    if request.htmx:
        return _error(request, error, status=400)
    conversation = None
    conversation_id = form.cleaned_data.get("conversation") if hasattr(form, "cleaned_data") else None
    if conversation_id:
        try:
            conversation = access_conversation(customer=customer, conversation_id=conversation_id)
        except NotFound:
            conversation = None  # the error shown is the form's; the page opens on a fresh composer
    return _render_composer_page(request, customer, conversation, form, status=400)


def _render_composer_page(
    request: HtmxHttpRequest, customer: Customer, conversation: Conversation | None, form: MessageForm, *, status: int
) -> HttpResponse:
    """The chat page again with the customer's text kept in the composer (no-JS errors)."""
    context = _thread_context(request, customer, conversation)
    context["form"] = form
    return render(request, "chat/chat.html", context, status=status)


def _start_streamed_turn(
    request: HtmxHttpRequest, *, conversation: Conversation, text: str, created: bool
) -> HttpResponse:
    turn = turn_hand_over(conversation=conversation, user=_user(request), text=text)
    context = {
        "conversation": conversation,
        "turn": turn,
        "new_conversation": created,
        # The sidebar lists the new conversation (swapped out of band); not in the widget.
        "conversations": selectors.conversations_for_customer(customer=conversation.customer)
        if created and not request.POST.get("widget")
        else [],
    }
    response = render(request, "chat/chat.html#pending-turn", context)
    if created and not request.POST.get("widget"):
        response = push_url(response, reverse("chat:conversation", args=[conversation.pk]))
    return response


@login_required
@require_GET
@never_cache
async def stream(request: HtmxHttpRequest, token: str) -> HttpResponseBase:
    """Server-sent events for one handed-over turn: `token` events, then `done` (HTML) or `error`.

    An async view: under ASGI a customer waiting on the model holds a connection on the event
    loop, not a worker or a thread (docs/architecture.md, "Serving"). The database work runs in
    `sync_step` steps (supportbot/steps.py); the LLM brain is awaited.
    """
    # login_required let only a signed-in account through.
    user: User = await request.auser()  # type: ignore[assignment]
    claimed = await sync_step(_claim_for_stream)(token=token, user=user)
    if claimed is None:
        return await _stream_answer_from_elsewhere(request, token=token, user=user)
    turn, before, missing = claimed
    if missing:
        raise Http404(missing)
    return await _event_stream(request, _turn_events(request, turn=turn, user=user, before=before))


def _claim_for_stream(*, token: str, user: User) -> tuple[PendingTurn, int, str] | None:
    """Claim the turn for this stream; None if another request has it. Returns the turn, the
    last message before its answer, and an error if the conversation is no longer the
    customer's (the turn is then closed with that error)."""
    try:
        # The claim is a conditional UPDATE (pending → answering): only one request runs the turn,
        # so a reconnecting EventSource, or the worker answering an abandoned turn, can't answer it twice.
        turn = PendingTurn.claim(token=token, user_id=user.pk)
        if turn is None:
            return None
        try:
            turn.conversation = access_conversation(
                customer=customer_for_user(user), conversation_id=turn.conversation_id
            )
        except NotFound as exc:
            turn.finish(error=exc.message)
            return turn, 0, exc.message
        return turn, selectors.last_message_id(conversation=turn.conversation), ""
    finally:
        release_pooled_connection()  # the stream stays open for as long as the model takes


async def _event_stream(request: HtmxHttpRequest, events: AsyncIterator[str]) -> StreamingHttpResponse:
    if not isinstance(request, ASGIRequest):
        # A WSGI server (the offline assistant's, supportbot/server.py) sends only synchronous
        # iterators; Django would otherwise collect the events itself, with a warning per stream.
        # The worker holds the request until the turn ends either way.
        collected = [event async for event in events]
        response = StreamingHttpResponse(iter(collected), content_type="text/event-stream")
    else:
        response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response


# How often a stream whose turn is answered elsewhere looks for the answer.
ANSWER_POLL_SECONDS = 0.5
NO_LONGER_AVAILABLE = "This answer is no longer available. Reload the conversation to see it."


def _turn_by_token(*, token: str, user: User) -> PendingTurn | None:
    try:
        return PendingTurn.objects.filter(token=token, user=user).select_related("conversation").first()
    finally:
        release_pooled_connection()


async def _stream_answer_from_elsewhere(request: HtmxHttpRequest, *, token: str, user: User) -> HttpResponseBase:
    """The turn was claimed by someone else: wait for that answer and send it, never a dead end.

    Under load a stream can connect after the worker has picked its turn up as abandoned, and an
    EventSource reconnects after a dropped connection; either way the customer gets the answer.
    """
    turn = await sync_step(_turn_by_token)(token=token, user=user)
    if turn is None:
        html = await sync_step(_render_failure)(request, NO_LONGER_AVAILABLE, retry=False)
        return _sse_single("failure", html)

    async def generate() -> AsyncIterator[str]:
        deadline = time.monotonic() + TURN_STUCK_SECONDS
        state, error = turn.state, turn.error
        while state in {PendingTurn.State.PENDING, PendingTurn.State.ANSWERING} and time.monotonic() < deadline:
            yield ": waiting\n\n"  # an SSE comment: keeps proxies from closing an idle connection
            await asyncio.sleep(ANSWER_POLL_SECONDS)
            state, error = await sync_step(_turn_state)(turn.pk)
        event, html = await sync_step(_render_answer_from_elsewhere)(
            request, turn=turn, user=user, answered=state == PendingTurn.State.ANSWERED, error=error
        )
        yield _sse(event, html)

    return await _event_stream(request, generate())


def _turn_state(turn_id: int) -> tuple[str, str]:
    try:
        state, error = PendingTurn.objects.filter(pk=turn_id).values_list("state", "error").get()
        return state, error
    finally:
        release_pooled_connection()


def _render_answer_from_elsewhere(
    request: HtmxHttpRequest, *, turn: PendingTurn, user: User, answered: bool, error: str
) -> tuple[str, str]:
    replies = selectors.turn_replies(turn=turn, user=user) if answered else []
    if not replies:
        return "failure", _render_failure(request, error or NO_LONGER_AVAILABLE, retry=bool(error))
    html = render_to_string(
        "chat/chat.html#turn-messages", {"thread": replies, "conversation": turn.conversation}, request=request
    )
    return "done", html


def _render_failure(request: HtmxHttpRequest, message: str, *, retry: bool) -> str:
    return render_to_string("partials/error.html", {"error": message, "retry": retry}, request=request)


def _sse(event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


def _sse_single(event: str, data: str) -> HttpResponse:
    response = HttpResponse(_sse(event, data), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response


_DONE = object()


async def _turn_events(request: HtmxHttpRequest, *, turn: PendingTurn, user: User, before: int) -> AsyncIterator[str]:
    events: asyncio.Queue[Any] = asyncio.Queue()
    conversation = turn.conversation

    loop = asyncio.get_running_loop()

    def on_token(chunk: str) -> None:  # called on the loop (the LLM) or a worker thread (the offline brain)
        loop.call_soon_threadsafe(events.put_nowait, ("token", chunk))

    async def work() -> None:
        try:
            error = await aturn_run(turn, user=user, on_token=on_token)
            events.put_nowait(("error", error) if error else ("done", None))
        except Exception:  # noqa: BLE001 - e.g. the database gone while recording: still answer the stream
            logger.exception("streamed chat turn failed", extra={"conversation": conversation.pk})
            events.put_nowait(("error", FAILED_MESSAGE))
        finally:
            events.put_nowait(_DONE)

    # A task of the request's own context, so its database steps run on the request's thread
    # (where its connection lives), and one the stream can outlive: see below.
    task = asyncio.create_task(work(), name=f"chat-turn-{conversation.pk}")
    outcome: tuple[str, Any] | None = None
    try:
        while True:
            item = await events.get()
            if item is _DONE:
                break
            kind, payload = item
            if kind == "token":
                yield _sse("token", json.dumps(payload))
            else:
                outcome = item
    except asyncio.CancelledError:
        # The customer closed the page. Django waits for this generator before it ends the
        # request, so the turn finishes on the request's thread and records its outcome.
        await asyncio.shield(task)
        raise
    if outcome is None or outcome[0] == "error":
        message = outcome[1] if outcome else FAILED_MESSAGE
        yield _sse("failure", await sync_step(_render_failure)(request, message, retry=True))
        return
    html = await sync_step(_render_turn_messages)(request, conversation=conversation, user=user, before=before)
    yield _sse("done", html)


def _render_turn_messages(request: HtmxHttpRequest, *, conversation: Conversation, user: User, before: int) -> str:
    added = selectors.thread_messages_after(
        conversation=conversation, user=user, after_id=before, include_customer=False
    )
    return render_to_string(
        "chat/chat.html#turn-messages", {"thread": added, "conversation": conversation}, request=request
    )
