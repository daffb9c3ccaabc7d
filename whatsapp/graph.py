"""The WhatsApp Business Cloud API (Graph API) messages endpoint: request bodies and the call.

    POST {WHATSAPP_API_BASE_URL}/{WHATSAPP_PHONE_NUMBER_ID}/messages
    Authorization: Bearer {WHATSAPP_ACCESS_TOKEN}

Bodies follow Meta's documented shapes: a text message, and an interactive message with up to
three reply buttons (id ≤ 256 characters, title ≤ 20). A reply button's id comes back in the
webhook as `interactive.button_reply.id` when the customer taps it.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from whatsapp.formatting import INTERACTIVE_BODY_LIMIT, button_title

TIMEOUT_SECONDS = 10
MAX_BUTTONS = 3


class GraphError(Exception):
    """The Graph API did not accept the message."""


class GraphTransientError(GraphError):
    """Worth retrying: network trouble, rate limiting (429) or a server error (5xx)."""


class GraphRejected(GraphError):
    """Permanent: the request itself was refused (bad number, outside the window, bad token)."""


def text_body(*, to: str, text: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": text},
    }


def buttons_body(*, to: str, text: str, buttons: list[tuple[str, str]]) -> dict[str, Any]:
    """Reply buttons: `buttons` is [(id, title)], at most three."""
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(f"WhatsApp shows 1 to {MAX_BUTTONS} reply buttons, not {len(buttons)}.")
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": text[:INTERACTIVE_BODY_LIMIT]},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": id_[:256], "title": button_title(title)}}
                    for id_, title in buttons
                ]
            },
        },
    }


def messages_url() -> str:
    return f"{settings.WHATSAPP_API_BASE_URL.rstrip('/')}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"


def message_post(body: dict[str, Any]) -> str:
    """Post one message; returns its WhatsApp message id (wamid).

    Raises GraphTransientError (retry later) or GraphRejected (don't).
    """
    try:
        response = requests.post(
            messages_url(),
            json=body,
            headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise GraphTransientError(f"Could not reach the Graph API: {exc.__class__.__name__}: {exc}") from exc
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code == 429 or response.status_code >= 500:
        raise GraphTransientError(f"Graph API answered {response.status_code}: {_error_text(data)}")
    if response.status_code >= 400:
        raise GraphRejected(f"Graph API refused the message ({response.status_code}): {_error_text(data)}")
    try:
        return str(data["messages"][0]["id"])
    except (KeyError, IndexError, TypeError) as exc:
        raise GraphTransientError(f"Graph API answered {response.status_code} without a message id.") from exc


def _error_text(data: Any) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return f"{error.get('message') or 'no message'}" + (f" (code {code})" if code is not None else "")
    return "no error details"
