"""`python manage.py chat --as HANDLE`: talk to the assistant in a terminal, through chat_turn."""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant import actions
from assistant.turn import chat_turn
from assistant.types import citation_label
from chat.models import Conversation, Message
from chat.services.conversations import conversation_start
from orders.models import Customer
from supportbot.errors import ApplicationError

_BUTTON = re.compile(r"^\s*/(confirm|decline)\s+#?(\d+)\s*$", re.IGNORECASE)


class Command(BaseCommand):
    help = (
        "Chat with the assistant as a customer ('yes' answers the card just shown; /confirm N or /decline N "
        "acts on card N; Ctrl-D to quit)."
    )

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
        self.stdout.write(
            f"Conversation {conversation.pk} as {customer.full_name} ({customer.handle}). Ctrl-D to quit."
        )
        while True:
            try:
                text = input("you> ")
            except (EOFError, KeyboardInterrupt):
                self.stdout.write("")
                return
            if not text.strip():
                continue
            try:
                button = _BUTTON.match(text)
                if button:
                    replies = self._press(button, customer)
                else:
                    replies = chat_turn(conversation=conversation, text=text, user=customer.user)
            except ApplicationError as exc:
                self.stdout.write(self.style.ERROR(exc.message))
                continue
            for reply in replies:
                if reply.role != Message.Role.ASSISTANT:
                    continue
                self.stdout.write(f"assistant> {reply.text}")
                for citation in reply.citations:
                    self.stdout.write(
                        f"    [{citation.get('ref')}] {citation_label(citation)} {citation.get('url', '')}"
                    )
            self._show_waiting(conversation, latest=replies[-1] if replies else None)

    def _press(self, button: re.Match[str], customer: Customer) -> list[Message]:
        """The terminal's card buttons: /confirm N and /decline N act on exactly that action."""
        action_id = int(button.group(2))
        if button.group(1) == "confirm":
            return actions.action_confirm(action_id=action_id, customer=customer).messages
        return actions.action_decline(action_id=action_id, customer=customer).messages

    def _show_waiting(self, conversation: Conversation, *, latest: Message | None) -> None:
        asked = [
            action
            for action in actions.actions_waiting(conversation=conversation)
            if latest and action.message_id == latest.pk
        ]
        for action in asked:
            self.stdout.write(self.style.WARNING(f"  awaiting your confirmation (#{action.pk}): {action.description}"))
        if len(asked) == 1:
            self.stdout.write("  type 'yes' to confirm or 'no' to decline")
        # Cards from earlier replies: a later "yes" is no consent to them, so they get explicit commands.
        for action in actions.actions_waiting(conversation=conversation):
            if action not in asked:
                self.stdout.write(
                    f"  still open (#{action.pk}): {action.description} — /confirm {action.pk} or /decline {action.pk}"
                )
