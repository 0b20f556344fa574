"""Fixtures for the page tests: logged-in clients per persona and a synced project. (The GitHub
REST stand-in the branch picker asks about owner/name repositories is tests/github_standin.py.)"""

from __future__ import annotations

import pytest
from django.test import Client

from nyxsync import tenancy
from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute


@pytest.fixture
def owner_client(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(outsider) -> Client:
    client = Client()
    client.force_login(outsider)
    return client


@pytest.fixture
def demo_repo(make_repo):
    repo = make_repo()
    repo.write("app/billing.py", "def compute_invoice_total(lines):\n    return sum(line.amount for line in lines)\n")
    repo.write("app/users.py", "class UserRepository:\n    def find_by_email(self, email):\n        return self.db.get(email=email)\n")
    repo.write("README.md", "# Demo\n\nA small <b>demo</b> project.\n")
    repo.commit()
    repo.checkout("feature/x")
    repo.write("app/feature.py", "def feature_flag():\n    return True\n")
    repo.commit()
    repo.checkout("main")
    return repo


@pytest.fixture
def linked(owner, demo_repo, fast_model):
    """The owner's project for demo_repo, branch main, never synced."""
    with tenancy.acting_as(owner):
        return services.project_link(owner=owner, repository=demo_repo.url, branch="main")


@pytest.fixture
def synced(linked, git_cache) -> SyncRun:
    """demo_repo's main synced once, in this process (no worker, no events)."""
    with tenancy.acting_for_project(linked.project_id):  # as the run's task does
        run, _ = services.sync_run_enqueue(project_sync=linked, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
        run = sync_run_execute(run.pk)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    linked.refresh_from_db()
    return run
