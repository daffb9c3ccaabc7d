"""Sending ledgered emails exactly once, even when a worker dies mid-batch.

The claim on an email is its ledger row, locked with SELECT ... FOR UPDATE for the length of
the send: the row is marked sent and the lock released in the same transaction that saw the mail
server accept the message. Consequences, which is the point of this module:

- a worker killed (SIGKILL, OOM) while talking to the mail server drops its database connection,
  PostgreSQL rolls the transaction back, the row is still pending and the retried task (or the
  periodic sweep) sends it: nothing is lost;
- a row already marked sent is skipped by every later run, and a row another worker is sending
  right now is skipped too (SKIP LOCKED): nothing is sent twice. That other worker either commits
  "sent" or, on failure, leaves the row pending/failed for its own retry.

The only window left is between the server's "250 accepted" and our COMMIT (microseconds, no I/O
in between). Every message carries a Message-ID derived from its ledger row, so even a send
repeated through that window is recognisably the same message to the receiving side.

Holding a row lock across network I/O is acceptable here because the lock is on one ledger row
nobody else waits for (others skip it), and the SMTP connection has a timeout (EMAIL_TIMEOUT).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from orders.models_notifications import EmailLedgerEntry

logger = logging.getLogger(__name__)

Row = TypeVar("Row", bound=EmailLedgerEntry)

# Errors worth retrying later: the mail server refused or was unreachable.
TRANSIENT_EMAIL_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError)


@dataclass
class SendOutcome:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    last_error: str = ""


def render_email(
    *,
    template: str,
    context: dict[str, Any],
    subject: str,
    to: str,
    message_id: str,
    headers: dict[str, str] | None = None,
) -> EmailMultiAlternatives:
    """An HTML + text email from orders/templates/orders/email/<template>.{txt,html}."""
    context = {**context, "site_url": settings.SITE_URL}
    text = render_to_string(f"orders/email/{template}.txt", context)
    html = render_to_string(f"orders/email/{template}.html", context)
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip("> ") or "localhost"
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": f"<{message_id}@{domain}>", **(headers or {})},
    )
    message.attach_alternative(html, "text/html")
    return message


def send_ledgered(
    *,
    model: type[Row],
    ids: Sequence[int],
    build: Callable[[Row], EmailMultiAlternatives],
    related: Sequence[str] = (),
) -> SendOutcome:
    """Send the email of each ledger row in `ids` that is pending or failed, one claim at a time.

    `build` turns a row into its message; `related` are select_related paths it reads. Messages
    are built for the whole batch first (rendering needs no lock), then each row is claimed,
    sent and marked sent in its own transaction. Rows the mail server refused are marked failed
    (with the error) and reported in `outcome.failed` for the caller to retry; any other
    exception propagates (a bug, not weather).
    """
    outcome = SendOutcome()
    sendable = [EmailLedgerEntry.Status.PENDING, EmailLedgerEntry.Status.FAILED]
    rows = model._default_manager.select_related(*related).filter(pk__in=list(ids), status__in=sendable).order_by("pk")
    messages = {row.pk: build(row) for row in rows}
    outcome.skipped.extend(pk for pk in ids if pk not in messages)
    table = connection.ops.quote_name(model._meta.db_table)
    # Plain SQL for the two statements run per message: this loop is the hot path of a restock
    # with thousands of subscribers, and compiling ORM queries cost more than running them.
    claim_sql = f"SELECT 1 FROM {table} WHERE id = %s AND status IN ('pending', 'failed') FOR UPDATE SKIP LOCKED"  # noqa: S608 - table name from model meta
    sent_sql = (
        f"UPDATE {table} SET status = 'sent', sent_at = %s, attempts = attempts + 1, last_error = '' WHERE id = %s"  # noqa: S608
    )
    # One SMTP session for the whole batch: opening one per message dominates the cost.
    with get_connection() as mail, connection.cursor() as cursor:
        for pk, message in messages.items():
            try:
                with transaction.atomic():
                    cursor.execute(claim_sql, [pk])
                    if cursor.fetchone() is None:
                        # Sent meanwhile, or another worker holds the claim right now.
                        outcome.skipped.append(pk)
                        continue
                    mail.send_messages([message])
                    cursor.execute(sent_sql, [timezone.now(), pk])
                outcome.sent.append(pk)
            except TRANSIENT_EMAIL_ERRORS as exc:
                # The transaction above rolled back; record the refusal outside it.
                error = f"{type(exc).__name__}: {exc}"[:2000]
                model._default_manager.filter(pk=pk).exclude(status=EmailLedgerEntry.Status.SENT).update(
                    status=EmailLedgerEntry.Status.FAILED, attempts=F("attempts") + 1, last_error=error
                )
                logger.warning("email refused", extra={"ledger": model.__name__, "id": pk, "error": error})
                outcome.failed.append(pk)
                outcome.last_error = error
    return outcome
