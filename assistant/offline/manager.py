"""The offline dialogue manager: from a message to a reply, without an LLM.

Order of decisions for a turn:
 1. Understand the message (intent, entities, sentiment), reusing the turn's query embedding.
 2. A yes/no answers the assistant's own open offer (restock alert, a person).
 3. While a form is active, a message that fills or corrects its slots continues it; a
    confident different task switches topic (the old form is dropped, nothing was done).
 4. A message made only of option values ("11 blue") while a product is in focus is read in
    the frame of the assistant's last catalog answer or question (stock, or which option to
    alert about), not as a new search.
 5. Otherwise route by intent: forms for actions, the catalog for products, the help center
    for policy questions, small talk. Under the confidence threshold: the help center if
    retrieval is confident, else a clarifying question and the offer of a person.
A message with several requests ("where's my keyboard and also can i change the adress") is
split and each part goes through the steps above in turn; the answer says which part it is
answering. A part that must wait (the first part asked a question, or a card waits for the
customer's yes) is queued in the state and taken up once the form before it is done.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from assistant.actions import actions_waiting
from assistant.nlu import Understanding, understand
from assistant.nlu.catalog import get_catalog_index, normalize
from assistant.nlu.entities import SIZE_WORDS
from assistant.nlu.pipeline import split_requests
from assistant.offline import answers
from assistant.offline.forms import FORMS
from assistant.offline.resolve import describe_order, resolve_order
from assistant.offline.situations import situation_reply
from assistant.offline.state import State, state_load, state_save
from assistant.offline.turn import Turn, order_words
from assistant.types import BrainReply, BrainRequest, RetrievedContext
from chat.models import PendingAction

# Intents that start a form, and the form.
FORM_INTENTS = {
    "cancel_order": "cancel",
    "return_item": "return",
    "exchange_item": "exchange",
    "change_order": "change_items",
    "change_shipping_address": "order_address",
    "set_up_shipping_address": "default_address",
    "track_order": "track",
    "get_refund": "refund",
    "track_refund": "track_refund",
}
# A different task must be at least this sure to pull the customer out of an active form.
SWITCH_CONFIDENCE = 0.6
# Under the NLU threshold, an intent this sure and twice as likely as the next is still acted on.
TENTATIVE_CONFIDENCE = 0.25
# Help-center intents: the answer is a cited passage.
POLICY_INTENTS = {
    "check_cancellation_fee",
    "check_invoice",
    "check_refund_policy",
    "contact_customer_service",
    "create_account",
    "delete_account",
    "delivery_options",
    "delivery_period",
    "edit_account",
    "get_invoice",
    "newsletter_subscription",
    "payment_issue",
    "place_order",
    "recover_password",
    "registration_problems",
    "review",
    "switch_account",
}
SMALL_TALK: dict[str, Callable[[Turn], str]] = {
    "greeting": answers.greeting,
    "goodbye": answers.goodbye,
    "thanks": answers.thanks,
}


_VERBS = {
    "cancel",
    "change",
    "make",
    "talk",
    "create",
    "delete",
    "edit",
    "get",
    "reset",
    "leave",
    "set",
    "switch",
    "track",
    "check",
    "exchange",
    "return",
    "compare",
}
# How a clarifying question names each intent.
PHRASES = {
    "cancel_order": "cancel an order",
    "change_order": "change items in an order",
    "change_shipping_address": "change an order's shipping address",
    "check_cancellation_fee": "whether cancelling costs anything",
    "check_invoice": "a question about an invoice",
    "check_payment_methods": "which payment methods we accept",
    "check_refund_policy": "our refund policy",
    "complaint": "make a complaint",
    "contact_customer_service": "how to contact us",
    "contact_human_agent": "talk to a person",
    "create_account": "create an account",
    "delete_account": "delete your account",
    "delivery_options": "shipping options",
    "delivery_period": "how long delivery takes",
    "edit_account": "edit your account",
    "get_invoice": "get an invoice",
    "get_refund": "get a refund",
    "newsletter_subscription": "the newsletter",
    "payment_issue": "a problem with a payment",
    "place_order": "how to place an order",
    "recover_password": "reset your password",
    "registration_problems": "trouble signing up",
    "review": "leave a review",
    "set_up_shipping_address": "set your default address",
    "switch_account": "switch accounts",
    "track_order": "track an order",
    "track_refund": "check on a refund",
    "product_inquiry": "details of a product",
    "stock_check": "whether something is in stock",
    "restock_alert": "a back-in-stock alert",
    "exchange_item": "exchange an item",
    "return_item": "return an item",
    "product_recommendation": "a product recommendation",
    "product_comparison": "compare two products",
}


def respond(request: BrainRequest) -> BrainReply:
    """The offline brain (assistant.turn's seam)."""
    understanding = understand(
        request.text,
        embedding=request.retrieved.query_embedding,
        catalog=get_catalog_index(),
        sentiment=request.sentiment,
    )
    state = state_load(conversation=request.conversation)
    state.turns += 1
    turn = Turn(request=request, understanding=understanding, state=state)
    intent = understanding.intent if understanding.confident else ""
    compound = _compound(turn)
    if compound is not None:
        text, intent = compound
    else:
        text = _drain_queue(turn, _reply(turn))
    state_save(conversation=request.conversation, state=state)
    return BrainReply(
        text=text,
        citations=turn.citations,
        tool_calls=turn.records,
        intent=intent,
        escalate=turn.escalate,
        escalation_reason=turn.escalation_reason,
        model="offline",
    )


def _fills_form(turn: Turn) -> bool:
    """Does the message answer or correct the active form (rather than start something new)?"""
    e = turn.entities
    asking = turn.state.asking
    if e.order_ids or e.order_refs or e.item_ids:
        return True
    if asking == "reason" and e.reasons:
        return True
    if asking == "payment" and e.payment_methods:
        return True
    if asking in {"items", "variant", "order"} and (e.products or e.options or e.sizes):
        return True
    if asking == "address" and any(ch.isdigit() for ch in turn.text):
        return True
    return bool(turn.state.form in {"cancel"} and e.reasons) or bool(
        e.payment_methods and turn.state.form in {"return", "exchange", "change_items"}
    )


def _reply(turn: Turn) -> str:
    u = turn.understanding
    state = turn.state
    intent = _acted_intent(u)

    if state.offer and intent in {"affirm", "deny"}:
        return _answer_offer(turn, accepted=intent == "affirm")
    if state.offer and intent not in {"affirm", "deny"}:
        state.offer = {}

    if state.proposed_action_id and not _still_proposed(state.proposed_action_id):
        # Confirmed, declined or expired since: the form is over.
        state.finish()
        state.proposed_action_id = None
    if state.form and state.asking == "confirm" and not _fills_form(turn):
        # The action waits for yes/no; anything else is a new topic, the proposal stays open.
        pass
    elif state.form:
        if intent == "deny" and not _fills_form(turn):
            state.finish()
            return "Okay — I've stopped there and nothing was changed. What else can I help with?"
        new_form = FORM_INTENTS.get(intent)
        switching = (
            intent
            and u.confidence >= SWITCH_CONFIDENCE
            and intent not in {"affirm", "deny", "thanks"}
            and (new_form or "") != state.form
            and not _fills_form(turn)
        )
        if not switching:
            return FORMS[state.form](turn)
        state.finish()

    if not state.form and _in_frame(turn):
        return answers.stock_answer(turn, restock_requested=state.frame == "restock" or intent == "restock_alert")
    if intent == "change_shipping_address" and _ACCOUNT_ADDRESS.search(turn.text) and not _names_an_order(turn):
        intent = "set_up_shipping_address"  # "I moved, update the address on my account"
    follow_up = _follow_up_form(turn, intent)
    if follow_up:
        state.start(follow_up, **(state.last_slots if _SAME.search(turn.text) else {}))
        return FORMS[follow_up](turn)
    if intent in FORM_INTENTS:
        state.last_form = FORM_INTENTS[intent]  # also when a situation below answers it without the form
    if intent in FORM_INTENTS and intent not in {"track_order", "track_refund"} and _asks_how_it_works(turn):
        answer = answers.knowledge_answer(turn)
        if answer is not None:
            return answer + f"\n\nIf you'd like me to {PHRASES[intent]} now, just tell me which order."
    if _MY_BALANCE.search(turn.text) and intent not in FORM_INTENTS:
        return answers.payment_methods_answer(turn, mine=True)
    if intent == "track_refund" and not _names_an_order(turn):
        # "How long do refunds take?" is a policy question until an order is named.
        answer = answers.knowledge_answer(turn)
        if answer is not None:
            return answer + "\n\nIf you give me the order number, I can check the refund on it."
    if intent == "delivery_period" and state.last_order_id and _REFERS_BACK.search(turn.text):
        intent = "track_order"
    if _MY_METHODS.search(turn.text) and intent in {"check_payment_methods", "edit_account", "payment_issue", ""}:
        return answers.payment_methods_answer(turn, mine=True)
    if intent not in FORM_INTENTS or intent in {
        "track_order",
        "exchange_item",
        "change_order",
        "return_item",
        "get_refund",
    }:
        situation = situation_reply(turn)
        if situation is not None:
            return situation
    if intent in FORM_INTENTS:
        form = FORM_INTENTS[intent]
        keep = _focused_order(turn, form)
        state.start(form)
        if keep:
            state.slots["order_id"] = keep
        return FORMS[form](turn)
    if intent in SMALL_TALK:
        return SMALL_TALK[intent](turn)
    if intent in {"complaint", "contact_human_agent"}:
        return _escalate(turn)
    if intent == "stock_check":
        return answers.stock_answer(turn)
    if intent == "restock_alert":
        return answers.stock_answer(turn, restock_requested=True)
    if intent == "product_inquiry":
        return answers.product_answer(turn)
    if intent == "product_recommendation":
        return answers.recommendation_answer(turn)
    if intent == "product_comparison":
        return answers.comparison_answer(turn)
    if intent == "check_payment_methods":
        return answers.payment_methods_answer(turn)
    if intent in POLICY_INTENTS:
        return answers.policy_answer(turn)
    if intent == "out_of_scope":
        return answers.out_of_scope(turn)
    if intent in {"affirm", "deny"}:
        return _unasked_yes_no(turn)
    return _unsure(turn)


def _unasked_yes_no(turn: Turn) -> str:
    """A yes/no that my last message did not ask for: never consent to an older card."""
    waiting = actions_waiting(conversation=turn.request.conversation)
    if waiting:
        return (
            "My last message didn't ask you to confirm anything, so I haven't changed anything. "
            f"If you want me to go ahead with this — {waiting[-1].description.rstrip('.')} — use the Confirm button "
            "on that request, or ask me for it again."
        )
    return "Okay. What can I help you with? I can " + answers.CAPABILITIES + "."


def _clear_lead(ranking: list[tuple[str, float]], entities: Any) -> bool:
    """Under the threshold, but far ahead of the runner-up and about something named: act on it.

    Nothing consequential runs without the customer's yes, so acting on a fair guess that
    mentions an order or a product costs less than a clarifying question.
    """
    if not ranking or ranking[0][0] == "out_of_scope" or not entities.as_dict():
        return False
    runner_up = ranking[1][1] if len(ranking) > 1 else 0.0
    return ranking[0][1] >= TENTATIVE_CONFIDENCE and ranking[0][1] >= 2 * runner_up


_REFERS_BACK = re.compile(r"\b(?:it|them|that one|this one|my (?:order|package|parcel|stuff))\b", re.IGNORECASE)
_MY_METHODS = re.compile(
    r"\b(?:cards?|payment methods?|gift cards?)\b.*\b(?:on file|saved|do i have|have i got|my account)\b"
    r"|\bmy (?:saved )?(?:cards|payment methods)\b",
    re.IGNORECASE,
)


def _names_an_order(turn: Turn) -> bool:
    e = turn.entities
    # "my refund for the return" names the order in the return, by its state.
    return bool(e.order_ids or e.order_refs or e.products) or describe_order(turn).statuses is not None


def _still_proposed(action_id: int) -> bool:
    return PendingAction.objects.filter(pk=action_id, status=PendingAction.Status.PROPOSED).exists()


def _answer_offer(turn: Turn, *, accepted: bool) -> str:
    offer = turn.state.offer
    turn.state.offer = {}
    if not accepted:
        return "No problem. Anything else I can help with?"
    if offer.get("kind") == "restock":
        return answers.subscribe_restock(turn, offer["item_id"], offer.get("name", "the item"))
    if offer.get("kind") == "human":
        return _escalate(turn, reason=offer.get("reason", ""))
    if offer.get("kind") == "track" and offer.get("order_id"):
        turn.state.start("track", order_id=offer["order_id"])
        return FORMS["track"](turn)
    return "Okay. What can I help you with?"


def _escalate(turn: Turn, *, reason: str = "") -> str:
    """Hand over to a person, with the reason the conversation gave when there is one."""
    turn.escalate = True
    if reason:
        turn.escalation_reason = reason
        return "Of course — I'm passing this to our support team with what you've told me."
    if turn.understanding.intent == "complaint":
        turn.escalation_reason = "The customer complained; the offline assistant handed it to a person."
        return "I'm really sorry about this. I'm passing your message to our support team so a person can put it right."
    turn.escalation_reason = "The customer asked for a person."
    return "Of course — I'm connecting you with our support team."


def _unsure(turn: Turn) -> str:
    """Low confidence: the help center if it clearly answers, else ask, and offer a person."""
    answer = answers.knowledge_answer(turn)
    if answer is not None:
        return answer
    answer = answers.product_from_knowledge(turn)  # "do you sell bikes? what frame sizes"
    if answer is not None:
        return answer
    turn.state.offer = {"kind": "human"}
    top = [label for label, _ in turn.understanding.ranking[:2] if label not in {"out_of_scope", "affirm", "deny"}]
    guesses = [PHRASES[label] for label in top if label in PHRASES]
    if guesses:
        options = " or ".join(
            f"to {guess}" if guess[0].islower() and " " in guess and guess.split()[0] in _VERBS else f"{guess}"
            for guess in guesses
        )
        return f"I'm not sure I understood. Did you mean {options}? You can also rephrase — or I can get a person to help (just say yes)."
    return (
        f"I'm not sure I understood. I can {answers.CAPABILITIES} — which would you like? "
        "Or I can get a person to help (just say yes)."
    )


# --- the frame of the last catalog answer ---------------------------------------------------------

# Words that can surround option values in a short answer ("ok the 11 in blue then please").
_FRAME_WORDS = set(
    """a about an and any anything available be can colour color d do does get got have how i in instead is it
    maybe me one ones or please pls size sz stock take that the them then there those try um want what would
    yes yeah yep sure ok okay hmm like need with for you""".split()
)


def _in_frame(turn: Turn) -> bool:
    """Is the message only option values of the product in focus ("11 blue", "what about black")?"""
    state, e = turn.state, turn.entities
    if not state.last_product_id or not state.product_values:
        return False
    if e.order_ids or e.order_refs or e.item_ids or e.payment_methods:
        return False
    if any(state.last_product_id not in mention.product_ids for mention in e.products):
        return False
    values = set(state.product_values)
    named_words = {word for mention in e.products for word in normalize(mention.text).split()}
    sizes = {value for size in e.sizes for value in SIZE_WORDS.get(size, (size,))}
    words = normalize(turn.text).split()
    named = [word for word in words if word in values] + [size for size in sizes if size in values]
    rest = [
        word
        for word in words
        if word not in values and word not in _FRAME_WORDS and word not in named_words and word not in SIZE_WORDS
    ]
    return bool(named) and not rest


# --- compound messages ------------------------------------------------------------------------

# Intents answered by the same handler: two parts that both land here are one request.
_CATALOG_INTENTS = {"stock_check", "restock_alert", "product_inquiry", "product_recommendation", "product_comparison"}
_NOT_A_REQUEST = {"", "greeting", "goodbye", "thanks", "affirm", "deny", "out_of_scope"}
# Forms that end in a card: one waits until the customer has answered the card before it.
_CONSEQUENTIAL_FORMS = {"cancel", "return", "exchange", "change_items", "order_address", "default_address", "refund"}
# How each kind of request is named when the answer says which part it is answering.
_TOPICS = {
    "cancel_order": "the cancellation",
    "change_order": "changing the items",
    "change_shipping_address": "the address",
    "set_up_shipping_address": "your default address",
    "return_item": "the return",
    "exchange_item": "the exchange",
    "track_order": "your order",
    "get_refund": "the refund",
    "track_refund": "the refund",
    "check_payment_methods": "payment methods",
    "payment_issue": "the payment",
    "delivery_period": "delivery times",
    "delivery_options": "shipping options",
    "check_refund_policy": "refunds",
    "check_cancellation_fee": "cancellation fees",
    "get_invoice": "the invoice",
    "check_invoice": "the invoice",
    "complaint": "your complaint",
    "contact_human_agent": "talking to a person",
}
_ORDINALS = ("First", "Next", "Then", "And")


def _acted_intent(u: Understanding) -> str:
    """The intent acted on: a confident one, a clear lead about something named, or, when the
    classifier is unsure, what the message's shape says: "where is my <product or order>" and
    "when will my <product> get here" ask where an order is; two catalog intents on top about a
    named product are a catalog question; a task on top of a non-task for a named order is the task."""
    if u.confident or _clear_lead(u.ranking, u.entities):
        return u.intent
    e = u.entities
    named_order = bool(e.order_ids or e.order_refs or e.item_ids)
    if (_WHERE_IS.search(u.text) or _WHEN_ARRIVES.search(u.text) or _TRACK_SHAPE.search(u.text)) and (
        e.products or named_order or _NAMES_AN_ORDER.search(u.text) or _MY_ORDERS.search(u.text)
    ):
        return "track_order"
    top = [label for label, score in u.ranking[:2] if score >= TENTATIVE_CONFIDENCE / 2]
    if len(top) == 2 and all(label in _CATALOG_INTENTS for label in top) and e.products:
        return "product_recommendation" if e.budget is not None and not e.options else top[0]
    if top and top[0] in _CATALOG_INTENTS and u.ranking[0][1] >= TENTATIVE_CONFIDENCE and e.products:
        return top[0]  # a catalog question about a named product: only reads, so a fair guess will do
    verb = _TASK_VERB.search(u.text)
    if verb and (e.products or named_order or e.payment_methods):
        # "i want to return the floor cushion, refund to the gift card": the task the message names,
        # when the classifier has it among its guesses.
        task = _TASK_VERBS[verb.group(1).lower()]
        if any(label == task for label, _ in u.ranking[:3]):
            return task
    if named_order and top and top[0] in FORM_INTENTS and u.ranking[0][1] >= TENTATIVE_CONFIDENCE:
        if len(top) == 1 or top[1] not in FORM_INTENTS:
            return top[0]
    return ""


_TASK_VERBS = {"return": "return_item", "cancel": "cancel_order", "exchange": "exchange_item", "swap": "exchange_item"}
_TASK_VERB = re.compile(r"\b(return|cancel|exchange|swap)\b", re.IGNORECASE)
_WHERE_IS = re.compile(r"\bwhere(?:'s|s|\s+is|\s+are|'re|\s+r)\s+(?:my|the|our)\b", re.IGNORECASE)
_MY_ORDERS = re.compile(r"\b(?:my|our) (?:orders?|packages?|parcels?|deliver(?:y|ies)|stuff|things)\b", re.IGNORECASE)
_TRACK_SHAPE = re.compile(
    r"\bstatus of (?:my|the|that|this)\b|\bon (?:the|its|their) way\b|\b(?:shipped|arrived|dispatched|sent) (?:out )?yet\b"
    r"|\bhas (?:my|the)\b.*\b(?:shipped|arrived|been sent)\b",
    re.IGNORECASE,
)
_WHEN_ARRIVES = re.compile(
    r"\bwhen\s+(?:will|does|do|is|are|'ll|should|can i expect)\b.*\b(?:get here|arrive|come|be here|be delivered"
    r"|show up|turn up|reach me|get to me)\b",
    re.IGNORECASE,
)


def _handler(u: Understanding, text: str) -> str:
    """Which handler a part goes to; "" for a part that asks for nothing by itself."""
    if _MY_BALANCE.search(text):
        return "balance"
    intent = _acted_intent(u)
    if intent in _NOT_A_REQUEST:
        return ""
    if intent in _CATALOG_INTENTS:
        return "catalog"
    if intent == "delivery_period" and _REFERS_BACK.search(text):
        return "track"  # "and when will it arrive?" asks about the order just named
    return FORM_INTENTS.get(intent, intent)


def _topic(u: Understanding) -> str:
    if _MY_BALANCE.search(u.text):
        return "your gift card balance"
    intent = _acted_intent(u)
    if len(u.entities.products) == 1 and intent not in {"change_shipping_address", "set_up_shipping_address"}:
        words = u.entities.products[0].text
        return f"the {words}" if intent in _CATALOG_INTENTS else f"your {words}"
    return _TOPICS.get(intent) or (f"{PHRASES[intent]}" if intent in PHRASES else "your other question")


_POINTS_BACK = re.compile(r"\b(?:it|its|it's|that|this|they|them|those|these)\b", re.IGNORECASE)


def _continues(u: Understanding, text: str) -> bool:
    """Does this part only go on about the part before ("... and how long does it take")?"""
    e = u.entities
    own = e.order_ids or e.order_refs or e.products or e.item_ids or e.payment_methods
    return bool(_POINTS_BACK.search(text)) and not own and not _MY_BALANCE.search(text)


def _detail_of(earlier: Understanding, earlier_text: str, u: Understanding, text: str) -> bool:
    """Is this part a detail of the task before it rather than a request of its own? "return the
    sneakers, theyre too tight. refund to paypal": where the refund goes is part of the return."""
    task = FORM_INTENTS.get(_acted_intent(earlier), "")
    if task not in _CONSEQUENTIAL_FORMS:
        return False
    e = u.entities
    names_its_own = bool(e.order_ids or e.order_refs or e.products or e.item_ids)
    asks = "?" in text or bool(_QUESTION_START.match(text))
    return bool(e.payment_methods or e.reasons) and not names_its_own and not asks and _handler(u, text) != task


_QUESTION_START = re.compile(r"\s*(?:how|what|when|where|why|which|who|is|are|do|does|can|could|will|would)\b", re.I)


def _must_wait(state: Any, u: Understanding) -> bool:
    """Must this request wait for the form before it (a question asked, or a card to answer)?

    Only a request that starts a form with a card at its end waits; a question, or a look-up
    such as tracking, is answered beside the open form.
    """
    if not state.form or not _starts_action(u):
        return False
    return state.asking != "confirm" or FORM_INTENTS.get(_acted_intent(u), "") in _CONSEQUENTIAL_FORMS


def _starts_action(u: Understanding) -> bool:
    return FORM_INTENTS.get(_acted_intent(u), "") in _CONSEQUENTIAL_FORMS


def _sub_reply(turn: Turn, text: str, u: Understanding) -> str:
    """Answer one part of a message as if it had been sent alone; tool calls and citations are the turn's.

    A part that starts no form ("how long do refunds take") is answered beside an open form,
    which is set aside for it and kept as it was.
    """
    request = replace(turn.request, text=text, retrieved=RetrievedContext())
    part = Turn(request=request, understanding=u, state=turn.state, records=turn.records, citations=turn.citations)
    state = turn.state
    aside = (state.form, dict(state.slots), state.asking, state.proposed_action_id)
    beside_form = bool(state.form) and not _starts_action(u)
    if beside_form:
        state.form, state.slots, state.asking, state.proposed_action_id = "", {}, "", None
    reply = _reply(part)
    if beside_form and not state.form:
        state.form, state.slots, state.asking, state.proposed_action_id = aside
    if part.escalate:
        turn.escalate, turn.escalation_reason = True, part.escalation_reason
    return reply


def _understand_part(turn: Turn, text: str) -> Understanding:
    return understand(text, catalog=get_catalog_index(), sentiment=turn.understanding.sentiment)


def _compound(turn: Turn) -> tuple[str, str] | None:
    """Several requests in one message, each handled in turn: (the answer, the first request's
    intent), or None when the message asks for one thing."""
    state = turn.state
    if state.form and state.asking not in {"", "confirm"}:
        return None  # the message answers the question just asked
    parts = split_requests(turn.text)
    if len(parts) < 2:
        return None
    understood = [(part, _understand_part(turn, part)) for part in parts]
    requests: list[tuple[str, Understanding]] = []
    for position, (part, u) in enumerate(understood):
        if position and _continues(u, part):
            return None  # "do you ship to canada and how long does it take": one question
        if not _handler(u, part) or (requests and _detail_of(requests[-1][1], requests[-1][0], u, part)):
            continue
        requests.append((part, u))
    if len(requests) < 2 or len({_handler(u, part) for part, u in requests}) < 2:
        return None
    answered: list[str] = []
    for position, (part, u) in enumerate(requests):
        if position and _must_wait(state, u):
            state.queue = [{"text": text, "topic": _topic(later)} for text, later in requests[position:]]
            waiting = "Once you've answered that" if state.asking == "confirm" else "When we've finished that"
            answered.append(f"{waiting}, I'll help with {state.queue[0]['topic']}{_order_named(turn, part, u)}.")
            break
        ordinal = _ORDINALS[min(position, len(_ORDINALS) - 1)]
        answered.append(f"{ordinal}, {_topic(u)}: {_sub_reply(turn, part, u)}")
    lead = f"You asked about {len(requests)} things, so I'll take them one at a time.\n\n"
    return lead + "\n\n".join(answered), _acted_intent(requests[0][1])


def _order_named(turn: Turn, text: str, u: Understanding) -> str:
    """ " on order #W1 (Gaming Mouse — not shipped yet)" when a waiting request names one order; "" otherwise."""
    e = u.entities
    if not (e.order_ids or e.products or e.order_refs):
        return ""
    request = replace(turn.request, text=text, retrieved=RetrievedContext())
    # A fresh state: the open form's order must not stand in for the one this request names.
    part = Turn(request=request, understanding=u, state=State(), records=turn.records, citations=turn.citations)
    found = resolve_order(part, statuses=None, purpose="changed")
    return f" on order {order_words(found.value)}" if found.value is not None and not found.say else ""


def _drain_queue(turn: Turn, text: str) -> str:
    """Take up the next request left from a compound message once nothing is in its way."""
    state = turn.state
    if not state.queue:
        return text
    item = state.queue[0]
    u = _understand_part(turn, item["text"])
    if _must_wait(state, u):
        return text
    state.queue.pop(0)
    if _handler(u, item["text"]) == _handler(turn.understanding, turn.text):
        return text  # this message already asked for it again
    follow = f" After that, I'll help with {state.queue[0]['topic']}." if state.queue else ""
    return f"{text}\n\nNext, {item['topic']}: {_sub_reply(turn, item['text'], u)}{follow}"


# --- the order in focus, follow-ups, and questions about how a task works ------------------------

# The statuses an order must have for each form, so the order in focus is only carried into a
# form it fits (a delivered order is not offered for cancellation).
_FORM_STATUSES: dict[str, tuple[str, ...] | None] = {
    "cancel": ("pending",),
    "return": ("delivered",),
    "exchange": ("delivered",),
    "change_items": ("pending",),
    "order_address": ("pending",),
    "track": None,
    "refund": None,
    "track_refund": None,
}


def _focused_order(turn: Turn, form: str) -> str:
    """The order under discussion, when the message names none and it fits the new form."""
    e = turn.entities
    if form not in _FORM_STATUSES or not turn.state.last_order_id:
        return ""
    if e.order_ids or e.order_refs or e.products or e.item_ids:
        return ""
    record, _ = turn.order(turn.state.last_order_id)
    statuses = _FORM_STATUSES[form]
    if record is None or (statuses is not None and record["status"] not in statuses):
        return ""
    return str(record["order_id"])


_FOLLOW_UP = re.compile(
    r"^\s*(?:ok(?:ay)?,?\s+)?(?:and|also|what about|how about|same for|and what about)\b", re.IGNORECASE
)


def _follow_up_form(turn: Turn, intent: str) -> str:
    """ "and the other one with the keyboards?" after tracking an order: the same task for another
    order. The last form's task carries over to a short follow-up that names only an order."""
    state, e = turn.state, turn.entities
    last = state.last_form
    if state.form or not last or last not in _FORM_STATUSES:
        return ""
    if not (e.order_ids or e.order_refs or e.products) or not _FOLLOW_UP.search(turn.text):
        return ""
    if intent in FORM_INTENTS:
        return ""  # a task of its own
    if e.order_ids or e.order_refs or _NAMES_AN_ORDER.search(turn.text):
        return last
    if intent in _CATALOG_INTENTS or (intent and turn.understanding.confidence >= SWITCH_CONFIDENCE):
        return ""  # "and the kettle?" may be about the kettle itself
    return last


_SAME = re.compile(r"\bsame (?:reason|card|payment|method|way|thing)\b|\b(?:too|as well|also)\b", re.IGNORECASE)
# "the one with the kettle", "the order with...", "that package": an order, not a product.
_NAMES_AN_ORDER = re.compile(r"\b(?:one|ones|order|package|parcel|delivery|box)\s+(?:with|that has|containing)\b", re.I)


# General questions about how a task works, asked without naming an order: policy, not the task.
_HOW_IT_WORKS = re.compile(
    r"\bdo (?:i|you|we) (?:have|need) to pay\b|\b(?:is|are) there (?:a|any) (?:fee|charge|cost|limit|deadline)"
    r"|\bhow (?:long|many times|much does it cost|much is it to)\b|\bcan (?:i|you)\b.*\b(?:twice|again|more than once)\b"
    r"|\bhow do(?:es)?\b.*\bwork\b|\bwhat(?:'s| is) (?:the|your)\b.*\b(?:policy|window|limit|fee|deadline)\b"
    r"|\bwho pays\b|\bis it free\b|\bcan (?:i|you)\b.*\b(?:already|once it(?:'s| has| is)|after it(?:'s| has)?)\b",
    re.IGNORECASE,
)


def _asks_how_it_works(turn: Turn) -> bool:
    e = turn.entities
    return bool(_HOW_IT_WORKS.search(turn.text)) and not (e.order_ids or e.order_refs or e.item_ids)


_MY_BALANCE = re.compile(
    r"\b(?:balance|left|remaining)\b.*\bgift\s*cards?\b|\bgift\s*cards?\b.*\b(?:balance|left|remaining)\b",
    re.IGNORECASE,
)

_ACCOUNT_ADDRESS = re.compile(
    r"\b(?:on|in|for|to) my (?:account|profile)\b|\bdefault (?:shipping )?address\b|\bi(?:'ve| have)? moved\b"
    r"|\bmy (?:account|profile)(?:'s)? address\b|\bfuture orders\b",
    re.IGNORECASE,
)
