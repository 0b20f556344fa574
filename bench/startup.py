"""Startup benchmark: a no-op `manage.py sync` as a whole process (Django's start included), and
what a `manage.py` process costs before it does anything, in this checkout and, side by side in
the same run (interleaved), in another one (--baseline, e.g. a clone of an earlier main).

    .venv/bin/python bench/startup.py [--baseline ../other-clone] [--runs 7] [--worker]

Prints the CPU and load; then, per checkout, whether `manage.py check` with nothing running left
a server running, and the median (min-max) wall time of `django.setup()`, `manage.py check` and
the no-op `manage.py sync --inline --json` (the branch is at the commit already synced), the
ratio to the baseline, the model libraries the no-op imported and its largest imports. With
--worker, also the no-op `manage.py sync --json` handed to a running Celery worker (this
checkout's, warm), as through `make run`. Both
checkouts run with this interpreter (the same packages). Uses a scratch NYXSYNC_HOME (its own
embedded servers, stopped and removed at the end) and a local `git daemon`; never the data of
`make run`. Figures only: nothing passes or fails.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, cpu_name, git, serve_repository

MODEL_LIBRARIES = ("torch", "sentence_transformers", "onnxruntime", "transformers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to measure side by side")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--worker", action="store_true", help="also time the no-op through a running worker")
    args = parser.parse_args()
    checkouts = {"this": ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()

    work = Path(tempfile.mkdtemp(prefix="nyxsync-bench-startup-"))
    work.chmod(0o755)  # the embedded server's system user must reach its data folder
    home = work / "home"
    home.mkdir()
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")}
    env.update(NYXSYNC_HOME=str(home), LOG_LEVEL="WARNING", NYXSYNC_ADMIN_PASSWORD="bench-admin-password")
    daemon = worker = None
    try:
        print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
        for name, checkout in checkouts.items():
            started = _servers_running(env)
            _manage(checkout, env, "check")
            print(f"{name} ({_head(checkout)}): `manage.py check` with nothing running left running: {', '.join(_servers_running(env) - started) or 'nothing'}")
            _stop_servers(env)

        _manage(ROOT, env, "migrate", "--verbosity", "0")
        _manage(ROOT, env, "ensure_admin")
        daemon, url, bare = serve_repository(work)
        _push_small_tree(work / "tree", bare)
        sync = ["sync", "--repo", url, "--branch", "main", "--project", "startup", "--inline", "--json"]
        first = json.loads(_manage(ROOT, env, *sync).stdout)
        print(f"first sync: {first['chunks_embedded']} chunks embedded in {first['seconds']:.2f} s; then {args.runs} rounds, interleaved")

        measures = {
            "django.setup()": ["-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'nyxsync.settings'); django.setup()"],
            "manage.py check": ["manage.py", "check"],
            "no-op manage.py sync": ["manage.py", *sync],
        }
        if args.worker:
            worker = _start_worker(env)
            measures["no-op sync via worker"] = ["manage.py", *[arg for arg in sync if arg != "--inline"]]
        walls = {(checkout, measure): [] for checkout in checkouts for measure in measures}
        for _ in range(args.runs):
            for measure, command in measures.items():
                for name, checkout in checkouts.items():
                    started = time.monotonic()
                    done = _run(checkout, env, command)
                    walls[(name, measure)].append(time.monotonic() - started)
                    if measure.startswith("no-op"):
                        status = json.loads(done.stdout)["status"]
                        if status != "up_to_date":
                            raise SystemExit(f"{name}: the no-op sync ended {status}")

        for measure in measures:
            line = []
            for name in checkouts:
                times = walls[(name, measure)]
                line.append(f"{name} {statistics.median(times):.2f} s ({min(times):.2f}-{max(times):.2f})")
            if "baseline" in checkouts:
                ratio = statistics.median(walls[("this", measure)]) / statistics.median(walls[("baseline", measure)])
                line.append(f"ratio {ratio:.2f}x")
            print(f"{measure:<22} median of {args.runs}: " + ", ".join(line))

        for name, checkout in checkouts.items():
            traced = _run(checkout, env, ["-X", "importtime", "manage.py", *sync]).stderr
            heavy = [lib for lib in MODEL_LIBRARIES if re.search(rf"\|\s+{lib}$", traced, re.M)]
            print(f"{name}: no-op imports {_import_seconds(traced):.2f} s of modules; model libraries: {', '.join(heavy) or 'none'}; largest: {_largest_imports(traced)}")
        print(f"load average at the end {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        if worker:
            worker.terminate()
            worker.wait(timeout=30)
        if daemon:
            daemon.terminate()
        _stop_servers(env)
        shutil.rmtree(work, ignore_errors=True)


def _start_worker(env: dict) -> subprocess.Popen:
    """A Celery worker of this checkout, as `make run` starts it, ready when it answers a ping."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "nyxsync", "worker", "--concurrency", "1", "--loglevel", "WARNING", "--hostname", "bench-startup@%h"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    ping = "from nyxsync.celery import app; import sys; sys.exit(0 if app.control.ping(timeout=1.0) else 1)"
    deadline = time.monotonic() + 120
    while subprocess.run([sys.executable, "manage.py", "shell", "-c", ping], cwd=ROOT, env=env, capture_output=True).returncode:
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit("the Celery worker did not start")
    return worker


def _run(checkout: Path, env: dict, args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"{checkout}: {' '.join(args)} failed: {done.stderr.strip()[-800:]}")
    return done


def _manage(checkout: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return _run(checkout, env, ["manage.py", *args])


def _servers_running(env: dict) -> set[str]:
    status = subprocess.run([sys.executable, "-m", "nyxsync.embedded", "status"], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in status.splitlines() if " running" in line}


def _stop_servers(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "nyxsync.embedded", "stop"], cwd=ROOT, env=env, capture_output=True, timeout=60)


def _head(checkout: Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h"], capture_output=True, text=True).stdout.strip()


def _push_small_tree(tree: Path, bare: Path) -> None:
    """A few small Python files: the first sync embeds a handful of chunks."""
    tree.mkdir()
    git("init", "--quiet", "--initial-branch=main", str(tree))
    for index in range(5):
        (tree / f"module_{index}.py").write_text(f'"""Module {index}."""\n\n\ndef function_{index}(value):\n    return value * {index}\n')
    git("-C", str(tree), "add", "-A")
    git("-C", str(tree), "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "--quiet", "-m", "small tree")
    git("-C", str(tree), "push", "--quiet", str(bare), "main")


def _import_lines(traced: str) -> list[tuple[int, int, str]]:
    rows = []
    for line in traced.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match[1]), int(match[2]), match[3], match[4]))
    return rows


def _import_seconds(traced: str) -> float:
    return sum(own for own, _, _, _ in _import_lines(traced)) / 1e6


def _largest_imports(traced: str, count: int = 6) -> str:
    # Top-level imports only (one space of indent): what each costs with everything it pulls in.
    top = [(total, name) for _, total, indent, name in _import_lines(traced) if len(indent) == 1]
    return ", ".join(f"{name} {total / 1000:.0f} ms" for total, name in sorted(top, reverse=True)[:count])


if __name__ == "__main__":
    main()
