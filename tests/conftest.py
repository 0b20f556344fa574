"""Shared fixtures: personas and the real services the suite runs against.

Fixture modules by area (registered below): tests/gitserver.py serves real git repositories over
git:// and http:// on 127.0.0.1; tests/workers.py runs real Celery workers.
"""

import pytest

pytest_plugins = ["tests.gitserver", "tests.workers", "tests.openai_standin", "tests.github_standin", "tests.syncing"]


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", "owner@example.com", "owner-password")


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("outsider", "outsider@example.com", "outsider-password")
