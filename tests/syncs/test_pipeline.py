"""The sync, in process, against real repositories served by `git daemon` on 127.0.0.1."""

import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from embeddings import chunking
from embeddings.models import Chunk, SourceFile, Vector
from embeddings.search import search
from nyxsync import tenancy
from syncs.models import SyncRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]
TENACITY = Path(settings.BASE_DIR) / ".venv/lib/python3.11/site-packages/tenacity"


def chunk_text(path: str, text: str):
    """The chunks the pipeline makes of a file (at the configured size)."""
    return chunking.chunk_text(path, text, max_chars=settings.NYXSYNC_CHUNK_MAX_CHARS)


def live_paths(project_sync) -> dict[str, int]:
    """path -> chunk count of the branch's live snapshot."""
    project_sync.refresh_from_db()
    from embeddings.snapshot import visible_at

    files = SourceFile.objects.filter(project_sync=project_sync).filter(visible_at(project_sync.live_generation))
    return {file.path: file.chunks.count() for file in files}


def test_it_syncs_a_branch_and_search_finds_its_code(make_repo, link, sync_now):
    repo = make_repo()
    repo.write("app/billing.py", "def compute_invoice_total(lines):\n    return sum(line.amount for line in lines)\n")
    repo.write("app/users.py", "class UserRepository:\n    def find_by_email(self, email):\n        return self.db.get(email=email)\n")
    repo.write("README.md", "# Demo\n\nA small demo project.\n")
    commit = repo.commit()
    sync = link(repo)

    run = sync_now(sync)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.commit_after, run.files_seen, run.files_changed, run.files_skipped) == (commit, 3, 3, 0)
    assert run.chunks_embedded == 3 and run.chunks_reused == 0
    sync.refresh_from_db()
    assert (sync.live_commit, sync.live_generation, sync.embedding_model) == (commit, 1, "hashing-256")
    [best, *_] = search(project_syncs=[sync], query="compute_invoice_total", k=3)
    assert (best.path, best.start_line, best.end_line, best.commit) == ("app/billing.py", 1, 2, commit)
    assert set(run.phase_seconds) == {"fetch", "diff", "chunk", "write", "embed", "swap"}


def test_a_commit_changing_two_files_embeds_only_their_new_chunks(make_repo, link, sync_now):
    repo = make_repo()
    repo.copy_tree(TENACITY, "tenacity")
    repo.commit()
    sync = link(repo)
    first = sync_now(sync)
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    before_ids = dict(SourceFile.objects.filter(project_sync=sync).values_list("path", "id"))

    changed = {}
    for path, old, new in [
        ("tenacity/wait.py", "class wait_fixed(wait_base):", "class wait_fixed(wait_base):  # changed"),
        ("tenacity/stop.py", "class stop_after_attempt(stop_base):", "class stop_after_attempt(stop_base):  # changed"),
    ]:
        original = (repo.work / path).read_text()
        assert old in original
        repo.write(path, original.replace(old, new))
        changed[path] = (original, original.replace(old, new))
    repo.commit()
    second = sync_now(sync)

    old_hashes = {c.content_hash for path, (old, _) in changed.items() for c in chunk_text(path, old)}
    new_chunks = [c for path, (_, new) in changed.items() for c in chunk_text(path, new)]
    expected_new = {c.content_hash for c in new_chunks} - old_hashes
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert second.files_changed == 2 and second.files_deleted == 0
    assert 0 < second.chunks_embedded == len(expected_new)
    assert second.chunks_reused == len(new_chunks) - len(expected_new)
    assert second.chunks_deleted == sum(len(chunk_text(path, old)) for path, (old, _) in changed.items())
    # Unchanged files carried over untouched: same rows.
    after_ids = dict(SourceFile.objects.filter(project_sync=sync, retired_generation__isnull=True).values_list("path", "id"))
    assert {p: i for p, i in after_ids.items() if p not in changed} == {p: i for p, i in before_ids.items() if p not in changed}


def test_a_rename_embeds_nothing_and_a_deletion_removes_chunks(make_repo, link, sync_now):
    alpha = "def alpha():\n    return 'alpha'\n\n\ndef alpha_two():\n    return 2\n"
    beta = "def beta():\n    return 'beta'\n"
    repo = make_repo()
    repo.write("pkg/alpha.py", alpha).write("pkg/beta.py", beta)
    repo.commit()
    sync = link(repo)
    sync_now(sync)

    repo.rename("pkg/alpha.py", "pkg/renamed.py").delete("pkg/beta.py")
    repo.commit()
    run = sync_now(sync)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.chunks_embedded, run.files_changed, run.files_deleted) == (0, 1, 2)
    assert run.chunks_deleted == len(chunk_text("alpha.py", alpha)) + len(chunk_text("beta.py", beta))
    assert live_paths(sync) == {"pkg/renamed.py": len(chunk_text("pkg/renamed.py", alpha))}
    assert {hit.path for hit in search(project_syncs=[sync], query="beta alpha", k=10)} == {"pkg/renamed.py"}
    # Retired rows are pruned once no snapshot shows them.
    assert set(SourceFile.objects.filter(project_sync=sync).values_list("path", flat=True)) == {"pkg/renamed.py"}


def test_the_same_content_in_two_projects_of_one_owner_is_embedded_once(make_repo, link, sync_now, django_user_model):
    content = "def shared_helper(value):\n    return value * 2\n"
    first_repo, second_repo, third_repo = make_repo(), make_repo(), make_repo()
    first_repo.write("a.py", content).commit()
    second_repo.write("lib/copy_of_a.py", content).commit()
    third_repo.write("b.py", content).commit()
    stranger = django_user_model.objects.create_user("stranger")

    first = sync_now(link(first_repo))
    second = sync_now(link(second_repo))
    # Another tenant's run tells it nothing of the owner's code (tests/embeddings/test_tenant_vectors.py).
    third = sync_now(link(third_repo, user=stranger))

    assert (first.chunks_embedded, second.chunks_embedded, second.chunks_reused) == (1, 0, 1)
    assert (third.chunks_embedded, third.chunks_reused) == (1, 0)
    with tenancy.dangerously_as_system():  # every tenant's vectors
        assert Vector.objects.count() == 2


def test_a_noop_sync_is_up_to_date_and_does_no_work(make_repo, link, sync_now):
    repo = make_repo()
    repo.write("a.py", "x = 1\n").commit()
    sync = link(repo)
    sync_now(sync)
    chunks_before = Chunk.objects.count()

    run = sync_now(sync)

    assert run.status == SyncRun.Status.UP_TO_DATE
    assert (run.files_seen, run.chunks_embedded, run.chunks_deleted) == (0, 0, 0)
    assert set(run.phase_seconds) == {"fetch"}
    assert Chunk.objects.count() == chunks_before


def test_a_noop_sync_asks_the_remote_and_fetches_nothing(make_repo, link, sync_now):
    import shutil

    from repositories import git

    repo = make_repo()
    repo.write("a.py", "x = 1\n").commit()
    sync = link(repo)
    sync_now(sync)
    cache = git.cache_path(sync.repository_url)
    shutil.rmtree(cache)  # a fetch would make it again

    run = sync_now(sync)

    assert run.status == SyncRun.Status.UP_TO_DATE and run.commit_after == run.commit_before
    assert not cache.exists()
    commit = repo.write("a.py", "x = 2\n").commit()
    moved = sync_now(sync)
    assert (moved.status, moved.commit_after, moved.chunks_embedded) == (SyncRun.Status.SUCCEEDED, commit, 1)


def test_it_skips_what_it_should_and_counts_each_reason(make_repo, link, sync_now, settings):
    settings.NYXSYNC_MAX_FILE_BYTES = 10 * 1024 * 1024
    repo = make_repo()
    repo.write("src/main.py", "print('hello')\n")
    repo.write("big/data.txt", b"0" * (50 * 1024 * 1024))  # a 50 MB file: never read
    repo.write("img/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    repo.write("blob.dat", bytes(range(256)) * 8)  # binary garbage without a telling name
    repo.write("legacy.txt", "caf\xe9 au lait\n".encode("latin-1"))  # not UTF-8
    repo.write("node_modules/lib/index.js", "module.exports = 1;\n")
    repo.write("package-lock.json", "{}\n")
    repo.write("dist/app.min.js", "var a=1;\n")
    repo.write("empty.py", "")
    repo.symlink("passwd", "/etc/passwd")
    repo.submodule("vendor-sub", "a" * 40)
    repo.commit()
    sync = link(repo)

    run = sync_now(sync)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.skipped_by_reason == {
        "binary": 2, "empty": 1, "generated": 1, "lock_file": 1, "not_utf8": 1,
        "submodule": 1, "symlink": 1, "too_large": 1, "vendored": 1,
    }
    assert run.files_skipped == 10 and run.files_seen == 11
    assert live_paths(sync)["src/main.py"] == 1
    assert not Chunk.objects.filter(text__contains="root:").exists()
    # Skipped files are remembered, so an unchanged one is not read again.
    repo.write("src/main.py", "print('hello again')\n").commit()
    again = sync_now(sync)
    assert (again.files_changed, again.files_skipped) == (1, 10)


def test_an_empty_repository_fails_with_a_clear_message(make_repo, link, sync_now):
    repo = make_repo()  # nothing pushed
    run = sync_now(link(repo))
    assert run.status == SyncRun.Status.FAILED
    assert run.error_phase == "fetch"
    assert "empty" in run.error.lower() or "not found" in run.error.lower()


def test_an_unknown_branch_fails_and_keeps_the_live_snapshot(make_repo, link, sync_now):
    repo = make_repo()
    repo.write("a.py", "def kept():\n    pass\n").commit()
    sync = link(repo)
    sync_now(sync)
    other = link(repo, branch="no-such-branch")

    run = sync_now(other)

    assert run.status == SyncRun.Status.FAILED and run.error_phase == "fetch"
    assert "no-such-branch" in run.error
    assert live_paths(sync) == {"a.py": 1}


def test_a_run_that_failed_mid_way_leaves_nothing_staged_and_the_next_run_reuses_its_vectors(make_repo, link, sync_now):
    repo = make_repo()
    repo.write("a.py", "def first():\n    return 1\n").commit()
    sync = link(repo)
    sync_now(sync)
    repo.write("b.py", "def second():\n    return 2\n").commit()
    # What a run killed after embedding but before the swap leaves behind: vectors, staged rows.
    from embeddings.manifest import StagedFile, manifest_stage

    sync.refresh_from_db()
    staged = StagedFile("b.py", "f" * 40, 10, "python", "", chunk_text("b.py", "def second():\n    return 2\n"))
    manifest_stage(sync, generation=sync.live_generation + 1, retire_ids=[], files=[staged])
    assert live_paths(sync) == {"a.py": 1}  # staged rows are invisible

    run = sync_now(sync)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert live_paths(sync) == {"a.py": 1, "b.py": 1}
    assert SourceFile.objects.filter(project_sync=sync, path="b.py").count() == 1


def test_a_reader_never_sees_a_mixed_snapshot(make_repo, link, sync_now):
    repo = make_repo()
    for n in range(40):
        repo.write(f"old/file{n}.py", f"def old_{n}():\n    return {n}\n")
    repo.commit()
    sync = link(repo)
    sync_now(sync)
    old = set(live_paths(sync))
    repo.delete("old")
    for n in range(40):
        repo.write(f"new/file{n}.py", f"def new_{n}():\n    return {n}\n")
    repo.commit()

    seen, stop = [], threading.Event()

    reader_user = sync.project.owner

    def read_continuously():
        from embeddings.snapshot import LIVE_FILE_SQL

        try:
            with tenancy.acting_as(reader_user), connections["default"].cursor() as cursor:  # a reader of the owner's
                while not stop.is_set():
                    cursor.execute(
                        f"SELECT f.path FROM project_syncs ps JOIN embeddings_sourcefile f ON f.project_sync_id = ps.id "
                        f"AND {LIVE_FILE_SQL} JOIN embeddings_chunk c ON c.file_id = f.id WHERE ps.id = %s",
                        [sync.pk],
                    )
                    seen.append(frozenset(row[0] for row in cursor.fetchall()))
        finally:
            connections["default"].close()

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        run = sync_now(sync)
    finally:
        stop.set()
        reader.join()
    new = set(live_paths(sync))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert len(seen) > 10
    assert {snapshot for snapshot in seen} <= {frozenset(old), frozenset(new)}
    assert seen[-1] == frozenset(new)


def test_it_publishes_every_phase_and_a_final_event(make_repo, link, sync_now):
    from django_eventstream.models import Event

    repo = make_repo()
    repo.write("a.py", "x = 1\n").commit()
    sync = link(repo)
    run = sync_now(sync)

    import json

    stored = Event.objects.filter(channel=f"project-{sync.project.uuid}", type="run").order_by("id")
    events = [json.loads(json.loads(event.data)) for event in stored]  # the storage encodes the JSON text again
    phases = [event["phase"] for event in events if event["run"] == str(run.uuid)]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == [
        "queued", "fetch", "diff", "chunk", "write", "embed", "swap", "done"
    ]
    final = events[-1]
    assert final["status"] == "succeeded" and final["finished"] is True and final["chunks_embedded"] == 1
    assert "x = 1" not in json.dumps(events)  # no file contents in events


def test_connection_is_usable_after_a_run(make_repo, link, sync_now):
    repo = make_repo()
    repo.write("a.py", "x = 1\n").commit()
    sync_now(link(repo))
    with connection.cursor() as cursor:  # no lock or transaction left open by the run
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] == 0
        assert not connection.in_atomic_block
