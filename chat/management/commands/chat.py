"""`python manage.py chat --as HANDLE`: talk to the assistant in a terminal, through chat_turn."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.models import Conversation, PendingAction
from chat.services.agent import chat_turn, citation_label, conversation_start
from orders.models import Customer
from supportbot.errors import ApplicationError


class Command(BaseCommand):
    help = "Chat with the assistant as a customer (type 'yes' to confirm a proposed action, Ctrl-D to quit)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as", dest="handle", required=True, help="The customer's handle, e.g. dana_demo_1000.")
        parser.add_argument("--conversation", type=int, help="Continue this conversation id instead of starting one.")

    def handle(self, *args: Any, **options: Any) -> None:
        customer = Customer.objects.select_related("user").filter(handle=options["handle"]).first()
        if customer is None:
            raise CommandError(f"No customer with handle {options['handle']!r}.")
        if customer.user is None:
            raise CommandError(f"Customer {customer.handle} has no login, so they can't chat.")
        if options["conversation"]:
            conversation = Conversation.objects.filter(pk=options["conversation"], customer=customer).first()
            if conversation is None:
                raise CommandError(f"{customer.handle} has no conversation {options['conversation']}.")
        else:
            conversation = conversation_start(customer=customer, channel=Conversation.Channel.TERMINAL)
        self.stdout.write(f"Conversation {conversation.pk} as {customer.full_name} ({customer.handle}). Ctrl-D to quit.")
        while True:
            try:
                text = input("you> ")
            except (EOFError, KeyboardInterrupt):
                self.stdout.write("")
                return
            if not text.strip():
                continue
            try:
                replies = chat_turn(conversation=conversation, text=text, user=customer.user)
            except ApplicationError as exc:
                self.stdout.write(self.style.ERROR(exc.message))
                continue
            for reply in replies:
                self.stdout.write(f"assistant> {reply.text}")
                for citation in reply.citations:
                    self.stdout.write(f"    [{citation.get('ref')}] {citation_label(citation)} {citation.get('url', '')}")
            waiting = PendingAction.objects.filter(conversation=conversation, status=PendingAction.Status.PROPOSED)
            for action in waiting:
                self.stdout.write(self.style.WARNING(f"  awaiting your confirmation (#{action.pk}): {action.description}"))
            if waiting.count() == 1:
                self.stdout.write("  type 'yes' to confirm or 'no' to decline")
