"""Orders admin actions, driven through the admin changelist as a staff superuser (real database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from orders import services
from orders.models import Order, PaymentMethod, RestockEvent, RestockSubscription, Variant
from orders.tests.factories import CustomerFactory, PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from orders.tests.mail_worker import queue_worker, smtp_env, wait_until
from supportbot.errors import PermissionDenied, RuleViolation

pytestmark = pytest.mark.django_db
ORDERS = reverse("admin:orders_order_changelist")
VARIANTS = reverse("admin:orders_variant_changelist")


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser(username="lead", email="lead@example.com", password="pw-lead-42")
    client.force_login(user)
    return user


@pytest.fixture
def shop():
    customer = CustomerFactory()
    card = PaymentMethodFactory(customer=customer)
    gift = PaymentMethodFactory(customer=customer, source=PaymentMethod.Source.GIFT_CARD, balance=Decimal("5.00"))
    shirt = ProductFactory(name="T-Shirt")
    small = VariantFactory(product=shirt, price=Decimal("20.00"), options={"size": "S"})
    medium = VariantFactory(product=shirt, price=Decimal("25.50"), options={"size": "M"})
    large = VariantFactory(product=shirt, price=Decimal("18.25"), options={"size": "L"})
    return type("Shop", (), dict(customer=customer, card=card, gift=gift, small=small, medium=medium, large=large))


def requested_exchange(shop, *, old, new, method):
    order = make_order(
        customer=shop.customer, variants=[shop.small, shop.large], payment_method=shop.card, status="delivered"
    )
    services.order_exchange_items(
        order_id=order.order_id,
        item_ids=[v.item_id for v in old],
        new_item_ids=[v.item_id for v in new],
        payment_method_id=method.payment_method_id,
    )
    return order


def history(order):
    return [
        (p.transaction_type, p.amount, p.payment_method.payment_method_id)
        for p in order.payments.select_related("payment_method")
    ]


def items(order):
    return sorted(
        (row.variant.item_id, row.price, row.options["size"]) for row in order.items.select_related("variant")
    )


def post_action(client, action, orders):
    return client.post(ORDERS, {"action": action, "_selected_action": [o.pk for o in orders]}, follow=True)


# --- approve exchange ----------------------------------------------------------------------


def test_approve_exchange_swaps_items_charges_the_difference_and_processes(client, staff, shop):
    # S→M and L→S: +5.50 and +1.75, recorded at request time as 7.25 on the card.
    order = requested_exchange(shop, old=[shop.small, shop.large], new=[shop.medium, shop.small], method=shop.card)
    response = post_action(client, "approve_exchange", [order])
    assert "exchange approved" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "processed"
    assert items(order) == sorted(
        [(shop.small.item_id, Decimal("20.00"), "S"), (shop.medium.item_id, Decimal("25.50"), "M")]
    )
    assert history(order)[-1] == ("payment", Decimal("7.25"), shop.card.payment_method_id) and len(history(order)) == 2
    # The request stays on record.
    assert order.exchange_new_items == sorted([shop.medium.item_id, shop.small.item_id])
    assert order.exchange_price_difference == Decimal("7.25")


def test_approve_exchange_refunds_a_negative_difference_to_the_gift_card(client, staff, shop):
    order = requested_exchange(shop, old=[shop.small], new=[shop.large], method=shop.gift)
    post_action(client, "approve_exchange", [order])
    order.refresh_from_db()
    assert order.status == "processed"
    assert history(order)[-1] == ("refund", Decimal("1.75"), shop.gift.payment_method_id)
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("6.75")
    assert items(order) == sorted(
        [(shop.large.item_id, Decimal("18.25"), "L"), (shop.large.item_id, Decimal("18.25"), "L")]
    )


def test_approve_exchange_refuses_a_gift_card_that_no_longer_covers_the_difference(client, staff, shop):
    # Requested while the card covered the +5.50; the balance was spent elsewhere before approval.
    PaymentMethod.objects.filter(pk=shop.gift.pk).update(balance=Decimal("6.00"))
    order = requested_exchange(shop, old=[shop.small], new=[shop.medium], method=shop.gift)
    PaymentMethod.objects.filter(pk=shop.gift.pk).update(balance=Decimal("3.00"))
    response = post_action(client, "approve_exchange", [order])
    assert "doesn&#x27;t cover the $5.50 price difference" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "exchange requested" and len(history(order)) == 1
    assert items(order) == sorted(
        [(shop.small.item_id, Decimal("20.00"), "S"), (shop.large.item_id, Decimal("18.25"), "L")]
    )
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("3.00")


def test_approve_exchange_refuses_other_statuses_and_out_of_stock_items(client, staff, shop):
    delivered = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="delivered")
    response = post_action(client, "approve_exchange", [delivered])
    assert (
        f"{delivered.order_id} is &#x27;delivered&#x27;, not &#x27;exchange requested&#x27;"
        in response.content.decode()
    )
    delivered.refresh_from_db()
    assert delivered.status == "delivered" and len(history(delivered)) == 1

    order = requested_exchange(shop, old=[shop.small], new=[shop.medium], method=shop.card)
    shop.medium.stock_quantity = 0
    shop.medium.save(update_fields=["stock_quantity"])
    response = post_action(client, "approve_exchange", [order])
    assert "out of stock" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "exchange requested" and len(history(order)) == 1


def test_approve_exchange_keeps_a_row_whose_variant_is_also_a_new_item(shop, staff):
    # L→S and S→M were requested; the sorted record can't tell pairs apart, but the order must end
    # with S and M whichever way the rows are paired.
    order = requested_exchange(shop, old=[shop.large, shop.small], new=[shop.small, shop.medium], method=shop.card)
    services.order_exchange_approve(order_id=order.order_id, staff_user=staff)
    order.refresh_from_db()
    assert items(order) == sorted(
        [(shop.small.item_id, Decimal("20.00"), "S"), (shop.medium.item_id, Decimal("25.50"), "M")]
    )
    assert history(order)[-1] == ("payment", Decimal("7.25"), shop.card.payment_method_id)


def test_approve_exchange_is_for_staff_only(shop, django_user_model):
    order = requested_exchange(shop, old=[shop.small], new=[shop.medium], method=shop.card)
    customer_user = django_user_model.objects.create_user(username="shopper", password="pw-shop-42")
    for user in (AnonymousUser(), customer_user):
        with pytest.raises(PermissionDenied):
            services.order_exchange_approve(order_id=order.order_id, staff_user=user)
    order.refresh_from_db()
    assert order.status == Order.Status.EXCHANGE_REQUESTED


def test_approve_exchange_twice_is_refused(shop, staff):
    order = requested_exchange(shop, old=[shop.small], new=[shop.medium], method=shop.card)
    services.order_exchange_approve(order_id=order.order_id, staff_user=staff)
    with pytest.raises(RuleViolation, match="no exchange to approve"):
        services.order_exchange_approve(order_id=order.order_id, staff_user=staff)
    assert len(history(order)) == 2


# --- set stock -----------------------------------------------------------------------------


def test_set_stock_asks_for_a_quantity_first_and_refuses_a_negative_one(client, staff, shop):
    selection = {"action": "set_stock", "_selected_action": [shop.small.pk, shop.medium.pk]}
    form = client.post(VARIANTS, selection)
    assert form.status_code == 200 and 'name="stock_quantity"' in form.content.decode()
    bad = client.post(VARIANTS, {**selection, "apply": "1", "stock_quantity": "-3"})
    assert bad.status_code == 200 and "greater than or equal to 0" in bad.content.decode()
    assert sorted(
        Variant.objects.filter(pk__in=selection["_selected_action"]).values_list("stock_quantity", flat=True)
    ) == [10, 10]


def test_set_stock_sets_each_variant_and_a_restock_triggers_the_alerts(
    client, staff, shop, django_capture_on_commit_callbacks
):
    shop.medium.stock_quantity = 0
    shop.medium.save(update_fields=["stock_quantity"])
    RestockSubscription.objects.create(customer=shop.customer, variant=shop.medium)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            VARIANTS,
            {
                "action": "set_stock",
                "_selected_action": [shop.small.pk, shop.medium.pk],
                "apply": "1",
                "stock_quantity": "7",
            },
            follow=True,
        )
    assert f"{shop.medium.item_id}: stock set to 7." in response.content.decode()
    assert dict(
        Variant.objects.filter(pk__in=[shop.small.pk, shop.medium.pk]).values_list("item_id", "stock_quantity")
    ) == {
        shop.small.item_id: 7,
        shop.medium.item_id: 7,
    }
    # Only the sold-out variant came back: one restock event (the alerts' dispatcher, tested in
    # test_notifications_restock, is queued after commit).
    [event] = RestockEvent.objects.all()
    assert (event.variant_id, event.previous_quantity, event.new_quantity) == (shop.medium.pk, 0, 7)
    assert callbacks  # nothing is queued before the stock change commits


# --- resend return instructions ------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_resend_return_instructions_mails_open_requests_only(client, staff, shop, smtp_outbox):
    with queue_worker(queues="email", env=smtp_env(smtp_outbox)):
        returning = make_order(
            customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="delivered"
        )
        services.order_return_items(
            order_id=returning.order_id, item_ids=[shop.small.item_id], payment_method_id=shop.card.payment_method_id
        )
        exchanging = requested_exchange(shop, old=[shop.large], new=[shop.medium], method=shop.card)
        delivered = make_order(
            customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="delivered"
        )
        assert len(smtp_outbox.wait_for(2)) == 2  # the two requests' own emails
        smtp_outbox.messages.clear()

        response = post_action(client, "resend_return_instructions", [returning, exchanging, delivered])
        mails = smtp_outbox.wait_for(2)
        assert not wait_until(lambda: len(smtp_outbox.messages) > 2, timeout=1)  # none for the delivered order
    page = response.content.decode()
    assert f"{returning.order_id}: return instructions sent again" in page
    assert f"{delivered.order_id} is &#x27;delivered&#x27;: there are return instructions only" in page
    assert len(mails) == 2 and {m["To"] for m in mails} == {shop.customer.email}
    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == sorted(
        [
            f"How to send back your return for order {returning.order_id}",
            f"How to send back your exchange for order {exchanging.order_id}",
        ]
    )
    returned = next(m for m in mails if "return for" in m["Subject"])
    [text] = [p.get_payload(decode=True).decode() for p in returned.walk() if p.get_content_type() == "text/plain"]
    assert "T-Shirt (size: S)" in text
