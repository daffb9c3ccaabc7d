"""Security settings, checked through the real HTTP stack and a production-mode process.

CSP allows only the site's own scripts and every page renders without inline script; logins
are throttled per username and IP; the JSON API is rate limited; production (DEBUG off) has
secure cookies and needs its secrets from the environment (`manage.py check --deploy` is
checked in test_settings_parsing.py).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import reverse

from chat.tests.conftest import make_customer
from orders.tests.factories import PaymentMethodFactory, VariantFactory, make_order

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "chat-test-pass-123"  # make_customer's password


class _InlineScriptFinder(HTMLParser):
    """Collects what a strict CSP would block: inline <script>, on* handlers, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            kind = (values.get("type") or "text/javascript").lower()
            executable = kind in {"text/javascript", "module", "application/javascript"}
            if executable and not values.get("src"):
                self._in_inline_script = True
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler attribute")
            if name in {"href", "src", "action", "formaction"} and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"<{tag} {name}='javascript:...'>")
            if name.startswith("hx-on"):
                self.problems.append(f"<{tag} {name}> (htmx evaluates it as inline script)")

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False


def inline_script_problems(html: str) -> list[str]:
    finder = _InlineScriptFinder()
    finder.feed(html)
    return finder.problems


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.fixture
def shopper(db):
    customer = make_customer()
    card = PaymentMethodFactory(customer=customer)
    make_order(customer=customer, variants=[VariantFactory()], payment_method=card)
    return customer


# --- Content-Security-Policy --------------------------------------------------------------


@pytest.mark.django_db
def test_csp_allows_only_the_sites_own_scripts(client):
    response = client.get(reverse("login"))
    directives = csp_directives(response["Content-Security-Policy"])
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives["style-src"]
    header = response["Content-Security-Policy"]
    assert "unsafe-eval" not in header and "*" not in header


@pytest.mark.django_db
def test_customer_pages_have_no_inline_script_a_strict_csp_would_block(client, shopper):
    client.force_login(shopper.user)
    order = shopper.orders.first()
    pages = [
        reverse("chat:index"),
        reverse("orders:list"),
        reverse("orders:detail", args=[order.order_id.lstrip("#")]),
        reverse("tickets:list"),
        reverse("knowledge:index"),
        reverse("password_change"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Content-Security-Policy" in response, url
        assert inline_script_problems(response.content.decode()) == [], url
    # Logged out: home, login, signup, password reset.
    client.logout()
    for url in (reverse("home"), reverse("login"), reverse("signup"), reverse("password_reset")):
        response = client.get(url)
        assert response.status_code == 200, url
        assert inline_script_problems(response.content.decode()) == [], url


@pytest.mark.django_db
def test_staff_admin_pages_have_no_inline_script(client):
    staff = get_user_model().objects.create_superuser("csp-admin", "csp-admin@cobalt.example", "csp-admin-pass-123")
    client.force_login(staff)
    for url in (
        reverse("admin:index"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_user_change", args=[staff.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert inline_script_problems(response.content.decode()) == [], url


def test_the_finder_reports_what_csp_would_block():
    # The check above is only worth something if it sees inline script when there is some.
    html = '<script>alert(1)</script><img src="x" onerror="alert(2)"><a href="javascript:alert(3)">x</a><script src="/s.js"></script>'
    assert len(inline_script_problems(html)) == 3
    assert inline_script_problems('<script type="application/json">{"a": 1}</script>') == []


# --- Login throttling ---------------------------------------------------------------------


@pytest.mark.django_db
def test_login_is_refused_after_five_failures_for_that_username_and_ip(client, settings):
    victim = make_customer()
    bystander = make_customer()
    url = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(url, {"username": victim.user.username, "password": "wrong-guess-123"})
        assert response.status_code == 200  # the form again, with its error
    response = client.post(url, {"username": victim.user.username, "password": "wrong-guess-123"})
    assert response.status_code == 429
    # Now even the right password is refused, with a page that says what to do.
    response = client.post(url, {"username": victim.user.username, "password": PASSWORD})
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many login attempts" in page and "15 minutes" in page
    assert "_auth_user_id" not in client.session
    # Another account from the same address is unaffected.
    response = client.post(url, {"username": bystander.user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(bystander.user.pk)


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count(client, settings):
    customer = make_customer()
    url = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(url, {"username": customer.user.username, "password": "wrong-guess-123"})
    assert client.post(url, {"username": customer.user.username, "password": PASSWORD}).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(url, {"username": customer.user.username, "password": "wrong-guess-123"}).status_code == 200
    assert client.post(url, {"username": customer.user.username, "password": PASSWORD}).status_code == 302


# --- JSON API rate limits -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_json_api_is_rate_limited_per_user(client, settings):
    settings.API_RATE_LIMIT = "3/m"
    customer = make_customer()
    other = make_customer()
    client.force_login(customer.user)
    url = reverse("chat_api:message")
    statuses = [client.post(url, {"text": "hello"}, content_type="application/json").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.post(url, {"text": "hello"}, content_type="application/json")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["error"]["code"] == "throttled"
    # Someone else still gets through.
    client.force_login(other.user)
    assert client.post(url, {"text": "hello"}, content_type="application/json").status_code == 200


@pytest.mark.django_db
def test_anonymous_api_calls_are_rate_limited_per_ip_and_a_forwarded_for_header_does_not_reset_it(client, settings):
    settings.API_ANON_RATE_LIMIT = "2/m"
    # Earlier anonymous calls of this test process may have counted against 127.0.0.1.
    cache.delete_many(["throttle_api_anon_127.0.0.1", "throttle_api_user_127.0.0.1"])
    url = reverse("api-schema")
    assert client.get(url).status_code == 200
    assert client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 200
    assert client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 429


# --- Production mode ----------------------------------------------------------------------


def _production_env(**overrides: str) -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    from conftest import database_url_for

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DEBUG", "SECRET_KEY", "PYTEST"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="supportbot.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url_for(connection.settings_dict),
        REDIS_URL=settings.REDIS_URL,
        LOG_LEVEL="ERROR",
    )
    env.update(overrides)
    return env


PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
    "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.SECRET_KEY == __import__('os').environ['SECRET_KEY'])"
)


@pytest.mark.django_db
def test_production_settings_have_secure_cookies_and_take_the_secret_from_the_environment():
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True", "True", "True", "True"]


@pytest.mark.django_db
def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr + result.stdout


PRINT_PROXY_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(getattr(s, 'SECURE_PROXY_SSL_HEADER', None), s.REST_FRAMEWORK['NUM_PROXIES'], s.AXES_CLIENT_IP_CALLABLE)"
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("proxies", "expected"),
    [
        # No proxy: a client could send X-Forwarded-Proto itself and pass for HTTPS.
        (None, "None 0 supportbot.client_address.client_ip"),
        ("1", "('HTTP_X_FORWARDED_PROTO', 'https') 1 supportbot.client_address.client_ip"),
    ],
)
def test_the_forwarded_proto_header_is_trusted_only_with_a_proxy_configured(proxies, expected):
    env = _production_env()
    env.pop("TRUSTED_PROXY_COUNT", None)
    if proxies:
        env["TRUSTED_PROXY_COUNT"] = proxies
    result = subprocess.run(
        [sys.executable, "-c", PRINT_PROXY_SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
