"""Prometheus metrics of the Celery jobs: outcomes, latency, queue lengths, at /metrics.

Tasks run in worker processes (several per machine, possibly several machines) while /metrics
is served by the web process, so in-process prometheus_client counters would each see only a
slice. The Celery signal handlers below therefore add to counters kept in Redis (the broker
every worker already talks to), and a custom collector turns those into Prometheus metric
families at scrape time; queue lengths are read from the broker's lists in the same pass.
prometheus_client does the exposition format.

The same task_failure handler records each task that failed for good as a FailedTask row,
which staff see (and retry) in the admin.
"""

from __future__ import annotations

import hmac
import logging
import time
import traceback as traceback_module
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import redis
from celery import signals
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from supportbot.services import failed_task_record

logger = logging.getLogger(__name__)

OUTCOMES_KEY = "supportbot:metrics:task_outcomes"
LATENCY_KEY = "supportbot:metrics:task_latency"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# kombu's Redis transport keeps a queue's prioritised messages in extra lists named
# "<queue>\x06\x16<priority>"; a queue's length is the sum over all of them.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)

_started: dict[str, float] = {}


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def _count(outcome: str, task_name: str) -> None:
    try:
        _redis().hincrby(OUTCOMES_KEY, f"{task_name}|{outcome}", 1)
    except redis.RedisError:
        # Metrics must never fail a task; a lost increment is the lesser evil.
        logger.warning("could not record task metric", extra={"task": task_name, "outcome": outcome})


def _observe_latency(task_name: str, seconds: float) -> None:
    bucket = next((str(bound) for bound in LATENCY_BUCKETS if seconds <= bound), "+Inf")
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.hincrby(LATENCY_KEY, f"{task_name}|{bucket}", 1)
        pipe.hincrbyfloat(LATENCY_KEY, f"{task_name}|sum", seconds)
        pipe.execute()
    except redis.RedisError:
        logger.warning("could not record task latency", extra={"task": task_name})


def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


def _on_postrun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    started = _started.pop(task_id or "", None)
    if started is not None and task is not None:
        _observe_latency(task.name, time.monotonic() - started)


def _on_success(sender: Any = None, **_: Any) -> None:
    if sender is not None:
        _count("succeeded", sender.name)


def _on_retry(sender: Any = None, **_: Any) -> None:
    if sender is not None:
        _count("retried", sender.name)


def _on_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    kwargs: Any = None,
    einfo: Any = None,
    **_: Any,
) -> None:
    """A task raised and will not be retried: count it and keep it for staff."""
    name = sender.name if sender is not None else "unknown"
    _count("failed", name)
    trace = (
        str(einfo) if einfo is not None else "".join(traceback_module.format_exception(exception)) if exception else ""
    )
    try:
        failed_task_record(
            task_id=task_id or "",
            name=name,
            args=args,
            kwargs=kwargs,
            exception=exception or RuntimeError("unknown failure"),
            traceback=trace,
        )
    except Exception:  # noqa: BLE001 - the worker must survive a database outage here
        logger.exception("could not record failed task", extra={"task": name, "task_id": task_id})


def connect_signals() -> None:
    """Attach the handlers (called from SupportbotConfig.ready in every process; cheap elsewhere)."""
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="supportbot.metrics.prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="supportbot.metrics.postrun")
    signals.task_success.connect(_on_success, weak=False, dispatch_uid="supportbot.metrics.success")
    signals.task_retry.connect(_on_retry, weak=False, dispatch_uid="supportbot.metrics.retry")
    signals.task_failure.connect(_on_failure, weak=False, dispatch_uid="supportbot.metrics.failure")


def _text(field: bytes | str) -> str:
    # The client returns bytes (no decode_responses); redis-py's hints allow either.
    return field.decode() if isinstance(field, bytes) else field


class CeleryMetricsCollector:
    """Reads the shared counters and the broker's queue lengths at scrape time."""

    def describe(self) -> list[Metric]:
        return []  # no metric is known before the first scrape reads Redis

    def collect(self) -> Iterator[Metric]:
        client = _redis()
        outcomes = CounterMetricFamily(
            "supportbot_celery_tasks", "Celery tasks by final outcome of each run.", labels=["task", "outcome"]
        )
        for field, value in sorted(client.hgetall(OUTCOMES_KEY).items()):
            task, _, outcome = _text(field).rpartition("|")
            outcomes.add_metric([task, outcome], float(value))
        yield outcomes

        latency = HistogramMetricFamily(
            "supportbot_celery_task_duration_seconds", "Time a task ran in the worker.", labels=["task"]
        )
        per_task: dict[str, dict[str, float]] = {}
        for field, value in client.hgetall(LATENCY_KEY).items():
            task, _, bucket = _text(field).rpartition("|")
            per_task.setdefault(task, {})[bucket] = float(value)
        for task, values in sorted(per_task.items()):
            cumulative, buckets = 0.0, []
            for bound in (*(str(b) for b in LATENCY_BUCKETS), "+Inf"):
                cumulative += values.get(bound, 0.0)
                buckets.append((bound, cumulative))
            latency.add_metric([task], buckets, sum_value=values.get("sum", 0.0))
        yield latency

        queues = GaugeMetricFamily(
            "supportbot_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        pipe = client.pipeline(transaction=False)
        names = list(settings.CELERY_QUEUES_BY_KIND)
        for name in names:
            pipe.llen(name)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{name}{_PRIORITY_SEPARATOR}{step}")
        lengths = pipe.execute()
        per_queue = 1 + len(_PRIORITY_STEPS)
        for index, name in enumerate(names):
            queues.add_metric([name], float(sum(lengths[index * per_queue : (index + 1) * per_queue])))
        yield queues


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CeleryMetricsCollector())  # type: ignore[arg-type]
    return registry


def may_read_operations_detail(request: HttpRequest) -> bool:
    """Staff, or a scraper with `Authorization: Bearer <METRICS_TOKEN>`: /metrics, /healthz details."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())
    return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for staff sessions or `Authorization: Bearer <METRICS_TOKEN>`."""
    if not may_read_operations_detail(request):
        response = HttpResponse(
            "Metrics are for staff or a scraper with the metrics token.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        body = generate_latest(_registry())
    except redis.RedisError:
        return HttpResponse("Metrics store (Redis) unavailable.\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
