"""/metrics: task counters written by a real worker, queue lengths from the broker, access rules."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from orders.tests.mail_worker import wait_until
from supportbot.celery import app
from supportbot.metrics import LATENCY_KEY, OUTCOMES_KEY, _redis
from supportbot.models import FailedTask
from supportbot.tasks import ping


@pytest.fixture
def clean_metrics():
    _redis().delete(OUTCOMES_KEY, LATENCY_KEY)
    yield
    _redis().delete(OUTCOMES_KEY, LATENCY_KEY)


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("ops", "ops@example.com", "pw-ops-12345", is_staff=True)
    client.force_login(user)
    return client


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_task_outcomes_and_latency_appear_on_metrics(celery_worker, clean_metrics, staff_client):
    ping.delay().get(timeout=30)
    ping.delay().get(timeout=30)
    # send_task skips the client-side signature check: the worker raises TypeError, for good.
    failing = app.send_task("supportbot.ping", kwargs={"unexpected": 1})
    with pytest.raises(TypeError):
        failing.get(timeout=30)

    assert wait_until(lambda: FailedTask.objects.filter(task_id=failing.id).exists())
    body = staff_client.get("/metrics").content.decode()
    assert 'supportbot_celery_tasks_total{outcome="succeeded",task="supportbot.ping"} 2.0' in body
    assert 'supportbot_celery_tasks_total{outcome="failed",task="supportbot.ping"} 1.0' in body
    assert 'supportbot_celery_task_duration_seconds_count{task="supportbot.ping"} 3.0' in body
    assert 'supportbot_celery_queue_length{queue="email"}' in body
    failed = FailedTask.objects.get(task_id=failing.id)
    assert failed.name == "supportbot.ping" and failed.kwargs == {"unexpected": 1} and "TypeError" in failed.exception


@pytest.mark.django_db
def test_queue_length_counts_waiting_messages(clean_metrics, staff_client):
    client = _redis()
    client.delete("llm")
    client.rpush("llm", "a", "b", "c")
    try:
        body = staff_client.get("/metrics").content.decode()
    finally:
        client.delete("llm")
    assert 'supportbot_celery_queue_length{queue="llm"} 3.0' in body


@pytest.mark.django_db
def test_metrics_are_refused_to_anonymous_and_customers_but_open_to_the_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 401
    customer = get_user_model().objects.create_user("shopper", "s@example.com", "pw-shop-12345")
    client.force_login(customer)
    assert client.get("/metrics").status_code == 401
    client.logout()
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
