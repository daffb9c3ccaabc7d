from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from orders.models import PaymentMethod, RestockSubscription
from orders.tests.factories import CustomerFactory, PaymentMethodFactory, VariantFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("active", "stock", "available"), [(True, 3, True), (True, 0, False), (False, 3, False), (False, 0, False)]
)
def test_variant_is_available_only_when_active_and_in_stock(active, stock, available):
    assert VariantFactory(active=active, stock_quantity=stock).available is available


def test_only_gift_cards_carry_a_balance():
    customer = CustomerFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethodFactory(customer=customer, source=PaymentMethod.Source.CREDIT_CARD, balance=Decimal("5"))
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethodFactory(customer=customer, source=PaymentMethod.Source.GIFT_CARD, balance=None)
    card = PaymentMethodFactory(customer=customer, source=PaymentMethod.Source.GIFT_CARD, balance=Decimal("0"))
    digits = "".join(character for character in card.payment_method_id if character.isdigit())
    assert card.label == f"gift card ending {digits[-4:]}"
    assert card.payment_method_id not in card.label


def test_one_active_restock_subscription_per_customer_and_variant_but_closed_ones_may_repeat():
    customer, variant = CustomerFactory(), VariantFactory(stock_quantity=0)
    first = RestockSubscription.objects.create(customer=customer, variant=variant)
    with pytest.raises(IntegrityError), transaction.atomic():
        RestockSubscription.objects.create(customer=customer, variant=variant)
    first.close()
    first.save()
    RestockSubscription.objects.create(customer=customer, variant=variant)
    assert RestockSubscription.objects.filter(customer=customer, variant=variant).count() == 2
