"""DRF authentication that also switches the request's database context to the user it finds:
the API authenticates inside the view, after TenancyMiddleware opened the request's scope."""

from rest_framework import authentication

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
