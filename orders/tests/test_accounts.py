import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.models import Customer
from orders.tests.mail_worker import queue_worker, smtp_env, wait_until

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_customer_and_logs_in(client):
    response = client.post(
        reverse("signup"),
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "Ada@Example.com",
            "password1": "analytical-engine-1843",
            "password2": "analytical-engine-1843",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("chat:index")
    customer = Customer.objects.get(email="ada@example.com")
    assert customer.user.username == "ada@example.com"
    assert customer.handle.startswith("ada_lovelace_")
    assert client.get(reverse("chat:index")).status_code == 200


def test_sign_up_refuses_a_duplicate_email_and_weak_password_with_clear_errors(client):
    get_user_model().objects.create_user("taken@example.com", "taken@example.com", "whatever-123-abc")
    response = client.post(
        reverse("signup"),
        {"first_name": "B", "last_name": "C", "email": "taken@example.com", "password1": "123", "password2": "123"},
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "already exists" in content
    assert "too short" in content
    assert Customer.objects.count() == 0


@pytest.mark.parametrize("url_name", ["chat:index", "orders:list", "tickets:list"])
def test_anonymous_users_are_sent_to_login(client, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_login_page_and_password_reset_email_through_the_email_queue(client, smtp_outbox):
    user = get_user_model().objects.create_user("reset@example.com", "reset@example.com", "old-password-123")
    assert client.get(reverse("login")).status_code == 200
    # The only worker consuming the email queue sends it: the request queued it there.
    with queue_worker(queues="email", env=smtp_env(smtp_outbox)):
        response = client.post(reverse("password_reset"), {"email": "reset@example.com"})
        assert response.status_code == 302
        messages = smtp_outbox.wait_for(1)
        assert not wait_until(lambda: len(smtp_outbox.messages) > 1, timeout=1)
    assert len(messages) == 1
    assert messages[0]["To"] == "reset@example.com" and "Reset your Cobalt Market password" in messages[0]["Subject"]
    body = messages[0].get_payload(decode=True).decode()
    link = re.search(r"https?://\S+/accounts/reset/\S+/", body)
    assert link is not None, body
    # The worker's link works: it opens the set-password form and sets the new password.
    form = client.get(link.group(0), follow=True)
    assert form.status_code == 200 and b"Set password" in form.content
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "brand-new-pass-987", "new_password2": "brand-new-pass-987"}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-new-pass-987")


def test_password_reset_for_an_unknown_email_queues_nothing(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and callbacks == []


def test_pages_render_navigation_for_a_logged_in_customer(client):
    user = get_user_model().objects.create_user("nav@example.com", "nav@example.com", "nav-password-123")
    client.force_login(user)
    html = client.get(reverse("chat:index")).content.decode()
    for label in ("Chat", "My orders", "My tickets"):
        assert f">{label}</a>" in html
    assert ">Admin</a>" not in html
    assert 'hx-headers=\'{"X-CSRFToken"' in html
    assert "htmx" in html
