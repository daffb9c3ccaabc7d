import os

import pytest

from supportbot.tasks import ping


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_task_runs_in_a_real_worker_process_over_the_broker(celery_worker, settings):
    from django.db import connection

    result = ping.delay()
    payload = result.get(timeout=30)
    # The worker answered from its own process, on the test database.
    assert payload["pid"] != os.getpid()
    assert payload["database"] == connection.settings_dict["NAME"]
    assert result.successful()
    assert "supportbot.ping" in celery_worker.log()


def test_queues_by_kind_of_work_are_declared():
    from supportbot.celery import app

    assert {queue.name for queue in app.conf.task_queues} == {"default", "email", "embeddings", "llm"}
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit


def test_each_queue_has_its_own_routing_key():
    from supportbot.celery import app

    keys = {queue.name: queue.routing_key for queue in app.conf.task_queues}
    assert keys == {"default": "default", "email": "email", "embeddings": "embeddings", "llm": "llm"}
    router = app.amqp.router
    assert router.route({}, "orders.send_return_instructions")["queue"].name == "email"
    assert router.route({}, "knowledge.reindex_document")["queue"].name == "embeddings"
    assert router.route({}, "supportbot.ping")["queue"].name == "default"
