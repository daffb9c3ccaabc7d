"""`manage.py whatsapp_simulate`: lines in, the real webhook and processing, replies printed."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from assistant.tests.llm_server import ScriptedLLM
from whatsapp.models import InboundEvent, OutboundMessage, WhatsAppContact

pytestmark = pytest.mark.django_db


# Committed for real, as in a terminal: the inline processing runs when the webhook's
# transaction commits, before the command prints the replies.
@pytest.mark.django_db(transaction=True)
def test_a_terminal_conversation_goes_through_the_webhook_and_the_fake_graph_api(llm, monkeypatch, settings):
    settings.SITE_URL = "https://support.cobalt.example"
    llm.add(ScriptedLLM.text("We ship in **2 days**."))
    monkeypatch.setattr("sys.stdin", io.StringIO("How fast do you ship?\n/quit\n"))
    out = io.StringIO()

    call_command("whatsapp_simulate", "--phone", "15557654321", stdout=out)

    printed = out.getvalue()
    assert "you> How fast do you ship?" in printed
    assert "bot> We ship in *2 days*." in printed
    event = InboundEvent.objects.get(kind="message")
    assert event.state == "processed" and event.phone == "15557654321"
    assert WhatsAppContact.objects.filter(phone="15557654321").exists()
    # The fake Graph API accepted it and the simulated callbacks marked it read.
    assert OutboundMessage.objects.get().status == "read"


def test_a_bad_phone_number_is_refused():
    with pytest.raises(CommandError, match="--phone must be"):
        call_command("whatsapp_simulate", "--phone", "not-a-number")
