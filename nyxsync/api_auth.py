"""DRF authentication that also switches the request's database context to the user it finds:
the API authenticates inside the view, after TenancyMiddleware opened the request's scope.

API tokens are django-rest-knox's: only a digest is stored, a key is shown once when it is made,
and it may expire. `user_for_token` is the one check of a token for every door that takes one
(the REST API through TokenAuthentication, the MCP server of agents/)."""

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired
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

    def _cleanup_token(self, auth_token) -> bool:
        """True (and the token deleted) if `auth_token` has expired. Knox's own also reads every
        other token of the user, to delete the expired ones, on every request: a query per API
        call for nothing here, where a user holds one token (nyxsync.api_tokens replaces it), and
        an expired token is refused when presented whether it was swept or not."""
        if auth_token.expiry is None or auth_token.expiry >= timezone.now():
            return False
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=type(self), username=username, source="auth_token")
        return True


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
