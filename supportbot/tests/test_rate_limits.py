"""Rate limits of what customers and visitors can make the server do, over the real HTTP stack.

One chat-turn budget per customer, shared by the web chat and the JSON API (WhatsApp's side is in
whatsapp/tests/test_chat_rate_limit.py), with the database backstop while Redis is unreachable;
sign-up, password-reset requests and help-center searches per client; the analytics API behind
the dashboard's permission. Counters live in the real Redis cache.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Message
from chat.tests.conftest import make_customer

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_from_new_address() -> Client:
    """A client with an address no other test used: per-IP counters outlive a test."""
    number = uuid.uuid4().int
    return Client(REMOTE_ADDR=f"10.{number % 250}.{number // 250 % 250}.{number // 62500 % 250 + 1}")


@pytest.fixture
def cache_down(settings, tmp_path):
    """The project's cache backend pointed at a unix socket where no Redis listens."""
    settings.CACHES = {
        "default": {
            "BACKEND": "supportbot.cache.ResilientRedisCache",
            "LOCATION": f"unix://{tmp_path}/no-redis.sock",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    from django.core.cache import cache

    cache.set("probe", 1)
    assert cache.get("probe") is None
    return settings


def _api_turn(client: Client, text: str):
    return client.post(reverse("chat_api:message"), {"text": text}, content_type="application/json")


# --- chat turns: one budget across channels ---------------------------------------------------


def test_web_and_api_turns_share_one_budget_per_customer(llm, settings):
    settings.CHAT_RATE_LIMIT = "3/m"
    customer = make_customer()
    client = Client()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.text("One."), ScriptedLLM.text("Two."), ScriptedLLM.text("Three."), ScriptedLLM.text("Other."))
    assert client.post(reverse("chat:send"), {"text": "first on the web"}).status_code == 302
    assert client.post(reverse("chat:send"), {"text": "second on the web"}).status_code == 302
    assert _api_turn(client, "third through the API").status_code == 200

    refused = _api_turn(client, "fourth through the API")
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "code": "rate_limited",
        "message": "You're sending messages faster than we can answer. Please wait a minute, then try again.",
    }
    assert int(refused["Retry-After"]) == 60
    page = client.post(reverse("chat:send"), {"text": "fifth on the web"})
    assert page.status_code == 429
    assert "faster than we can answer" in page.content.decode()
    htmx = client.post(reverse("chat:send"), {"text": "sixth on the web"}, **HTMX)
    assert htmx.status_code == 429 and "faster than we can answer" in htmx.content.decode()
    assert not Message.objects.filter(
        text__in=["fourth through the API", "fifth on the web", "sixth on the web"]
    ).exists()

    # The budget is the customer's, not the server's.
    other = make_customer()
    client.force_login(other.user)
    assert _api_turn(client, "hello").status_code == 200


def test_with_redis_unreachable_the_database_still_limits_web_and_api_turns_together(llm, cache_down):
    cache_down.CHAT_RATE_LIMIT = "2/m"
    customer = make_customer()
    client = Client()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.text("One."), ScriptedLLM.text("Two."))
    assert client.post(reverse("chat:send"), {"text": "on the web"}).status_code == 302
    assert _api_turn(client, "through the API").status_code == 200

    refused = _api_turn(client, "once more")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert client.post(reverse("chat:send"), {"text": "and on the web"}).status_code == 429


# --- sign-up, password reset, help-center search ----------------------------------------------


def _signup_data(email: str) -> dict[str, str]:
    return {
        "first_name": "Rae",
        "last_name": "Limit",
        "email": email,
        "password1": "a-long-enough-pass-42",
        "password2": "a-long-enough-pass-42",
    }


def test_signup_is_limited_per_client_address(settings):
    settings.SIGNUP_RATE_LIMIT = "2/m"
    client = client_from_new_address()
    # Invalid attempts count too: each one tells whether an address has an account.
    assert client.post(reverse("signup"), {**_signup_data("a@example.com"), "password2": "other"}).status_code == 200
    assert client.post(reverse("signup"), {**_signup_data("b@example.com"), "password2": "other"}).status_code == 200

    refused = client.post(reverse("signup"), _signup_data("rae@example.com"))

    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many sign-ups from your connection" in page and 'value="rae@example.com"' in page
    assert not get_user_model().objects.filter(username="rae@example.com").exists()
    # Another address still signs up.
    assert client_from_new_address().post(reverse("signup"), _signup_data("rae@example.com")).status_code == 302


def test_password_reset_requests_are_limited_per_client_address(settings, django_capture_on_commit_callbacks):
    settings.PASSWORD_RESET_RATE_LIMIT = "2/m"
    get_user_model().objects.create_user("reset-ip@example.com", "reset-ip@example.com", "reset-pass-123")
    client = client_from_new_address()
    for email in ("someone@example.com", "else@example.com"):
        assert client.post(reverse("password_reset"), {"email": email}).status_code == 302

    with django_capture_on_commit_callbacks() as queued:
        refused = client.post(reverse("password_reset"), {"email": "reset-ip@example.com"})

    assert refused.status_code == 429
    assert "Too many password-reset requests" in refused.content.decode()
    assert queued == []  # no email


def test_password_reset_requests_are_limited_per_email_address(settings, django_capture_on_commit_callbacks):
    settings.PASSWORD_RESET_RATE_LIMIT = "2/m"
    get_user_model().objects.create_user("reset-inbox@example.com", "reset-inbox@example.com", "reset-pass-123")
    for _ in range(2):
        response = client_from_new_address().post(reverse("password_reset"), {"email": "reset-inbox@example.com"})
        assert response.status_code == 302

    with django_capture_on_commit_callbacks() as queued:
        refused = client_from_new_address().post(reverse("password_reset"), {"email": " Reset-Inbox@example.com"})

    assert refused.status_code == 429
    assert "Too many password-reset requests" in refused.content.decode()
    assert queued == []


def test_anonymous_help_center_search_is_limited_per_client_address(settings):
    settings.HELP_SEARCH_RATE_LIMIT = "2/m"
    client = client_from_new_address()
    for query in ("refund time", "shipping cost"):
        assert client.get(reverse("knowledge:index"), {"q": query}).status_code == 200

    refused = client.get(reverse("knowledge:index"), {"q": "warranty"})
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "searching faster than we can look things up" in page and "All articles" in page
    htmx = client.get(reverse("knowledge:index"), {"q": "warranty"}, **HTMX)
    assert htmx.status_code == 429 and htmx["HX-Retarget"] == "#search-results"
    assert "searching faster than we can look things up" in htmx.content.decode()
    # The article list without a query is not a search.
    assert client.get(reverse("knowledge:index")).status_code == 200


def test_logged_in_customers_search_the_help_center_on_their_own_more_generous_budget(settings):
    settings.HELP_SEARCH_RATE_LIMIT = "1/m"
    settings.HELP_SEARCH_USER_RATE_LIMIT = "3/m"
    client = client_from_new_address()
    assert client.get(reverse("knowledge:index"), {"q": "returns"}).status_code == 200
    assert client.get(reverse("knowledge:index"), {"q": "returns"}).status_code == 429
    client.force_login(make_customer().user)
    statuses = [client.get(reverse("knowledge:index"), {"q": f"returns {n}"}).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]


# --- the analytics API ------------------------------------------------------------------------


def test_the_analytics_api_needs_the_dashboard_permission():
    client = Client()
    client.force_login(make_customer().user)
    assert client.get(reverse("chat_api:analytics")).status_code == 403
    staff = get_user_model().objects.create_user("agent-no-dash", "agent@example.com", "agent-pass-123", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("chat_api:analytics")).status_code == 403

    staff.user_permissions.add(
        Permission.objects.get(codename="view_support_dashboard", content_type__app_label="tickets")
    )
    client.force_login(get_user_model().objects.get(pk=staff.pk))  # permissions are cached on the user
    response = client.get(reverse("chat_api:analytics"))
    assert response.status_code == 200 and "conversations" in response.json()
