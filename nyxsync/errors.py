"""The base of every domain error: a refusal whose message is written for the person who sent
the input. Each app's errors subclass it with a stable `code` and the HTTP status it means, so
the doors render any of them without knowing the app (nyxsync.api_errors for the API; pages and
commands show the message)."""


class DomainError(Exception):
    """A request that cannot be done; the message says why in one sentence."""

    code = "invalid"
    http_status = 400
