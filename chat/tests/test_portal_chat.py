"""The customer chat page through Django's test client: sending with and without htmx,
streaming, sanitizing, citations, limits and error partials. Answers come from the scripted
Chat Completions server (a real HTTP server), not a patched client."""

from __future__ import annotations

import json
import re
import warnings

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.urls import reverse

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Conversation, Message
from chat.tests.conftest import make_customer

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.user)
    return client


def _body(response) -> str:
    if not response.streaming:
        return response.content.decode()
    if response.is_async:  # the async stream view: consumed on an event loop, as ASGI does

        async def collect() -> bytes:
            return b"".join([part async for part in response.streaming_content])

        return async_to_sync(collect)().decode()
    return b"".join(response.streaming_content).decode()


def sse_events(response) -> list[tuple[str, str]]:
    """Parse a text/event-stream body into (event, data) pairs."""
    body = _body(response)
    events = []
    for block in body.strip().split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events


def test_the_chat_page_needs_a_login(client):
    response = client.get(reverse("chat:index"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_empty_chat_page_has_a_live_log_quick_replies_and_a_composer(logged_in):
    response = logged_in.get(reverse("chat:index"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="chat-log"' in html and 'aria-live="polite"' in html and 'aria-relevant="additions"' in html
    for reply in ("Track my order", "Return an item", "Talk to a human"):
        assert f'value="{reply}"' in html
    assert 'id="composer-text"' in html and "data-enter-sends" in html
    # No inline scripts (CSP): only external script tags.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_an_account_without_a_store_profile_gets_a_friendly_page(client):
    staff = get_user_model().objects.create_user(username="agent", password="x-agent-pass-1", is_staff=True)
    client.force_login(staff)
    response = client.get(reverse("chat:index"))
    assert response.status_code == 403 and "customer accounts" in response.content.decode()


def test_without_javascript_a_message_posts_and_the_page_reloads_with_the_answer(llm, logged_in, customer):
    llm.add(ScriptedLLM.text("Hello! Your order is **on its way**."))

    response = logged_in.post(reverse("chat:send"), {"text": "Where is my order?"})

    conversation = Conversation.objects.get(customer=customer)
    assert response.status_code == 302
    assert response["Location"] == reverse("chat:conversation", args=[conversation.pk]) + "#latest"
    page = logged_in.get(response["Location"]).content.decode()
    assert "Where is my order?" in page
    assert "Hello! Your order is <strong>on its way</strong>." in page
    # The next message continues the same conversation.
    llm.add(ScriptedLLM.text("Anything else?"))
    logged_in.post(reverse("chat:send"), {"text": "Thanks", "conversation": conversation.pk})
    assert list(conversation.messages.values_list("role", "text")) == [
        ("user", "Where is my order?"),
        ("assistant", "Hello! Your order is **on its way**."),
        ("user", "Thanks"),
        ("assistant", "Anything else?"),
    ]


@pytest.mark.django_db(transaction=True)
def test_with_htmx_the_answer_streams_then_arrives_rendered(llm, client):
    customer = make_customer()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.text("Our returns window is *30 days* from delivery."))

    response = client.post(reverse("chat:send"), {"text": "How long do I have to return?"}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    conversation = Conversation.objects.get(customer=customer)
    # The customer's bubble, the typing indicator with its stream, and the new conversation's id.
    assert "How long do I have to return?" in html and "typing" in html
    assert f'value="{conversation.pk}" class="conversation-field" hx-swap-oob' in html
    assert response["HX-Push-Url"] == reverse("chat:conversation", args=[conversation.pk])
    # The sidebar's conversation list now shows it (out of band).
    assert '<div id="conversation-list" hx-swap-oob="true">' in html
    stream_url = re.search(r'data-stream-url="([^"]+)"', html).group(1)
    assert not conversation.messages.exists()  # the turn runs when the stream connects

    stream = client.get(stream_url)
    assert stream["Content-Type"] == "text/event-stream"
    events = sse_events(stream)
    tokens = [json.loads(data) for name, data in events if name == "token"]
    # Streamed as the provider produced it, word by word, before the final rendered HTML.
    assert tokens == ["Our", " returns", " window", " is", " *30", " days*", " from", " delivery."]
    name, done = events[-1]
    assert name == "done" and "<em>30 days</em>" in done and "msg-assistant" in done
    assert "How long do I have to return?" not in done  # the customer's bubble is already shown
    assert list(conversation.messages.values_list("role", flat=True)) == ["user", "assistant"]

    # The stream is claimed once: a reconnect gets the stored answer and doesn't run the turn again.
    replay = sse_events(client.get(stream_url))
    assert replay[-1][0] == "done" and "<em>30 days</em>" in replay[-1][1]
    assert conversation.messages.count() == 2


@pytest.mark.django_db(transaction=True)
def test_under_wsgi_the_stream_is_a_synchronous_response_served_without_a_warning(llm, client):
    """The test client is Django's WSGI-style handler, as the offline assistant's web server is."""
    customer = make_customer()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.text("Returns are free within 30 days."))
    html = client.post(reverse("chat:send"), {"text": "Are returns free?"}, **HTMX).content.decode()
    stream_url = re.search(r'data-stream-url="([^"]+)"', html).group(1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django warns when it must collect an async stream itself
        stream = client.get(stream_url)
        assert stream.streaming and not stream.is_async
        events = sse_events(stream)

    assert [json.loads(data) for name, data in events if name == "token"][0] == "Returns"
    assert events[-1][0] == "done" and "Returns are free within 30 days." in events[-1][1]


@pytest.mark.django_db(transaction=True)
def test_another_customer_cannot_use_a_stream_token(llm, client):
    owner, other = make_customer(), make_customer()
    client.force_login(owner.user)
    html = client.post(reverse("chat:send"), {"text": "Hello"}, **HTMX).content.decode()
    stream_url = re.search(r'data-stream-url="([^"]+)"', html).group(1)
    client.force_login(other.user)
    events = sse_events(client.get(stream_url))
    assert events[0][0] == "failure"
    assert not Message.objects.exists() and llm.requests == []


def test_assistant_html_is_sanitized_and_customer_text_escaped(logged_in, customer):
    conversation = Conversation.objects.create(customer=customer)
    payload = '<script>alert("x")</script><img src=x onerror="alert(1)"> [click](javascript:alert(2))'
    Message.objects.create(conversation=conversation, role="user", text=payload)
    Message.objects.create(conversation=conversation, role="assistant", text=f"You wrote: {payload} and **bold**")

    html = logged_in.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    thread = html[html.index('id="chat-log"') : html.index('id="composer"')]

    assert "<script" not in thread
    assert not re.search(r"<[^>]*\bonerror\s*=", thread)  # no live event handler attribute
    assert not re.search(r"<a[^>]*javascript:", thread)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in thread  # the customer's text, inert
    assert "<strong>bold</strong>" in thread


def test_citations_become_footnote_links_to_the_help_article(logged_in, customer):
    conversation = Conversation.objects.create(customer=customer)
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        text="You can return unworn items within 30 days [1]. Gift cards are final [2].",
        citations=[
            {
                "ref": 1,
                "title": "Returns and refunds",
                "heading": "Return window",
                "url": "/help/returns-and-refunds/#return-window",
            }
        ],
    )

    html = logged_in.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()

    assert f'<sup><a href="#m{answer.pk}-src-1"' in html
    assert "final [2]." in html  # not cited: stays text
    assert f'id="m{answer.pk}-src-1"' in html
    assert '<a href="/help/returns-and-refunds/#return-window">Returns and refunds › Return window</a>' in html


def test_a_citation_with_a_script_url_is_not_linked(logged_in, customer):
    conversation = Conversation.objects.create(customer=customer)
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        text="See [1].",
        citations=[{"ref": 1, "title": "Evil", "url": "javascript:alert(1)"}],
    )
    html = logged_in.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    assert "javascript:" not in html and "Evil" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_messages_over_4000_characters_are_refused_with_a_clear_error(llm, logged_in, customer, htmx):
    headers = HTMX if htmx else {}
    response = logged_in.post(reverse("chat:send"), {"text": "x" * 4001}, **headers)

    html = response.content.decode()
    assert response.status_code == 400
    assert "4,000 characters or fewer" in html
    assert 'role="alert"' in html
    if htmx:
        assert response["HX-Retarget"] == "#chat-errors" and response["HX-Reswap"] == "innerHTML"
    else:
        assert "x" * 4001 in html  # the text stays in the composer
    assert not Message.objects.exists() and llm.requests == []


def test_exactly_4000_characters_are_accepted(llm, logged_in, customer):
    llm.add(ScriptedLLM.text("Got it."))
    response = logged_in.post(reverse("chat:send"), {"text": "y" * 4000})
    assert response.status_code == 302
    assert Message.objects.filter(role="user", text="y" * 4000).exists()


def test_an_empty_message_is_refused(logged_in):
    response = logged_in.post(reverse("chat:send"), {"text": "   "}, **HTMX)
    assert response.status_code == 400 and "Please type a message" in response.content.decode()


@pytest.mark.parametrize("htmx", [False, True])
def test_sending_too_fast_is_rate_limited_with_a_friendly_message(llm, logged_in, customer, settings, htmx):
    settings.CHAT_RATE_LIMIT = "2/m"
    headers = HTMX if htmx else {}
    llm.add(ScriptedLLM.text("One."), ScriptedLLM.text("Two."))
    for text in ("first", "second"):
        assert logged_in.post(reverse("chat:send"), {"text": text}, **headers).status_code in (200, 302)

    response = logged_in.post(reverse("chat:send"), {"text": "third"}, **headers)

    assert response.status_code == 429
    assert "faster than we can answer" in response.content.decode()
    assert not Message.objects.filter(text="third").exists()
    if htmx:
        assert response["HX-Retarget"] == "#chat-errors"


def test_the_rate_limit_is_per_customer(llm, client, settings):
    settings.CHAT_RATE_LIMIT = "1/m"
    llm.add(ScriptedLLM.text("Hi A."), ScriptedLLM.text("Hi B."))
    for customer in (make_customer(), make_customer()):
        client.force_login(customer.user)
        assert client.post(reverse("chat:send"), {"text": "hello"}).status_code == 302


def test_someone_elses_conversation_is_not_found(logged_in):
    other = make_customer()
    theirs = Conversation.objects.create(customer=other)
    Message.objects.create(conversation=theirs, role="user", text="my secret order")

    assert logged_in.get(reverse("chat:conversation", args=[theirs.pk])).status_code == 404
    assert logged_in.post(reverse("chat:send"), {"text": "hi", "conversation": theirs.pk}).status_code == 404
    response = logged_in.post(reverse("chat:send"), {"text": "hi", "conversation": theirs.pk}, **HTMX)
    assert response.status_code == 404 and response["HX-Retarget"] == "#chat-errors"
    assert 'role="alert"' in response.content.decode()
    assert theirs.messages.count() == 1


def test_the_conversation_list_offers_resuming_earlier_conversations(logged_in, customer):
    older = Conversation.objects.create(customer=customer, intent="track_order")
    newer = Conversation.objects.create(customer=customer)
    Message.objects.create(conversation=older, role="user", text="older question")
    Message.objects.create(conversation=newer, role="user", text="newer question")
    Conversation.objects.filter(pk=newer.pk).update(last_activity_at=older.last_activity_at.replace(year=2100))

    def thread(html: str) -> str:
        return html[html.index('id="chat-log"') :]

    html = logged_in.get(reverse("chat:index")).content.decode()
    assert "newer question" in thread(html) and "older question" not in thread(html)  # the latest is open
    assert reverse("chat:conversation", args=[older.pk]) in html
    # The sidebar names each conversation by its first request.
    assert "older question" in html[: html.index('id="chat-log"')]
    fresh = logged_in.get(reverse("chat:index") + "?new=1").content.decode()
    assert "newer question" not in thread(fresh) and 'name="conversation" value=""' in fresh


def test_the_sidebar_topics_and_the_thread_speakers_take_a_fixed_number_of_queries(
    customer, django_assert_max_num_queries
):
    from chat import portal_selectors
    from tickets.services import ticket_create_from_conversation
    from tickets.staff_services import ticket_reply

    for index in range(6):
        conversation = Conversation.objects.create(customer=customer)
        Message.objects.create(conversation=conversation, role="user", text=f"question {index} about #W200000{index}")
    ticket = ticket_create_from_conversation(conversation=conversation, subject="Help", summary="", priority="low")
    maria = get_user_model().objects.create_user(username="maria", first_name="Maria", is_staff=True)
    for text in ("First answer", "Second answer", "Third answer"):
        ticket_reply(ticket_id=ticket.pk, author=maria, text=text)

    with django_assert_max_num_queries(1):
        listed = portal_selectors.conversations_for_customer(customer=customer)
    assert [item.topic for item in listed][0] == "question 5 about #W2000005"
    assert listed[0].order_id == "#W2000005"
    with django_assert_max_num_queries(5):  # messages, actions, feedback, ticket events, their authors
        thread = portal_selectors.thread_messages(conversation=conversation, user=customer.user)
    staff = [message for message in thread if message.from_staff]
    assert [message.staff_name for message in staff] == ["Maria"] * 3


@pytest.mark.parametrize(
    ("text", "items", "paragraphs"),
    [
        ("Your orders:\n• #W2000001 — in transit\n• #W2000002 — pending\nAnything else?", 2, 2),
        ("Colours in stock: • black • blue • sage", 3, 1),
        ("Steps:\n1. Pack it\n2. Drop it off", 2, 1),
        ("Plain text with a - dash and one • bullet", 0, 1),
        ("```\n• not a list in code\n```", 0, 1),
    ],
)
def test_assistant_lists_render_as_lists(text, items, paragraphs):
    from chat.templatetags.chat_markdown import markdown_to_safe_html

    html = str(markdown_to_safe_html(text))

    assert html.count("<li>") == items
    assert html.count("<p>") == paragraphs
    assert "#W2000001" in html or "#W" not in text  # an order id at the start of an item is no heading
