"""The dashboard's daily rollup: an exact histogram of assistant latency per sealed local day.

Why: the median and p95 answer latency are percentiles, so live they sort every answer in the
range — 500,000 for 90 days at the benchmark's size, over half the dashboard's time. A day's
answers stop arriving when the day ends, so each finished day is counted once into
(day, latency_ms, answers) rows and the dashboard reads a few thousand of those instead.

Exactness: a day is *sealed* (DashboardRollupDay) in the same transaction that builds its
histogram, while chat_message is locked against writes; from then on triggers on chat_message
(migration 0004) apply every insert, update and delete of that day's answers to the
histogram. Unsealed days — today, and any day the beat task has not reached — are computed
live by the dashboard, so figures are never stale and equal the live queries at all times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import psycopg.errors
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from chat.models import Message
from tickets.models import DailyAnswerLatency, DashboardRollupDay

# Days sealed per transaction: each holds a write lock on chat_message for its duration, so a
# first backfill of years runs in short bursts.
SEAL_BATCH_DAYS = 31
# A seal waits at most this long for in-flight message writes; on timeout the run stops and
# the next one retries, rather than queueing every chat turn behind the lock.
SEAL_LOCK_TIMEOUT = "2s"


@dataclass
class SealReport:
    sealed_days: int
    answers: int
    # Days left for the next run because message writes held the lock past SEAL_LOCK_TIMEOUT.
    deferred_days: int = 0


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def dashboard_rollup_seal(*, today: date | None = None) -> SealReport:
    """Seal every finished day from the first answered assistant message up to yesterday.

    Idempotent and safe to run concurrently (the lock serializes runs; a day is sealed once).
    Days are local days of the current time zone (settings.TIME_ZONE).
    """
    time_zone = timezone.get_current_timezone_name()
    today = today or timezone.localdate()
    first = (
        Message.objects.filter(role=Message.Role.ASSISTANT, latency_ms__isnull=False)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if first is None:
        return SealReport(sealed_days=0, answers=0)
    start = timezone.localtime(first).date()
    sealed = set(
        DashboardRollupDay.objects.filter(time_zone=time_zone, day__gte=start, day__lt=today).values_list(
            "day", flat=True
        )
    )
    missing = [
        start + timedelta(days=n) for n in range((today - start).days) if start + timedelta(days=n) not in sealed
    ]
    report = SealReport(sealed_days=0, answers=0)
    for offset in range(0, len(missing), SEAL_BATCH_DAYS):
        days = missing[offset : offset + SEAL_BATCH_DAYS]
        try:
            report.answers += _seal_days(time_zone=time_zone, days=days)
        except OperationalError as exc:
            if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise
            report.deferred_days = len(missing) - offset
            break
        report.sealed_days += len(days)
    return report


@transaction.atomic
def _seal_days(*, time_zone: str, days: list[date]) -> int:
    """Build the histogram of `days` and seal them; returns the answers counted.

    The SHARE ROW EXCLUSIVE lock is the point: it waits for every transaction that has written
    chat_message to finish and keeps new writers out until commit. Without it, a message
    deleted by a transaction that commits after our snapshot but whose trigger ran before our
    seal existed would be counted here and never subtracted. The lock also conflicts with
    itself, so two seal runs cannot interleave. Days sealed meanwhile by another run are skipped.
    """
    message_table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{SEAL_LOCK_TIMEOUT}'")
        cursor.execute(f"LOCK TABLE {message_table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            f"INSERT INTO {DashboardRollupDay._meta.db_table} (time_zone, day, sealed_at) "  # noqa: S608
            "SELECT %s, day, now() FROM unnest(%s::date[]) AS day "
            "ON CONFLICT (time_zone, day) DO NOTHING RETURNING day",
            [time_zone, days],
        )
        new_days = sorted(row[0] for row in cursor.fetchall())
        if not new_days:
            return 0
        # Table names come from model metadata; values are bound. The range bounds let the
        # partial latency index narrow the scan; the day list drops days sealed elsewhere.
        cursor.execute(
            f"INSERT INTO {DailyAnswerLatency._meta.db_table} (time_zone, day, latency_ms, answers) "  # noqa: S608
            f"SELECT %s, (created_at AT TIME ZONE %s)::date AS day, latency_ms, count(*) FROM {message_table} "
            "WHERE role = 'assistant' AND latency_ms IS NOT NULL AND created_at >= %s AND created_at < %s "
            "AND (created_at AT TIME ZONE %s)::date = ANY(%s::date[]) "
            "GROUP BY 2, 3",
            [
                time_zone,
                time_zone,
                _local_midnight(new_days[0]),
                _local_midnight(new_days[-1] + timedelta(days=1)),
                time_zone,
                new_days,
            ],
        )
        cursor.execute(
            f"SELECT coalesce(sum(answers), 0) FROM {DailyAnswerLatency._meta.db_table} "  # noqa: S608
            "WHERE time_zone = %s AND day = ANY(%s::date[])",
            [time_zone, new_days],
        )
        return int(cursor.fetchone()[0])


__all__ = ["SEAL_BATCH_DAYS", "SealReport", "dashboard_rollup_seal"]
