"""Login throttling (django-axes) for logins that arrive over HTTP.

Axes counts failed logins per username and client IP and refuses further attempts for a
while (AXES_* settings). Its backend insists on a request; `authenticate()` without one
(`manage.py` commands, the test client's `login()`) has no client to throttle and is not
reachable from the web, so it passes through to the next backend instead of raising.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LoginThrottleBackend(AxesStandaloneBackend):
    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def login_throttled(
    request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """The page a refused login gets (AXES_LOCKOUT_CALLABLE): 429, what happened and when to retry."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    return render(request, "registration/login_throttled.html", context, status=429)
