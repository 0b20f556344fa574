"""The `sync`, `search` and `cancel` commands."""

import io
import json
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from projects.models import Project
from syncs.models import ProjectSync, SyncRun
from tests.commands import error_lines, manage
from tests.workers import child_env, database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]


def sync_json(**options) -> dict:
    out = io.StringIO()
    call_command("sync", json=True, inline=True, stdout=out, **options)
    return json.loads(out.getvalue())


def test_sync_links_the_repository_and_prints_a_json_summary(make_repo, owner, git_cache, fast_model):
    repo = make_repo("widgets")
    commit = repo.write("widgets/gear.py", "def turn_gear(teeth):\n    return teeth * 2\n").commit()

    summary = sync_json(repo=repo.url, branch="main", owner="owner")

    assert summary["status"] == "succeeded" and summary["commit"] == commit
    assert (summary["files_seen"], summary["files_changed"], summary["chunks_embedded"]) == (1, 1, 1)
    assert {"run_id", "files_skipped", "chunks_reused", "chunks_deleted", "seconds"} <= set(summary)
    project = Project.objects.get(owner=owner)
    assert project.name == "widgets" and project.sync_status == Project.SyncStatus.SYNCED
    assert len(project.webhook_secret) >= 40  # born with it, through the one project_link
    assert sync_json(repo=repo.url, branch="main", owner="owner")["status"] == "up_to_date"

    out = io.StringIO()
    call_command("search", "turn gear teeth", project="widgets", owner="owner", json=True, k=3, stdout=out)
    [hit] = json.loads(out.getvalue())
    assert (hit["path"], hit["start_line"], hit["end_line"]) == ("widgets/gear.py", 1, 2)
    assert hit["score"] > 0 and "turn_gear" in hit["text"]

    out = io.StringIO()
    call_command("search", "turn gear teeth", project="widgets", owner="owner", k=3, stdout=out)
    first_line = out.getvalue().splitlines()[0]
    assert first_line.startswith("  1. widgets/gear.py:1-2  [main]  cosine ")  # ranked, the cosine labelled
    assert float(first_line.rsplit(" ", 1)[1]) == pytest.approx(hit["score"], abs=5e-4)


@pytest.mark.parametrize(
    ("repo", "branch"),
    [
        ("file:///etc", "main"),
        ("ext::sh -c touch% /tmp/pwned", "main"),
        ("--upload-pack=touch /tmp/pwned", "main"),
        ("-oProxyCommand=touch /tmp/pwned", "main"),
        ("https://user:secret@github.com/a/b.git", "main"),
        ("git://127.0.0.1:9/x.git", "--help"),
        ("git://127.0.0.1:9/x.git", "../x"),
        ("git://127.0.0.1:9/x.git", "a b"),
    ],
)
def test_sync_refuses_hostile_input_with_a_message_and_creates_nothing(owner, repo, branch):
    with pytest.raises(CommandError) as refused:
        call_command("sync", repo=repo, branch=branch, owner="owner", json=True, inline=True)
    assert str(refused.value) and "\n" not in str(refused.value)
    assert "secret" not in str(refused.value)
    assert not Project.objects.exists() and not ProjectSync.objects.exists() and not SyncRun.objects.exists()


def test_a_failed_sync_exits_non_zero_with_its_error_in_the_json(owner, git_cache, fast_model):
    result = manage(
        "sync", "--repo", "git://127.0.0.1:9/missing.git", "--branch", "main", "--owner", "owner", "--json", "--inline",
        env={"DATABASE_URL": database_url()},
    )
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed" and summary["error_phase"] == "fetch"
    assert "not reachable" in summary["error"] or "not found" in summary["error"]
    assert len(error_lines(result)) == 1


def test_cancel_refuses_unknown_and_finished_runs(owner, make_repo, git_cache, fast_model):
    with pytest.raises(CommandError, match="no sync run with id 'nope'"):
        call_command("cancel", "nope")
    repo = make_repo()
    repo.write("a.py", "x = 1\n").commit()
    summary = sync_json(repo=repo.url, branch="main", owner="owner")
    with pytest.raises(CommandError, match="already ended: succeeded"):
        call_command("cancel", summary["run_id"])


# Imported by django-eventstream's package body and its send_event (GRIP publishing, JWT), by the
# model backends or by the migration checks: a process that syncs a branch that has not moved
# needs none of them.
NOT_FOR_A_NOOP = ("torch", "onnxruntime", "numpy", "django_grip", "gripcontrol", "pubcontrol", "jwt", "werkzeug", "requests",
                  "django.db.migrations.autodetector")  # fmt: skip


def test_a_noop_sync_process_imports_no_model_or_web_library_and_still_streams_its_events(owner, make_repo, git_cache, fast_model):
    from django_eventstream.models import Event

    repo = make_repo()
    repo.write("a.py", "x = 1\n").commit()
    first = sync_json(repo=repo.url, branch="main", owner="owner")
    argv = [sys.executable, "-X", "importtime", str(settings.BASE_DIR / "manage.py"), "sync", "--repo", repo.url, "--branch", "main",
            "--owner", "owner", "--json", "--inline"]  # fmt: skip
    env = child_env(NYXSYNC_EMBEDDING_MODEL=fast_model, NYXSYNC_GIT_CACHE_DIR=str(git_cache))
    result = subprocess.run(argv, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["status"] == "up_to_date" and summary["commit"] == first["commit"]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", result.stderr, re.M))
    assert "django.db.models" in imported  # the trace was read
    assert not imported & set(NOT_FOR_A_NOOP), sorted(imported & set(NOT_FOR_A_NOOP))
    assert "django_eventstream.views" not in imported
    # Its events were stored as django-eventstream's storage does, for the pages' replay.
    stored = Event.objects.filter(channel=f"project-{Project.objects.get().uuid}", type="run").order_by("eid")
    events = [json.loads(json.loads(event.data)) for event in stored]
    mine = [event for event in events if event["run"] == summary["run_id"]]
    assert [event["status"] for event in mine][0] == "queued" and mine[-1]["status"] == "up_to_date" and mine[-1]["finished"]
