"""A database outage answers "try again", not a 500.

When PostgreSQL restarts or fails over, the requests in flight lose their connection
(OperationalError / InterfaceError). The customer's message may already be stored; what they
need is to know nothing is broken for good and to send again. This middleware answers 503
with Retry-After: JSON in the API's error envelope under /api/, the error partial (with its
"Try again" button) for htmx, a short page otherwise. Django closes the broken connection at
the end of the request and the next request connects afresh (CONN_HEALTH_CHECKS).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_MESSAGE = "We couldn't finish that just now — our database was briefly unavailable. Please try again in a moment."
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.error("database unavailable during %s %s: %s", request.method, request.path, exception)
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"error": {"code": "unavailable", "message": RETRY_MESSAGE}}, status=503)
        else:
            partial = render_to_string("partials/error.html", {"error": RETRY_MESSAGE, "retry": True})
            if request.headers.get("HX-Request") == "true":
                response = HttpResponse(partial, status=503)
            else:
                page = render_to_string("service_unavailable.html", {"error": RETRY_MESSAGE})
                response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
