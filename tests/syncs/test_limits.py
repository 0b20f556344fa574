"""What one repository may cost (issue 12, item 5): a branch over a limit fails its run with one
line naming the setting and leaves the live snapshot as it was; git's output and memory are capped;
the branch picker is throttled."""

import pytest
from django.core.cache import cache

from embeddings.models import Chunk, SourceFile
from repositories import git
from syncs.models import SyncRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_owner")]


@pytest.fixture
def wide_repo(make_repo):
    repo = make_repo()
    for number in range(30):
        repo.write(f"pkg/module_{number}.py", f"def helper_{number}(value):\n    return value * {number}\n")
    repo.commit()
    return repo


def test_a_branch_with_more_files_than_the_limit_fails_in_one_line_and_keeps_the_snapshot(wide_repo, link, sync_now, settings):
    sync = link(wide_repo)
    assert sync_now(sync).status == SyncRun.Status.SUCCEEDED
    wide_repo.write("pkg/extra.py", "EXTRA = 1\n").commit()
    settings.NYXSYNC_MAX_FILES = 20

    run = sync_now(sync)

    assert (run.status, run.error_phase) == (SyncRun.Status.FAILED, "diff")
    assert run.error == "the branch has 31 files, more than nyxsync syncs (20, NYXSYNC_MAX_FILES)"
    sync.refresh_from_db()
    assert sync.live_commit == run.commit_before  # the snapshot of the first sync stays live
    assert SourceFile.objects.filter(project_sync=sync, retired_generation__isnull=True).count() == 30


def test_a_branch_that_makes_more_chunks_than_the_limit_fails_and_stages_nothing(wide_repo, link, sync_now, settings):
    settings.NYXSYNC_MAX_CHUNKS = 10
    sync = link(wide_repo)

    run = sync_now(sync)

    assert (run.status, run.error_phase) == (SyncRun.Status.FAILED, "chunk")
    assert run.error == "the branch makes more than 10 chunks, more than nyxsync keeps (NYXSYNC_MAX_CHUNKS)"
    sync.refresh_from_db()
    assert sync.live_generation == 0
    assert not SourceFile.objects.filter(project_sync=sync).exists() and not Chunk.objects.exists()


def test_a_remote_with_more_branches_than_the_limit_is_refused(make_repo, settings):
    repo = make_repo()
    repo.write("a.txt", "a").commit()
    for number in range(6):
        repo.checkout(f"topic-{number}").write(f"t{number}.txt", "t").commit()
    settings.NYXSYNC_GIT_MAX_REFS = 5

    with pytest.raises(git.GitError, match=r"has more than 5 branches \(NYXSYNC_GIT_MAX_REFS\)$") as raised:
        git.list_branches(repo.url)
    assert raised.value.permanent


def test_git_output_over_the_limit_is_refused_not_read(wide_repo, settings, git_cache):
    commit = git.fetch_branch(wide_repo.url, "main")
    settings.NYXSYNC_GIT_MAX_OUTPUT_BYTES = 1000  # the tree listing of 30 files is about 3 kB

    with pytest.raises(git.GitError, match=r"^ls-tree printed more than 0 MB \(NYXSYNC_GIT_MAX_OUTPUT_BYTES\)$"):
        git.ls_tree(wide_repo.url, commit)


def test_git_runs_under_a_memory_limit(wide_repo, settings, git_cache):
    settings.NYXSYNC_GIT_MAX_MEMORY_BYTES = 8 * 1024**2  # too little for git to start a fetch

    with pytest.raises(git.GitError):
        git.fetch_branch(wide_repo.url, "main")
    settings.NYXSYNC_GIT_MAX_MEMORY_BYTES = 4 * 1024**3  # the default: the same fetch goes through
    assert git.fetch_branch(wide_repo.url, "main")


def test_the_branch_picker_is_throttled_per_user(client, owner, wide_repo, settings):
    from tests.api.conftest import client_for
    from tests.factories import ProjectFactory, ProjectSyncFactory

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "branch_list": "2/minute"}}
    client.force_login(owner)
    page = [client.get("/projects/branches/", {"repository": wide_repo.url}) for _ in range(3)]
    assert [response.status_code for response in page] == [200, 200, 429]
    assert "Too many branch lookups" in page[2].json()["error"] and page[2]["Retry-After"]

    cache.clear()
    project = ProjectFactory(owner=owner, name="wide", repository=wide_repo.url)
    ProjectSyncFactory(project=project, repository_url=wide_repo.url, branch="main")
    api = client_for(owner)
    answers = [api.get(f"/api/v1/projects/{project.uuid}/branches/").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    cache.clear()
