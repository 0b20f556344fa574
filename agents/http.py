"""The MCP server over Streamable HTTP at /mcp/, inside nyxsync's ASGI application (nyxsync.asgi).

Stateless: every POST is served on its own (no session held in this process), so any web
process behind a load balancer answers any request, and a restart loses nothing. The SDK's
session manager still runs its requests in one task group, started and stopped by the ASGI
lifespan (`uvicorn --lifespan on`, or `auto`, its default); shutdown cancels what is left of it.

Before any MCP message is read, a request must carry a user's API token
(`Authorization: Bearer <token>` or `Token <token>`, checked by nyxsync.api_auth.user_for_token,
as the REST API checks it) and a Host that Django's ALLOWED_HOSTS accepts; else 401 or 400.
"""

from __future__ import annotations

import json
import logging

import anyio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http.request import split_domain_port, validate_host
from mcp.server.transport_security import TransportSecuritySettings

from agents.server import SCOPE_USER, build_server

logger = logging.getLogger(__name__)

PATHS = ("/mcp", "/mcp/")


class McpApplication:
    def __init__(self):
        server = build_server()
        # Host checks are Django's (below), for every host the site serves: the SDK's own would
        # allow localhost only.
        server.streamable_http_app(
            stateless_http=True, transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
        )
        self.session_manager = server.session_manager
        self.running = False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if not self.running:
            await _respond(send, 503, "the MCP endpoint needs the ASGI lifespan: run uvicorn with --lifespan on (or auto)")
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if not _host_allowed(headers.get("host", "")):
            await _respond(send, 400, "invalid Host header")
            return
        key = token_from(headers.get("authorization", ""))
        user = await sync_to_async(_authenticate, thread_sensitive=False)(key) if key else None
        if user is None:
            message = "invalid or revoked API token" if key else "send a nyxsync API token: Authorization: Bearer <token>"
            challenge = 'Bearer realm="nyxsync"' + (', error="invalid_token"' if key else "")
            await _respond(send, 401, message, extra_headers=[(b"www-authenticate", challenge.encode())])
            return
        await _ending_politely_on_shutdown(self.session_manager.handle_request, {**scope, SCOPE_USER: user}, receive, send)

    async def _lifespan(self, receive, send) -> None:
        """The ASGI lifespan protocol around the session manager's task group."""
        await receive()  # lifespan.startup
        started = False
        try:
            async with self.session_manager.run():
                started = self.running = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
                self.running = False
        except Exception as exc:
            logger.exception("agents.http.lifespan_failed")
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})


async def _ending_politely_on_shutdown(app, scope, receive, send) -> None:
    """Run `app`; if the server cancels it (uvicorn does, to requests still open when its
    graceful-shutdown timeout ends: a `sync` call following a run), end the response instead of
    leaving a half-sent stream and a traceback. The run goes on; the agent's call ends unanswered."""
    state = {"started": False, "complete": False}

    async def tracking_send(message) -> None:
        if message["type"] == "http.response.start":
            state["started"] = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            state["complete"] = True
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except anyio.get_cancelled_exc_class():
        logger.info("agents.http.request_ended_by_shutdown")
        try:
            if not state["started"]:
                await _respond(send, 503, "the server is shutting down; try again")
            elif not state["complete"]:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the connection is gone already


def token_from(authorization: str) -> str | None:
    """The key of `Bearer <key>` or `Token <key>` (the REST API's keyword), else None."""
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() not in ("bearer", "token") or not key or " " in key:
        return None
    return key


def _authenticate(key: str):
    from nyxsync.api_auth import user_for_token

    try:
        return user_for_token(key)
    finally:
        connections.close_all()  # as agents.server's calls: no connection left in a worker thread


def _host_allowed(host: str) -> bool:
    """Django's own Host rule (HttpRequest.get_host), for a request Django never sees."""
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


async def _respond(send, status: int, message: str, *, extra_headers=()) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
