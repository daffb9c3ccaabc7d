"""A cancelled order is announced by email, like returns and exchanges: through the email queue,
a real Celery worker and a real SMTP server, once the cancellation commits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders import services
from orders.emails import cancellation_email_send
from orders.models import PaymentMethod
from orders.tests.factories import CustomerFactory, PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from orders.tests.mail_worker import queue_worker, smtp_env, wait_until
from supportbot.errors import RuleViolation


@pytest.fixture
def shop():
    customer = CustomerFactory(first_name="Noor")
    card = PaymentMethodFactory(customer=customer, brand="visa", last_four="1234")
    gift = PaymentMethodFactory(
        customer=customer, source=PaymentMethod.Source.GIFT_CARD, payment_method_id="gift_card_8932269"
    )
    lamp = ProductFactory(name="Desk Lamp")
    warm = VariantFactory(product=lamp, price=Decimal("19.99"), options={"colour": "warm white"})
    return customer, card, gift, warm


def mail_parts(mail) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_cancellation_emails_the_items_and_each_refund_once(shop, smtp_outbox):
    customer, card, _gift, warm = shop
    order = make_order(customer=customer, variants=[warm, warm], payment_method=card)

    with queue_worker(queues="email", env=smtp_env(smtp_outbox)):
        services.order_cancel(order_id=order.order_id, reason="ordered by mistake")
        [mail] = smtp_outbox.wait_for(1)
        assert not wait_until(lambda: len(smtp_outbox.messages) > 1, timeout=1)  # one cancellation, one email

    assert mail["To"] == customer.email
    assert mail["Subject"] == f"Your order {order.order_id} is cancelled"
    parts = mail_parts(mail)
    assert set(parts) == {"text/plain", "text/html"}
    text = parts["text/plain"]
    assert "Hello Noor" in text and "(ordered by mistake)" in text
    assert text.count("Desk Lamp (colour: warm white) — $19.99") == 2
    assert "$39.98 to Visa ending 1234, within 5–7 business days" in text
    assert warm.item_id not in text and card.payment_method_id not in text  # no internal ids
    assert "$39.98 to Visa ending 1234" in parts["text/html"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_refused_cancellation_sends_nothing(shop, smtp_outbox):
    customer, card, _gift, warm = shop
    order = make_order(customer=customer, variants=[warm], payment_method=card, status="delivered")

    with queue_worker(queues="email", env=smtp_env(smtp_outbox)):
        with pytest.raises(RuleViolation):
            services.order_cancel(order_id=order.order_id, reason="no longer needed")
        assert not wait_until(lambda: len(smtp_outbox.messages) > 0, timeout=2)


@pytest.mark.django_db
def test_the_email_names_a_gift_card_by_its_last_digits_and_says_right_away(shop, smtp_outbox):
    customer, _card, gift, warm = shop
    order = make_order(customer=customer, variants=[warm], payment_method=gift)
    services.order_cancel(order_id=order.order_id, reason="no longer needed")

    assert cancellation_email_send(order_id=order.order_id) is True

    [mail] = smtp_outbox.wait_for(1)
    text = mail_parts(mail)["text/plain"]
    assert "$19.99 to gift card ending 2269, right away" in text
    assert "gift_card_8932269" not in text


@pytest.mark.django_db
def test_nothing_is_sent_for_an_order_that_is_not_cancelled(shop, smtp_outbox):
    customer, card, _gift, warm = shop
    order = make_order(customer=customer, variants=[warm], payment_method=card)

    assert cancellation_email_send(order_id=order.order_id) is False
    assert cancellation_email_send(order_id="#W0000000") is False
    assert smtp_outbox.messages == []
