"""The webhook view: Meta's handshake, the signature on every POST, storing each event once."""

from __future__ import annotations

import json

import pytest

from whatsapp.models import InboundEvent
from whatsapp.tests.conftest import APP_SECRET, VERIFY_TOKEN, notification, post_webhook, sign, text_message

pytestmark = pytest.mark.django_db


def test_handshake_echoes_the_challenge_for_our_verify_token(client, graph):
    response = client.get(
        "/whatsapp/webhook", {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong-token", "hub.challenge": "42"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.challenge": "42"},
    ],
)
def test_handshake_is_refused_without_the_right_token_and_mode(client, graph, params):
    response = client.get("/whatsapp/webhook", params)
    assert response.status_code == 403
    assert b"42" not in response.content


def test_handshake_is_refused_when_no_verify_token_is_configured(client, graph, settings):
    settings.WHATSAPP_VERIFY_TOKEN = ""
    response = client.get("/whatsapp/webhook", {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "42"})
    assert response.status_code == 403


def test_a_signed_post_is_stored_and_acknowledged(client, graph, new_phone):
    phone = new_phone()
    message = text_message(phone, "Hello")

    response = post_webhook(client, notification(messages=[message]))

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.key, event.kind, event.phone, event.state) == (message["id"], "message", phone, "received")
    assert event.payload == {"message": message, "profile_name": "Sam"}


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_missing_or_bad_signature_is_403_and_nothing_is_stored(client, graph, new_phone, signature):
    response = post_webhook(client, notification(messages=[text_message(new_phone(), "Hello")]), signature=signature)

    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_signature_over_different_bytes_is_refused(client, graph, new_phone):
    # Signed for one body, sent with another (re-serialised) one: the HMAC is over the raw bytes.
    payload = notification(messages=[text_message(new_phone(), "Hello")])
    signed_for = json.dumps(payload).encode()
    body = json.dumps(payload, indent=1).encode()

    response = client.post(
        "/whatsapp/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(signed_for)
    )

    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_signature_with_another_secret_is_refused(client, graph, new_phone):
    body = json.dumps(notification(messages=[text_message(new_phone(), "Hi")])).encode()
    response = client.post(
        "/whatsapp/webhook",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, APP_SECRET + "x"),
    )
    assert response.status_code == 403


def test_without_an_app_secret_every_post_is_refused(client, graph, settings, new_phone):
    settings.WHATSAPP_APP_SECRET = ""
    body = json.dumps(notification(messages=[text_message(new_phone(), "Hi")])).encode()
    response = client.post(
        "/whatsapp/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body, "")
    )
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_redelivered_message_is_stored_once(client, graph, new_phone):
    message = text_message(new_phone(), "Where is my order?")

    first = post_webhook(client, notification(messages=[message]))
    second = post_webhook(client, notification(messages=[message]))

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.content, second.content) == (b"stored 1", b"stored 0")
    assert InboundEvent.objects.count() == 1


def test_each_status_of_one_message_is_its_own_event(client, graph, new_phone):
    phone = new_phone()
    statuses = [
        {"id": "wamid.out.1", "status": state, "timestamp": "1700000000", "recipient_id": phone}
        for state in ("sent", "delivered", "read", "read")
    ]
    post_webhook(client, notification(statuses=statuses))

    assert sorted(InboundEvent.objects.values_list("key", flat=True)) == [
        "wamid.out.1:delivered",
        "wamid.out.1:read",
        "wamid.out.1:sent",
    ]


@pytest.mark.parametrize("body", [b"not json", b'{"object": "page", "entry": []}', b"[]"])
def test_a_signed_body_that_is_not_a_whatsapp_notification_is_400(client, graph, body):
    response = client.post(
        "/whatsapp/webhook", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body)
    )
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_other_methods_are_not_allowed(client, graph):
    assert client.put("/whatsapp/webhook").status_code == 405
