"""DRF authentication that also switches the request's database context to the user it finds:
the API authenticates inside the view, after TenancyMiddleware opened the request's scope.

`user_for_token` is the one check of an API token for every door that takes one (the REST API
through TokenAuthentication, the MCP server of agents/): a change to how tokens are stored or
expire happens in TokenAuthentication and reaches both."""

from rest_framework import authentication, exceptions

from nyxsync import tenancy


class _SwitchesTenancy:
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            tenancy.switch_to(result[0])
        return result


class TokenAuthentication(_SwitchesTenancy, authentication.TokenAuthentication):
    pass


class SessionAuthentication(_SwitchesTenancy, authentication.SessionAuthentication):
    pass


def user_for_token(key: str):
    """The active user the API token `key` belongs to; None for an unknown, revoked or
    inactive user's token."""
    if not key:
        return None
    try:
        user, _token = TokenAuthentication().authenticate_credentials(key)
    except exceptions.AuthenticationFailed:
        return None
    return user
