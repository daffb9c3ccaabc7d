"""Password-reset links point at SITE_URL whatever Host header the request carried."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.tests.mail_worker import queue_worker, smtp_env


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_forged_host_header_does_not_reach_the_reset_link(client, settings, smtp_outbox):
    # A site answering to several names (or ALLOWED_HOSTS=*) would otherwise build the link
    # from whatever Host the requester sent, and mail the victim a valid token to that host.
    settings.ALLOWED_HOSTS = ["evil.example", "shop.example", "testserver"]
    settings.SITE_URL = "https://shop.example"
    get_user_model().objects.create_user("victim@example.com", "victim@example.com", "old-password-123")
    with queue_worker(queues="email", env=smtp_env(smtp_outbox)):
        response = client.post(reverse("password_reset"), {"email": "victim@example.com"}, HTTP_HOST="evil.example")
        assert response.status_code == 302
        messages = smtp_outbox.wait_for(1)
    assert len(messages) == 1
    body = messages[0].get_payload(decode=True).decode()
    assert "evil.example" not in body
    assert re.search(r"https://shop\.example/accounts/reset/[^/\s]+/[^/\s]+/", body), body
