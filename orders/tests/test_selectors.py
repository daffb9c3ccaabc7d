"""Reads: tau-bench record shapes, access checks, lookups, query counts of the hot selectors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders import selectors, services
from orders.models import PaymentMethod
from orders.tests.factories import CustomerFactory, PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from supportbot.errors import NotFound

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    customer = CustomerFactory(
        handle="noel_park_1234", first_name="Noel", last_name="Park", email="Noel.Park@Example.com", zip="10001"
    )
    card = PaymentMethodFactory(customer=customer, payment_method_id="credit_card_111", brand="visa", last_four="1111")
    PaymentMethodFactory(
        customer=customer,
        payment_method_id="gift_card_222",
        source=PaymentMethod.Source.GIFT_CARD,
        balance=Decimal("12.30"),
    )
    PaymentMethodFactory(customer=customer, payment_method_id="paypal_333", source=PaymentMethod.Source.PAYPAL)
    lamp = ProductFactory(product_id="100", name="Desk Lamp")
    warm = VariantFactory(product=lamp, item_id="1001", options={"color": "warm"}, price=Decimal("19.99"))
    VariantFactory(product=lamp, item_id="1002", options={"color": "cold"}, price=Decimal("21.00"), stock_quantity=0)
    return make_order(
        customer=customer, variants=[warm, warm], payment_method=card, status="delivered", order_id="#W1000001"
    )


def test_order_details_has_the_exact_tau_bench_shape_and_extra_keys_only_when_set(order):
    record = selectors.order_details("#W1000001")
    assert record == {
        "order_id": "#W1000001",
        "user_id": "noel_park_1234",
        "address": {
            "address1": "1 Main Street",
            "address2": "Apt 2",
            "city": "Austin",
            "country": "USA",
            "state": "TX",
            "zip": "78701",
        },
        "items": [
            {"name": "Desk Lamp", "product_id": "100", "item_id": "1001", "price": 19.99, "options": {"color": "warm"}}
        ]
        * 2,
        "fulfillments": [{"tracking_id": ["123456789012"], "item_ids": ["1001", "1001"]}],
        "status": "delivered",
        "payment_history": [{"transaction_type": "payment", "amount": 39.98, "payment_method_id": "credit_card_111"}],
    }
    services.order_return_items(order_id="#W1000001", item_ids=["1001"], payment_method_id="gift_card_222")
    record = selectors.order_details("#W1000001")
    assert record["status"] == "return requested"
    assert (record["return_items"], record["return_payment_method_id"]) == (["1001"], "gift_card_222")
    assert "cancel_reason" not in record and "exchange_items" not in record


def test_customer_and_product_details_shapes(order):
    assert selectors.customer_details("noel_park_1234") == {
        "name": {"first_name": "Noel", "last_name": "Park"},
        "address": {
            "address1": "1 Main Street",
            "address2": "Apt 2",
            "city": "Austin",
            "country": "USA",
            "state": "TX",
            "zip": "10001",
        },
        "email": "Noel.Park@Example.com",
        "payment_methods": {
            "credit_card_111": {"source": "credit_card", "brand": "visa", "last_four": "1111", "id": "credit_card_111"},
            "gift_card_222": {"source": "gift_card", "balance": 12.3, "id": "gift_card_222"},
            "paypal_333": {"source": "paypal", "id": "paypal_333"},
        },
        "orders": ["#W1000001"],
    }
    assert selectors.product_details("100") == {
        "name": "Desk Lamp",
        "product_id": "100",
        "variants": {
            "1001": {"item_id": "1001", "options": {"color": "warm"}, "available": True, "price": 19.99},
            "1002": {"item_id": "1002", "options": {"color": "cold"}, "available": False, "price": 21.0},
        },
    }
    ProductFactory(product_id="050", name="Bookshelf")
    assert selectors.product_types() == {"Bookshelf": "050", "Desk Lamp": "100"}


def test_access_checks_treat_another_customers_records_as_missing(order):
    stranger = CustomerFactory()
    with pytest.raises(NotFound) as foreign:
        selectors.access_order(customer=stranger, order_id="#W1000001")
    with pytest.raises(NotFound) as missing:
        selectors.access_order(customer=stranger, order_id="#W9999999")
    assert foreign.value.message.replace("#W1000001", "X") == missing.value.message.replace("#W9999999", "X")
    assert selectors.access_order(customer=order.customer, order_id="#W1000001") == order
    assert selectors.access_order(customer=None, order_id="#W1000001") == order
    with pytest.raises(NotFound):
        selectors.customer_details("noel_park_1234", customer=stranger)
    assert selectors.customer_details(stranger.handle, customer=stranger)["orders"] == []
    assert list(selectors.orders_for_customer(stranger)) == []
    assert list(selectors.orders_for_customer(order.customer)) == [order]


def test_find_customer_by_email_and_by_name_zip_case_insensitively(order):
    assert selectors.customer_find_by_email("  noel.park@example.COM ").handle == "noel_park_1234"
    assert selectors.customer_find_by_name_zip("NOEL", "park", "10001").handle == "noel_park_1234"
    with pytest.raises(NotFound):
        selectors.customer_find_by_name_zip("Noel", "Park", "99999")
    with pytest.raises(NotFound):
        selectors.customer_find_by_email("nobody@example.com")
    with pytest.raises(NotFound, match="product 999"):
        selectors.product_details("999")


def test_read_selectors_use_a_bounded_number_of_queries(order, django_assert_max_num_queries):
    lamp, card = order.items.first().variant, order.customer.payment_methods.first()
    for _ in range(5):  # more orders, items and payments must not mean more queries
        make_order(customer=order.customer, variants=[lamp] * 3, payment_method=card)
    with django_assert_max_num_queries(4):
        selectors.order_details("#W1000001")
    with django_assert_max_num_queries(3):
        selectors.customer_details("noel_park_1234")
    with django_assert_max_num_queries(2):
        selectors.product_details("100")
    with django_assert_max_num_queries(1):
        selectors.product_types()


def _record_through_the_orm(order_id: str) -> dict:
    return selectors.order_export(selectors.access_order(customer=None, order_id=order_id))


def test_single_query_order_details_matches_the_orm_export_in_every_state(order, django_assert_num_queries):
    """order_details builds the record in SQL; it must equal order_export for every request kind."""
    customer = order.customer
    card = PaymentMethod.objects.get(payment_method_id="credit_card_111")
    warm, cold = order.items.first().variant, order.items.first().product.variants.get(item_id="1002")
    cold.stock_quantity = 5
    cold.save()
    pending = make_order(customer=customer, variants=[warm], payment_method=card, order_id="#W1000002")
    to_modify = make_order(customer=customer, variants=[warm, warm], payment_method=card, order_id="#W1000003")
    to_exchange = make_order(
        customer=customer, variants=[warm], payment_method=card, status="delivered", order_id="#W1000004"
    )
    services.order_cancel(order_id=pending.order_id, reason="ordered by mistake")
    services.order_modify_items(
        order_id=to_modify.order_id, item_ids=["1001"], new_item_ids=["1002"], payment_method_id="gift_card_222"
    )
    services.order_exchange_items(
        order_id=to_exchange.order_id, item_ids=["1001"], new_item_ids=["1002"], payment_method_id="credit_card_111"
    )
    services.order_return_items(order_id="#W1000001", item_ids=["1001", "1001"], payment_method_id="credit_card_111")
    for order_id in ("#W1000001", "#W1000002", "#W1000003", "#W1000004"):
        with django_assert_num_queries(1):
            fast = selectors.order_details(order_id)
        assert fast == _record_through_the_orm(order_id)
    assert selectors.order_details("#W1000002")["cancel_reason"] == "ordered by mistake"
    assert selectors.order_details("#W1000004")["exchange_price_difference"] == 1.01


def test_order_details_refuses_another_customers_order_like_a_missing_one(order):
    stranger = CustomerFactory(handle="someone_else_9999")
    with pytest.raises(NotFound) as refused:
        selectors.order_details("#W1000001", customer=stranger)
    with pytest.raises(NotFound) as missing:
        selectors.order_details("#W9999999", customer=stranger)
    assert refused.value.message.replace("#W1000001", "#X") == missing.value.message.replace("#W9999999", "#X")
    assert selectors.order_details("#W1000001", customer=order.customer)["order_id"] == "#W1000001"


def test_products_with_variants_reads_them_in_one_query_as_the_orm_would(django_assert_num_queries):
    boots = ProductFactory(name="Trail Boots", description="Waterproof")
    second = VariantFactory(
        product=boots, options={"size": "10", "colour": "brown"}, price=Decimal("129.50"), stock_quantity=0
    )
    first = VariantFactory(product=boots, options={"size": "9"}, price=Decimal("99.00"))
    other = VariantFactory(options={"size": "M"})
    VariantFactory()  # not asked for

    with django_assert_num_queries(1):
        found = selectors.products_with_variants([boots.product_id, other.product.product_id])
        # Everything a catalog tool reads is loaded: no lazy query for the product or a field.
        [
            (variant.product.name, variant.options, variant.available)
            for entry in found.values()
            for variant in entry.variants
        ]

    assert set(found) == {boots.product_id, other.product.product_id}
    entry = found[boots.product_id]
    assert (
        entry.product.pk == boots.pk and entry.product.description == "Waterproof" and not entry.product._state.adding
    )
    assert [variant.pk for variant in entry.variants] == sorted([first.pk, second.pk])  # by id
    loaded = {variant.pk: variant for variant in entry.variants}
    assert loaded[second.pk].options == {"size": "10", "colour": "brown"} and loaded[second.pk].price == Decimal(
        "129.50"
    )
    assert (
        isinstance(loaded[second.pk].price, Decimal)
        and loaded[second.pk].stock_quantity == 0
        and not loaded[second.pk].available
    )
    assert all(variant.product is entry.product for variant in entry.variants)  # one Product object per product
    # Loaded instances save like any other.
    loaded[first.pk].stock_quantity = 3
    loaded[first.pk].save(update_fields=["stock_quantity"])
    first.refresh_from_db()
    assert first.stock_quantity == 3


def test_products_with_variants_keeps_a_product_without_variants_and_leaves_out_unknown_ids():
    bare = ProductFactory()
    assert set(selectors.products_with_variants([bare.product_id, "no-such-product"])) == {bare.product_id}
    assert selectors.products_with_variants([bare.product_id])[bare.product_id].variants == []
    assert selectors.products_with_variants([]) == {}


# --- the request's customer --------------------------------------------------------------------


def test_customer_for_user_is_the_store_profile_and_none_for_staff_or_signed_out(django_assert_num_queries):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser

    customer = CustomerFactory()
    customer.user = get_user_model().objects.create_user(username="dana", password="pw-123-pw-123")
    customer.save(update_fields=["user"])
    staff = get_user_model().objects.create_user(username="staffer", password="pw-123-pw-123", is_staff=True)

    user = get_user_model().objects.get(pk=customer.user.pk)
    with django_assert_num_queries(1):
        assert selectors.customer_for_user(user) == customer
        # Cached on the user: the view, the turn and the page's navigation ask once.
        assert selectors.customer_for_user(user) == customer
    assert selectors.customer_for_user(staff) is None
    assert selectors.customer_for_user(AnonymousUser()) is None


def test_access_customer_for_user_refuses_an_account_without_a_store_profile():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser

    staff = get_user_model().objects.create_user(username="staffer", password="pw-123-pw-123", is_staff=True)
    for user in (staff, AnonymousUser()):
        with pytest.raises(NotFound, match="Only customer accounts"):
            selectors.access_customer_for_user(user)
