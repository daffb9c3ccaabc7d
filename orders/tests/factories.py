"""factory_boy factories for the store. Each builds real rows in the test database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import factory

from orders.models import (
    Customer,
    Fulfillment,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    Product,
    Variant,
)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = factory.Sequence(lambda n: f"Avery{n}")
    last_name = "Stone"
    handle = factory.LazyAttributeSequence(lambda o, n: f"{o.first_name.lower()}_{o.last_name.lower()}_{1000 + n}")
    email = factory.LazyAttribute(lambda o: f"{o.handle}@example.com")
    address1 = "1 Main Street"
    address2 = "Apt 2"
    city = "Austin"
    state = "TX"
    country = "USA"
    zip = "78701"


class PaymentMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethod

    customer = factory.SubFactory(CustomerFactory)
    source = PaymentMethod.Source.CREDIT_CARD
    payment_method_id = factory.LazyAttributeSequence(lambda o, n: f"{o.source}_{9000000 + n}")
    brand = factory.LazyAttribute(lambda o: "visa" if o.source == PaymentMethod.Source.CREDIT_CARD else "")
    last_four = factory.LazyAttribute(lambda o: "4242" if o.source == PaymentMethod.Source.CREDIT_CARD else "")
    balance = factory.LazyAttribute(lambda o: Decimal("100.00") if o.source == PaymentMethod.Source.GIFT_CARD else None)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    product_id = factory.Sequence(lambda n: f"{7000000000 + n}")
    name = factory.Sequence(lambda n: f"Gadget {n}")
    product_type = factory.LazyAttribute(lambda o: o.name)


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    item_id = factory.Sequence(lambda n: f"{5000000000 + n}")
    options = factory.Sequence(lambda n: {"color": f"colour-{n}"})
    price = Decimal("10.00")
    stock_quantity = 10
    active = True


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    order_id = factory.Sequence(lambda n: f"#W{8000000 + n}")
    customer = factory.SubFactory(CustomerFactory)
    status = Order.Status.PENDING
    address1 = "1 Main Street"
    address2 = "Apt 2"
    city = "Austin"
    state = "TX"
    country = "USA"
    zip = "78701"


def make_order(
    *,
    customer: Customer,
    variants: list[Variant],
    payment_method: PaymentMethod,
    status: str = Order.Status.PENDING,
    **fields: Any,
) -> Order:
    """An order of `variants` (one unit each, repeats allowed) paid in one payment by `payment_method`."""
    order = cast(Order, OrderFactory(customer=customer, status=status, **fields))
    for variant in variants:
        OrderItem.objects.create(
            order=order,
            product=variant.product,
            variant=variant,
            name=variant.product.name,
            price=variant.price,
            options=variant.options,
        )
    total = sum((variant.price for variant in variants), Decimal("0"))
    PaymentTransaction.objects.create(
        order=order, transaction_type=PaymentTransaction.Type.PAYMENT, amount=total, payment_method=payment_method
    )
    if status not in (Order.Status.PENDING, Order.Status.PENDING_ITEM_MODIFIED, Order.Status.CANCELLED):
        Fulfillment.objects.create(
            order=order,
            tracking_ids=["123456789012"],
            carrier="UPS",
            item_ids=[variant.item_id for variant in variants],
            tracking_status=Fulfillment.TrackingStatus.IN_TRANSIT,
        )
    return order
