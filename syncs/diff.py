"""Diff, not re-read: compare a commit's tree (path, blob SHA) with the live manifest. Unchanged
files carry over untouched; only added or changed blobs are read, and only if no path rule
skips them first."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from embeddings.languages import language_for
from embeddings.manifest import LiveFile, StagedFile
from syncs import filters

BAD_PATH = "bad_path"  # not valid UTF-8: it cannot be stored or shown


@dataclass
class TreeDiff:
    to_read: list = field(default_factory=list)  # repositories.git.TreeEntry
    skipped: list[StagedFile] = field(default_factory=list)  # new or changed, skipped by a path rule
    retire_ids: list[int] = field(default_factory=list)  # live rows replaced or deleted
    files_changed: int = 0  # added or modified
    files_deleted: int = 0
    skipped_by_reason: Counter = field(default_factory=Counter)  # over the whole new snapshot


def diff_tree(tree: list, live: dict[str, LiveFile], *, max_bytes: int) -> TreeDiff:
    diff = TreeDiff()
    seen: set[str] = set()
    for entry in tree:
        if not (entry.path.isascii() or entry.path_is_utf8):  # isascii: most paths, at C speed
            diff.skipped_by_reason[BAD_PATH] += 1
            continue
        seen.add(entry.path)
        old = live.get(entry.path)
        if old is not None and old.blob_sha == entry.sha:
            if old.skip_reason:
                diff.skipped_by_reason[old.skip_reason] += 1
            continue
        diff.files_changed += 1
        if old is not None:
            diff.retire_ids.append(old.id)
        reason = filters.skip_reason_for_path(entry.path, mode=entry.mode, size=entry.size or 0, max_bytes=max_bytes)
        if reason:
            diff.skipped_by_reason[reason] += 1
            diff.skipped.append(staged_file(entry, skip_reason=reason))
        else:
            diff.to_read.append(entry)
    for path, old in live.items():
        if path not in seen:
            diff.files_deleted += 1
            diff.retire_ids.append(old.id)
    return diff


def staged_file(entry, *, skip_reason: str = "", chunks: list | None = None) -> StagedFile:
    return StagedFile(
        path=entry.path,
        blob_sha=entry.sha,
        size_bytes=entry.size or 0,
        language=language_for(entry.path),
        skip_reason=skip_reason,
        chunks=chunks or [],
    )
