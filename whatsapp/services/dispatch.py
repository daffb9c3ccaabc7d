"""Handing work to Celery after commit — or, for the terminal simulator only, doing it here.

Services never call tasks directly: they call `dispatch_processing` / `dispatch_delivery`,
which enqueue after the transaction commits (a rolled-back event is never processed). The
`whatsapp_simulate` command wraps its session in `inline()`: the same services then run in
its own process, so a terminal conversation needs no worker and its replies go to the
command's fake Graph API rather than to whatever a running worker is configured with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

from supportbot.services import task_enqueue_on_commit

_inline: ContextVar[bool] = ContextVar("whatsapp_inline", default=False)


@contextmanager
def inline() -> Iterator[None]:
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


def dispatch_processing(event_id: int) -> None:
    if _inline.get():
        from whatsapp.services.inbound import inbound_event_process

        transaction.on_commit(lambda: inbound_event_process(event_id=event_id))
        return
    from whatsapp.tasks import process_inbound_event

    task_enqueue_on_commit(process_inbound_event, event_id)


def dispatch_delivery(contact_id: int) -> None:
    if _inline.get():
        from whatsapp.services.outbound import outbound_deliver_pending

        transaction.on_commit(lambda: outbound_deliver_pending(contact_id=contact_id, final_attempt=True))
        return
    from whatsapp.tasks import deliver_outbound

    task_enqueue_on_commit(deliver_outbound, contact_id)


def dispatch_link_code_email(link_code_id: int, code: str) -> None:
    if _inline.get():
        from whatsapp.services.linking import link_code_email_send

        transaction.on_commit(lambda: link_code_email_send(link_code_id=link_code_id, code=code))
        return
    from whatsapp.tasks import email_link_code

    task_enqueue_on_commit(email_link_code, link_code_id, code)
