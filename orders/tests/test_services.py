"""The retail actions: every rule and refusal, multiplicity, rounding, gift-card balances."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from conftest import free_port
from orders import services
from orders.models import Order, PaymentMethod, SelfServiceRefund
from orders.tests.factories import CustomerFactory, PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from orders.tests.mail_worker import queue_worker, smtp_env, wait_until
from supportbot.errors import InvalidInput, NotFound, RuleViolation

pytestmark = pytest.mark.django_db
GIFT = PaymentMethod.Source.GIFT_CARD


def history(order):
    return [
        (p.transaction_type, p.amount, p.payment_method.payment_method_id)
        for p in order.payments.select_related("payment_method")
    ]


@pytest.fixture
def shop():
    """A customer with a credit card and a gift card; a shirt product with three variants."""
    customer = CustomerFactory()
    card = PaymentMethodFactory(customer=customer)
    gift = PaymentMethodFactory(customer=customer, source=GIFT, balance=Decimal("50.00"))
    shirt = ProductFactory(name="T-Shirt")
    small = VariantFactory(product=shirt, price=Decimal("20.00"), options={"size": "S"})
    medium = VariantFactory(product=shirt, price=Decimal("25.50"), options={"size": "M"})
    large = VariantFactory(product=shirt, price=Decimal("18.25"), options={"size": "L"})
    sold_out = VariantFactory(product=shirt, price=Decimal("22.00"), options={"size": "XL"}, stock_quantity=0)
    return type(
        "Shop",
        (),
        dict(
            customer=customer,
            card=card,
            gift=gift,
            shirt=shirt,
            small=small,
            medium=medium,
            large=large,
            sold_out=sold_out,
        ),
    )


# --- cancel ------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["no longer needed", "ordered by mistake"])
def test_cancel_refunds_each_payment_and_records_the_reason(shop, reason):
    order = make_order(customer=shop.customer, variants=[shop.small, shop.medium], payment_method=shop.card)
    services.order_cancel(order_id=order.order_id, reason=reason)
    order.refresh_from_db()
    assert order.status == "cancelled" and order.cancel_reason == reason
    pm = shop.card.payment_method_id
    assert history(order) == [("payment", Decimal("45.50"), pm), ("refund", Decimal("45.50"), pm)]


def test_cancel_credits_a_gift_card_at_once(shop):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.gift)
    services.order_cancel(order_id=order.order_id, reason="no longer needed")
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("70.00")


def test_cancel_after_a_payment_change_refunds_only_what_each_method_still_holds(shop):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    services.order_modify_payment(order_id=order.order_id, payment_method_id=shop.gift.payment_method_id)
    services.order_cancel(order_id=order.order_id, reason="ordered by mistake")
    refunds = [h for h in history(order) if h[0] == "refund"]
    assert refunds == [
        ("refund", Decimal("20.00"), shop.card.payment_method_id),
        ("refund", Decimal("20.00"), shop.gift.payment_method_id),
    ]
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("50.00")


@pytest.mark.parametrize("status", [s for s in Order.Status.values if s != "pending"])
def test_cancel_is_refused_unless_pending_and_nothing_changes(shop, status):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card, status=status)
    with pytest.raises(RuleViolation) as error:
        services.order_cancel(order_id=order.order_id, reason="no longer needed")
    assert error.value.code == "wrong_status" and order.order_id in error.value.message
    order.refresh_from_db()
    assert order.status == status and order.payments.count() == 1


def test_cancel_of_delivered_order_suggests_a_return(shop):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="delivered")
    with pytest.raises(RuleViolation, match="was delivered.*return or exchange"):
        services.order_cancel(order_id=order.order_id, reason="no longer needed")


def test_cancel_refuses_an_unknown_reason_and_an_unknown_order(shop):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    with pytest.raises(InvalidInput, match="no longer needed"):
        services.order_cancel(order_id=order.order_id, reason="changed my mind")
    with pytest.raises(NotFound, match="#W0000000"):
        services.order_cancel(order_id="#W0000000", reason="no longer needed")
    order.refresh_from_db()
    assert order.status == "pending"


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_cancellations_yield_exactly_one_refund():
    customer = CustomerFactory()
    gift = PaymentMethodFactory(customer=customer, source=GIFT, balance=Decimal("0.00"))
    variant = VariantFactory(price=Decimal("30.00"))
    order = make_order(customer=customer, variants=[variant], payment_method=gift)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def cancel() -> None:
        try:
            barrier.wait(timeout=10)
            services.order_cancel(order_id=order.order_id, reason="no longer needed")
            outcomes.append("ok")
        except RuleViolation as error:
            outcomes.append(error.code)
        finally:
            connection.close()  # each thread has its own real connection

    threads = [threading.Thread(target=cancel) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["ok", "wrong_status"]
    assert order.payments.filter(transaction_type="refund").count() == 1
    gift.refresh_from_db()
    assert gift.balance == Decimal("30.00")


# --- refund limit -------------------------------------------------------------------------


def test_self_service_refund_limit_counts_cancellations_and_returns_in_30_days(shop, settings):
    settings.ORDERS_SELF_SERVICE_REFUND_LIMIT = 2
    first = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    second = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="delivered")
    third = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    services.order_cancel(order_id=first.order_id, reason="no longer needed", self_service=True)
    services.order_return_items(
        order_id=second.order_id,
        item_ids=[shop.small.item_id],
        payment_method_id=shop.card.payment_method_id,
        self_service=True,
    )
    with pytest.raises(RuleViolation) as error:
        services.order_cancel(order_id=third.order_id, reason="no longer needed", self_service=True)
    assert error.value.code == "refund_limit" and "human agent" in error.value.message
    third.refresh_from_db()
    assert third.status == "pending"
    # Staff (not self-service) are not limited; refunds older than 30 days no longer count.
    services.order_cancel(order_id=third.order_id, reason="no longer needed")
    SelfServiceRefund.objects.update(created_at=timezone.now() - timedelta(days=31))
    fourth = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    services.order_cancel(order_id=fourth.order_id, reason="no longer needed", self_service=True)
    assert SelfServiceRefund.objects.filter(customer=shop.customer).count() == 3


# --- address ------------------------------------------------------------------------------


def test_modify_order_address_keeps_status_and_refuses_missing_fields(shop):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    new = dict(address1=" 9 Elm St ", address2="", city="Boston", state="MA", country="USA", zip="02101")
    services.order_modify_address(order_id=order.order_id, **new)
    order.refresh_from_db()
    assert (order.address1, order.city, order.zip, order.status) == ("9 Elm St", "Boston", "02101", "pending")
    with pytest.raises(InvalidInput, match="city"):
        services.order_modify_address(order_id=order.order_id, **{**new, "city": "  "})
    processed = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="processed")
    with pytest.raises(RuleViolation):
        services.order_modify_address(order_id=processed.order_id, **new)


def test_modify_customer_address(shop):
    services.customer_modify_address(
        handle=shop.customer.handle, address1="5 Oak", address2="", city="Reno", state="NV", country="USA", zip="89501"
    )
    shop.customer.refresh_from_db()
    assert (shop.customer.address1, shop.customer.city) == ("5 Oak", "Reno")
    with pytest.raises(NotFound):
        services.customer_modify_address(
            handle="nobody_1", address1="5 Oak", address2="", city="Reno", state="NV", country="USA", zip="89501"
        )


# --- payment method -----------------------------------------------------------------------


def test_modify_payment_to_gift_card_moves_both_balances(shop):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    services.order_modify_payment(order_id=order.order_id, payment_method_id=shop.gift.payment_method_id)
    assert history(order)[1:] == [
        ("payment", Decimal("20.00"), shop.gift.payment_method_id),
        ("refund", Decimal("20.00"), shop.card.payment_method_id),
    ]
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("30.00")
    order.refresh_from_db()
    assert order.status == "pending"
    with pytest.raises(RuleViolation, match="more than one payment"):
        services.order_modify_payment(order_id=order.order_id, payment_method_id=shop.card.payment_method_id)


def test_modify_payment_from_gift_card_refunds_the_card(shop):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.gift)
    services.order_modify_payment(order_id=order.order_id, payment_method_id=shop.card.payment_method_id)
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("70.00")


def test_modify_payment_refusals(shop):
    order = make_order(
        customer=shop.customer, variants=[shop.small, shop.medium, shop.medium], payment_method=shop.card
    )
    stranger_card = PaymentMethodFactory()
    with pytest.raises(InvalidInput, match="already paid"):
        services.order_modify_payment(order_id=order.order_id, payment_method_id=shop.card.payment_method_id)
    with pytest.raises(NotFound, match="isn't one of your saved"):
        services.order_modify_payment(order_id=order.order_id, payment_method_id=stranger_card.payment_method_id)
    with pytest.raises(RuleViolation, match=r"\$50.00 left") as error:
        services.order_modify_payment(order_id=order.order_id, payment_method_id=shop.gift.payment_method_id)
    assert error.value.code == "insufficient_balance"
    assert order.payments.count() == 1


# --- modify items -------------------------------------------------------------------------


def test_modify_items_charges_the_difference_and_locks_the_order(shop):
    order = make_order(customer=shop.customer, variants=[shop.small, shop.large], payment_method=shop.card)
    services.order_modify_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id],
        new_item_ids=[shop.medium.item_id],
        payment_method_id=shop.gift.payment_method_id,
    )
    order.refresh_from_db()
    assert order.status == "pending (item modified)"
    assert sorted(i.variant.item_id for i in order.items.all()) == sorted([shop.medium.item_id, shop.large.item_id])
    changed = order.items.get(variant=shop.medium)
    assert (changed.price, changed.options) == (Decimal("25.50"), {"size": "M"})
    assert history(order)[-1] == ("payment", Decimal("5.50"), shop.gift.payment_method_id)
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("44.50")
    for action in (
        lambda: services.order_modify_items(
            order_id=order.order_id,
            item_ids=[shop.large.item_id],
            new_item_ids=[shop.small.item_id],
            payment_method_id=shop.card.payment_method_id,
        ),
        lambda: services.order_cancel(order_id=order.order_id, reason="no longer needed"),
        lambda: services.order_modify_payment(order_id=order.order_id, payment_method_id=shop.gift.payment_method_id),
    ):
        with pytest.raises(RuleViolation, match="already changed once"):
            action()


def test_modify_items_refund_and_zero_difference_and_multiplicity(shop):
    other_shirt = VariantFactory(product=shop.shirt, price=Decimal("20.00"), options={"size": "S", "color": "red"})
    order = make_order(customer=shop.customer, variants=[shop.small, shop.small, shop.medium], payment_method=shop.card)
    # Both identical smalls become: one large (−1.75) and one red small (0) → refund 1.75.
    services.order_modify_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id, shop.small.item_id],
        new_item_ids=[shop.large.item_id, other_shirt.item_id],
        payment_method_id=shop.gift.payment_method_id,
    )
    assert history(order)[-1] == ("refund", Decimal("1.75"), shop.gift.payment_method_id)
    assert sorted(i.variant.item_id for i in order.items.all()) == sorted(
        [shop.large.item_id, other_shirt.item_id, shop.medium.item_id]
    )
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("51.75")

    zero = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    services.order_modify_items(
        order_id=zero.order_id,
        item_ids=[shop.small.item_id],
        new_item_ids=[other_shirt.item_id],
        payment_method_id=shop.card.payment_method_id,
    )
    assert history(zero)[-1] == ("refund", Decimal("0.00"), shop.card.payment_method_id)


def test_modify_items_rounds_the_sum_of_differences_to_cents(shop):
    a = VariantFactory(product=shop.shirt, price=Decimal("10.10"))
    b = VariantFactory(product=shop.shirt, price=Decimal("10.20"))
    c = VariantFactory(product=shop.shirt, price=Decimal("10.33"))
    order = make_order(customer=shop.customer, variants=[a, a, a], payment_method=shop.card)
    services.order_modify_items(
        order_id=order.order_id,
        item_ids=[a.item_id] * 3,
        new_item_ids=[b.item_id, c.item_id, b.item_id],
        payment_method_id=shop.card.payment_method_id,
    )
    assert history(order)[-1] == ("payment", Decimal("0.43"), shop.card.payment_method_id)
    # The export shows the amount with exactly two decimals.
    from orders.selectors import order_details

    assert order_details(order.order_id)["payment_history"][-1]["amount"] == 0.43


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("more_than_held", InvalidInput, "2 were requested"),
        ("not_in_order", InvalidInput, "is not part of order"),
        ("length_mismatch", InvalidInput, "one new item for each"),
        ("other_product", InvalidInput, "not a variant of"),
        ("unavailable", RuleViolation, "not available"),
        ("unknown_new", NotFound, "couldn't find item"),
        ("foreign_method", NotFound, "isn't one of your saved"),
        ("gift_card_short", RuleViolation, "doesn't cover"),
        ("empty", InvalidInput, "at least one item"),
    ],
)
def test_modify_and_exchange_item_refusals_write_nothing(shop, case, error, message):
    mug = VariantFactory(price=Decimal("9.00"))
    pricey = VariantFactory(product=shop.shirt, price=Decimal("500.00"))
    small, medium = shop.small.item_id, shop.medium.item_id
    args = {
        "more_than_held": ([small, small], [medium, medium], shop.card),
        "not_in_order": ([mug.item_id], [medium], shop.card),
        "length_mismatch": ([small], [medium, medium], shop.card),
        "other_product": ([small], [mug.item_id], shop.card),
        "unavailable": ([small], [shop.sold_out.item_id], shop.card),
        "unknown_new": ([small], ["0000000000"], shop.card),
        "foreign_method": ([small], [medium], PaymentMethodFactory()),
        "gift_card_short": ([small], [pricey.item_id], shop.gift),
        "empty": ([], [], shop.card),
    }[case]
    for status, service in (("pending", services.order_modify_items), ("delivered", services.order_exchange_items)):
        order = make_order(
            customer=shop.customer, variants=[shop.small, shop.large], payment_method=shop.card, status=status
        )
        with pytest.raises(error, match=message):
            service(
                order_id=order.order_id,
                item_ids=args[0],
                new_item_ids=args[1],
                payment_method_id=args[2].payment_method_id,
            )
        order.refresh_from_db()
        assert order.status == status and order.payments.count() == 1
        assert sorted(i.variant.item_id for i in order.items.all()) == sorted([small, shop.large.item_id])
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("50.00")


# --- a new item equal to the old one (tau-bench accepts it: that item stays) ---------------


def items_in_order(order):
    return [(i.variant.item_id, i.price) for i in order.items.select_related("variant")]


def test_modify_items_keeps_an_item_whose_new_id_is_its_own_and_charges_only_the_real_changes(shop):
    order = make_order(customer=shop.customer, variants=[shop.small, shop.large], payment_method=shop.card)
    kept = order.items.get(variant=shop.small)
    services.order_modify_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id, shop.large.item_id],
        new_item_ids=[shop.small.item_id, shop.medium.item_id],
        payment_method_id=shop.gift.payment_method_id,
    )
    order.refresh_from_db()
    assert order.status == "pending (item modified)"
    assert items_in_order(order) == [(shop.small.item_id, Decimal("20.00")), (shop.medium.item_id, Decimal("25.50"))]
    assert order.items.get(variant=shop.small).pk == kept.pk
    # 25.50 − 18.25 for the large shirt, nothing for the kept small one.
    assert history(order)[-1] == ("payment", Decimal("7.25"), shop.gift.payment_method_id)
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("42.75")


def test_modify_items_with_only_unchanged_items_records_a_zero_refund_and_uses_up_the_one_change(shop):
    # tau-bench records a refund of 0 and marks the order modified even when nothing changes.
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card)
    services.order_modify_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id],
        new_item_ids=[shop.small.item_id],
        payment_method_id=shop.card.payment_method_id,
    )
    order.refresh_from_db()
    assert order.status == "pending (item modified)"
    assert items_in_order(order) == [(shop.small.item_id, Decimal("20.00"))]
    assert history(order) == [
        ("payment", Decimal("20.00"), shop.card.payment_method_id),
        ("refund", Decimal("0.00"), shop.card.payment_method_id),
    ]


def test_modify_items_changes_the_first_row_still_holding_the_item_as_tau_bench_does(shop):
    # [S, S] → [S, M]: the first pair leaves the first S as it is, so the second pair changes that same
    # first S (tau-bench looks the item up again each time); the second S row stays.
    order = make_order(customer=shop.customer, variants=[shop.small, shop.small], payment_method=shop.card)
    services.order_modify_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id] * 2,
        new_item_ids=[shop.small.item_id, shop.medium.item_id],
        payment_method_id=shop.card.payment_method_id,
    )
    assert items_in_order(order) == [(shop.medium.item_id, Decimal("25.50")), (shop.small.item_id, Decimal("20.00"))]
    assert history(order)[-1] == ("payment", Decimal("5.50"), shop.card.payment_method_id)


def test_an_unchanged_item_keeps_the_price_paid_even_if_the_catalog_price_moved(shop):
    order = make_order(customer=shop.customer, variants=[shop.small, shop.large], payment_method=shop.card)
    shop.small.price = Decimal("23.00")
    shop.small.save(update_fields=["price"])
    services.order_modify_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id, shop.large.item_id],
        new_item_ids=[shop.small.item_id, shop.medium.item_id],
        payment_method_id=shop.card.payment_method_id,
    )
    assert items_in_order(order) == [(shop.small.item_id, Decimal("20.00")), (shop.medium.item_id, Decimal("25.50"))]
    assert history(order)[-1] == ("payment", Decimal("7.25"), shop.card.payment_method_id)


def test_exchange_accepts_an_unchanged_item_with_no_difference_for_it_and_approval_keeps_its_row(
    shop, django_user_model
):
    order = make_order(
        customer=shop.customer, variants=[shop.small, shop.large], payment_method=shop.card, status="delivered"
    )
    kept = order.items.get(variant=shop.small)
    services.order_exchange_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id, shop.large.item_id],
        new_item_ids=[shop.small.item_id, shop.medium.item_id],
        payment_method_id=shop.card.payment_method_id,
    )
    order.refresh_from_db()
    assert order.status == "exchange requested"
    assert order.exchange_items == sorted([shop.small.item_id, shop.large.item_id])
    assert order.exchange_new_items == sorted([shop.small.item_id, shop.medium.item_id])
    assert order.exchange_price_difference == Decimal("7.25")
    assert order.payments.count() == 1  # nothing charged until staff approve

    staff = django_user_model.objects.create_user(username="approver", password="pw-approve-42", is_staff=True)
    services.order_exchange_approve(order_id=order.order_id, staff_user=staff)
    assert items_in_order(order) == [(shop.small.item_id, Decimal("20.00")), (shop.medium.item_id, Decimal("25.50"))]
    assert order.items.get(variant=shop.small).pk == kept.pk
    assert history(order)[-1] == ("payment", Decimal("7.25"), shop.card.payment_method_id)


def test_exchange_of_only_unchanged_items_records_a_zero_difference(shop):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="delivered")
    services.order_exchange_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id],
        new_item_ids=[shop.small.item_id],
        payment_method_id=shop.card.payment_method_id,
    )
    order.refresh_from_db()
    assert (order.status, order.exchange_price_difference) == ("exchange requested", Decimal("0.00"))


def test_an_unchanged_item_that_is_sold_out_is_refused_as_tau_bench_does_and_nothing_is_written(shop):
    order_rows = [shop.small, shop.large]
    orders = [
        (
            services.order_modify_items,
            make_order(customer=shop.customer, variants=order_rows, payment_method=shop.card),
        ),
        (
            services.order_exchange_items,
            make_order(customer=shop.customer, variants=order_rows, payment_method=shop.card, status="delivered"),
        ),
    ]
    shop.small.stock_quantity = 0
    shop.small.save(update_fields=["stock_quantity"])
    for service, order in orders:
        status = order.status
        with pytest.raises(RuleViolation, match="sold out right now.*Leave it out of the change") as error:
            service(
                order_id=order.order_id,
                item_ids=[shop.small.item_id, shop.large.item_id],
                new_item_ids=[shop.small.item_id, shop.medium.item_id],
                payment_method_id=shop.card.payment_method_id,
            )
        assert error.value.code == "unavailable"
        order.refresh_from_db()
        assert order.status == status and order.payments.count() == 1
        assert items_in_order(order) == [(shop.small.item_id, Decimal("20.00")), (shop.large.item_id, Decimal("18.25"))]


# --- returns and exchanges ----------------------------------------------------------------


@pytest.fixture
def email_worker(smtp_outbox):
    """A worker consuming only the email queue, mailing through the smtp_outbox server."""
    with queue_worker(queues="email", env=smtp_env(smtp_outbox)) as worker:
        yield worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_return_records_sorted_items_and_emails_instructions_on_commit(shop, smtp_outbox, email_worker):
    order = make_order(
        customer=shop.customer,
        variants=[shop.medium, shop.small, shop.small],
        payment_method=shop.card,
        status="delivered",
    )
    services.order_return_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id, shop.medium.item_id, shop.small.item_id],
        payment_method_id=shop.card.payment_method_id,
    )
    order.refresh_from_db()
    assert order.status == "return requested"
    assert order.return_items == sorted([shop.small.item_id, shop.medium.item_id, shop.small.item_id])
    assert order.return_payment_method == shop.card
    assert order.payments.count() == 1  # refunded only when the parcel arrives
    [mail] = smtp_outbox.wait_for(1)
    assert mail["To"] == shop.customer.email and order.order_id in mail["Subject"]
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    assert "T-Shirt (size: S)" in parts["text/plain"] and "5–7 business days" in parts["text/plain"]
    assert "<ol>" in parts["text/html"] and order.order_id in parts["text/html"]
    assert not wait_until(lambda: len(smtp_outbox.messages) > 1, timeout=1)  # one request, one email


def test_a_refused_return_sends_no_mail(shop, django_capture_on_commit_callbacks):
    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="processed")
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuleViolation, match="hasn't been delivered|being prepared"),
    ):
        services.order_return_items(
            order_id=order.order_id, item_ids=[shop.small.item_id], payment_method_id=shop.card.payment_method_id
        )
    assert callbacks == []


def test_return_refund_goes_to_original_method_or_a_gift_card_only(shop):
    paypal = PaymentMethodFactory(customer=shop.customer, source=PaymentMethod.Source.PAYPAL)
    order = make_order(
        customer=shop.customer, variants=[shop.small, shop.medium], payment_method=shop.card, status="delivered"
    )
    with pytest.raises(RuleViolation, match="original payment method") as error:
        services.order_return_items(
            order_id=order.order_id, item_ids=[shop.small.item_id], payment_method_id=paypal.payment_method_id
        )
    assert error.value.code == "refund_method"
    with pytest.raises(InvalidInput, match="1 time"):
        services.order_return_items(
            order_id=order.order_id, item_ids=[shop.small.item_id] * 2, payment_method_id=shop.gift.payment_method_id
        )
    services.order_return_items(
        order_id=order.order_id, item_ids=[shop.medium.item_id], payment_method_id=shop.gift.payment_method_id
    )
    # Staff receive the parcel: the refund of the returned item's price is issued once.
    services.order_return_receive(order_id=order.order_id)
    assert history(order)[-1] == ("refund", Decimal("25.50"), shop.gift.payment_method_id)
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("75.50")
    with pytest.raises(RuleViolation, match="no open return"):
        services.order_return_receive(order_id=order.order_id)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_exchange_records_difference_without_charging(shop, smtp_outbox, email_worker):
    order = make_order(
        customer=shop.customer, variants=[shop.small, shop.large], payment_method=shop.card, status="delivered"
    )
    services.order_exchange_items(
        order_id=order.order_id,
        item_ids=[shop.small.item_id, shop.large.item_id],
        new_item_ids=[shop.medium.item_id, shop.small.item_id],
        payment_method_id=shop.gift.payment_method_id,
    )
    order.refresh_from_db()
    assert order.status == "exchange requested"
    assert order.exchange_items == sorted([shop.small.item_id, shop.large.item_id])
    assert order.exchange_new_items == sorted([shop.medium.item_id, shop.small.item_id])
    assert order.exchange_price_difference == Decimal("7.25")  # (25.50 − 20.00) + (20.00 − 18.25)
    assert order.payments.count() == 1
    shop.gift.refresh_from_db()
    assert shop.gift.balance == Decimal("50.00")
    [mail] = smtp_outbox.wait_for(1)
    assert "exchange" in mail["Subject"]
    with pytest.raises(RuleViolation, match="already has an exchange request"):
        services.order_return_items(
            order_id=order.order_id, item_ids=[shop.small.item_id], payment_method_id=shop.card.payment_method_id
        )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_return_instructions_retry_an_unreachable_mail_server_then_land_in_failed_tasks(shop, smtp_outbox):
    from supportbot.models import FailedTask
    from supportbot.services import failed_task_retry

    order = make_order(customer=shop.customer, variants=[shop.small], payment_method=shop.card, status="delivered")
    # Nothing listens on this port: every attempt fails to connect, is retried once, then fails.
    unreachable = {"EMAIL_URL": f"smtp://127.0.0.1:{free_port()}", "EMAIL_MAX_RETRIES": "1"}
    with queue_worker(queues="email", env=unreachable) as worker:
        services.order_return_items(
            order_id=order.order_id, item_ids=[shop.small.item_id], payment_method_id=shop.card.payment_method_id
        )
        assert wait_until(
            lambda: FailedTask.objects.filter(name="orders.send_return_instructions").exists(), timeout=60
        ), worker.log()
    failed = FailedTask.objects.get(name="orders.send_return_instructions")
    assert failed.args == [order.order_id] and "refused after 1 retries" in failed.exception
    assert "Retry in" in worker.log()  # one backoff retry before giving up

    # Staff retry it from admin once the mail server is back: the customer gets the email.
    with queue_worker(queues="email", env=smtp_env(smtp_outbox)):
        failed_task_retry(failed_task_id=failed.pk)
        [mail] = smtp_outbox.wait_for(1)
    assert mail["To"] == shop.customer.email and order.order_id in mail["Subject"]


# --- stock and restock subscriptions -------------------------------------------------------


def test_restock_subscription_is_idempotent_and_refused_for_available_items(shop):
    first = services.restock_subscription_create(customer=shop.customer, item_id=shop.sold_out.item_id)
    again = services.restock_subscription_create(customer=shop.customer, item_id=shop.sold_out.item_id)
    assert first.pk == again.pk and first.active
    with pytest.raises(RuleViolation, match="in stock now"):
        services.restock_subscription_create(customer=shop.customer, item_id=shop.small.item_id)
    with pytest.raises(NotFound):
        services.restock_subscription_create(customer=shop.customer, item_id="404")
    assert services.restock_subscription_cancel(customer=shop.customer, item_id=shop.sold_out.item_id) == 1
    assert services.restock_subscription_cancel(customer=shop.customer, item_id=shop.sold_out.item_id) == 0


def test_set_stock_refuses_negative_or_fractional_quantities_and_unknown_items(shop):
    for bad in (-1, 2.5, True):
        with pytest.raises(InvalidInput, match="whole number"):
            services.variant_set_stock(item_id=shop.sold_out.item_id, stock_quantity=bad)
    with pytest.raises(NotFound):
        services.variant_set_stock(item_id="404", stock_quantity=1)
    variant = services.variant_set_stock(item_id=shop.sold_out.item_id, stock_quantity=4)
    variant.refresh_from_db()
    assert variant.available and variant.stock_quantity == 4
