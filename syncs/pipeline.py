"""The sync: one function brings a branch's embeddings up to date (DESIGN.md, "The sync, step by
step"). The Celery task, the `sync` command and every other door call `sync_run_execute`.

Fetch -> diff -> chunk -> write -> embed -> swap. Files and chunks are staged as generation
live + 1, invisible until one short transaction swaps it in, in batches as they are chunked
(syncs.staging), so no part of a run holds the whole repository; staging them before embedding
lets the embedding read their texts back by hash, here and on other workers (embeddings.fanout). Vectors are
stored as soon as each batch is embedded, so a crash loses no embedding work. Whatever happens
before the swap, the live snapshot stays as it was and the staged rows are removed (now, or by
the next run)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator

from django.conf import settings

from embeddings.chunking import chunk_text
from embeddings.manifest import (
    chunk_texts_by_hash,
    live_chunk_lengths,
    manifest_clean_staged,
    manifest_live,
    manifest_prune_retired,
    manifest_retire,
)
from embeddings.vectors import (
    embedding_model_register,
    hashes_with_vectors,
    vector_tenant,
    vectors_copy_from_other_tenants,
    vectors_write,
)
from nyxsync import tenancy
from repositories import git
from repositories.tokens import repository_token
from syncs import filters, runs
from syncs.diff import diff_tree, staged_file
from syncs.locks import project_sync_lock
from syncs.models import SyncRun
from syncs.progress import Cancelled, Progress
from syncs.staging import StagingWriter

logger = logging.getLogger(__name__)
Phase = SyncRun.Phase


# Runs triggered by a push (webhook) or by the schedule seeing the branch move fetch at once; any
# other may be asked of a branch that has not moved, which `git ls-remote` tells in a third of a
# no-op fetch's time (and three fewer git processes: the fetch's ref reads before and after).
MOVED_WHEN_TRIGGERED = (SyncRun.Trigger.WEBHOOK, SyncRun.Trigger.SCHEDULE)


class SyncBusy(Exception):
    """Another run of the same branch holds its lock; try again later."""


def sync_run_execute(run_id: int) -> SyncRun | None:
    """Run a queued SyncRun to its end. Returns the run in its final state (or as found, if it
    was not queued any more; None if it went with its branch). Raises SyncBusy if another run
    of the branch is running."""
    with tenancy.dangerously_as_system():  # only to learn which project the run belongs to
        project_id = SyncRun.objects.filter(pk=run_id).values_list("project_sync__project_id", flat=True).first()
    if project_id is None:  # removed with its branch (or purged) before its task arrived
        logger.info("sync.run.gone", extra={"run_id": run_id})
        return None
    # Everything else the run does, it does within its project (row-level security).
    with tenancy.acting_for_project(project_id):
        return _execute_within_project(run_id)


def _execute_within_project(run_id: int) -> SyncRun | None:
    run = SyncRun.objects.select_related("project_sync__project").filter(pk=run_id).first()
    if run is None or run.status != SyncRun.Status.QUEUED:
        return run
    with project_sync_lock(run.project_sync_id) as acquired:
        if not acquired:
            raise SyncBusy(f"branch {run.project_sync} is being synced by another run")
        # We hold the lock, so any run still marked running lost its worker.
        runs.sync_runs_mark_lost(run.project_sync, except_run=run)
        if runs.sync_run_start(run):
            _execute(run)
    run.refresh_from_db()
    return run


def _execute(run: SyncRun) -> None:
    progress = Progress(run)
    project_sync = run.project_sync
    try:
        project_sync.refresh_from_db()
        manifest_clean_staged(project_sync)
        _sync(run, progress)
    except Cancelled:
        progress.close_phase()
        _clean_staged(project_sync)
        runs.sync_run_finish(run, status=SyncRun.Status.CANCELLED, error="cancelled", error_phase=run.phase)
    except Exception as exc:
        progress.close_phase()
        if _expected(exc):  # bad input or an outside service: the run's error says it all
            logger.warning("sync.run.error", extra={"run_id": str(run.uuid), "phase": run.phase, "error": str(exc)})
        else:
            logger.error("sync.run.error", extra={"run_id": str(run.uuid), "phase": run.phase}, exc_info=True)
        _clean_staged(project_sync)
        runs.sync_run_finish(run, status=SyncRun.Status.FAILED, error=_describe(exc), error_phase=run.phase)


def _sync(run: SyncRun, progress: Progress) -> None:
    project_sync = run.project_sync
    generation = project_sync.live_generation + 1
    run.generation = generation
    if run.trigger != SyncRun.Trigger.REEMBED:  # a model change may have landed since the trigger
        run.embedding_model = project_sync.embedding_model
    SyncRun.objects.filter(pk=run.pk).update(generation=generation, embedding_model=run.embedding_model)

    # The fetch phase began with the run (runs.sync_run_start): its time counts from Progress's start.
    token = repository_token(project=project_sync.project, url=project_sync.repository_url)
    same_model = run.embedding_model == project_sync.embedding_model
    synced = bool(project_sync.live_generation) and same_model
    head = None
    if synced and run.trigger not in MOVED_WHEN_TRIGGERED:
        head = git.remote_head(project_sync.repository_url, project_sync.branch, token=token)
    if head is not None and head == project_sync.live_commit:
        commit = head  # nothing moved: one ls-remote said so, no fetch
    else:  # the tip the ls-remote saw, if any, is fetched by its id: one round trip fewer
        commit = git.fetch_branch(project_sync.repository_url, project_sync.branch, token=token, commit=head)
    run.commit_before, run.commit_after = project_sync.live_commit, commit
    if synced and commit == project_sync.live_commit:
        progress.close_phase()
        runs.sync_run_finish(run, status=SyncRun.Status.UP_TO_DATE)
        return

    progress.phase(Phase.DIFF)
    tree = git.ls_tree(project_sync.repository_url, commit)
    diff = diff_tree(tree, manifest_live(project_sync), max_bytes=settings.NYXSYNC_MAX_FILE_BYTES)
    run.files_seen, run.files_changed, run.files_deleted = len(tree), diff.files_changed, diff.files_deleted

    # Read, chunk and stage in batches (syncs.staging): memory and every statement stay bounded
    # whatever the repository's size, and PostgreSQL writes one batch while Python chunks the next.
    progress.phase(Phase.CHUNK, total=len(diff.to_read))
    run.chunks_deleted = manifest_retire(project_sync, generation=generation, retire_ids=diff.retire_ids)  # paths free first
    lengths: dict[str, int] = {}  # content hash -> text length of every new chunk: all the embedding needs
    new_chunks = 0
    threaded = len(diff.to_read) > settings.NYXSYNC_STAGE_BATCH_FILES
    with StagingWriter(project_sync, generation, threaded=threaded) as writer:
        writer.put(diff.skipped)
        for batch in _read_and_chunk(project_sync.repository_url, diff.to_read, progress):
            diff.skipped_by_reason.update(file.skip_reason for file in batch if file.skip_reason)
            for file in batch:
                new_chunks += len(file.chunks)
                lengths.update((chunk.content_hash, len(chunk.text)) for chunk in file.chunks)
            writer.put(batch)
        run.skipped_by_reason = dict(sorted(diff.skipped_by_reason.items()))
        run.files_skipped = sum(diff.skipped_by_reason.values())
        progress.phase(Phase.WRITE, total=len(diff.skipped) + len(diff.to_read))
        writer.finish(progress.set_done)

    _check_chunk_limit(project_sync.live_chunk_count - run.chunks_deleted + new_chunks)
    if not same_model:  # a model change needs vectors for the carried-over chunks too
        lengths.update(live_chunk_lengths(project_sync, exclude_file_ids=diff.retire_ids))
    stored = _embed(run, lengths, progress)
    run.chunks_reused = max(new_chunks - run.chunks_embedded, 0)

    progress.phase(Phase.SWAP)
    progress.close_phase()
    runs.sync_run_swap(run, generation=generation, commit=commit, chunk_delta=new_chunks - run.chunks_deleted)
    try:
        manifest_prune_retired(project_sync)
    except Exception:  # the run has succeeded: the next run prunes what is left
        logger.warning("sync.prune.failed", extra={"run_id": str(run.uuid)}, exc_info=True)
    if stored or new_chunks:
        _index_soon(run)


def _index_soon(run: SyncRun) -> None:
    """The vectors the run stored and its chunks' text vectors are pending (searched exactly, and
    from the chunks' text): have the indexer write them now, not at beat's next tick. By the
    task's stable name (syncs.tasks, a door)."""
    from nyxsync.celery import app as celery_app  # a run that stored nothing does not import Celery

    try:
        celery_app.send_task("embeddings.index_vectors")
    except Exception:  # the run has succeeded: beat's safety net runs the indexer within a minute
        logger.warning("sync.index.enqueue_failed", extra={"run_id": str(run.uuid)}, exc_info=True)


def _read_and_chunk(url: str, entries: list, progress: Progress) -> Iterator[list]:
    """Read each added or changed blob once (the same blob may sit at several paths) and chunk
    it; yields the files in batches of about NYXSYNC_STAGE_BATCH_CHUNKS chunks."""
    by_sha = defaultdict(list)
    for entry in entries:
        by_sha[entry.sha].append(entry)
    batch, batch_chunks, chunked = [], 0, 0
    for sha, content in git.read_blobs(url, list(by_sha)):
        text, reason = filters.decode(content)
        for entry in by_sha[sha]:
            chunks = [] if reason else chunk_text(entry.path, text, max_chars=settings.NYXSYNC_CHUNK_MAX_CHARS)
            batch.append(staged_file(entry, skip_reason=reason or ("" if chunks else filters.EMPTY), chunks=chunks))
            batch_chunks += len(chunks)
            chunked += len(chunks)
            _check_chunk_limit(chunked)  # before the changed files alone fill the database
            progress.advance()
        if batch_chunks >= settings.NYXSYNC_STAGE_BATCH_CHUNKS or len(batch) >= settings.NYXSYNC_STAGE_BATCH_FILES:
            yield batch
            batch, batch_chunks = [], 0
    if batch:
        yield batch


class LimitExceeded(Exception):
    """The branch is larger than a limit of the deployment; the message names the setting."""


def _check_chunk_limit(chunks: int) -> None:
    if chunks > settings.NYXSYNC_MAX_CHUNKS:
        raise LimitExceeded(f"the branch makes more than {settings.NYXSYNC_MAX_CHUNKS:,} chunks, more than nyxsync keeps (NYXSYNC_MAX_CHUNKS)")


def _embed(run: SyncRun, lengths: dict[str, int], progress: Progress) -> int:
    """Embed the chunks (by hash: text length) whose (model, hash) has no vector in the project's
    tenant yet, storing each batch at once; large work is shared with other workers
    (embeddings.fanout). Texts are read back from the staged chunks one batch at a time. Only the
    tenant's own vectors count, so the counters and the phase's total tell the tenant nothing
    about anyone else (unless the operator shares vectors across tenants). Returns how many
    vectors it stored (embedded or copied), all pending for the indexer."""
    from embeddings.backends import get_backend  # here: a sync with nothing to embed does not import numpy
    from embeddings.backends.base import batched

    backend = get_backend(run.embedding_model)
    model = embedding_model_register(name=backend.name, backend=backend.backend, dimensions=backend.dimensions)
    project = run.project_sync.project
    tenant_id = vector_tenant(project)
    missing = set(lengths) - hashes_with_vectors(model, lengths, tenant_id=tenant_id)
    copied = vectors_copy_from_other_tenants(model, missing, tenant_id=tenant_id)
    missing -= copied
    # Batches of similar lengths waste less padding in the model.
    missing = sorted(missing, key=lambda content_hash: (lengths[content_hash], content_hash))
    progress.phase(Phase.EMBED, total=len(missing))
    if len(missing) >= backend.max_batch * settings.NYXSYNC_FANOUT_MIN_BATCHES and settings.NYXSYNC_FANOUT_HELPERS:
        _embed_fanned_out(run, model, backend, missing, progress)
    else:
        for batch in batched(missing, backend.max_batch):
            texts = chunk_texts_by_hash(project.pk, batch)
            vectors_write(model, batch, backend.embed([texts[content_hash] for content_hash in batch]), tenant_id=tenant_id)
            progress.advance(len(batch))
    run.chunks_embedded = len(missing)
    return len(missing) + len(copied)


def _embed_fanned_out(run: SyncRun, model, backend, missing: list[str], progress: Progress) -> None:
    from embeddings import fanout
    from nyxsync.celery import app as celery_app  # only a run that fans out sends tasks

    count = fanout.batches_create(run, model, missing, size=backend.max_batch)
    for _ in range(min(count - 1, settings.NYXSYNC_FANOUT_HELPERS)):
        # By the task's stable name: the task (syncs.tasks, a door) calls sync_run_help_embed.
        celery_app.send_task("embeddings.embed_help", args=[run.pk])
    try:
        fanout.coordinate(run, backend, on_progress=progress.set_done)
    finally:
        fanout.batches_delete(run)


def sync_run_help_embed(run_id: int) -> None:
    """A helper worker's share of a fanned-out run: pull the run's batches until none is left
    or the run ends (embeddings.fanout). A run that is not running any more needs no help."""
    with tenancy.dangerously_as_system():  # only to learn the run's project
        run = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).select_related("project_sync").first()
    if run is None:
        return  # the run ended (or never started): nothing to help with

    def run_ended() -> bool:
        return not SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).exists()

    from embeddings import fanout
    from embeddings.backends import get_backend

    with tenancy.acting_for_project(run.project_sync.project_id):
        fanout.work_until_done(run_id, get_backend(run.embedding_model), should_stop=run_ended)


def _clean_staged(project_sync) -> None:
    try:
        project_sync.refresh_from_db()
        manifest_clean_staged(project_sync)
    except Exception:  # the next run cleans up; never hide the run's own error behind this one
        logger.warning("sync.cleanup.failed", extra={"project_sync_id": project_sync.pk}, exc_info=True)


def _expected(exc: Exception) -> bool:
    from embeddings.backends import EmbeddingError
    from repositories.input import InvalidInput

    return isinstance(exc, (git.GitError, EmbeddingError, InvalidInput, LimitExceeded))


def _describe(exc: Exception) -> str:
    if _expected(exc):
        return str(exc)
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"internal error ({type(exc).__name__}): {first_line}" if first_line else f"internal error ({type(exc).__name__})"
