"""Thumbs up/down on an assistant answer."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from chat.models import Feedback, Message
from supportbot.errors import InvalidInput, NotFound

MAX_COMMENT = 2000


@transaction.atomic
def feedback_give(*, message_id: int, user: AbstractBaseUser, rating: str, comment: str = "") -> Feedback:
    """Record (or change) `user`'s rating of an assistant message in one of their conversations."""
    if rating not in Feedback.Rating.values:
        raise InvalidInput("Rating must be “up” or “down”.")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"Please keep the comment under {MAX_COMMENT} characters.")
    message = Message.objects.filter(
        pk=message_id, conversation__customer__user_id=user.pk, role=Message.Role.ASSISTANT
    ).first()
    if message is None:
        raise NotFound("That answer was not found.")
    feedback, _ = Feedback.objects.update_or_create(
        message=message, user_id=user.pk, defaults={"rating": rating, "comment": comment}
    )
    return feedback
