"""Each dashboard metric on a small known fixture, the date-range filter, the page and CSV."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Feedback, Message, ToolCallLog
from orders.models import Cart, PaymentTransaction, RestockSubscription
from orders.models_notifications import CartReminder, RestockEvent, RestockNotification
from orders.tests.factories import OrderFactory, PaymentMethodFactory, VariantFactory
from tickets import analytics
from tickets.analytics_rollup import dashboard_rollup_seal
from tickets.models import DailyAnswerLatency, DashboardRollupDay, Ticket
from tickets.tests.conftest import PASSWORD, make_customer

pytestmark = pytest.mark.django_db

DAY1 = date(2026, 3, 2)
DAY2 = date(2026, 3, 3)
OUTSIDE = date(2026, 2, 20)
PERIOD = analytics.DateRange(start=DAY1, end=DAY2)


def at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


@pytest.fixture
def known(db):
    """4 conversations in the period (3 on day 1, 1 on day 2) and 1 outside it.

    c1: no ticket, answered, ended (idle) -> automated; intent track_order
    c2: no ticket, a restock alert set    -> automated; intent track_order
    c3: ticket (CSAT 5), a thumbs-down    -> escalated; intent refund
    c4: no ticket, still active (last activity now) -> neither; intent greeting
    c5: outside the period, ticket (CSAT 1) -> ignored everywhere
    """
    customer = make_customer()
    card = PaymentMethodFactory(customer=customer)
    make = Conversation.objects.create
    c1 = make(customer=customer, started_at=at(DAY1, 9), last_activity_at=at(DAY1, 10), intent="track_order")
    c2 = make(customer=customer, started_at=at(DAY1, 11), last_activity_at=at(DAY1, 11), intent="track_order")
    c3 = make(
        customer=customer, started_at=at(DAY1, 15), last_activity_at=at(DAY1, 16), intent="refund", status="escalated"
    )
    make(customer=customer, started_at=at(DAY2, 8), last_activity_at=timezone.now(), intent="greeting")
    c5 = make(customer=customer, started_at=at(OUTSIDE), last_activity_at=at(OUTSIDE), intent="refund")
    for conversation, score, day in ((c3, 5, DAY1), (c5, 1, OUTSIDE)):
        Ticket.objects.create(
            number=f"T-9{conversation.pk}",
            customer=customer,
            conversation=conversation,
            subject="s",
            sla_due_at=at(day, 20),
            csat_score=score,
        )
        Ticket.objects.filter(conversation=conversation).update(created_at=at(day, 16))
    # Assistant latencies in the period: 100..1000 ms (10 answers); one outside at 99999 ms.
    answers = [
        Message.objects.create(conversation=c1, role="assistant", text="a", latency_ms=ms, created_at=at(DAY1, 10))
        for ms in range(100, 1001, 100)
    ]
    Message.objects.create(conversation=c5, role="assistant", text="x", latency_ms=99_999, created_at=at(OUTSIDE))
    Message.objects.create(conversation=c3, role="assistant", text="staff", model="staff", created_at=at(DAY1, 17))
    disliked = Message.objects.create(conversation=c3, role="assistant", text="b", created_at=at(DAY1, 15))
    user = customer.user
    others = [get_user_model().objects.create_user(username=f"u{n}", password=PASSWORD) for n in range(3)]
    for voter, rating in zip([user, *others[:2]], ["up", "up", "up"], strict=True):
        Feedback.objects.create(message=answers[0], user=voter, rating=rating, created_at=at(DAY1, 10))
    Feedback.objects.create(message=disliked, user=others[2], rating="down", created_at=at(DAY1, 15))
    Feedback.objects.create(message=answers[1], user=user, rating="down", created_at=at(OUTSIDE))
    log = ToolCallLog.objects.create
    log(tool="get_order_details", ok=True, created_at=at(DAY1))
    log(tool="get_order_details", ok=True, created_at=at(DAY1))
    log(tool="get_order_details", ok=False, error_code="not_found", created_at=at(DAY2))
    log(tool="cancel_pending_order", ok=True, proposed=True, created_at=at(DAY2))
    log(tool="cancel_pending_order", ok=False, created_at=at(OUTSIDE))
    log(tool="subscribe_restock_alert", ok=True, conversation=c2, created_at=at(DAY1, 11))
    order = OrderFactory(customer=customer)
    pay = PaymentTransaction.objects.create
    pay(order=order, transaction_type="payment", amount=Decimal("80.00"), payment_method=card, created_at=at(DAY1))
    pay(order=order, transaction_type="refund", amount=Decimal("30.50"), payment_method=card, created_at=at(DAY1))
    pay(order=order, transaction_type="refund", amount=Decimal("12.25"), payment_method=card, created_at=at(DAY2))
    pay(order=order, transaction_type="refund", amount=Decimal("99.00"), payment_method=card, created_at=at(OUTSIDE))
    variant = VariantFactory()
    event = RestockEvent.objects.create(variant=variant, previous_quantity=0, new_quantity=5)
    for status, sent_at in (("sent", at(DAY1)), ("sent", at(DAY2)), ("failed", None), ("sent", at(OUTSIDE))):
        subscription = RestockSubscription.objects.create(customer=make_customer(), variant=variant, status="closed")
        RestockNotification.objects.create(
            subscription=subscription, event=event, customer=subscription.customer, status=status, sent_at=sent_at
        )
    for converted in (at(DAY1, 18), None, None):
        cart = Cart.objects.create(customer=customer, status=Cart.Status.ABANDONED)
        CartReminder.objects.create(
            cart=cart, customer=customer, sequence=1, status="sent", sent_at=at(DAY1), converted_at=converted
        )
    return customer


def test_conversations_per_day_is_zero_filled(known):
    assert analytics.conversations_per_day(period=PERIOD) == [(DAY1, 3), (DAY2, 1)]
    longer = analytics.DateRange(start=DAY1 - timedelta(days=1), end=DAY2)
    assert analytics.conversations_per_day(period=longer)[0] == (DAY1 - timedelta(days=1), 0)


def test_resolution_and_escalation_rates(known):
    outcomes = analytics.conversation_outcomes(period=PERIOD)
    assert (outcomes.total, outcomes.escalated, outcomes.automated) == (4, 1, 2)
    assert outcomes.automated_resolution_rate == 0.5 and outcomes.escalation_rate == 0.25


def test_resolved_by_the_assistant_follows_the_stated_definition(db):
    """Each rule of analytics.RESOLUTION_DEFINITION, one conversation per case, on a day of its own."""
    customer = make_customer()
    day = date(2026, 4, 6)
    idle, active = at(day, 9), timezone.now()

    def case(*, last_activity, answered: bool = False, thumbs_down: bool = False, ticket: bool = False):
        conversation = Conversation.objects.create(
            customer=customer, started_at=at(day, 8), last_activity_at=last_activity
        )
        if answered:
            answer = Message.objects.create(
                conversation=conversation, role="assistant", text="Here it is.", latency_ms=50, created_at=at(day, 8)
            )
            if thumbs_down:
                Feedback.objects.create(message=answer, user=customer.user, rating="down", created_at=at(day, 8))
        if ticket:
            Ticket.objects.create(
                number=f"T-8{conversation.pk}",
                customer=customer,
                conversation=conversation,
                subject="s",
                sla_due_at=idle,
            )
        return conversation

    def acted(conversation, **fields):
        ToolCallLog.objects.create(conversation=conversation, created_at=at(day, 8), **fields)

    resolved = [
        case(last_activity=idle, answered=True),  # answered and left there
        case(last_activity=active),  # still talking, but a confirmed cancellation ran
        case(last_activity=active),  # a restock alert was set
    ]
    acted(resolved[1], tool="cancel_pending_order", ok=True, source="confirmation")
    acted(resolved[2], tool="subscribe_restock_alert", ok=True, source="offline")
    case(last_activity=idle, answered=True, thumbs_down=True)  # the customer disliked the answer
    case(last_activity=active, answered=True)  # the customer may still write back
    case(last_activity=idle, answered=True, ticket=True)  # a person took over
    proposed_only, failed = case(last_activity=active), case(last_activity=active)
    acted(proposed_only, tool="cancel_pending_order", ok=True, proposed=True, source="offline")
    acted(failed, tool="cancel_pending_order", ok=False, source="confirmation")

    outcomes = analytics.conversation_outcomes(period=analytics.DateRange(start=day, end=day))

    assert (outcomes.total, outcomes.automated, outcomes.escalated) == (8, 3, 1)
    assert "no thumbs-down" in analytics.RESOLUTION_DEFINITION and "restock alert" in analytics.RESOLUTION_DEFINITION


def test_the_actions_that_count_without_a_confirmation_are_the_registrys_unconfirmed_acting_tools():
    from assistant.tools import REGISTRY

    assert set(analytics.UNCONFIRMED_ACTION_TOOLS) <= set(REGISTRY)
    assert not any(REGISTRY[name].consequential for name in analytics.UNCONFIRMED_ACTION_TOOLS)


def test_intents_and_tools_read_as_words():
    assert analytics.intent_name("track_order") == "Track order"
    assert analytics.intent_name("contact_human_agent") == "Ask for a person"
    assert analytics.tool_name("return_delivered_order_items") == "Return items"
    assert analytics.tool_name("some_new_tool") == "Some new tool"


def test_csat_average_and_distribution(known):
    satisfaction = analytics.csat(period=PERIOD)
    assert satisfaction.rated == 1 and satisfaction.average == 5.0
    assert satisfaction.distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1}
    wide = analytics.csat(period=analytics.DateRange(start=OUTSIDE, end=DAY2))
    assert wide.average == 3.0 and wide.distribution[1] == 1


def test_thumbs_ratio(known):
    result = analytics.thumbs(period=PERIOD)
    assert (result.up, result.down, result.up_ratio) == (3, 1, 0.75)


def test_latency_percentiles(known):
    latency = analytics.assistant_latency(period=PERIOD)
    # percentile_cont over 100..1000: median 550, p95 = 900 + 0.55 * 100
    assert latency.answers == 10 and latency.median_ms == pytest.approx(550) and latency.p95_ms == pytest.approx(955)


def test_top_intents(known):
    assert analytics.top_intents(period=PERIOD) == [("track_order", 2), ("greeting", 1), ("refund", 1)]


def test_tool_usage_and_failure_rates(known):
    rows = {row.tool: row for row in analytics.tool_usage(period=PERIOD)}
    assert (rows["get_order_details"].calls, rows["get_order_details"].failures) == (3, 1)
    assert rows["get_order_details"].failure_rate == pytest.approx(1 / 3)
    assert (
        rows["cancel_pending_order"].calls,
        rows["cancel_pending_order"].failures,
        rows["cancel_pending_order"].proposed,
    ) == (1, 0, 1)


def test_refunds_issued(known):
    refunds = analytics.refunds_issued(period=PERIOD)
    assert refunds.count == 2 and refunds.amount == Decimal("42.75")


def test_restock_alerts_and_cart_recoveries(known):
    jobs = analytics.email_jobs(period=PERIOD)
    assert (jobs.restock_alerts_sent, jobs.cart_reminders_sent, jobs.cart_recoveries) == (2, 3, 1)
    assert jobs.cart_recovery_rate == pytest.approx(1 / 3)


def test_empty_period_has_no_rates_rather_than_errors(db):
    data = analytics.dashboard(period=analytics.DateRange(start=DAY1, end=DAY1))
    assert data.outcomes.total == 0 and data.outcomes.escalation_rate is None
    assert data.latency.median_ms is None and data.thumbs.up_ratio is None and data.refunds.amount == Decimal("0.00")


def test_dashboard_is_a_fixed_number_of_queries(known, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        analytics.dashboard(period=PERIOD)
    dashboard_rollup_seal()
    with django_assert_max_num_queries(8):  # sealed days change no query count
        analytics.dashboard(period=analytics.DateRange(start=OUTSIDE, end=DAY2))


def test_conversation_figures_come_from_one_pass_and_respect_now(known, django_assert_num_queries):
    with django_assert_num_queries(1):
        activity = analytics.conversation_activity(period=PERIOD)
    assert activity.per_day == [(DAY1, 3), (DAY2, 1)] and activity.intents[0] == ("track_order", 2)
    # Seen from 10:20 on day 1, c1's answer (last activity 10:00) has not been left for 30 minutes
    # yet; c2's restock alert counts at once.
    early = analytics.conversation_outcomes(period=PERIOD, now=at(DAY1, 10) + timedelta(minutes=20))
    assert (early.total, early.escalated, early.automated) == (4, 1, 1)
    assert analytics.conversation_activity(period=analytics.DateRange(start=OUTSIDE, end=OUTSIDE)).intents == [
        ("refund", 1)
    ]
    empty = analytics.conversation_activity(
        period=analytics.DateRange(start=OUTSIDE - timedelta(days=3), end=OUTSIDE - timedelta(days=1))
    )
    assert empty.per_day[0][1] == 0 and (empty.outcomes.total, empty.intents) == (0, [])


# --- the latency rollup ---------------------------------------------------------------------


def _latency_everywhere() -> list[tuple[analytics.Latency, analytics.Latency]]:
    periods = [PERIOD, analytics.DateRange(start=DAY1, end=DAY1), analytics.DateRange(start=OUTSIDE, end=DAY2)]
    return [(analytics.assistant_latency(period=p), analytics.assistant_latency_live(period=p)) for p in periods]


def test_rollup_gives_the_live_figures_on_the_fixture(known):
    report = dashboard_rollup_seal(today=DAY2)  # day 2 stays live: a sealed day and a live one
    assert report.sealed_days == (DAY2 - OUTSIDE).days and report.answers == 11
    assert DailyAnswerLatency.objects.filter(day=DAY1).count() == 10
    rolled = analytics.assistant_latency(period=PERIOD)
    assert rolled.answers == 10 and rolled.median_ms == 550.0 and rolled.p95_ms == pytest.approx(955)
    for from_rollup, live in _latency_everywhere():
        assert from_rollup == live

    dashboard_rollup_seal()  # now every finished day, day 2 included
    assert DashboardRollupDay.objects.filter(day=DAY2).exists()
    for from_rollup, live in _latency_everywhere():
        assert from_rollup == live


def test_sealed_days_are_read_from_the_rollup(known):
    dashboard_rollup_seal()
    # Tampering with the histogram shows the figures come from it, not from chat_message.
    DailyAnswerLatency.objects.filter(day=DAY1, latency_ms=1000).update(answers=11)
    latency = analytics.assistant_latency(period=PERIOD)
    assert latency.answers == 20 and latency.p95_ms == 1000.0
    assert analytics.assistant_latency_live(period=PERIOD).answers == 10


def test_writes_to_sealed_days_keep_the_rollup_exact(known):
    dashboard_rollup_seal()
    conversation = Conversation.objects.get(intent="refund", started_at__date=DAY1)
    # A late insert, a bulk one, an update and deletes (direct and by cascade) into sealed days.
    Message.objects.create(
        conversation=conversation, role="assistant", text="late", latency_ms=5000, created_at=at(DAY1, 23)
    )
    Message.objects.bulk_create(
        [
            Message(conversation=conversation, role="assistant", text="b", latency_ms=ms, created_at=at(DAY2, 9))
            for ms in (7, 7, 8)
        ]
    )
    for from_rollup, live in _latency_everywhere():
        assert from_rollup == live
    Message.objects.filter(latency_ms=7).update(latency_ms=70_000)
    Message.objects.filter(latency_ms=8).update(created_at=at(DAY1, 1))  # moves to another sealed day
    Message.objects.filter(latency_ms__in=[100, 200]).delete()
    for from_rollup, live in _latency_everywhere():
        assert from_rollup == live
    Conversation.objects.filter(started_at__date=DAY1).delete()  # cascades to the answers
    for from_rollup, live in _latency_everywhere():
        assert from_rollup == live
    assert analytics.assistant_latency(period=PERIOD).answers == 0
    # Emptied histogram rows go too: the dashboard never reads a day's past latencies.
    assert not DailyAnswerLatency.objects.filter(day__in=[DAY1, DAY2]).exists()


def test_sealing_twice_counts_nothing_twice(known):
    first = dashboard_rollup_seal()
    histogram = sorted(DailyAnswerLatency.objects.values_list("day", "latency_ms", "answers"))
    again = dashboard_rollup_seal()
    assert first.sealed_days > 0 and (again.sealed_days, again.answers) == (0, 0)
    assert sorted(DailyAnswerLatency.objects.values_list("day", "latency_ms", "answers")) == histogram


def test_a_busy_message_table_defers_sealing_rather_than_queueing_chat_behind_it(known, monkeypatch):
    import psycopg
    from django.db import connection

    from tickets import analytics_rollup

    monkeypatch.setattr(analytics_rollup, "SEAL_LOCK_TIMEOUT", "200ms")
    # Another session in the middle of writing messages (a chat turn): it holds ROW EXCLUSIVE.
    with psycopg.connect(**connection.get_connection_params()) as writer:
        writer.execute(f"LOCK TABLE {Message._meta.db_table} IN ROW EXCLUSIVE MODE")
        report = dashboard_rollup_seal()
    assert (report.sealed_days, report.deferred_days) == (0, (timezone.localdate() - OUTSIDE).days)
    assert not DashboardRollupDay.objects.exists()
    assert dashboard_rollup_seal().sealed_days == (timezone.localdate() - OUTSIDE).days  # the next run catches up


def test_rollup_days_follow_the_time_zone(known):
    """Days are local days: sealed in one zone, the figures in another zone stay live and exact."""
    with timezone.override("America/New_York"):
        dashboard_rollup_seal()
        for from_rollup, live in _latency_everywhere():
            assert from_rollup == live
    assert set(DashboardRollupDay.objects.values_list("time_zone", flat=True)) == {"America/New_York"}
    Message.objects.filter(latency_ms=100).delete()
    for from_rollup, live in _latency_everywhere():  # UTC: nothing sealed, all live
        assert from_rollup == live
    with timezone.override("America/New_York"):
        for from_rollup, live in _latency_everywhere():
            assert from_rollup == live


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_seals_finished_days_in_a_worker(known, celery_worker):
    from tickets.tasks import seal_dashboard_rollup

    seal_dashboard_rollup.delay()
    deadline = time.monotonic() + 30
    while not DashboardRollupDay.objects.filter(day=DAY1).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert DashboardRollupDay.objects.filter(day=DAY1).exists()
    for from_rollup, live in _latency_everywhere():
        assert from_rollup == live


def test_dashboard_page_and_csv_for_a_lead(client, known, lead):
    assert client.login(username=lead.username, password=PASSWORD)
    params = {"start": DAY1.isoformat(), "end": DAY2.isoformat()}
    page = client.get(reverse("admin:tickets_dashboard"), params).content.decode()
    assert "Automated resolution rate" in page and "50.0%" in page and "25.0%" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in page and '<title id="chart-per-day-title">' in page
    assert "<caption>Conversations per day</caption>" in page

    response = client.get(reverse("admin:tickets_dashboard_csv"), params)
    assert response["Content-Type"].startswith("text/csv")
    rows = {
        (section, key): value for section, key, value in list(csv.reader(io.StringIO(response.content.decode())))[1:]
    }
    assert rows[("conversations", "total")] == "4" and rows[("refunds", "amount")] == "42.75"
    assert rows[("latency", "p95_ms")] == "955.0" and rows[("tool:get_order_details", "failures")] == "1"


def test_a_reversed_date_range_is_refused_clearly(client, lead):
    assert client.login(username=lead.username, password=PASSWORD)
    page = client.get(reverse("admin:tickets_dashboard"), {"start": "2026-03-05", "end": "2026-03-01"}).content.decode()
    assert "The start date is after the end date." in page
