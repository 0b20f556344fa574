"""Real Celery worker processes for tests."""
