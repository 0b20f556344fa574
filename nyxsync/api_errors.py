"""The one error shape of the REST API, and the one handler that renders it.

Every error body is `{"code": "<stable code>", "message": "<first problem, one sentence>",
"fields": {"<field>": ["<problem>", ...]}}` (`fields` is empty unless input was invalid). Views
raise DRF exceptions or domain errors (nyxsync.errors.DomainError, each with its code and HTTP
status); the handler maps both, so no view builds an error body or knows an app's errors.
"""

from __future__ import annotations

import logging

from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler

from nyxsync.errors import DomainError

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """A domain error with a stable code: `raise ApiError("a run is active", code="conflict", status_code=409)`."""

    def __init__(self, message: str, *, code: str = "invalid", status_code: int = status.HTTP_400_BAD_REQUEST):
        super().__init__(detail=message, code=code)
        self.status_code = status_code


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"
    default_code = "payload_too_large"


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):  # every app's refusals (nyxsync.errors), with their code and status
        exc = ApiError(str(exc), code=exc.code, status_code=exc.http_status)
    response = drf_exception_handler(exc, context)  # also maps Http404 and PermissionDenied
    if response is None:
        return None  # not an API error: Django's 500 handling (and logging) takes over
    response.data = error_body(exc)
    return response


def error_body(exc: exceptions.APIException) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first_field, messages = next(iter(fields.items()), ("", ["invalid input"]))
        prefix = "" if first_field in ("", "non_field_errors") else f"{first_field}: "
        return {"code": _first_code(exc.get_codes()) or "invalid", "message": prefix + messages[0], "fields": fields}
    detail = exc.detail
    message = str(detail if not isinstance(detail, (list, dict)) else next(iter(_flatten(detail).values()))[0])
    codes = exc.get_codes()
    return {"code": codes if isinstance(codes, str) else exc.default_code, "message": message, "fields": {}}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """{"syncs": [{"branch": ["bad"]}]} -> {"syncs.0.branch": ["bad"]}; a bare list keys on ""."""
    if isinstance(detail, dict):
        flat = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix: [str(item) for item in detail]} if detail else {}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix: [str(detail)]}


def _first_code(codes) -> str | None:
    if isinstance(codes, str):
        return codes
    values = codes.values() if isinstance(codes, dict) else codes
    for value in values:
        found = _first_code(value)
        if found:
            return found
    return None


# --- documentation ------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: invalid, not_found, throttled, ...")
    message = serializers.CharField(help_text="The first problem, one sentence for a person.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Invalid input: field (dotted path) -> its problems. Empty for other errors.",
    )

    class Meta:
        ref_name = "Error"


_DESCRIPTIONS = {
    400: "Invalid input (`code` says which rule, `fields` which field).",
    401: "No or invalid credentials (send `Authorization: Token <key>`).",
    403: "The project is visible to you but you may not do this.",
    404: "No such resource, or one you may not see (they look alike).",
    405: "Method not allowed.",
    409: "The resource's state does not allow this now (say, a run is active).",
    413: "The request body is larger than the limit.",
    415: "Unsupported content type.",
    429: "Too many requests; retry after the `Retry-After` header's seconds.",
    503: "A backend the operation needs is unavailable; try again later.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """extend_schema(responses={200: ..., **error_responses(400, 401, 404)})."""
    return {code: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code]) for code in codes}
