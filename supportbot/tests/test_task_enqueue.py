"""Enqueueing while the broker is down: the request succeeds, the job is recorded as unsent, and
`requeue_unsent_tasks` sends it exactly once when the broker is back.

"Down" is real: the Celery app's broker is pointed at a unix socket / TCP port nothing listens on
(see `broker_down`); "back" is the real test Redis with a real worker process.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django_celery_beat.models import PeriodicTask

from conftest import free_port
from supportbot.celery import app
from supportbot.models import FailedTask
from supportbot.services import (
    UNSENT_PREFIX,
    BrokerUnavailable,
    failed_task_retry,
    task_enqueue,
    task_enqueue_on_commit,
    unsent_tasks_requeue,
)
from supportbot.tasks import ping

UNSENT_PING = f"{UNSENT_PREFIX}supportbot.ping"


@pytest.fixture(params=["unix-socket", "tcp-port"])
def broker_down(request, tmp_path) -> Iterator[str]:
    """Point the real Celery app at a broker address where nothing listens, then restore it.

    The app caches its connection and producer pools; they are dropped so the next publish
    connects to the dead address, and put back afterwards so later tests use the real broker.
    """
    dead = (
        f"redis+socket://{tmp_path}/nothing.sock"
        if request.param == "unix-socket"
        else f"redis://127.0.0.1:{free_port()}/0"
    )
    saved = (app.conf.broker_url, app.amqp._producer_pool, app._pool)
    app.conf.broker_url = dead
    app.amqp._producer_pool = None
    app._pool = None
    try:
        yield dead
    finally:
        app.conf.broker_url, app.amqp._producer_pool, app._pool = saved


def _unsent_pings(count: int) -> list[FailedTask]:
    return [
        FailedTask.objects.create(
            task_id=UNSENT_PING, name="supportbot.ping", args=[], kwargs={}, exception="OperationalError: down"
        )
        for _ in range(count)
    ]


@pytest.mark.django_db
def test_with_the_broker_down_task_enqueue_records_an_unsent_task_within_a_second(broker_down):
    started = time.monotonic()
    sent = task_enqueue(ping)
    elapsed = time.monotonic() - started

    assert sent is False
    assert elapsed < 1.0, f"publishing to a dead broker took {elapsed:.2f} s"
    failed = FailedTask.objects.get()
    assert (failed.task_id, failed.name, failed.args, failed.kwargs) == (UNSENT_PING, "supportbot.ping", [], {})
    assert failed.exception.startswith("OperationalError") and "connecting" in failed.exception
    assert failed.retried_at is None


@pytest.mark.django_db(transaction=True)
def test_on_commit_enqueue_records_after_commit_and_nothing_for_a_rolled_back_change(broker_down):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            task_enqueue_on_commit(ping)
            raise RuntimeError("roll back")
    assert not FailedTask.objects.exists()

    with transaction.atomic():
        task_enqueue_on_commit(ping)
        assert not FailedTask.objects.exists()  # nothing is attempted before the commit
    assert FailedTask.objects.filter(task_id=UNSENT_PING).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_webhook_request_that_queues_a_job_answers_200_with_the_broker_down(client, settings, broker_down):
    from whatsapp.models import InboundEvent
    from whatsapp.tests.conftest import APP_SECRET, notification, post_webhook, text_message

    settings.WHATSAPP_APP_SECRET = APP_SECRET
    started = time.monotonic()
    response = post_webhook(client, notification(messages=[text_message("15551230000", "Where is my order?")]))
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.content[:300]
    assert elapsed < 2.0, f"the request took {elapsed:.2f} s"  # one failed publish costs ~10 ms; the rest is the view
    event = InboundEvent.objects.get()
    failed = FailedTask.objects.get()
    assert (failed.task_id, failed.name, failed.args) == (
        f"{UNSENT_PREFIX}whatsapp.process_inbound_event",
        "whatsapp.process_inbound_event",
        [event.pk],
    )


@pytest.mark.django_db
def test_requeue_with_the_broker_still_down_sends_nothing_and_marks_nothing(broker_down):
    rows = _unsent_pings(2)

    assert unsent_tasks_requeue() == 0
    assert not FailedTask.objects.filter(pk__in=[row.pk for row in rows], retried_at__isnull=False).exists()
    with pytest.raises(BrokerUnavailable):
        failed_task_retry(failed_task_id=rows[0].pk)
    assert FailedTask.objects.get(pk=rows[0].pk).retried_at is None


@pytest.mark.django_db(transaction=True)
def test_requeue_sends_each_unsent_task_exactly_once_even_when_two_runs_overlap(celery_worker):
    rows = _unsent_pings(30)
    # A task that ran and failed is not the beat's business: staff retry those.
    worker_failure = FailedTask.objects.create(task_id="abc", name="supportbot.ping", exception="ValueError: boom")
    counts: list[int] = []

    def run() -> None:
        try:
            counts.append(unsent_tasks_requeue())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(counts) == 30
    sent = FailedTask.objects.filter(pk__in=[row.pk for row in rows])
    task_ids = list(sent.values_list("retry_task_id", flat=True))
    assert all(task_ids) and len(set(task_ids)) == 30
    assert not sent.filter(retried_at__isnull=True).exists()
    assert FailedTask.objects.get(pk=worker_failure.pk).retried_at is None
    assert unsent_tasks_requeue() == 0  # nothing left: a later beat tick sends nothing again

    # The real worker received and ran every re-sent task exactly once.
    def succeeded() -> list[str]:
        return re.findall(r"Task supportbot\.ping\[([0-9a-f-]+)\] succeeded", celery_worker.log())

    deadline = time.monotonic() + 60
    while not set(task_ids) <= set(succeeded()) and time.monotonic() < deadline:
        time.sleep(0.2)
    ran = [task_id for task_id in succeeded() if task_id in set(task_ids)]
    assert sorted(ran) == sorted(task_ids)


@pytest.mark.django_db
def test_the_beat_schedule_runs_the_requeue_every_minute_on_the_default_queue():
    periodic = PeriodicTask.objects.get(task="supportbot.requeue_unsent_tasks")
    assert periodic.enabled and (periodic.interval.every, periodic.interval.period) == (1, "minutes")
    assert app.amqp.router.route({}, "supportbot.requeue_unsent_tasks")["queue"].name == "default"


@pytest.mark.django_db
def test_admin_tells_unsent_from_failed_and_a_retry_with_the_broker_down_says_so(admin_client, broker_down):
    unsent = _unsent_pings(1)[0]
    FailedTask.objects.create(task_id="abc", name="orders.send_restock_alerts", exception="SMTPRecipientsRefused: no")

    def kinds(query: str) -> list[str]:
        page = admin_client.get(f"/admin/supportbot/failedtask/{query}").content.decode()
        return re.findall(r'class="field-kind">([^<]*)<', page)

    assert sorted(kinds("")) == ["Failed", "Unsent — waiting for the broker"]
    assert kinds("?kind=unsent") == ["Unsent — waiting for the broker"]
    assert kinds("?kind=failed") == ["Failed"]

    response = admin_client.post(
        "/admin/supportbot/failedtask/", {"action": "retry", "_selected_action": [unsent.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "unreachable, so nothing was sent again" in response.content.decode()
    assert FailedTask.objects.get(pk=unsent.pk).retried_at is None
