"""Where a person's rows are when no foreign key leads there: logins typed at the form,
failed-task arguments, resolved-ticket documents, WhatsApp events and messages."""

from __future__ import annotations

from django.db.models import Q

from knowledge.models import Document
from supportbot.models import FailedTask
from tickets.data_rights.subject import Subject


def login_name_query(subject: Subject) -> Q:
    # Case-insensitive: a login typed as "Jane@Example.com" is still hers.
    query = Q(pk__in=[])
    for name in subject.login_names:
        query |= Q(username__iexact=name)
    return query


def resolved_ticket_documents(subject: Subject) -> list[Document]:
    """Staff-only knowledge documents written from a resolved ticket that quote this person.

    They carry no key to the ticket, only its text, so they are found by what they quote: a
    ticket number, an order id, an email address, a phone number. The database narrows the
    candidates; the whole-identifier match is done here.
    """
    if not subject.identifiers:
        return []
    mentions = Q(pk__in=[])
    for identifier in subject.identifiers:
        mentions |= Q(body__icontains=identifier) | Q(title__icontains=identifier) | Q(source__icontains=identifier)
    candidates = Document.objects.filter(mentions, kind=Document.Kind.RESOLVED_TICKET).order_by("pk")
    return [
        document
        for document in candidates
        if subject.mentioned_in(f"{document.title}\n{document.source}\n{document.body}")
    ]


def failed_task_ids(subject: Subject) -> list[int]:
    """Tasks that failed for good with this person in their arguments or error text.

    Arguments that are only a row id (a notification, a ticket event) are not matched: the
    number says nothing about anyone once the erasure has deleted the row it pointed at. What
    names the person is an email, a login, an order id or their user/customer id by keyword.
    """
    by_keyword = set(
        FailedTask.objects.filter(
            Q(kwargs__customer_id__in=list(subject.customer_ids)) | Q(kwargs__user_id__in=list(subject.user_ids))
        ).values_list("pk", flat=True)
    )
    mentions = Q(pk__in=[])
    for identifier in subject.identifiers:
        mentions |= (
            Q(args__icontains=identifier)
            | Q(kwargs__icontains=identifier)
            | Q(exception__icontains=identifier)
            | Q(traceback__icontains=identifier)
        )
    candidates = FailedTask.objects.filter(mentions).exclude(pk__in=by_keyword)
    mentioned = {
        pk
        for pk, args, kwargs, exception, traceback in candidates.values_list(
            "pk", "args", "kwargs", "exception", "traceback"
        )
        if subject.mentioned_in(f"{args}\n{kwargs}\n{exception}\n{traceback}")
    }
    return sorted(by_keyword | mentioned)


def inbound_event_query(subject: Subject) -> Q:
    # By phone too: an event whose processing failed before it was tied to a contact.
    return (
        Q(contact_id__in=subject.contact_ids)
        | Q(conversation_id__in=subject.conversation_ids)
        | Q(phone__in=subject.phones)
    )


def outbound_message_query(subject: Subject) -> Q:
    return Q(contact_id__in=subject.contact_ids) | Q(conversation_id__in=subject.conversation_ids)
