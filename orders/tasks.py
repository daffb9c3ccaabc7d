"""Celery tasks of the store: thin wrappers taking ids and calling one notifications service.

Task names decide the queue (supportbot/celery.py routes "*.send_*" to the email queue): the
dispatch and sweep jobs run on "default", every task that talks to the mail server on "email".
Workers run with acks_late and reject_on_worker_lost, so any of these may run twice; the ledger
rows in orders.notifications make that harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from orders import emails, notifications
from orders.notifications.ledger import TRANSIENT_EMAIL_ERRORS, SendOutcome

# Seconds of the first retry of a refused email; doubles per attempt (full jitter), capped.
EMAIL_RETRY_BACKOFF = 2
EMAIL_RETRY_BACKOFF_MAX = 600


class EmailRefusedError(Exception):
    """The mail server kept refusing some messages after every retry."""


def _retry_refused(task: Task, outcome: SendOutcome, *, ids: Sequence[int], name: str) -> dict[str, int]:
    """Retry only the refused ids, with exponential backoff; give up (task fails) after the last."""
    if not outcome.failed:
        return {"sent": len(outcome.sent), "skipped": len(outcome.skipped)}
    if task.request.retries >= settings.EMAIL_MAX_RETRIES:
        raise EmailRefusedError(
            f"{name}: {len(outcome.failed)} email(s) refused after {task.request.retries} retries: {outcome.last_error}"
        )
    countdown = get_exponential_backoff_interval(
        factor=EMAIL_RETRY_BACKOFF, retries=task.request.retries, maximum=EMAIL_RETRY_BACKOFF_MAX, full_jitter=True
    )
    raise task.retry(args=(outcome.failed,), countdown=countdown, max_retries=settings.EMAIL_MAX_RETRIES)


def _send_or_retry(task: Task, send: Any, ids: list[int], *, name: str) -> dict[str, int]:
    try:
        outcome = send(ids)
    except TRANSIENT_EMAIL_ERRORS as exc:
        # The mail server could not be reached at all: every id is still pending; retry them all.
        outcome = SendOutcome(failed=list(ids), last_error=f"{type(exc).__name__}: {exc}")
    return _retry_refused(task, outcome, ids=ids, name=name)


def _retry_email(task: Task, exc: BaseException, *, name: str) -> NoReturn:
    """Retry one refused/unreachable email with exponential backoff; fail (FailedTask) after the last."""
    if task.request.retries >= settings.EMAIL_MAX_RETRIES:
        raise EmailRefusedError(
            f"{name}: refused after {task.request.retries} retries: {type(exc).__name__}: {exc}"
        ) from exc
    countdown = get_exponential_backoff_interval(
        factor=EMAIL_RETRY_BACKOFF, retries=task.request.retries, maximum=EMAIL_RETRY_BACKOFF_MAX, full_jitter=True
    )
    raise task.retry(exc=exc, countdown=countdown, max_retries=settings.EMAIL_MAX_RETRIES)


@shared_task(name="orders.dispatch_restock_alerts")
def dispatch_restock_alerts(event_id: int) -> int:
    return notifications.RestockAlertDispatcher().dispatch(event_id)


@shared_task(bind=True, name="orders.send_restock_alerts", max_retries=None)
def send_restock_alerts(self: Task, notification_ids: list[int]) -> dict[str, int]:
    dispatcher = notifications.RestockAlertDispatcher()
    return _send_or_retry(self, dispatcher.send, notification_ids, name="restock alerts")


@shared_task(name="orders.sweep_restock_alerts")
def sweep_restock_alerts(stale_after_seconds: int = 600) -> dict[str, int]:
    from datetime import timedelta

    return notifications.restock_sweep(stale_after=timedelta(seconds=stale_after_seconds))


@shared_task(name="orders.run_cart_recovery")
def run_cart_recovery() -> dict[str, int]:
    return notifications.cart_recovery_run()


@shared_task(bind=True, name="orders.send_cart_reminders", max_retries=None)
def send_cart_reminders(self: Task, reminder_ids: list[int]) -> dict[str, int]:
    return _send_or_retry(
        self, lambda ids: notifications.cart_reminders_send(reminder_ids=ids), reminder_ids, name="cart reminders"
    )


@shared_task(bind=True, name="orders.send_shipment_update", max_retries=None)
def send_shipment_update(self: Task, fulfillment_id: int, tracking_status: str) -> dict[str, int]:
    try:
        outcome = notifications.shipment_notification_send(
            fulfillment_id=fulfillment_id, tracking_status=tracking_status
        )
    except TRANSIENT_EMAIL_ERRORS as exc:
        outcome = SendOutcome(failed=[fulfillment_id], last_error=f"{type(exc).__name__}: {exc}")
    if outcome is None:
        return {"sent": 0, "skipped": 1}
    if outcome.failed:
        if self.request.retries >= settings.EMAIL_MAX_RETRIES:
            raise EmailRefusedError(
                f"shipment update: refused after {self.request.retries} retries: {outcome.last_error}"
            )
        countdown = get_exponential_backoff_interval(
            factor=EMAIL_RETRY_BACKOFF, retries=self.request.retries, maximum=EMAIL_RETRY_BACKOFF_MAX, full_jitter=True
        )
        raise self.retry(countdown=countdown, max_retries=settings.EMAIL_MAX_RETRIES)
    return {"sent": len(outcome.sent), "skipped": len(outcome.skipped)}


@shared_task(bind=True, name="orders.send_return_instructions", max_retries=None)
def send_return_instructions(self: Task, order_id: str) -> bool:
    try:
        return emails.return_instructions_email_send(order_id=order_id)
    except TRANSIENT_EMAIL_ERRORS as exc:
        _retry_email(self, exc, name=f"return instructions for {order_id}")


@shared_task(bind=True, name="orders.send_cancellation_notice", max_retries=None)
def send_cancellation_notice(self: Task, order_id: str) -> bool:
    try:
        return emails.cancellation_email_send(order_id=order_id)
    except TRANSIENT_EMAIL_ERRORS as exc:
        _retry_email(self, exc, name=f"cancellation notice for {order_id}")


@shared_task(bind=True, name="orders.send_password_reset", max_retries=None)
def send_password_reset(self: Task, *, user_id: int, to_email: str, domain: str, site_name: str, protocol: str) -> bool:
    try:
        return emails.password_reset_email_send(
            user_id=user_id, to_email=to_email, domain=domain, site_name=site_name, protocol=protocol
        )
    except TRANSIENT_EMAIL_ERRORS as exc:
        _retry_email(self, exc, name="password reset")
