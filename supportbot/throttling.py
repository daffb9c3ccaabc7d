"""Rate limits of the JSON API (DRF throttles), counted in the Django cache (Redis).

The rates are read from settings on every request rather than frozen at import, so
API_RATE_LIMIT / API_ANON_RATE_LIMIT apply as configured (and tests can change them).
A refused request gets 429 with Retry-After and the JSON error body of chat.api.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class ApiUserThrottle(UserRateThrottle):
    scope = "api_user"

    def get_rate(self) -> str:
        return str(settings.API_RATE_LIMIT)


class ApiAnonThrottle(AnonRateThrottle):
    scope = "api_anon"

    def get_rate(self) -> str:
        return str(settings.API_ANON_RATE_LIMIT)
