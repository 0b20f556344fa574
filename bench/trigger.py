"""Trigger latency: how soon a Celery worker starts a sync after it is asked for, and starts embedding.

    .venv/bin/python bench/trigger.py [--rounds 5] [--model all-MiniLM-L6-v2-int8-r2] [--trigger command|webhook]

A scratch database, a small repository on a local `git daemon` and one real worker (warm model,
as `make run` starts it). Each round commits a change to one file and triggers a sync as the API
and `manage.py sync` do (sync_run_enqueue, dispatched on commit; --trigger webhook: as a push's
webhook does, which fetches at once, where the others first ask `git ls-remote` whether the
branch moved), then prints the time from the
trigger to the run's start (the worker took it) and to its embed phase (fetch, diff, chunk and
write done), the whole run, and the run's time outside its embed phase. Figures only: nothing passes or fails.
"""

import argparse
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from common import commit_tree, cpu_name, drop_database, serve_repository, setup_django
from scale import _start_workers, _stop

PHASES_BEFORE_EMBED = ("fetch", "diff", "chunk", "write")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="all-MiniLM-L6-v2-int8-r2")
    parser.add_argument("--trigger", choices=["command", "webhook"], default="command")  # the default model of new branches
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nyxsync-bench-trigger-"))
    database = f"nyxsync_bench_trigger_{os.getpid()}"
    database_url = setup_django(work, database, model=args.model)
    daemon, procs = None, []
    try:
        daemon, url, bare = serve_repository(work)
        procs = _start_workers(1, 0, database_url, work)
        _run(args, work, url, bare)
    finally:
        _stop(procs)
        if daemon:
            daemon.terminate()
        drop_database(database)
        shutil.rmtree(work, ignore_errors=True)


def _run(args, work: Path, url: str, bare: Path) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from syncs.models import SyncRun
    from syncs.services import project_link, sync_run_enqueue

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    source = work / "source"
    source.mkdir()
    for n in range(20):
        (source / f"module{n}.py").write_text(f"def function_{n}(value):\n    return value * {n}\n")
    commit_tree(work / "tree", source, bare, "start")
    user = get_user_model().objects.create_user("bench")
    project_sync = project_link(owner=user, repository=url, branch="main", name="trigger")
    to_start, to_embed, whole, outside = [], [], [], []
    phases: dict[str, list[float]] = {}
    for round_ in range(args.rounds + 1):
        (source / "module0.py").write_text(f"def function_0(value):\n    return value + {round_}\n")
        commit_tree(work / "tree", source, bare, f"round {round_}")
        triggered = timezone.now()
        run, _ = sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger(args.trigger))
        while run.is_active:
            time.sleep(0.02)
            run.refresh_from_db()
        if run.status != SyncRun.Status.SUCCEEDED:
            raise SystemExit(f"sync {run.status}: {run.error}")
        if round_ == 0:  # the first sync embeds the whole repository
            continue
        before_embed = sum(run.phase_seconds.get(phase, 0.0) for phase in PHASES_BEFORE_EMBED)
        to_start.append((run.started_at - triggered) / timedelta(milliseconds=1))
        to_embed.append(to_start[-1] + before_embed * 1000)
        whole.append((run.finished_at - triggered) / timedelta(milliseconds=1))
        outside.append(whole[-1] - run.phase_seconds.get("embed", 0.0) * 1000)
        for phase, seconds in run.phase_seconds.items():
            phases.setdefault(phase, []).append(seconds * 1000)
    print(f"{args.rounds} one-file syncs through one worker ({args.model}, trigger {args.trigger}):")
    for label, values in (("trigger -> run started", to_start), ("trigger -> embedding", to_embed), ("trigger -> run done", whole), ("outside the embed phase", outside)):
        values.sort()
        print(f"  {label:<24} median {values[len(values) // 2]:6.0f} ms, max {values[-1]:6.0f} ms")
    print("  phases (median ms): " + ", ".join(f"{phase} {sorted(v)[len(v) // 2]:.0f}" for phase, v in phases.items()))
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
