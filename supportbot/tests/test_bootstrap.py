"""`manage.py bootstrap` creates the demo accounts (published passwords) only in development."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from supportbot import demo

DEMO_LOGINS = [
    (demo.DEMO_STAFF_USERNAME, demo.DEMO_STAFF_PASSWORD),
    (demo.DEMO_CUSTOMER_EMAIL, demo.DEMO_CUSTOMER_PASSWORD),
]


def _logs_in(client, username: str, password: str) -> bool:
    response = client.post(reverse("login"), {"username": username, "password": password})
    logged_in = "_auth_user_id" in client.session
    client.logout()
    return response.status_code == 302 and logged_in


@pytest.fixture
def bootstrap(settings):
    def run(*args: str, debug: bool) -> str:
        settings.DEBUG = debug
        out = StringIO()
        call_command("bootstrap", *args, stdout=out)
        return out.getvalue()

    return run


@pytest.mark.django_db
def test_bootstrap_with_debug_off_creates_no_account_and_no_published_password_logs_in(client, bootstrap):
    output = bootstrap(debug=False)
    assert not get_user_model().objects.exists()
    assert "createsuperuser" in output
    assert demo.DEMO_STAFF_PASSWORD not in output and demo.DEMO_CUSTOMER_PASSWORD not in output
    for username, password in DEMO_LOGINS:
        assert not _logs_in(client, username, password), username


@pytest.mark.django_db
def test_bootstrap_with_the_demo_flag_creates_the_demo_accounts_even_with_debug_off(client, bootstrap):
    output = bootstrap("--demo", debug=False)
    assert demo.DEMO_STAFF_PASSWORD in output
    for username, password in DEMO_LOGINS:
        assert _logs_in(client, username, password), username
    assert get_user_model().objects.get(username=demo.DEMO_STAFF_USERNAME).is_superuser


@pytest.mark.django_db
def test_bootstrap_in_development_creates_the_demo_accounts(client, bootstrap):
    bootstrap(debug=True)
    for username, password in DEMO_LOGINS:
        assert _logs_in(client, username, password), username
