"""The REST API's foundation: strict JSON input, one error shape, pagination, throttles, and the
schema generator that lists one view per HTTP method of a URL. It knows no app: the
project-scoped base view is projects.api's; the endpoints live in each app's apis.py."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular import authentication as spectacular_auth
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

# --- base ---------------------------------------------------------------------------------------


class ApiSchema(AutoSchema):
    """Component and operation names from the per-operation view classes, so nested
    `InputSerializer`s of different views never collide: ProjectCreateApi.InputSerializer ->
    `ProjectCreateInput`, operationId `project_create`."""

    def get_serializer_name(self, serializer, direction):
        owner, _, name = type(serializer).__qualname__.rpartition(".")
        if owner:
            return owner.removesuffix("Api") + name.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False  # unknown fields are refused (StrictSerializer)
        return schema

    def get_operation_id(self):
        name = type(self.view).__name__.removesuffix("Api")
        return "".join(f"_{char.lower()}" if char.isupper() else char for char in name).lstrip("_")


class SessionScheme(spectacular_auth.SessionScheme):
    """The cookie scheme for subclasses of DRF's SessionAuthentication too (nyxsync.api_auth's
    also sets the database context): drf-spectacular's own matches the exact class only, and
    would leave session auth undocumented, with a warning that fails `check --deploy`."""

    match_subclasses = True


class TokenScheme(KnoxTokenScheme):
    """`Authorization: Token <key>` for nyxsync.api_auth's subclass of knox's authentication
    (drf-spectacular's own extension matches knox's exact class only)."""

    name = "tokenAuth"
    match_subclasses = True


class BaseApi(APIView):
    schema = ApiSchema()
    parser_classes = (JSONParser,)  # one input format: JSON bodies


class StrictSerializer(serializers.Serializer):
    """JSON input that means what it says: unknown fields are refused (a typo is an error, not a
    no-op), and so are values of the wrong JSON type, which DRF would coerce (7 -> "7" for a
    string, "7" -> 7 for an integer, 7 -> a UUID)."""

    allowed_extra: frozenset[str] = frozenset()
    json_types = True

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields) - self.allowed_extra)
            if unknown:
                raise exceptions.ValidationError({name: ["unknown field"] for name in unknown})
            if self.json_types:
                wrong = {name: [problem] for name, problem in self._type_problems(data).items()}
                if wrong:
                    raise exceptions.ValidationError(wrong)
        return super().to_internal_value(data)

    def _type_problems(self, data: Mapping) -> dict[str, str]:
        problems = {}
        for name, field in self.fields.items():
            value = data.get(name)
            if name not in data or value is None:
                continue  # missing and null: the field's own rules apply
            if isinstance(field, (serializers.CharField, serializers.ChoiceField, serializers.UUIDField)):
                ok, kind = isinstance(value, str), "a string"
            elif isinstance(field, serializers.BooleanField):
                ok, kind = isinstance(value, bool), "a boolean"
            elif isinstance(field, serializers.IntegerField):
                ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
            else:
                continue
            if not ok:
                problems[name] = f"must be {kind}"
        return problems


class QuerySerializer(StrictSerializer):
    """Query-string filters of a list (every value is text); pagination and format pass through."""

    allowed_extra = frozenset({"limit", "offset", "format"})
    json_types = False


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200
    max_offset = 1_000_000

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {"limit": (1, self.max_limit), "offset": (0, self.max_offset)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"] = {**parameter["schema"], "minimum": low, "maximum": high}
        return parameters


class _PageSerializer(QuerySerializer):
    allowed_extra = frozenset()
    limit = serializers.IntegerField(required=False, min_value=1, max_value=Pagination.max_limit)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=Pagination.max_offset)


def paginated_response(view: APIView, queryset, serializer_class, *, context: dict | None = None) -> Response:
    """One page of `queryset` as {count, next, previous, results}; limit/offset validated strictly."""
    request = view.request
    page_params = {key: request.query_params[key] for key in ("limit", "offset") if key in request.query_params}
    _PageSerializer(data=page_params).is_valid(raise_exception=True)
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {"request": request}).data)


def query_filters(request, serializer_class) -> dict:
    # A plain dict (last value of each name): `?status=` is then an empty value, refused like any
    # invalid one, where a QueryDict would make DRF drop it silently.
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# DRF's sliding window (the requests of the last `duration` seconds) as one Redis script: DRF reads
# the user's history and writes it back, two round trips, and two requests at once both count as
# one. A sorted set of the allowed requests' times, under a key of its own (not DRF's pickled list).
_WINDOW_SCRIPT = """
local key, now, duration, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
local count = redis.call('ZCARD', key)
if count >= limit then
    return {0, count, redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, math.ceil(duration * 1000))
return {1, count + 1, ''}
"""


class ScopedUserThrottle(UserRateThrottle):
    """Per user (per address when anonymous); the rate is read on each request from
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope], so settings overrides take effect. Counted in
    one round trip to the cache's Redis (`_WINDOW_SCRIPT`); DRF's own way on any other cache."""

    def get_rate(self):
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise exceptions.ImproperlyConfigured(f"no throttle rate for scope {self.scope!r}") from None

    def allow_request(self, request, view):
        from django.core.cache import cache as default_cache
        from django.core.cache import caches
        from django.core.cache.backends.redis import RedisCache

        backend = caches["default"] if self.cache is default_cache else self.cache  # DRF's is the proxy
        if self.rate is None or not isinstance(backend, RedisCache):
            return super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        key = backend.make_and_validate_key(self.key + ":window")
        client = backend._cache.get_client(key, write=True)
        self.now = self.timer()
        allowed, count, oldest = client.register_script(_WINDOW_SCRIPT)(
            keys=[key], args=[repr(self.now), self.duration, self.num_requests, uuid.uuid4().hex]
        )
        # What DRF's wait() reads: as many requests in the window as counted, the oldest last.
        self.history = [] if allowed else [float(oldest)] * int(count)
        return bool(allowed)


class SyncTriggerThrottle(ScopedUserThrottle):
    scope = "sync_trigger"


class SearchThrottle(ScopedUserThrottle):
    scope = "search"


class BranchListThrottle(ScopedUserThrottle):
    """Each branch listing asks a git host (ls-remote or the GitHub API) on the user's behalf."""

    scope = "branch_list"


def throttle_wait(throttle_class: type[ScopedUserThrottle], user) -> float | None:
    """Count one request of `user` against the API throttle of that scope (its rate, its counters
    in the shared cache); None when allowed, else the seconds to wait. For doors outside DRF (the
    pages, MCP): a user has one budget across every door."""
    from types import SimpleNamespace

    throttle = throttle_class()
    if throttle.allow_request(SimpleNamespace(user=user, META={}), None):
        return None
    return throttle.wait() or 1.0


PROJECT_UUID = OpenApiParameter("project_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before trying again.",
)


def absolute_url(request, name: str, **kwargs) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs))


def methods(**views):
    """One URL, one view class per HTTP method: methods(get=ProjectListApi, post=ProjectCreateApi)."""
    handlers = {method.upper(): view.as_view() for method, view in views.items()}
    allowed = ", ".join([*handlers, "OPTIONS"])
    first = next(iter(handlers.values()))

    @csrf_exempt  # each DRF view enforces CSRF itself for session-authenticated requests
    def dispatch(request, *args, **kwargs):
        method = "GET" if request.method == "HEAD" else request.method
        response = handlers.get(method, first)(request, *args, **kwargs)
        if response.status_code == 405 or request.method == "OPTIONS":
            response["Allow"] = allowed
        return response

    # For the schema generator: an APIView with the combined methods (so the route is listed)
    # and the view of each method (what is documented).
    dispatch.cls = type("MethodsApi", (APIView,), {name: _placeholder for name in views})
    dispatch.initkwargs = {}
    dispatch.views_by_method = {method.upper(): view.as_view() for method, view in views.items()}
    return dispatch


def _placeholder(self, request, *args, **kwargs):  # pragma: no cover - never dispatched
    raise NotImplementedError


class _Enumerator(EndpointEnumerator):
    def _get_api_endpoints(self, patterns, prefix):
        endpoints = super()._get_api_endpoints(patterns, prefix)
        return [
            (path_, regex, method, getattr(callback, "views_by_method", {}).get(method, callback))
            for path_, regex, method, callback in endpoints
        ]


class ApiSchemaGenerator(SchemaGenerator):
    endpoint_inspector_cls = _Enumerator
