"""`mcp`: nyxsync's MCP server over stdio, for agents that launch a local process. It acts for
one user: `--as USERNAME` (an operator on the box), or the owner of the API token in
$NYXSYNC_API_TOKEN, checked again on every call (a revoked token stops working at once)."""

import os

import anyio
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from nyxsync import tenancy
from nyxsync.management.lookup import user_by_username

TOKEN_VARIABLE = "NYXSYNC_API_TOKEN"


class Command(BaseCommand):
    help = f"Serves the MCP tools over stdin/stdout for one user: --as USERNAME or the API token in ${TOKEN_VARIABLE}."
    requires_system_checks = []  # stdout is the protocol's: nothing else may be written there

    def add_arguments(self, parser):
        parser.add_argument(
            "--as", dest="as_user", metavar="USERNAME", help=f"Act as this user (default: the owner of ${TOKEN_VARIABLE})."
        )

    def handle(self, *args, **options):
        from agents.server import build_server

        caller = self._caller(options["as_user"])
        # Like a web process: nobody by default (manage.py made it the system); each tool call
        # acts for the caller.
        tenancy.switch_to(None)
        connections.close_all()  # the lookups' connection; tool calls use their own threads'
        anyio.run(build_server(caller=caller).run_stdio_async)

    def _caller(self, username: str | None):
        from nyxsync.api_auth import user_for_token

        if username:
            user = user_by_username(username)
            if not user.is_active:
                raise CommandError(f"user {username!r} is inactive")
            return lambda: type(user).objects.filter(pk=user.pk, is_active=True).first()
        key = os.environ.get(TOKEN_VARIABLE, "").strip()
        if not key:
            raise CommandError(f"say whom to act for: --as USERNAME, or an API token in ${TOKEN_VARIABLE}")
        if user_for_token(key) is None:
            raise CommandError(f"the API token in ${TOKEN_VARIABLE} is invalid or revoked")
        # Looked up again at each call: a user deactivated or a token revoked meanwhile is refused.
        return lambda: user_for_token(key)
