"""Forms of the customer chat page (the JSON API validates with its own serializers)."""

from __future__ import annotations

from django import forms

from chat.limits import MAX_MESSAGE_CHARS, MESSAGE_TOO_LONG, message_too_long
from chat.models import Feedback


class MessageForm(forms.Form):
    text = forms.CharField(
        label="Your message",
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
        error_messages={"required": "Please type a message before sending."},
        help_text=f"Enter sends · Shift+Enter adds a line · up to {MAX_MESSAGE_CHARS:,} characters",
    )
    # Empty: the message starts a new conversation.
    conversation = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        # Not max_length: the browser would silently cut a long paste at the limit.
        if message_too_long(text):
            raise forms.ValidationError(MESSAGE_TOO_LONG, code="too_long")
        return text


class FeedbackForm(forms.Form):
    rating = forms.ChoiceField(choices=Feedback.Rating.choices)
    comment = forms.CharField(
        label="Tell us more (optional)", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
