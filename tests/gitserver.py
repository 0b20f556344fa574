"""Real git servers on 127.0.0.1 for tests (filled in by the git work)."""
