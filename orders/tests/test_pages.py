from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.models import PaymentMethod, RestockSubscription
from orders.tests.factories import CustomerFactory, PaymentMethodFactory, ProductFactory, VariantFactory, make_order

pytestmark = pytest.mark.django_db


def customer_with_login(email):
    user = get_user_model().objects.create_user(email, email, "page-test-password-1")
    return CustomerFactory(user=user, email=email)


@pytest.fixture
def store():
    alice, bob = customer_with_login("alice@example.com"), customer_with_login("bob@example.com")
    gift = PaymentMethodFactory(customer=alice, source=PaymentMethod.Source.GIFT_CARD, balance=Decimal("10.00"))
    lamp = ProductFactory(name="Desk Lamp", description="A lamp for desks.")
    warm = VariantFactory(product=lamp, options={"color": "warm"}, price=Decimal("19.99"))
    cold = VariantFactory(product=lamp, options={"color": "cold"}, stock_quantity=0)
    mine = make_order(customer=alice, variants=[warm], payment_method=gift, status="delivered")
    theirs = make_order(customer=bob, variants=[warm], payment_method=PaymentMethodFactory(customer=bob))
    return type("S", (), dict(alice=alice, bob=bob, lamp=lamp, warm=warm, cold=cold, mine=mine, theirs=theirs))


def detail_url(order):
    return reverse("orders:detail", args=[order.order_id.lstrip("#")])


def test_my_orders_lists_only_my_orders_with_status_badges(client, store):
    client.force_login(store.alice.user)
    html = client.get(reverse("orders:list")).content.decode()
    assert store.mine.order_id in html and store.theirs.order_id not in html
    assert 'class="badge badge-delivered">Delivered<' in html
    assert f'href="{detail_url(store.mine)}"' in html


def test_order_detail_shows_items_tracking_payments_and_possible_actions(client, store):
    client.force_login(store.alice.user)
    response = client.get(detail_url(store.mine))
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("Desk Lamp", "$19.99", "UPS tracking 123456789012", "gift card", "Return items for a refund"):
        assert text in html
    assert "Cancel this order" not in html


def test_another_customers_order_is_a_404_like_a_missing_one(client, store):
    client.force_login(store.alice.user)
    assert client.get(detail_url(store.theirs)).status_code == 404
    assert client.get(reverse("orders:detail", args=["W0000000"])).status_code == 404
    client.logout()
    assert client.get(detail_url(store.mine)).status_code == 302


def test_product_page_shows_availability_and_notify_toggle_without_javascript(client, store):
    client.force_login(store.alice.user)
    page = client.get(reverse("orders:product", args=[store.lamp.product_id])).content.decode()
    assert "In stock" in page and "Out of stock" in page and "Notify me when back in stock" in page
    toggle = reverse("orders:restock", args=[store.lamp.product_id, store.cold.item_id])
    assert f'action="{toggle}"' in page and f'hx-post="{toggle}"' in page
    response = client.post(toggle, {"action": "subscribe"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("orders:product", args=[store.lamp.product_id])
    html = response.content.decode()
    assert "We&#x27;ll email you when it&#x27;s back in stock." in html and 'aria-pressed="true"' in html
    assert RestockSubscription.objects.filter(customer=store.alice, variant=store.cold, status="active").count() == 1
    client.post(toggle, {"action": "unsubscribe"})
    assert not RestockSubscription.objects.filter(status="active").exists()


def test_notify_toggle_with_htmx_returns_just_the_row(client, store):
    client.force_login(store.alice.user)
    toggle = reverse("orders:restock", args=[store.lamp.product_id, store.cold.item_id])
    response = client.post(toggle, {"action": "subscribe"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith(f'<tr id="variant-{store.cold.item_id}">') and "<html" not in html
    assert 'aria-pressed="true"' in html and 'role="status"' in html


def test_notify_toggle_refuses_an_available_item_and_needs_login_and_post(client, store):
    toggle = reverse("orders:restock", args=[store.lamp.product_id, store.warm.item_id])
    assert client.post(toggle, {"action": "subscribe"}).status_code == 302  # to login
    client.force_login(store.alice.user)
    assert client.get(toggle).status_code == 405
    response = client.post(toggle, {"action": "subscribe"}, headers={"HX-Request": "true"})
    assert "in stock now" in response.content.decode() and 'role="alert"' in response.content.decode()
    assert not RestockSubscription.objects.exists()
    assert client.get(reverse("orders:product", args=["nope"])).status_code == 404
    other = VariantFactory(stock_quantity=0)  # an item of another product under this product's URL
    assert (
        client.post(
            reverse("orders:restock", args=[store.lamp.product_id, other.item_id]), {"action": "subscribe"}
        ).status_code
        == 404
    )
    assert not RestockSubscription.objects.exists()


def test_catalog_lists_products_by_department(client, store):
    html = client.get(reverse("orders:catalog")).content.decode()
    assert "Desk Lamp" in html and reverse("orders:product", args=[store.lamp.product_id]) in html
