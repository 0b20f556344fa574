"""repositories.git against real git servers on 127.0.0.1 (tests/gitserver.py); no network, no mocks of git."""

import base64
import multiprocessing
import random
import socket
import subprocess
import time
from pathlib import Path

import django
import pytest

from repositories import git, git_process
from repositories.git import GitError, fetch_branch, list_branches, ls_tree, read_blobs, remote_head
from tests.gitserver import RepoBuilder, free_port

pytestmark = pytest.mark.usefixtures("git_cache")

TOKEN = "ghs_s3cr3tT0kenValue1234567890"


@pytest.fixture(scope="module")
def django_repo(git_daemon, tmp_path_factory) -> RepoBuilder:
    """Part of Django's source from .venv (~410 files), then three commits that each edit ten files."""
    bare = git_daemon.create_repo("django-src")
    repo = RepoBuilder(tmp_path_factory.mktemp("django-work") / "w", bare, git_daemon.url("django-src"))
    for package in ("core", "db", "forms", "http", "template", "utils"):
        repo.copy_tree(Path(django.__file__).parent / package, f"django/{package}")
    repo.commit("django")
    files = sorted(path for path in (repo.work / "django").rglob("*.py"))
    for version in range(1, 4):
        for path in files[version::40]:
            path.write_text(path.read_text() + f"\n# edit {version}\n")
        repo.commit(f"edit {version}", push=False)
    repo.push()
    return repo


def _cache_objects(url: str) -> int:
    output = subprocess.run(
        ["git", f"--git-dir={git.cache_path(url)}", "count-objects", "-v"], capture_output=True, check=True, text=True
    ).stdout
    return sum(int(line.split()[1]) for line in output.splitlines() if line.startswith(("count:", "in-pack:")))


def test_it_fetches_a_branch_and_returns_its_commit(make_repo):
    repo = make_repo()
    sha = repo.write("README.md", "hello\n").commit("first")

    assert fetch_branch(repo.url, "main") == sha
    assert [entry.path for entry in ls_tree(repo.url, sha)] == ["README.md"]


def test_it_fetches_over_http(make_repo, git_http):
    repo = make_repo()
    sha = repo.write("a.txt", "a").commit()

    assert fetch_branch(git_http.url(repo.name), "main") == sha


def test_it_fetches_only_the_new_objects_of_a_later_commit(django_repo):
    first = django_repo.git("rev-parse", "HEAD~3")
    django_repo.git("push", "--quiet", "--force", str(django_repo.bare), f"{first}:refs/heads/main")
    assert fetch_branch(django_repo.url, "main") == first
    objects_after_first = _cache_objects(django_repo.url)
    django_repo.push()

    started = time.monotonic()
    assert fetch_branch(django_repo.url, "main") == django_repo.head
    elapsed = time.monotonic() - started

    # Three commits touched ~30 files: the commit, its changed trees and blobs, nothing else.
    assert objects_after_first > 400
    assert _cache_objects(django_repo.url) - objects_after_first < 120
    assert elapsed < 5  # generous: it takes ~0.1 s; a full refetch would not be "objects < 120" anyway


def test_it_reads_hundreds_of_blobs_without_going_back_to_the_server(django_repo, git_http):
    url = git_http.url(django_repo.name)
    sha = fetch_branch(url, "main")
    requests = len(git_http.requests)

    entries = [entry for entry in ls_tree(url, sha) if entry.type == "blob"][:400]
    blobs = dict(read_blobs(url, [entry.sha for entry in entries]))

    assert len(blobs) == len({entry.sha for entry in entries})
    assert all(len(blobs[entry.sha]) == entry.size for entry in entries)
    assert len(git_http.requests) == requests


def test_a_second_fetch_follows_new_commits(make_repo):
    repo = make_repo()
    first = repo.write("a.py", "one\n").commit()
    assert fetch_branch(repo.url, "main") == first
    second = repo.write("a.py", "two\n").write("b.py", "new\n").commit()

    assert fetch_branch(repo.url, "main") == second
    assert {entry.path for entry in ls_tree(repo.url, second)} == {"a.py", "b.py"}
    assert {entry.path for entry in ls_tree(repo.url, first)} == {"a.py"}  # still readable


def test_it_fetches_each_branch_on_its_own(make_repo):
    repo = make_repo()
    main = repo.write("a", "main").commit()
    feature = repo.checkout("feature/x").write("b", "feature").commit()

    assert fetch_branch(repo.url, "feature/x") == feature
    assert fetch_branch(repo.url, "main") == main


def test_ls_tree_sees_files_symlinks_and_submodules(make_repo, git_http):
    library = make_repo()
    library_commit = library.write("lib.py", "x = 1\n").commit()
    repo = make_repo()
    repo.write("src/app.py", "print('hi')\n").write("run.sh", "#!/bin/sh\n").symlink("link", "src/app.py")
    (repo.work / "run.sh").chmod(0o755)
    library_url = git_http.url(library.name)
    repo.write(".gitmodules", f'[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = {library_url}\n')
    sha = repo.submodule("vendor/lib", library_commit).commit()
    fetch_branch(repo.url, "main")

    entries = {entry.path: entry for entry in ls_tree(repo.url, sha)}

    assert entries["src/app.py"].type == "blob"
    assert entries["src/app.py"].mode == "100644"
    assert entries["src/app.py"].size == len("print('hi')\n")
    assert entries["run.sh"].mode == "100755"
    assert (entries["link"].type, entries["link"].mode, entries["link"].size) == (
        "symlink",
        "120000",
        len("src/app.py"),
    )
    submodule = entries["vendor/lib"]
    assert (submodule.type, submodule.mode, submodule.sha, submodule.size) == ("commit", "160000", library_commit, None)
    assert not [path for _, path, _ in git_http.requests if library.name in path]  # submodules are never fetched


def test_ls_tree_keeps_paths_that_are_not_utf8(make_repo):
    repo = make_repo()
    odd = b"caf\xe9 \n\ttab.txt".decode("utf-8", "surrogateescape")
    sha = repo.write(odd, "latin-1 name").write("ok.txt", "fine").commit()
    fetch_branch(repo.url, "main")

    entries = {entry.path: entry for entry in ls_tree(repo.url, sha)}

    assert not entries[odd].path_is_utf8
    assert entries[odd].path.encode("utf-8", "surrogateescape") == b"caf\xe9 \n\ttab.txt"
    assert entries["ok.txt"].path_is_utf8


def test_read_blobs_returns_exact_bytes(make_repo):
    repo = make_repo()
    contents = {
        "binary.bin": bytes(range(256)) * 4 + b"\0\n\0",
        "latin1.txt": "café\r\n".encode("latin-1"),
        "empty.txt": b"",
        "no-newline.txt": b"last line",
        "big.bin": random.Random(1).randbytes(2 * 1024 * 1024 + 7),
    }
    for path, content in contents.items():
        repo.write(path, content)
    sha = repo.commit()
    fetch_branch(repo.url, "main")
    by_path = {entry.path: entry.sha for entry in ls_tree(repo.url, sha)}

    blobs = list(read_blobs(repo.url, [by_path[path] for path in contents]))

    assert [sha for sha, _ in blobs] == [by_path[path] for path in contents]
    assert [content for _, content in blobs] == list(contents.values())


def test_read_blobs_accepts_the_cache_path_and_stops_early(make_repo):
    repo = make_repo()
    sha = repo.write("a", "1").write("b", "2").commit()
    fetch_branch(repo.url, "main")
    shas = [entry.sha for entry in ls_tree(git.cache_path(repo.url), sha)]

    blobs = read_blobs(git.cache_path(repo.url), shas)
    assert next(blobs)[1] == b"1"
    blobs.close()  # the git process is killed, nothing hangs


def test_read_blobs_names_a_missing_object(make_repo):
    repo = make_repo()
    repo.write("a", "1").commit()
    fetch_branch(repo.url, "main")
    missing = "0123456789abcdef0123456789abcdef01234567"

    with pytest.raises(GitError, match=f"object {missing} is missing from the cache of"):
        list(read_blobs(repo.url, [missing]))


def test_reading_a_repository_never_fetched_is_a_clear_error(make_repo):
    repo = make_repo()

    with pytest.raises(GitError, match="has not been fetched yet"):
        ls_tree(repo.url, "0" * 40)


def test_an_unknown_branch_is_a_permanent_error(make_repo):
    repo = make_repo()
    repo.write("a", "1").commit()

    with pytest.raises(GitError, match=rf"^branch 'nope' not found in {repo.url}$") as raised:
        fetch_branch(repo.url, "nope")
    assert raised.value.permanent


def test_an_empty_repository_is_a_permanent_error(make_repo):
    repo = make_repo()

    with pytest.raises(GitError, match=r"is empty \(it has no commits\)") as raised:
        fetch_branch(repo.url, "main")
    assert raised.value.permanent


def test_a_missing_repository_is_a_permanent_error(git_daemon):
    with pytest.raises(GitError, match="repository not found or not reachable") as raised:
        fetch_branch(git_daemon.url("does-not-exist"), "main")
    assert raised.value.permanent


@pytest.mark.parametrize("scheme", ["git", "http"])
def test_an_unreachable_server_fails_quickly(scheme):
    url = f"{scheme}://127.0.0.1:{free_port()}/repo.git"
    started = time.monotonic()

    with pytest.raises(GitError, match=f"repository not found or not reachable: {url}") as raised:
        fetch_branch(url, "main")
    assert not raised.value.permanent
    assert time.monotonic() - started < 5


def test_a_server_that_never_answers_is_stopped_at_the_timeout():
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"git://127.0.0.1:{silent.getsockname()[1]}/repo.git"
        started = time.monotonic()

        with pytest.raises(GitError, match=r"^fetch timed out after 1 s$") as raised:
            fetch_branch(url, "main", timeout=1)
    assert not raised.value.permanent
    assert time.monotonic() - started < 4


def _no_process(*args, **kwargs):
    raise AssertionError("a process was started")


HOSTILE_REPOSITORIES = [
    "file:///etc/passwd",
    "ext::sh -c touch% /tmp/pwned",
    "ext::sh",
    "ssh://git@github.com/a/b.git",
    "git@github.com:a/b.git",
    "--upload-pack=touch /tmp/pwned",
    "-oProxyCommand=x",
    "https://user:secret@github.com/a/b.git",
    "https://127.0.0.1.nip.io@github.com/a/b.git",
    "https://10.0.0.5/repo.git",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/repo.git",
    "https://2130706433/repo.git",
    "git://example.com/repo.git",
    "http://example.com/repo.git",
    "https://github.com/a/../../b.git",
    "https://github.com/a/b.git\n--upload-pack=x",
    "",
]


@pytest.mark.parametrize("url", HOSTILE_REPOSITORIES)
def test_hostile_repositories_are_refused_before_git_runs(url, monkeypatch):
    monkeypatch.setattr(subprocess, "Popen", _no_process)

    with pytest.raises(GitError, match="^invalid repository: ") as raised:
        fetch_branch(url, "main")
    assert raised.value.permanent
    for call in (lambda: remote_head(url, "main"), lambda: list_branches(url), lambda: ls_tree(url, "0" * 40)):
        with pytest.raises(GitError, match="^invalid repository: "):
            call()


@pytest.mark.parametrize("branch", ["--upload-pack=x", "a..b", "HEAD", "main\n", "x@{1}", "refs/heads/x.lock", ""])
def test_hostile_branches_are_refused_before_git_runs(branch, make_repo, monkeypatch):
    repo = make_repo()
    monkeypatch.setattr(subprocess, "Popen", _no_process)

    with pytest.raises(GitError, match="^invalid branch: "):
        fetch_branch(repo.url, branch)


def test_object_ids_are_checked_before_git_runs(make_repo):
    repo = make_repo()
    repo.write("a", "1").commit()
    fetch_branch(repo.url, "main")

    for bad in ("--output=/tmp/x", "HEAD", "main:a", "0" * 39):
        with pytest.raises(GitError, match="not a commit or object id"):
            ls_tree(repo.url, bad)
        with pytest.raises(GitError, match="not a commit or object id"):
            list(read_blobs(repo.url, [bad]))


def test_a_repository_over_the_size_limit_is_aborted_and_the_cache_stays_usable(make_repo, settings):
    repo = make_repo()
    small = repo.write("a.txt", "small").commit()
    assert fetch_branch(repo.url, "main") == small
    big = repo.write("big.bin", random.Random(0).randbytes(3 * 1024 * 1024)).commit()
    settings.NYXSYNC_GIT_MAX_REPO_BYTES = 1024 * 1024

    with pytest.raises(GitError, match=r"^repository is larger than the limit of 1 MB$") as raised:
        fetch_branch(repo.url, "main")
    assert raised.value.permanent

    cache = git.cache_path(repo.url)
    assert git._tree_bytes(cache) < 1024 * 1024
    assert not list((cache / "objects" / "pack").glob("tmp_*"))
    assert [entry.path for entry in ls_tree(repo.url, small)] == ["a.txt"]
    subprocess.run(["git", f"--git-dir={cache}", "fsck", "--no-dangling"], check=True, capture_output=True)
    settings.NYXSYNC_GIT_MAX_REPO_BYTES = 64 * 1024 * 1024
    assert fetch_branch(repo.url, "main") == big


def _processes_with_in_argv(secret: bytes) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes()
        except OSError:
            continue  # the process ended
        if secret in argv:
            found.append(argv.replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_the_token_goes_in_a_header_never_in_argv(make_repo, git_http):
    repo = make_repo()
    sha = repo.write("a", "1").commit()
    url = git_http.url(repo.name)
    seen = []

    def inspect(headers):
        # Runs while git waits for this answer: every git process of the fetch is alive.
        seen.append((headers.get("Authorization"), _processes_with_in_argv(TOKEN.encode())))

    git_http.on_request = inspect
    try:
        assert fetch_branch(url, "main", token=TOKEN) == sha
        assert remote_head(url, "main", token=TOKEN) == sha
    finally:
        git_http.on_request = None

    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert seen and all(header == expected for header, _ in seen)
    assert all(processes == [] for _, processes in seen)


def test_the_token_is_in_no_error_message(make_repo, git_http, caplog):
    repo = make_repo()
    repo.write("a", "1").commit()
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    failing = [
        lambda: fetch_branch(git_http.url(repo.name), "nope", token=TOKEN),
        lambda: fetch_branch(git_http.url("missing"), "main", token=TOKEN),
        lambda: fetch_branch(f"http://127.0.0.1:{free_port()}/x.git", "main", token=TOKEN),
        lambda: list_branches(f"http://127.0.0.1:{free_port()}/x.git", token=TOKEN),
        lambda: fetch_branch(git_http.url(repo.name), "main", token=TOKEN + "\r\nX-Evil: 1"),
    ]
    for call in failing:
        with pytest.raises(GitError) as raised:
            call()
        assert TOKEN not in str(raised.value) and encoded not in str(raised.value)
    logged = caplog.text + "".join(str(vars(record)) for record in caplog.records)
    assert "git.fetch.failed" in logged
    assert TOKEN not in logged and encoded not in logged


def _fetch_in_child(url: str) -> str:
    return fetch_branch(url, "main")


def test_two_processes_fetching_the_same_repository_both_succeed(django_repo):
    cache = git.cache_path(django_repo.url)
    # fork: the children inherit this test's settings (its cache directory).
    with multiprocessing.get_context("fork").Pool(2) as pool:
        # Both children start while we hold the lock: the one that gets it next makes the other wait.
        with git._cache_lock(cache, git_process.Deadline.after(30)):
            results = pool.map_async(_fetch_in_child, [django_repo.url] * 2)
            time.sleep(0.5)
            assert not results.ready()
        shas = results.get(timeout=60)

    assert shas == [django_repo.head] * 2
    subprocess.run(["git", f"--git-dir={cache}", "fsck", "--no-dangling"], check=True, capture_output=True)


def test_remote_head_and_list_branches_ask_the_server(make_repo, git_http):
    repo = make_repo()
    main = repo.write("a", "1").commit()
    feature = repo.checkout("feature/x").write("b", "2").commit()
    repo.checkout("alpha").commit()

    for url in (repo.url, git_http.url(repo.name)):
        assert remote_head(url, "main") == main
        assert remote_head(url, "feature/x") == feature
        assert remote_head(url, "missing") is None
        branches = list_branches(url)
        assert branches == ["main", "alpha", "feature/x"]
        assert branches.default == "main"


def test_list_branches_of_an_empty_repository(make_repo):
    branches = list_branches(make_repo().url)

    assert branches == [] and branches.default is None


def test_https_hosts_on_private_networks_are_refused_before_git_runs(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("10.0.0.7", 443))])
    monkeypatch.setattr(subprocess, "Popen", _no_process)

    with pytest.raises(GitError, match="^invalid repository: host git.example.com is on a private network$"):
        fetch_branch("https://git.example.com/team/repo.git", "main")


def test_repo_builder_commits_are_deterministic(make_repo):
    first, second = make_repo(), make_repo()

    shas = [repo.write("a.txt", "same").symlink("l", "a.txt").commit("same") for repo in (first, second)]

    assert shas[0] == shas[1]


def test_the_http_server_accepts_pushes(make_repo, git_http, tmp_path):
    repo = make_repo()
    repo.write("a", "1").commit()
    # Over 1 MB, so git sends the push chunked.
    sha = repo.write("big.bin", random.Random(2).randbytes(2 * 1024 * 1024)).commit(push=False)
    repo.git("push", "--quiet", git_http.url(repo.name), "HEAD:refs/heads/main")

    assert remote_head(repo.url, "main") == sha


def test_https_hosts_are_pinned_to_the_addresses_checked(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("93.184.216.34", 443))])
    repository = git._repository("https://git.example.com/team/repo.git")

    assert "http.curloptResolve=git.example.com:443:93.184.216.34" in git_process.remote_config(repository)
    assert "protocol.https.allow=always" in git_process.remote_config(repository)


def test_a_proxy_in_the_environment_is_not_used(make_repo, git_http, monkeypatch, settings):
    """A proxy resolves names itself, past the addresses repositories.input checked and pinned:
    git takes none from the worker's environment (a deployment names one: NYXSYNC_GIT_PROXY)."""
    repo = make_repo()
    sha = repo.write("a.txt", "a").commit()
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(8)
    proxy.settimeout(0.2)
    address = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    for name in ("http_proxy", "https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, address)
    settings.NYXSYNC_GIT_TIMEOUT_SECONDS = 20  # through the proxy (which never answers), git would hang
    try:
        assert fetch_branch(git_http.url(repo.name), "main") == sha
        with pytest.raises(TimeoutError):
            proxy.accept()[0].close()  # nobody came through the proxy
    finally:
        proxy.close()


def test_a_tip_seen_by_ls_remote_is_fetched_by_its_id_in_fewer_round_trips(make_repo, git_http):
    repo = make_repo()
    repo.write("a.py", "one\n").commit()
    url = git_http.url(repo.name)
    fetch_branch(url, "main")
    tip = repo.write("a.py", "two\n").commit()

    def requests_of(**kwargs) -> list:
        before = len(git_http.requests)
        assert fetch_branch(url, "main", **kwargs) == tip
        return git_http.requests[before:]

    by_name = requests_of()
    repo.write("a.py", "three\n").commit()
    tip = remote_head(url, "main")
    by_id = requests_of(commit=tip)

    assert len(by_id) < len(by_name)
    assert {entry.path for entry in ls_tree(url, tip)} == {"a.py"}


def test_an_id_the_server_will_not_give_falls_back_to_the_branch(make_repo, git_http):
    repo = make_repo()
    tip = repo.write("a.py", "one\n").commit()

    for url in (repo.url, git_http.url(repo.name)):  # an id it does not have (a branch rewritten and collected)
        assert fetch_branch(url, "main", commit="0123456789" * 4) == tip


def test_a_commit_id_is_checked_before_git_runs(make_repo, monkeypatch):
    repo = make_repo()
    repo.write("a.py", "one\n").commit()
    monkeypatch.setattr(git_process.subprocess, "Popen", _no_process)

    with pytest.raises(git.InvalidInput, match="not a commit id"):
        fetch_branch(repo.url, "main", commit="HEAD; rm -rf /")
