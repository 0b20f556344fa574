"""Scheduled syncs (syncs.schedule) against a real repository on the local git server: a run is
queued only when the branch head moved from the live commit."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from syncs import schedule
from syncs.models import ProjectSync, SyncRun
from syncs.schedule import Outcome, project_syncs_check_due
from tests.api.conftest import runs_of
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


@pytest.fixture
def scheduled(owner, make_repo, git_cache):
    """A branch synced at the repository's head, checked every 5 minutes."""
    repo = make_repo()
    head = repo.write("a.py", "a = 1\n").commit()
    project = ProjectFactory(owner=owner, repository=repo.url)
    sync = ProjectSync.objects.create(
        project=project,
        repository_url=repo.url,
        branch="main",
        live_commit=head,
        live_generation=1,
        auto_sync=True,
        auto_sync_interval_minutes=5,
    )
    return repo, sync


def test_it_queues_a_run_only_after_a_new_commit(scheduled):
    repo, sync = scheduled
    t0 = timezone.now()

    first = project_syncs_check_due(now=t0)
    not_due = project_syncs_check_due(now=t0 + timedelta(minutes=4))
    second = project_syncs_check_due(now=t0 + timedelta(minutes=5))

    assert [c.outcome for c in first] == [Outcome.UNCHANGED] and not_due == []
    assert [c.outcome for c in second] == [Outcome.UNCHANGED]
    assert runs_of(sync) == []

    new_head = repo.write("a.py", "a = 2\n").commit()
    third = project_syncs_check_due(now=t0 + timedelta(minutes=10))

    assert [(c.outcome, c.head) for c in third] == [(Outcome.QUEUED, new_head)]
    [run] = runs_of(sync)
    assert (run.trigger, run.status) == (SyncRun.Trigger.SCHEDULE, SyncRun.Status.QUEUED)

    # The waiting run will fetch the new head: the next tick adds nothing.
    assert [c.outcome for c in project_syncs_check_due(now=t0 + timedelta(minutes=15))] == [Outcome.PENDING]
    assert len(runs_of(sync)) == 1
    sync.refresh_from_db()
    assert sync.last_checked_at == t0 + timedelta(minutes=15) and sync.next_check_at == t0 + timedelta(minutes=20)


def test_a_check_only_asks_the_remote_for_the_head(scheduled):
    repo, sync = scheduled
    repo.write("a.py", "a = 3\n").commit()

    project_syncs_check_due(now=timezone.now())

    # No fetch: no repository cache was made (only git's empty HOME).
    assert [path.name for path in settings.NYXSYNC_GIT_CACHE_DIR.iterdir()] == ["home"]


def test_a_running_run_at_the_new_head_is_enough(scheduled):
    repo, sync = scheduled
    head = repo.write("a.py", "a = 4\n").commit()
    SyncRun.objects.create(project_sync=sync, trigger=SyncRun.Trigger.API, status=SyncRun.Status.RUNNING, commit_after=head)

    checks = project_syncs_check_due(now=timezone.now())

    assert [c.outcome for c in checks] == [Outcome.PENDING] and len(runs_of(sync)) == 1


def test_overlapping_ticks_check_a_branch_once(scheduled, monkeypatch):
    repo, sync = scheduled
    now = timezone.now()
    due = schedule._due(now, 10)
    assert project_syncs_check_due(now=now)  # the first tick claims the branch

    assert [schedule._claim(s, now) for s in due] == [False]  # a tick that read it as due earlier


def test_branches_not_on_schedule_are_not_checked(scheduled, outsider):
    repo, sync = scheduled
    ProjectSync.objects.filter(pk=sync.pk).update(auto_sync=False)
    deleted = ProjectFactory(owner=outsider, repository=repo.url, deleted_at=timezone.now())
    ProjectSync.objects.create(project=deleted, repository_url=repo.url, branch="main", auto_sync=True, auto_sync_interval_minutes=1)

    assert project_syncs_check_due(now=timezone.now()) == []


def test_unreachable_remotes_and_missing_branches_are_logged_and_retried_next_interval(scheduled, caplog):
    repo, sync = scheduled
    gone = ProjectSync.objects.create(
        project=sync.project, repository_url=repo.url, branch="deleted-branch", auto_sync=True, auto_sync_interval_minutes=5
    )
    ProjectSync.objects.filter(pk=sync.pk).update(repository_url="git://127.0.0.1:1/nothing.git")
    now = timezone.now()

    checks = {c.project_sync_id: c.outcome for c in project_syncs_check_due(now=now)}

    assert checks == {sync.pk: Outcome.FAILED, gone.pk: Outcome.MISSING}
    assert not SyncRun.objects.exists()
    assert "schedule.check_failed" in caplog.text and "schedule.branch_missing" in caplog.text
    assert ProjectSync.objects.get(pk=sync.pk).next_check_at == now + timedelta(minutes=5)


def test_beat_runs_the_check_every_minute(scheduled):
    from syncs.tasks import check_scheduled

    repo, sync = scheduled
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "syncs.check_scheduled")
    assert entry["schedule"] == 60.0

    check_scheduled.run()
    check_scheduled.run()
    assert runs_of(sync) == []
    repo.write("a.py", "a = 5\n").commit()
    ProjectSync.objects.filter(pk=sync.pk).update(next_check_at=None)  # as if an interval passed
    check_scheduled.run()

    assert [r.trigger for r in runs_of(sync)] == [SyncRun.Trigger.SCHEDULE]
