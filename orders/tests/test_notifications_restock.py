"""Back-in-stock alerts through a real worker, the real Redis broker and a real SMTP server."""

from __future__ import annotations

import pytest
from django.db import transaction

from orders.models import EmailOptOut, RestockEvent, RestockNotification, RestockSubscription, Variant
from orders.notifications import restock_detected
from orders.services import variant_set_stock
from orders.tests.factories import CustomerFactory, VariantFactory
from orders.tests.mail_worker import MailWorker, wait_until
from supportbot.models import FailedTask
from supportbot.services import failed_task_retry

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BATCH = 10


@pytest.fixture(scope="module")
def mail_worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        worker = MailWorker(env={"RESTOCK_BATCH_SIZE": str(BATCH), "EMAIL_MAX_RETRIES": "1"})
        worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def mailbox(mail_worker):
    mail_worker.mailbox.reset()
    yield mail_worker.mailbox
    mail_worker.mailbox.release.set()


def set_stock(variant: Variant, quantity: int) -> None:
    """The staff service every stock change goes through; it reports restocks to the dispatcher."""
    variant_set_stock(item_id=variant.item_id, stock_quantity=quantity)


def subscribe(variant: Variant, count: int) -> list[RestockSubscription]:
    return [RestockSubscription.objects.create(customer=CustomerFactory(), variant=variant) for _ in range(count)]


def sent_count(variant: Variant) -> int:
    return RestockNotification.objects.filter(event__variant=variant, status=RestockNotification.Status.SENT).count()


def test_restock_with_three_subscribers_sends_exactly_three_emails(mailbox):
    variant = VariantFactory(stock_quantity=0)
    waiting = subscribe(variant, 3)
    other_variant = VariantFactory(stock_quantity=0)
    subscribe(other_variant, 1)
    opted_out = RestockSubscription.objects.create(customer=CustomerFactory(), variant=variant)
    EmailOptOut.objects.create(customer=opted_out.customer, kind=EmailOptOut.Kind.RESTOCK)

    set_stock(variant, 5)

    messages = mailbox.wait_for(3)
    assert wait_until(lambda: sent_count(variant) == 3)
    assert sorted(m["To"] for m in messages) == sorted(s.customer.email for s in waiting)
    message = messages[0]
    assert variant.product.name in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.get_payload()] == ["text/plain", "text/html"]
    assert "/notifications/unsubscribe/" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Each subscription closed after its alert; the opted-out one closed without one.
    assert set(RestockSubscription.objects.filter(variant=variant).values_list("status", flat=True)) == {"closed"}
    assert RestockSubscription.objects.get(pk=opted_out.pk).notified_at is None
    assert RestockSubscription.objects.filter(variant=other_variant, status="active").count() == 1
    # Nothing more arrives later (a second run of any task would show up here).
    assert not wait_until(lambda: len(mailbox.messages) > 3, timeout=2)


def test_no_alert_when_stock_rises_from_a_positive_quantity_or_the_change_rolls_back(mailbox):
    variant = VariantFactory(stock_quantity=2)
    subscribe(variant, 2)
    set_stock(variant, 7)
    empty = VariantFactory(stock_quantity=0)
    subscribe(empty, 2)
    with pytest.raises(RuntimeError), transaction.atomic():
        restock_detected(variant_id=empty.pk, previous=0, current=4)
        raise RuntimeError("the stock change failed after the hook ran")

    assert not wait_until(lambda: len(mailbox.messages) > 0, timeout=2)
    assert RestockEvent.objects.count() == 0


def test_two_restocks_in_quick_succession_still_send_one_email_per_subscription(mailbox):
    variant = VariantFactory(stock_quantity=0)
    waiting = subscribe(variant, 25)

    set_stock(variant, 5)
    set_stock(variant, 0)
    set_stock(variant, 3)

    assert RestockEvent.objects.filter(variant=variant).count() == 2
    assert wait_until(lambda: sent_count(variant) == 25)
    mailbox.wait_for(25)
    assert not wait_until(lambda: len(mailbox.messages) > 25, timeout=2)
    assert sorted(mailbox.recipients()) == sorted(s.customer.email for s in waiting)


def test_worker_killed_mid_batch_then_restarted_sends_no_duplicates_and_loses_none(mail_worker, mailbox):
    from orders.tasks import sweep_restock_alerts

    variant = VariantFactory(stock_quantity=0)
    waiting = subscribe(variant, 6 * BATCH)
    # The SMTP server stalls the 25th message (third batch, mid-way) until the worker is dead.
    mailbox.hold_at = 2 * BATCH + 4

    set_stock(variant, 10)
    assert mailbox.held.wait(timeout=60), "the worker never reached the middle of the third batch"
    mail_worker.kill_hard()
    mailbox.release.set()
    assert len(mailbox.messages) == 2 * BATCH + 4
    # The message the worker was sending when it died is still owed (its claim rolled back).
    assert RestockNotification.objects.filter(event__variant=variant, status="sent").count() == 2 * BATCH + 4

    mail_worker.start_worker()
    # The broker would hand the dead worker's unacknowledged task back only after its visibility
    # timeout (an hour); the periodic sweep is what picks the work up in the meantime.
    sweep_restock_alerts.delay(stale_after_seconds=0)

    assert wait_until(lambda: sent_count(variant) == 6 * BATCH, timeout=60)
    mailbox.wait_for(6 * BATCH)
    assert not wait_until(lambda: len(mailbox.messages) > 6 * BATCH, timeout=2)
    recipients = mailbox.recipients()
    assert len(recipients) == len(set(recipients)) == 6 * BATCH
    assert set(recipients) == {s.customer.email for s in waiting}


def test_refused_email_is_retried_then_recorded_as_failed_task_and_staff_can_retry_it(mailbox):
    variant = VariantFactory(stock_quantity=0)
    good, bad = subscribe(variant, 2)
    mailbox.refuse.add(bad.customer.email)

    set_stock(variant, 1)

    assert wait_until(lambda: FailedTask.objects.filter(name="orders.send_restock_alerts").exists(), timeout=60)
    failed = FailedTask.objects.get(name="orders.send_restock_alerts")
    notification = RestockNotification.objects.get(subscription=bad)
    assert failed.args == [[notification.pk]]
    assert "refused" in failed.exception and "SMTPRecipientsRefused" in failed.exception
    assert notification.status == "failed" and notification.attempts == 2  # first try + one retry
    assert mailbox.recipients() == [good.customer.email]

    mailbox.refuse.clear()
    failed_task_retry(failed_task_id=failed.pk)

    assert wait_until(lambda: RestockNotification.objects.get(pk=notification.pk).status == "sent")
    assert sorted(mailbox.recipients()) == sorted([good.customer.email, bad.customer.email])
    assert FailedTask.objects.get(pk=failed.pk).retried_at is not None
