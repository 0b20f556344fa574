"""Local stand-in for an OpenAI-compatible embeddings server (filled in by the backends work)."""
