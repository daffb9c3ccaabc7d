"""Suggest reply drafts from the ticket's facts: the conversation, the escalation reason and the
customer's orders — offline as a template, with the LLM as a prompt that carries the same facts."""

from __future__ import annotations

import pytest

from assistant.escalation import conversation_escalate
from assistant.staff import reply_suggest
from assistant.tests.llm_server import ScriptedLLM
from chat.models import Conversation, Message
from orders.models import Fulfillment
from orders.tests.factories import PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from tickets.models import Ticket
from tickets.tests.conftest import make_customer

pytestmark = pytest.mark.django_db


def _handoff(
    customer, said: list[str], *, intent: str = "", reason: str = "The customer asked for a person."
) -> Ticket:
    conversation = Conversation.objects.create(customer=customer, intent=intent)
    for text in said:
        Message.objects.create(conversation=conversation, role="user", text=text)
        Message.objects.create(conversation=conversation, role="assistant", text="Let me check.", intent=intent)
    conversation_escalate(conversation=conversation, reason=reason)
    return Ticket.objects.get(conversation=conversation)


@pytest.fixture
def shopper():
    return make_customer(first_name="Priya")


def _order(customer, product_name: str, status: str, **fields):
    variant = VariantFactory(product=ProductFactory(name=product_name), options={"color": "black"})
    return make_order(
        customer=customer,
        variants=[variant],
        payment_method=PaymentMethodFactory(customer=customer),
        status=status,
        **fields,
    )


def test_a_late_order_handoff_gets_status_tracking_and_a_next_step_not_an_article(shopper, agent, settings):
    settings.LLM_BASE_URL = ""
    kettle = _order(shopper, "Electric Kettle", "processed")
    Fulfillment.objects.filter(order=kettle).update(carrier="FedEx", tracking_ids=["778899001122"])
    _order(shopper, "Desk Lamp", "delivered")
    stranger = make_customer()
    _order(stranger, "Electric Kettle", "processed")
    ticket = _handoff(
        shopper,
        ["where is my kettle?? it still hasnt arrived", "i want to talk to a real person"],
        intent="track_order",
    )

    text = reply_suggest(ticket=ticket, author=agent).text

    assert text.startswith("Hi Priya,")
    assert "hasn't reached you yet" in text  # the reason, acknowledged
    assert f"Your order {kettle.order_id} for Electric Kettle (color black) has shipped" in text
    assert "has shipped with FedEx, tracking number 778899001122" in text
    assert "contacting FedEx" in text  # what the agent does next
    assert "Desk Lamp" not in text  # an order the conversation is not about
    assert text.rstrip().endswith("Alex")
    # Not a help-center paste telling the customer how to reach a person.
    assert "help center" not in text.lower() and "ask for a person" not in text.lower()


def test_an_order_named_by_id_is_described_and_another_customers_is_not(shopper, agent, settings):
    settings.LLM_BASE_URL = ""
    pending = _order(shopper, "Floor Cushion", "pending")
    foreign = _order(make_customer(), "Floor Cushion", "delivered")
    ticket = _handoff(
        shopper,
        [f"can someone check {pending.order_id} and {foreign.order_id}? i need a person"],
        intent="change_order",
    )

    text = reply_suggest(ticket=ticket, author=agent).text

    assert (
        f"Your order {pending.order_id} for Floor Cushion (color black) has been placed but has not shipped yet."
        in text
    )
    assert foreign.order_id not in text
    assert "change your order" in text


def test_an_unhappy_customer_without_orders_gets_an_apology_and_their_request_acknowledged(shopper, agent, settings):
    settings.LLM_BASE_URL = ""
    ticket = _handoff(
        shopper,
        ["you charged me twice for the same thing"],
        reason="The customer has been very unhappy for two messages in a row.",
    )

    text = reply_suggest(ticket=ticket, author=None).text

    assert text.startswith("Hi Priya,") and "I'm sorry this has been frustrating." in text
    assert "problem with a payment or charge" in text
    assert "Cobalt Market support" in text


def test_the_llm_prompt_carries_the_reason_and_the_order_facts(shopper, agent, llm):
    kettle = _order(shopper, "Electric Kettle", "processed")
    ticket = _handoff(shopper, ["my kettle is late", "human please"], intent="track_order")
    llm.add(ScriptedLLM.text("Hi Priya, your kettle is with UPS. — Alex"))

    draft = reply_suggest(ticket=ticket, author=agent)

    assert draft.source == "llm" and draft.text.startswith("Hi Priya")
    prompt = " ".join(str(message.get("content")) for message in llm.requests[0]["messages"])
    assert "Why it was escalated: The customer asked for a person." in prompt
    assert f"Your order {kettle.order_id}" in prompt and "UPS, tracking number 123456789012" in prompt
    assert "Do not explain how to reach a person" in prompt
