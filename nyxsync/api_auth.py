"""DRF authentication that also switches the request's database context to the user it finds:
the API authenticates inside the view, after TenancyMiddleware opened the request's scope.

API tokens are django-rest-knox's: only a digest is stored, a key is shown once when it is made,
and it may expire. `user_for_token` is the one check of a token for every door that takes one
(the REST API through TokenAuthentication, the MCP server of agents/)."""

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import authentication, exceptions
from rest_framework.authentication import get_authorization_header

from nyxsync import tenancy


class _SwitchesTenancy:
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            tenancy.switch_to(result[0])
        return result


class TokenAuthentication(_SwitchesTenancy, KnoxTokenAuthentication):
    """A token sent as `Authorization: Token <key>` (knox's word) or `Bearer <key>`, the word the
    MCP endpoint asks for and most HTTP clients send: the same key works at every door."""

    def authenticate_header(self, request):
        # Knox reads the scheme it accepts from here, and DRF the one a 401 names; the schema
        # generator asks with no request.
        scheme = get_authorization_header(request).split()[:1] if hasattr(request, "META") else []
        return "Bearer" if scheme and scheme[0].lower() == b"bearer" else super().authenticate_header(request)


class SessionAuthentication(_SwitchesTenancy, authentication.SessionAuthentication):
    pass


def user_for_token(key: str):
    """The active user the API token `key` belongs to; None for an unknown, expired or revoked
    token, or an inactive user's."""
    if not key:
        return None
    try:
        user, _token = TokenAuthentication().authenticate_credentials(key.encode())
    except exceptions.AuthenticationFailed:
        return None
    return user
