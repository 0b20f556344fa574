"""Request middleware."""

from nyxsync import tenancy


class TenancyMiddleware:
    """Every query of a request acts for its user (row-level security); the API switches to the
    user its authentication finds (nyxsync.api_auth)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with tenancy.acting_for_request(request.user):
            return self.get_response(request)
