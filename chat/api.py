"""The JSON API under /api/chat/: thin views over the chat services (session auth + CSRF).

Errors are turned into JSON in one place (`exception_handler`): {"error": {"code", "message"}}
with 400 for bad input, 404 for anything not the caller's (another customer's conversation
is indistinguishable from a missing one), 409 for a refused rule, 403 for staff-only views.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from adrf.decorators import api_view as async_api_view
from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from assistant import actions as actions_service
from assistant.turn import achat_turn
from chat.limits import MAX_MESSAGE_CHARS, MESSAGE_TOO_LONG
from chat.models import Conversation, Message, PendingAction
from chat.selectors import access_conversation, conversation_actions, conversation_messages_visible
from chat.services.conversations import conversation_start
from chat.services.feedback import feedback_give
from chat.services.ratelimit import check_chat_turn_rate
from orders.selectors import access_customer_for_user
from supportbot.errors import (
    ApplicationError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    RuleViolation,
)
from supportbot.steps import sync_step
from tickets.models import DASHBOARD_PERMISSION
from tickets.selectors import support_analytics_summary

_STATUS_FOR_ERROR = {
    NotFound: status.HTTP_404_NOT_FOUND,
    PermissionDenied: status.HTTP_403_FORBIDDEN,
    InvalidInput: status.HTTP_400_BAD_REQUEST,
    RuleViolation: status.HTTP_409_CONFLICT,
    RateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        code = next((value for kind, value in _STATUS_FOR_ERROR.items() if isinstance(exc, kind)), 400)
        response = Response({"error": {"code": exc.code, "message": exc.message}}, status=code)
        if isinstance(exc, RateLimited) and "retry_after" in exc.extra:
            response["Retry-After"] = str(exc.extra["retry_after"])
        return response
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "error" not in response.data:
        if "detail" in response.data:
            detail = response.data["detail"]
            response.data = {"error": {"code": getattr(detail, "code", "error"), "message": str(detail)}}
        else:
            # Serializer errors: one message naming each bad field, and the fields themselves.
            fields = {name: [str(problem) for problem in problems] for name, problems in response.data.items()}
            message = "; ".join(f"{name}: {' '.join(problems)}" for name, problems in fields.items())
            response.data = {"error": {"code": "invalid_input", "message": message, "fields": fields}}
    return response


# --- Serializers ---------------------------------------------------------------------------


class MessageOut(serializers.ModelSerializer[Message]):
    class Meta:
        model = Message
        fields = ["id", "role", "text", "citations", "created_at", "latency_ms"]


class ActionOut(serializers.ModelSerializer[PendingAction]):
    class Meta:
        model = PendingAction
        fields = [
            "id",
            "tool",
            "description",
            "status",
            "idempotency_key",
            "result",
            "created_at",
            "expires_at",
            "message_id",
        ]


class MessageIn(serializers.Serializer[dict[str, Any]]):
    # Refused in the same words as the web chat and WhatsApp.
    text = serializers.CharField(
        max_length=MAX_MESSAGE_CHARS, trim_whitespace=True, error_messages={"max_length": MESSAGE_TOO_LONG}
    )
    conversation_id = serializers.IntegerField(required=False, allow_null=True)


class TurnOut(serializers.Serializer[dict[str, Any]]):
    conversation_id = serializers.IntegerField()
    status = serializers.CharField()
    messages = MessageOut(many=True)
    pending_actions = ActionOut(many=True)


class FeedbackIn(serializers.Serializer[dict[str, Any]]):
    message_id = serializers.IntegerField()
    rating = serializers.ChoiceField(choices=["up", "down"])
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ConfirmIn(serializers.Serializer[dict[str, Any]]):
    idempotency_key = serializers.CharField(required=False, max_length=64)


class DecisionOut(serializers.Serializer[dict[str, Any]]):
    action = ActionOut()
    messages = MessageOut(many=True)
    replayed = serializers.BooleanField()


class CanViewSupportDashboard(BasePermission):
    """The staff dashboard's rule (tickets.dashboard_views): a staff login with the dashboard permission."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff and user.has_perm(DASHBOARD_PERMISSION))


def _waiting(conversation: Conversation) -> list[PendingAction]:
    return list(conversation_actions(conversation=conversation).filter(status=PendingAction.Status.PROPOSED))


# --- Views ---------------------------------------------------------------------------------


@extend_schema(request=MessageIn, responses=TurnOut, summary="Send a message; get the assistant's answer")
@async_api_view(["POST"])
async def message(request: Request) -> Response:
    """An async view (adrf), like the web chat's stream: a client waiting on the model holds a
    connection, not a thread; the database work runs in `sync_step` steps (supportbot/steps.py)."""
    data = MessageIn(data=request.data)
    data.is_valid(raise_exception=True)
    conversation = await sync_step(_message_conversation)(
        user=request.user, conversation_id=data.validated_data.get("conversation_id")
    )
    replies = await achat_turn(conversation=conversation, text=data.validated_data["text"], user=request.user)
    return Response(await sync_step(_turn_payload)(conversation, replies))


def _message_conversation(*, user: Any, conversation_id: int | None) -> Conversation:
    customer = access_customer_for_user(user)
    # The assistant's budget, shared with the web chat and WhatsApp; the DRF throttles above
    # only bound the API as a whole.
    check_chat_turn_rate(customer=customer)
    if conversation_id is None:
        return conversation_start(customer=customer, channel=Conversation.Channel.API)
    return access_conversation(customer=customer, conversation_id=conversation_id)


def _turn_payload(conversation: Conversation, replies: list[Message]) -> dict[str, Any]:
    conversation.refresh_from_db(fields=["status"])
    return {
        "conversation_id": conversation.pk,
        "status": conversation.status,
        "messages": MessageOut(replies, many=True).data,
        "pending_actions": ActionOut(_waiting(conversation), many=True).data,
    }


@extend_schema(
    responses=inline_serializer(
        "History",
        {
            "conversation_id": serializers.IntegerField(),
            "status": serializers.CharField(),
            "messages": MessageOut(many=True),
            "actions": ActionOut(many=True),
        },
    ),
    summary="A conversation's messages and actions (your own conversations only)",
)
@api_view(["GET"])
def history(request: Request, conversation_id: int) -> Response:
    conversation = access_conversation(customer=access_customer_for_user(request.user), conversation_id=conversation_id)
    actions_service.actions_expire_stale(conversation=conversation)
    return Response(
        {
            "conversation_id": conversation.pk,
            "status": conversation.status,
            "messages": MessageOut(conversation_messages_visible(conversation=conversation), many=True).data,
            "actions": ActionOut(conversation_actions(conversation=conversation), many=True).data,
        }
    )


@extend_schema(
    request=FeedbackIn,
    responses={
        201: inline_serializer("FeedbackOut", {"id": serializers.IntegerField(), "rating": serializers.CharField()})
    },
    summary="Thumbs up or down on an assistant answer",
)
@api_view(["POST"])
def feedback(request: Request) -> Response:
    data = FeedbackIn(data=request.data)
    data.is_valid(raise_exception=True)
    given = feedback_give(user=request.user, **data.validated_data)  # type: ignore[arg-type]
    return Response({"id": given.pk, "rating": given.rating}, status=status.HTTP_201_CREATED)


def _decision(decision: actions_service.ActionDecision) -> Response:
    return Response(
        {
            "action": ActionOut(decision.action).data,
            "messages": MessageOut(decision.messages, many=True).data,
            "replayed": decision.replayed,
        }
    )


@extend_schema(request=ConfirmIn, responses=DecisionOut, summary="Confirm a proposed action (runs it exactly once)")
@api_view(["POST"])
def action_confirm(request: Request, action_id: int) -> Response:
    data = ConfirmIn(data=request.data)
    data.is_valid(raise_exception=True)
    customer = access_customer_for_user(request.user)
    decision = actions_service.action_confirm(
        action_id=action_id, customer=customer, idempotency_key=data.validated_data.get("idempotency_key")
    )
    return _decision(decision)


@extend_schema(request=None, responses=DecisionOut, summary="Decline a proposed action")
@api_view(["POST"])
def action_decline(request: Request, action_id: int) -> Response:
    customer = access_customer_for_user(request.user)
    return _decision(actions_service.action_decline(action_id=action_id, customer=customer))


@extend_schema(
    parameters=[
        OpenApiParameter("since", str, description="First day (YYYY-MM-DD), default 30 days ago"),
        OpenApiParameter("until", str, description="Last day included (YYYY-MM-DD), default today"),
    ],
    responses=inline_serializer("Analytics", {"conversations": serializers.IntegerField()}),
    summary="Support analytics (staff only)",
)
@api_view(["GET"])
@permission_classes([CanViewSupportDashboard])
def analytics(request: Request) -> Response:
    today = timezone.localdate()
    try:
        first = _day(request.query_params.get("since")) or today - timedelta(days=30)
        last = _day(request.query_params.get("until")) or today
    except ValueError:
        raise InvalidInput("Dates must look like 2026-01-31.") from None
    if first > last:
        raise InvalidInput("“since” must not be after “until”.")
    tz = timezone.get_current_timezone()
    since = timezone.make_aware(datetime.combine(first, time.min), tz)
    until = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), tz)
    return Response(support_analytics_summary(since=since, until=until))


def _day(raw: str | None) -> Any:
    if not raw:
        return None
    parsed = parse_date(raw)
    if parsed is None:
        raise ValueError(raw)
    return parsed
