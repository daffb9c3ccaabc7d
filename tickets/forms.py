"""Forms of My tickets."""

from __future__ import annotations

from django import forms

REPLY_MAX = 5000


class ReplyForm(forms.Form):
    text = forms.CharField(
        label="Your reply",
        max_length=REPLY_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={
            "required": "Please write your reply before sending.",
            "max_length": f"Please keep your reply to {REPLY_MAX:,} characters or fewer.",
        },
    )


class RatingForm(forms.Form):
    score = forms.TypedChoiceField(
        label="How satisfied are you with how we handled this?",
        choices=[(n, str(n)) for n in range(1, 6)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": "Please choose a rating from 1 to 5."},
    )
    comment = forms.CharField(
        label="Comment (optional)", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
