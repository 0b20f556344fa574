"""The ASGI application: Django for every path, except the MCP endpoint for coding agents at
/mcp/ (agents.http), which also takes the server's lifespan (its task group starts and stops
with the server). The embedded servers the settings use (nyxsync.embedded) are started and the
default embedding model is loaded as the module is imported, before the server answers anyone."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nyxsync.settings")
# A thread per request: connections come from a bounded pool (nyxsync/settings/base.py).
os.environ.setdefault("NYXSYNC_DATABASE_POOL", "true")
django_application = get_asgi_application()

from nyxsync import embedded  # noqa: E402 (reads the settings)

# The web serves live streams and counts throttles in Redis: the embedded servers it uses are up
# before it answers anyone (the settings start nothing).
embedded.ensure_configured()

from agents.http import PATHS as MCP_PATHS  # noqa: E402 (needs Django set up)
from agents.http import McpApplication  # noqa: E402
from embeddings.apps import warm_the_query_model  # noqa: E402

mcp_application = McpApplication()
# Before the server listens (it imports this module first): the first search must not wait for
# the model to load.
warm_the_query_model()


async def application(scope, receive, send):
    if scope["type"] == "lifespan" or (scope["type"] == "http" and scope["path"] in MCP_PATHS):
        await mcp_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)
