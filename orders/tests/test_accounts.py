import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.models import Customer

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_customer_and_logs_in(client):
    response = client.post(
        reverse("signup"),
        {"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com", "password1": "analytical-engine-1843", "password2": "analytical-engine-1843"},
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


def test_login_page_and_password_reset_email_through_real_smtp(client, smtp_outbox):
    get_user_model().objects.create_user("reset@example.com", "reset@example.com", "old-password-123")
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("password_reset"), {"email": "reset@example.com"})
    assert response.status_code == 302
    messages = smtp_outbox.wait_for(1)
    assert len(messages) == 1
    assert messages[0]["To"] == "reset@example.com"
    body = messages[0].get_payload(decode=True).decode()
    assert "/accounts/reset/" in body


def test_pages_render_navigation_for_a_logged_in_customer(client):
    user = get_user_model().objects.create_user("nav@example.com", "nav@example.com", "nav-password-123")
    client.force_login(user)
    html = client.get(reverse("chat:index")).content.decode()
    for label in ("Chat", "My orders", "My tickets"):
        assert f">{label}</a>" in html
    assert ">Admin</a>" not in html
    assert 'hx-headers=\'{"X-CSRFToken"' in html
    assert "htmx" in html
