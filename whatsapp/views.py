"""The WhatsApp webhook (Meta's handshake and event deliveries)."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from supportbot.errors import InvalidInput
from whatsapp.services import verification_challenge, webhook_events_store, webhook_signature_valid

logger = logging.getLogger(__name__)


# Meta signs its POSTs (X-Hub-Signature-256); it has no CSRF token to send.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        challenge = verification_challenge(
            mode=request.GET.get("hub.mode", ""),
            token=request.GET.get("hub.verify_token", ""),
            challenge=request.GET.get("hub.challenge", ""),
        )
        if challenge is None:
            return HttpResponseForbidden("Verification failed.", content_type="text/plain")
        return HttpResponse(challenge, content_type="text/plain")

    # The signature covers the raw bytes, so it is checked before anything is parsed.
    if not webhook_signature_valid(body=request.body, header=request.headers.get("X-Hub-Signature-256", "")):
        logger.warning("whatsapp webhook: missing or bad signature")
        return HttpResponseForbidden("Invalid signature.", content_type="text/plain")
    try:
        payload = json.loads(request.body)
        events = webhook_events_store(payload=payload)
    except (ValueError, InvalidInput) as exc:
        return HttpResponseBadRequest(f"Not a WhatsApp notification: {exc}", content_type="text/plain")
    return HttpResponse(f"stored {len(events)}", content_type="text/plain")

