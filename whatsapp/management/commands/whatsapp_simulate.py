"""A terminal WhatsApp conversation through the real webhook view and a local fake Graph API.

    python manage.py whatsapp_simulate --phone 15551234567

Each line you type becomes a WhatsApp webhook delivery, signed with the app secret and POSTed
to /whatsapp/webhook through Django's test client (the real view, signature check, event
ledger and processing). Replies are posted by the real delivery code to a fake Graph API on
127.0.0.1 and printed here; reply buttons are numbered — type the number to press one.
After each reply, "delivered" and "read" status callbacks are posted back, as Meta would.

Processing and delivery run in this process (whatsapp.services.dispatch.inline) rather than
on the broker, so no worker is needed and a running one never sends these replies to the
real Graph API. Commands: /quit. To link the number, write your account's email and type
the code from the email (sent by the configured mail; without EMAIL_URL, a file in var/mail).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import Client, override_settings

from whatsapp.fake_graph import FakeGraphAPI, Sent
from whatsapp.services import dispatch


class Command(BaseCommand):
    help = "Chat with the assistant as a WhatsApp number, through the real webhook and a fake Graph API."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--phone", required=True, help="The WhatsApp number you write from, digits only (e.g. 15551234567)."
        )
        parser.add_argument("--name", default="Simulator", help="Your WhatsApp profile name.")

    def handle(self, *args: Any, **options: Any) -> None:
        phone = str(options["phone"]).lstrip("+").replace(" ", "")
        if not phone.isdigit() or not 6 <= len(phone) <= 15:
            raise CommandError(
                f"--phone must be a number in international format, digits only; got {options['phone']!r}."
            )
        fake = FakeGraphAPI(token=secrets.token_urlsafe(16)).start()
        secret = settings.WHATSAPP_APP_SECRET or secrets.token_urlsafe(16)
        host = "testserver" if "testserver" in settings.ALLOWED_HOSTS else (settings.ALLOWED_HOSTS or ["localhost"])[0]
        overrides = {
            "WHATSAPP_API_BASE_URL": fake.base_url,
            "WHATSAPP_PHONE_NUMBER_ID": "simulator",
            "WHATSAPP_ACCESS_TOKEN": fake.token,
            "WHATSAPP_APP_SECRET": secret,
        }
        try:
            with override_settings(**overrides), dispatch.inline():
                self._session(Client(SERVER_NAME=host), fake, phone, options["name"], secret)
        finally:
            fake.stop()

    def _session(self, client: Client, fake: FakeGraphAPI, phone: str, name: str, secret: str) -> None:
        self.stdout.write(f"WhatsApp simulator: you are +{phone}. Fake Graph API at {fake.base_url}. /quit to leave.")
        buttons: list[dict[str, str]] = []
        seen = 0
        while True:
            try:
                line = input("you> ") if sys.stdin.isatty() else sys.stdin.readline()
            except EOFError:
                break
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            if line == "/quit":
                break
            if not sys.stdin.isatty():
                self.stdout.write(f"you> {line}")
            if line.isdigit() and 1 <= int(line) <= len(buttons):
                button = buttons[int(line) - 1]
                message = _message(phone, "interactive", interactive={"type": "button_reply", "button_reply": button})
            else:
                message = _message(phone, "text", text={"body": line})
            status = self._post(client, secret, _notification(messages=[message], phone=phone, name=name))
            if status != 200:
                self.stderr.write(f"The webhook answered {status}.")
            replies = fake.delivered()[seen:]
            seen += len(replies)
            if replies:
                buttons = []
            for sent in replies:
                buttons += self._show(sent, first_number=len(buttons) + 1)
            for sent in replies:
                callbacks = [_status(sent.wamid, state, phone) for state in ("delivered", "read")]
                self._post(client, secret, _notification(statuses=callbacks, phone=phone, name=name))
        self.stdout.write("Bye.")

    def _post(self, client: Client, secret: str, payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        response = client.post(
            "/whatsapp/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
        )
        return response.status_code

    def _show(self, sent: Sent, *, first_number: int) -> list[dict[str, str]]:
        self.stdout.write("bot> " + sent.text.replace("\n", "\n     "))
        for offset, button in enumerate(sent.buttons):
            self.stdout.write(f"     [{first_number + offset}] {button['title']}")
        return sent.buttons


def _message(phone: str, kind: str, **content: Any) -> dict[str, Any]:
    return {
        "from": phone,
        "id": f"wamid.sim.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": kind,
        **content,
    }


def _status(wamid: str, state: str, phone: str) -> dict[str, Any]:
    return {"id": wamid, "status": state, "timestamp": str(int(time.time())), "recipient_id": phone}


def _notification(
    *, phone: str, name: str, messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "simulator"},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": phone}]
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "SIMULATOR", "changes": [{"value": value, "field": "messages"}]}],
    }
