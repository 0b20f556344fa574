"""DRF authentication that also switches the request's database context to the user it finds:
the API authenticates inside the view, after TenancyMiddleware opened the request's scope.

API tokens are django-rest-knox's: only a digest is stored, a key is shown once when it is made,
and it may expire. `user_for_token` is the one check of a token for every door that takes one
(the REST API through TokenAuthentication, the MCP server of agents/)."""

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import authentication, exceptions

from nyxsync import tenancy


class _SwitchesTenancy:
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            tenancy.switch_to(result[0])
        return result


class TokenAuthentication(_SwitchesTenancy, KnoxTokenAuthentication):
    pass


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
