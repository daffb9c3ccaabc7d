"""OpenAPI post-processing: the error responses every JSON API operation can give.

chat.api turns every error into one JSON shape, {"error": {"code", "message", "fields"?}}, in
one place (its exception handler), so the shape and the statuses are documented here once
instead of on each view: 400 bad input, 403 not logged in / missing CSRF token / staff only,
404 not yours or missing, 409 refused by a store rule, 429 rate limited (Retry-After).
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
ERRORS = {
    "400": "The request is malformed or a field is invalid; the message names it.",
    "403": "Not logged in, no valid CSRF token, or staff only.",
    "404": "Not found (another customer's conversation or action looks exactly like a missing one).",
    "409": "A store rule refused the action; the message says why.",
    "429": "Too many requests; retry after the seconds in the Retry-After header.",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the error envelope on every operation, path ids ≥ 0."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                # Django's <int:...> path converter matches digits only: ids are never negative.
                if parameter.get("in") == "path" and parameter.get("schema", {}).get("type") == "integer":
                    parameter["schema"]["minimum"] = 0
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
    return result
