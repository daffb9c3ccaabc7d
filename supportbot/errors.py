"""One error family for business rules, turned into responses in one place.

Services raise `ApplicationError` (or a subclass) with a message written for the customer
("Order #W123 was delivered, so it can't be cancelled — you can return it instead") and
optional structured `extra`. Views, the JSON API and the tool layer catch this one type.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **({"extra": self.extra} if self.extra else {})}


class NotFound(ApplicationError):
    code = "not_found"


class PermissionDenied(ApplicationError):
    code = "permission_denied"


class InvalidInput(ApplicationError):
    code = "invalid_input"


class RuleViolation(ApplicationError):
    """The request is well-formed but the store's rules refuse it (status, limits, balance)."""

    code = "rule_violation"


class RateLimited(ApplicationError):
    """Too many requests of one kind in a period (chat turns, sign-ups, searches); HTTP 429."""

    code = "rate_limited"
