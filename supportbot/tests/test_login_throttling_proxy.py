"""Login throttling counts the real client behind trusted proxies, and a lockout ends on time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from chat.tests.conftest import make_customer

PASSWORD = "chat-test-pass-123"  # make_customer's password


def _fail_login(client, username: str, **headers: str) -> int:
    return client.post(reverse("login"), {"username": username, "password": "wrong-guess-123"}, **headers).status_code


@pytest.mark.django_db
def test_without_a_proxy_a_forwarded_for_header_does_not_change_the_recorded_address(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    customer = make_customer()
    _fail_login(client, customer.user.username, REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["192.0.2.10"]


@pytest.mark.django_db
def test_a_spoofed_forwarded_for_cannot_dodge_the_lockout_without_a_proxy(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    customer = make_customer()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _fail_login(client, customer.user.username, HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")
    refused = client.post(
        reverse("login"),
        {"username": customer.user.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.200",
    )
    assert refused.status_code == 429


@pytest.mark.django_db
def test_behind_one_proxy_the_address_that_proxy_saw_is_recorded(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    customer = make_customer()
    # The client wrote the left entry itself; our proxy (10.0.0.2) appended the real one.
    _fail_login(
        client, customer.user.username, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5"
    )
    _fail_login(client, customer.user.username, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not an address")
    assert sorted(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.0.0.2", "203.0.113.5"]


@pytest.mark.django_db
def test_behind_one_proxy_two_clients_are_locked_out_separately(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    customer = make_customer()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail_login(client, customer.user.username, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5")
    login = {"username": customer.user.username, "password": PASSWORD}
    assert (
        client.post(reverse("login"), login, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code
        == 429
    )
    # The owner, behind the same proxy from another address, still gets in.
    assert (
        client.post(reverse("login"), login, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.6").status_code
        == 302
    )


@pytest.mark.django_db
def test_failed_tries_during_a_lockout_do_not_extend_it(client, settings):
    customer = make_customer()
    username = customer.user.username
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail_login(client, username)
    attempt = AccessAttempt.objects.get(username=username)
    cooloff = settings.AXES_COOLOFF_TIME

    # Near the end of the lockout, someone keeps trying: still refused ...
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=attempt.attempt_time - cooloff + timedelta(minutes=1)
    )
    assert _fail_login(client, username) == 429
    assert _fail_login(client, username) == 429
    attempt.refresh_from_db()
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT

    # ... but the lockout still ends when it was due, and the right password works again.
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - timedelta(minutes=2))
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(customer.user.pk)
