"""The WhatsApp webhook (Meta's handshake and event deliveries) and the customer's linked numbers.

The numbers page only shows and unlinks: a number is linked solely by the code emailed to the
account and typed back in WhatsApp (whatsapp.services.linking), never by anything on the web.
"""

from __future__ import annotations

import json
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders.models import Customer
from orders.selectors import access_customer_for_user
from supportbot.errors import ApplicationError, InvalidInput
from whatsapp.selectors import contacts_linked
from whatsapp.services import (
    contact_unlink_for_customer,
    verification_challenge,
    webhook_events_store,
    webhook_signature_valid,
)

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


def _customer_or_404(request: HttpRequest) -> Customer:
    try:
        return access_customer_for_user(request.user)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


@login_required
@require_GET
def numbers(request: HttpRequest) -> HttpResponse:
    """The WhatsApp numbers linked to your account, each with an Unlink button."""
    customer = _customer_or_404(request)
    return render(request, "whatsapp/numbers.html", {"contacts": contacts_linked(customer=customer)})


@login_required
@require_POST
def unlink(request: HttpRequest, contact_id: int) -> HttpResponse:
    customer = _customer_or_404(request)
    try:
        contact = contact_unlink_for_customer(contact_id=contact_id, customer=customer)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"+{contact.phone} is no longer linked to your account.")
    return redirect("whatsapp:numbers")
