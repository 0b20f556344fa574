from django.apps import AppConfig


class AgentsConfig(AppConfig):
    """The door for coding agents: an MCP server (agents.server) over HTTP and stdio."""

    name = "agents"
