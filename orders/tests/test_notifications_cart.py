"""Cart recovery: the selection's exclusion rules (database only) and the emails (real worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orders.models import Cart, CartItem, CartReminder, EmailOptOut
from orders.notifications import (
    cart_conversions_record,
    cart_recovery_run,
    cart_recovery_stats,
    carts_due_first_reminder,
    carts_due_first_reminder_queryset,
    reminders_due_second,
)
from orders.tests.factories import CustomerFactory, OrderFactory, VariantFactory
from orders.tests.mail_worker import MailWorker, wait_until


def make_cart(*, idle: timedelta, items: int = 1, customer=None, status: str = Cart.Status.OPEN) -> Cart:
    touched = timezone.now() - idle
    cart = Cart.objects.create(
        customer=customer or CustomerFactory(), status=status, created_at=touched, updated_at=touched
    )
    for _ in range(items):
        CartItem.objects.create(cart=cart, variant=VariantFactory(), quantity=2)
    return cart


def due_ids() -> list[int]:
    return [pk for pk, _ in carts_due_first_reminder(now=timezone.now())]


@pytest.mark.django_db
class TestFirstReminderSelection:
    def test_an_idle_cart_with_items_is_due(self):
        cart = make_cart(idle=timedelta(hours=5))
        assert due_ids() == [cart.pk]

    def test_a_cart_idle_for_less_than_cart_abandon_after_is_not_due(self, settings):
        settings.CART_ABANDON_AFTER = timedelta(hours=4)
        make_cart(idle=timedelta(hours=3, minutes=59))
        assert due_ids() == []

    def test_an_empty_cart_is_not_due(self):
        make_cart(idle=timedelta(hours=5), items=0)
        assert due_ids() == []

    def test_a_cart_whose_customer_ordered_since_is_not_due(self):
        cart = make_cart(idle=timedelta(hours=5))
        OrderFactory(customer=cart.customer, created_at=timezone.now() - timedelta(hours=1))
        assert due_ids() == []

    def test_an_order_placed_before_the_cart_was_last_touched_does_not_exclude_it(self):
        cart = make_cart(idle=timedelta(hours=5))
        OrderFactory(customer=cart.customer, created_at=timezone.now() - timedelta(days=3))
        assert due_ids() == [cart.pk]

    def test_an_already_reminded_cart_is_not_due(self):
        cart = make_cart(idle=timedelta(hours=5))
        Cart.objects.filter(pk=cart.pk).update(reminder_sent_at=timezone.now())
        assert due_ids() == []

    def test_a_customer_who_opted_out_is_not_reminded(self):
        cart = make_cart(idle=timedelta(hours=5))
        EmailOptOut.objects.create(customer=cart.customer, kind=EmailOptOut.Kind.CART)
        assert due_ids() == []
        # Opting out of restock alerts is a different choice.
        other = make_cart(idle=timedelta(hours=5))
        EmailOptOut.objects.create(customer=other.customer, kind=EmailOptOut.Kind.RESTOCK)
        assert due_ids() == [other.pk]

    def test_ordered_and_abandoned_status_carts_are_not_due(self):
        make_cart(idle=timedelta(hours=5), status=Cart.Status.ORDERED)
        make_cart(idle=timedelta(hours=5), status=Cart.Status.ABANDONED)
        assert due_ids() == []

    def test_batches_walk_every_due_cart_once_in_idle_order(self, django_assert_max_num_queries):
        carts = [make_cart(idle=timedelta(hours=5 + n)) for n in range(7)]
        seen: list[int] = []
        after = None
        from orders.notifications.cart_recovery import Cursor

        while True:
            with django_assert_max_num_queries(1):
                rows = carts_due_first_reminder(now=timezone.now(), after=after, limit=3)
            if not rows:
                break
            seen += [pk for pk, _ in rows]
            after = Cursor(at=rows[-1][1], pk=rows[-1][0])
        assert seen == [c.pk for c in reversed(carts)]

    def test_the_selection_uses_the_recovery_index(self):
        make_cart(idle=timedelta(hours=5))
        with connection.cursor() as cursor:
            # On a handful of rows the planner rightly prefers a scan; forbid it to see the index.
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = carts_due_first_reminder_queryset(now=timezone.now())[:500].explain()
        assert "orders_cart_recovery_due" in plan


@pytest.mark.django_db
class TestSecondReminderSelection:
    def _first_sent(self, *, hours_ago: float) -> CartReminder:
        cart = make_cart(idle=timedelta(hours=hours_ago + 5))
        sent = timezone.now() - timedelta(hours=hours_ago)
        Cart.objects.filter(pk=cart.pk).update(reminder_sent_at=sent)
        return CartReminder.objects.create(
            cart=cart,
            customer=cart.customer,
            sequence=1,
            status=CartReminder.Status.SENT,
            created_at=sent,
            sent_at=sent,
        )

    def test_due_after_cart_second_reminder_after(self, settings):
        settings.CART_SECOND_REMINDER_AFTER = timedelta(hours=24)
        due = self._first_sent(hours_ago=25)
        self._first_sent(hours_ago=23)
        assert [pk for pk, _ in reminders_due_second(now=timezone.now())] == [due.pk]

    def test_zero_disables_the_second_reminder(self, settings):
        settings.CART_SECOND_REMINDER_AFTER = timedelta(0)
        self._first_sent(hours_ago=48)
        assert reminders_due_second(now=timezone.now()) == []

    def test_a_cart_touched_after_the_first_reminder_or_ordered_since_is_not_due(self):
        touched = self._first_sent(hours_ago=30)
        Cart.objects.filter(pk=touched.cart_id).update(updated_at=timezone.now())
        ordered = self._first_sent(hours_ago=30)
        OrderFactory(customer=ordered.customer, created_at=timezone.now())
        already = self._first_sent(hours_ago=30)
        CartReminder.objects.create(cart=already.cart, customer=already.customer, sequence=2)
        assert reminders_due_second(now=timezone.now()) == []


@pytest.mark.django_db
def test_opening_the_restore_link_touches_the_cart_so_no_second_reminder_follows(client, settings):
    from orders.notifications.links import cart_restore_token

    settings.CART_SECOND_REMINDER_AFTER = timedelta(hours=24)
    sent = timezone.now() - timedelta(hours=30)
    carts = [make_cart(idle=timedelta(hours=35)) for _ in range(2)]
    reminders = []
    for cart in carts:
        Cart.objects.filter(pk=cart.pk).update(reminder_sent_at=sent)
        reminders.append(
            CartReminder.objects.create(
                cart=cart,
                customer=cart.customer,
                sequence=1,
                status=CartReminder.Status.SENT,
                created_at=sent,
                sent_at=sent,
            )
        )
    came_back, untouched = reminders
    assert sorted(pk for pk, _ in reminders_due_second(now=timezone.now())) == sorted(r.pk for r in reminders)

    token = cart_restore_token(cart_id=came_back.cart_id, reminder_id=came_back.pk)
    assert client.get(f"/notifications/cart/{token}/").status_code == 200

    assert Cart.objects.get(pk=came_back.cart_id).updated_at > sent
    assert CartReminder.objects.get(pk=came_back.pk).restored_at is not None
    assert [pk for pk, _ in reminders_due_second(now=timezone.now())] == [untouched.pk]
    assert cart_recovery_run()["second_reminders"] == 1
    assert list(CartReminder.objects.filter(sequence=2).values_list("cart_id", flat=True)) == [untouched.cart_id]


@pytest.mark.django_db
def test_conversions_are_recorded_for_carts_ordered_after_the_reminder():
    converted = make_cart(idle=timedelta(hours=30))
    sent = timezone.now() - timedelta(hours=20)
    reminder = CartReminder.objects.create(
        cart=converted, customer=converted.customer, sequence=1, status="sent", sent_at=sent
    )
    quiet = make_cart(idle=timedelta(hours=30))
    CartReminder.objects.create(cart=quiet, customer=quiet.customer, sequence=1, status="sent", sent_at=sent)
    OrderFactory(customer=converted.customer, created_at=timezone.now() - timedelta(hours=2))

    assert cart_conversions_record() == 1
    assert CartReminder.objects.get(pk=reminder.pk).converted_at is not None
    assert cart_recovery_stats(since=timezone.now() - timedelta(days=1)) == {"sent": 2, "restored": 0, "converted": 1}


@pytest.fixture(scope="module")
def mail_worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        worker = MailWorker()
        worker.start()
    yield worker
    worker.stop()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_recovery_run_mails_each_due_cart_once_with_a_working_restore_link(mail_worker, client):
    mailbox = mail_worker.mailbox
    mailbox.reset()
    due = make_cart(idle=timedelta(hours=6), items=2)
    make_cart(idle=timedelta(hours=1))  # not idle long enough

    assert cart_recovery_run()["first_reminders"] == 1
    assert cart_recovery_run()["first_reminders"] == 0  # already claimed: never twice

    messages = mailbox.wait_for(1)
    assert wait_until(lambda: CartReminder.objects.filter(cart=due, status="sent").exists())
    assert not wait_until(lambda: len(mailbox.messages) > 1, timeout=2)
    assert [m["To"] for m in messages] == [due.customer.email]
    text = messages[0].get_payload()[0].get_payload(decode=True).decode()
    restore = next(word for word in text.split() if "/notifications/cart/" in word)
    path = restore.split("://", 1)[1].split("/", 1)[1]

    response = client.get("/" + path)
    assert response.status_code == 200
    assert due.items.first().variant.product.name in response.content.decode()
    assert CartReminder.objects.get(cart=due).restored_at is not None
    token = path.rstrip("/").rsplit("/", 1)[1]
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    tampered = f"/notifications/cart/{tampered}/"
    assert client.get(tampered).status_code == 400
