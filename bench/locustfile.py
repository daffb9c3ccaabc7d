"""Locust scenario: logged-in customers chatting, reading their orders and the help center.

Started by bench/run_loadtest.py (`make loadtest`), which logs every load-test customer in
through the real login form first and passes the sessions in LOADTEST_SESSIONS (a JSON file).

Each simulated customer has their own account (so per-user rate limits apply as in real
life) and loops over: a chat turn through the JSON API (weight 6; a new conversation every
few turns), My orders (2), one order's page (1) and the help center: index, a search or an
article (1); the weights and the wait live in bench/pacing.py, which the runner reads too.
Every chat turn the server acknowledged (HTTP 200) is counted per conversation and written
to LOADTEST_ACKS at the end, so the runner can check in the database that none was lost.

Why the cookies are sent by hand: the stack runs with production settings (DEBUG off), so
the session and CSRF cookies carry the Secure flag, and an HTTP client rightly refuses to
send Secure cookies over plain http://127.0.0.1. TLS on loopback would only add CPU noise
to the measurement (Locust shares the machine's cores), so the scenario presents the cookies
itself.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, events, task

from bench.pacing import CHAT_WEIGHT, HELP_WEIGHT, ORDER_DETAIL_WEIGHT, ORDERS_WEIGHT, WAIT_MAX, WAIT_MIN

SESSIONS = json.loads(Path(os.environ["LOADTEST_SESSIONS"]).read_text())
ACKS_PATH = Path(os.environ["LOADTEST_ACKS"])
TURNS_PER_CONVERSATION = 8
_next_account = itertools.count()
# conversation id -> chat turns the server answered with 200
ACKNOWLEDGED: Counter[int] = Counter()

QUESTIONS = [
    "Where is my order {order}?",
    "What's the status of {order}?",
    "Has {order} shipped yet?",
    "What is your return policy?",
    "How long does shipping take?",
    "Can I exchange an item for a different size?",
    "How do refunds work?",
    "Do you ship internationally?",
    "What payment methods do you accept?",
    "How do I reset my password?",
    "Show me my recent orders",
    "hi",
    "thanks!",
]
SEARCHES = ["returns", "shipping", "refund", "warranty", "exchange", "gift card"]


class Shopper(FastHttpUser):
    wait_time = between(WAIT_MIN, WAIT_MAX)

    def on_start(self) -> None:
        account = SESSIONS["customers"][next(_next_account) % len(SESSIONS["customers"])]
        self.orders: list[str] = account["orders"]
        self.csrf = account["csrftoken"]
        self.cookie_header = f"sessionid={account['sessionid']}; csrftoken={account['csrftoken']}"
        self.conversation_id: int | None = None
        self.turns = 0

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Cookie": self.cookie_header, **extra}

    def _get(self, path: str, name: str) -> None:
        # No redirects followed: a lost session would show as a 302 to the login page, not a 200.
        with self.client.get(
            path, headers=self._headers(), name=name, catch_response=True, allow_redirects=False
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")

    @task(CHAT_WEIGHT)
    def chat_turn(self) -> None:
        if self.turns >= TURNS_PER_CONVERSATION:
            self.conversation_id, self.turns = None, 0
        text = random.choice(QUESTIONS).format(order=random.choice(self.orders) if self.orders else "#W0000000")
        payload: dict[str, Any] = {"text": text}
        if self.conversation_id is not None:
            payload["conversation_id"] = self.conversation_id
        with self.client.post(
            "/api/chat/message",
            json=payload,
            name="POST /api/chat/message",
            headers=self._headers(**{"X-CSRFToken": self.csrf, "Accept": "application/json"}),
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
                return
            body = response.json()
            answers = [m for m in body.get("messages", []) if m.get("role") == "assistant" and m.get("text")]
            if not answers:
                response.failure("200 without an assistant answer")
                return
            self.conversation_id = body["conversation_id"]
            ACKNOWLEDGED[self.conversation_id] += 1
            self.turns += 1

    @task(ORDERS_WEIGHT)
    def my_orders(self) -> None:
        self._get("/orders/", "GET /orders/")

    @task(ORDER_DETAIL_WEIGHT)
    def order_detail(self) -> None:
        if self.orders:
            self._get(f"/orders/{random.choice(self.orders).lstrip('#')}/", "GET /orders/<id>/")

    @task(HELP_WEIGHT)
    def help_center(self) -> None:
        choice = random.random()
        if choice < 0.3 or not SESSIONS["articles"]:
            self._get("/help/", "GET /help/")
        elif choice < 0.6:
            self._get(f"/help/?q={random.choice(SEARCHES).replace(' ', '+')}", "GET /help/?q=")
        else:
            self._get(f"/help/{random.choice(SESSIONS['articles'])}/", "GET /help/<slug>/")


@events.quitting.add_listener
def _write_acknowledged(environment: Any, **kwargs: Any) -> None:
    ACKS_PATH.write_text(json.dumps({str(key): value for key, value in ACKNOWLEDGED.items()}))
