"""Forms of the customer chat page (the JSON API validates with its own serializers)."""

from __future__ import annotations

from django import forms

from chat.models import Feedback

# The portal's limit, stricter than the agent's: long pastes are better as a ticket.
MAX_MESSAGE_CHARS = 2000


class MessageForm(forms.Form):
    text = forms.CharField(
        label="Your message",
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
        error_messages={"required": "Please type a message before sending."},
    )
    # Empty: the message starts a new conversation.
    conversation = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        if len(text) > MAX_MESSAGE_CHARS:
            raise forms.ValidationError(
                f"Your message is {len(text):,} characters long. Please keep it to {MAX_MESSAGE_CHARS:,} characters "
                "or fewer — you can split it into several messages.",
                code="too_long",
            )
        return text


class FeedbackForm(forms.Form):
    rating = forms.ChoiceField(choices=Feedback.Rating.choices)
    comment = forms.CharField(
        label="Tell us more (optional)", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
