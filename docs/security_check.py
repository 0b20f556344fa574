"""The outside check of the security review (issue 12): every attack, through the real doors of a
running `make run`, and the controls that must keep working (a user's own project, sync, search).
One line per attack: REFUSED (refused or contained) or LEAKED, with the evidence; a control says OK
or BROKEN. Exit status 1 if anything leaked or broke. An operator's check, not a test: it creates
users and projects named after the time of day in the database of the checkout it runs from, and
locks two of those users out of the login pages (that is one of the attacks).

    # make run with every proxy variable pointing at the recorder this script listens with:
    P=http://127.0.0.1:18999; PORT=8765 https_proxy=$P HTTPS_PROXY=$P http_proxy=$P HTTP_PROXY=$P \
        ALL_PROXY=$P make run > /tmp/nyxsync-run.log 2>&1 &
    .venv/bin/python docs/security_check.py --url http://127.0.0.1:8765 --run-log /tmp/nyxsync-run.log

What it does, by item of the review: (0) 150 live streams with one session, then 150 users with
one each, searches and /healthz during them, the web's database sessions during and after; (1) a staff user with every model permission, as
a non-member and as a viewer, changing, acting on and deleting another's branch, runs and project
in the admin (real login, CSRF); (2) another tenant syncing copies of a tenant's files and reading
its run's counters; (3) forged and foreign webhook signatures, and a genuine delivery beside 51
squatting projects; (4) streams of another's project, the operators' stream, es-meta, a stream
that outlives its reader's membership or account; (5) a repository with more refs than allowed, a
flood of branch listings; (6) IPv6 forms of private addresses, git with proxy variables inherited;
(7) login brute force on both login pages, /healthz from outside and as staff, the CSP header and
Chromium's violations, API tokens at rest, statement_timeout, a search flood; then every secret
(tokens, webhook secret, GitHub token, password, session) looked for in every answer, page, admin
page, event and the server's log. Git is served on 127.0.0.1 only (git daemon, git http-backend).
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from security_doors import (  # sets Django up on this checkout first
    RESULTS,
    SECRETS,
    SEEN,
    WORK,
    Permission,
    ProxyRecorder,
    User,
    Web,
    api_tokens,
    app_connections,
    chromium_csp_violations,
    connection,
    csrf_of,
    free_port,
    git,
    httpx,
    make_repo,
    record,
    run_uuids,
    seen,
    system,
    trigger,
    wait_run,
)

from tests.sse_client import SseClient

# --- the check -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8765")
    parser.add_argument("--run-log", default="", help="make run's output, searched for secrets")
    parser.add_argument("--proxy-port", type=int, default=18999, help="where make run's proxy variables point")
    parser.add_argument("--streams", type=int, default=150)
    parser.add_argument("--only", default="", help="comma-separated items to run (default: all)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    web = Web(args.url)
    WORK.mkdir(parents=True, exist_ok=True)
    tag = time.strftime("%H%M%S")

    # Git: one daemon (git://) and git http-backend (http://), both on 127.0.0.1.
    (WORK / "served").mkdir(parents=True, exist_ok=True)
    port = free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={WORK / 'served'}", "--listen=127.0.0.1",
         f"--port={port}", str(WORK / "served")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    from tests.gitserver import GitHttp

    http_git = GitHttp(WORK / "served")
    http_git.start()
    proxy = ProxyRecorder(args.proxy_port)
    try:
        return check(web, tag, port, http_git, proxy, args, only)
    finally:
        proxy.close()
        daemon.terminate()
        daemon.wait()
        http_git.stop()
        shutil.rmtree(WORK, ignore_errors=True)


def check(web: Web, tag: str, port: int, http_git, proxy, args, only) -> int:
    def wanted(item: str) -> bool:
        return only is None or item in only

    alice_secret = f"sk-alice-{secrets.token_hex(12)}"
    billing = "def compute_invoice_total(lines):\n    return sum(line.amount for line in lines)\n"
    secret_file = f"AWS_SECRET_ACCESS_KEY = '{alice_secret}'\nDATABASE_PASSWORD = 'hunter2-{tag}'\n"
    make_repo(f"alice-{tag}", {"app/billing.py": billing, "config/settings_prod.py": secret_file})
    repo_url = f"git://127.0.0.1:{port}/alice-{tag}.git"

    password = secrets.token_urlsafe(12)
    with system():
        alice = User.objects.create_user(f"alice-{tag}", password=password)
        bob = User.objects.create_user(f"bob-{tag}", password=password, is_staff=True)
        bob.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["projects", "syncs", "embeddings"]))
        sam = User.objects.create_superuser(f"sam-{tag}", password=password)
        carol = User.objects.create_user(f"carol-{tag}", password=password)
        dave = User.objects.create_user(f"dave-{tag}", password=password, is_staff=True)
        alice_key = api_tokens.api_token_issue(user=alice).key
        bob_key = api_tokens.api_token_issue(user=bob).key
    SECRETS.update({"alice's API token": alice_key, "bob's API token": bob_key, "a password": password})
    a_api, b_api = web.api(alice_key), web.api(bob_key)
    github_token = f"ghp_{secrets.token_hex(18)}"

    # --- control: Alice links, syncs and searches her repository -----------------------------
    created = seen("API project create", a_api.post("/api/v1/projects/", json={"repository": repo_url, "branch": "main"}))
    if created.status_code != 201:
        record("ctl", "Alice links her repository", False, f"{created.status_code} {created.text[:200]}", control=True)
        return 1
    project = created.json()
    SECRETS["alice's webhook secret"] = project["webhook_secret"]
    pid = project["uuid"]
    # A GitHub token on the project: encrypted at rest, never shown (a git:// repository never gets it).
    put = a_api.patch(f"/api/v1/projects/{pid}/", json={"github_token": github_token})
    if put.status_code == 200:
        SECRETS["alice's GitHub token"] = github_token
    trigger(a_api, pid)
    run = wait_run(a_api, pid)
    record("ctl", "Alice's first sync", run["status"] == "succeeded", f"run {run['status']}, {run['chunks_embedded']} chunks embedded", control=True)
    found = seen("API search", a_api.post("/api/v1/search/", json={"query": "invoice total", "project": pid}))
    paths = [hit["path"] for hit in found.json().get("results", [])] if found.status_code == 200 else []
    record("ctl", "Alice searches her project", bool(paths) and paths[0] == "app/billing.py", f"{found.status_code}, top hit {paths[:1]}", control=True)
    sync_uuid = a_api.get(f"/api/v1/projects/{pid}/syncs/").json()["results"][0]["uuid"]
    from projects.models import Project
    from syncs.models import ProjectSync, SyncRun

    def state() -> tuple:
        with system():
            ps = ProjectSync.objects.get(uuid=sync_uuid)
            p = Project.objects.get(uuid=pid)
            return (p.name, p.owner_id, p.deleted_at, ps.repository_url, ps.branch, ps.auto_sync, ps.project_id,
                    ps.live_commit, SyncRun.objects.filter(project_sync=ps).count())  # fmt: skip

    before = state()

    alice_browser = web.browser()
    logged = web.login(alice_browser, "/accounts/login/", alice.username, password)
    alice_cookie = alice_browser.cookies.get("sessionid")
    record("ctl", "Alice logs in (form, CSRF)", logged.status_code == 302 and bool(alice_cookie), f"{logged.status_code} -> {logged.headers.get('location')}", control=True)
    SECRETS["alice's session"] = alice_cookie or "-"

    # --- 0: a burst of live streams -------------------------------------------------------------
    if wanted("0"):
        path = f"/events/projects/?project={pid}"
        baseline = app_connections()
        streams, statuses = [], {}
        searches, healths, peak = [], [], baseline
        try:
            for _ in range(args.streams):
                streams.append(SseClient(web.url, path, alice_cookie))
            for stream in streams:
                statuses[stream.status] = statuses.get(stream.status, 0) + 1
            peak = max(peak, app_connections())
            for _ in range(5):
                started = time.monotonic()
                hit = a_api.post("/api/v1/search/", json={"query": "invoice total", "project": pid})
                searches.append((hit.status_code, round((time.monotonic() - started) * 1000)))
                healths.append(httpx.get(f"{web.url}/healthz", timeout=30).status_code)
                peak = max(peak, app_connections())
        finally:
            for stream in streams:
                stream.close()
        open_ok = statuses.get(200, 0)
        bounded = set(statuses) <= {200, 429, 503} and open_ok <= 10
        record("0", f"{args.streams} streams with one session", bounded, f"statuses {statuses}")
        answered = all(code == 200 for code, _ in searches) and all(code == 200 for code in healths)
        record("0", "search and /healthz during the burst", answered, f"searches {searches}, /healthz {healths}")
        series, started = [], time.monotonic()
        for wait in (0, 1, 2, 5, 10, 20, 30):
            time.sleep(max(0, wait - (time.monotonic() - started)))
            series.append((wait, app_connections()))
        after = a_api.post("/api/v1/search/", json={"query": "invoice total", "project": pid})
        recovered = after.status_code == 200 and series[-1][1] <= baseline + 1
        record("0", "recovery after the burst", recovered,
               f"app connections: baseline {baseline}, peak {peak}, after (s, n) {series}; search {after.status_code}")  # fmt: skip

    # --- 0b: the same burst from 150 users, each allowed one stream (all members of the project) ---
    if wanted("0"):
        from django.test import Client

        from projects.models import Membership

        with system():
            project_row = Project.objects.get(uuid=pid)
            crowd = [User.objects.create_user(f"viewer-{tag}-{index}") for index in range(args.streams)]
            Membership.objects.bulk_create([Membership(project=project_row, user=user, role="viewer") for user in crowd])
        cookies = []
        for user in crowd:
            client = Client()
            client.force_login(user)
            cookies.append(client.cookies["sessionid"].value)
        baseline = app_connections()
        streams, statuses, peak, searches = [], {}, baseline, []
        try:
            for cookie in cookies:
                streams.append(SseClient(web.url, f"/events/projects/?project={pid}", cookie))
            for stream in streams:
                statuses[stream.status] = statuses.get(stream.status, 0) + 1
            opened = sum(b"stream-open" in stream.read(b"stream-open", timeout=5) for stream in streams if stream.status == 200)
            for _ in range(5):
                peak = max(peak, app_connections())
                started = time.monotonic()
                hit = a_api.post("/api/v1/search/", json={"query": "invoice total", "project": pid})
                searches.append((hit.status_code, round((time.monotonic() - started) * 1000)))
            time.sleep(2)
            peak = max(peak, app_connections())
        finally:
            for stream in streams:
                stream.close()
        series, started = [], time.monotonic()
        for wait in (0, 5, 10, 20, 30):
            time.sleep(max(0, wait - (time.monotonic() - started)))
            series.append((wait, app_connections()))
        record("0", f"{args.streams} users with one stream each", opened == args.streams and all(code == 200 for code, _ in searches) and peak <= baseline + 8 and series[-1][1] <= baseline + 1,
               f"statuses {statuses}, {opened} open; searches {searches}; connections baseline {baseline}, peak {peak} while open, after (s, n) {series}")  # fmt: skip
        with system():
            Membership.objects.filter(user__in=crowd).delete()
            User.objects.filter(pk__in=[user.pk for user in crowd]).update(is_active=False)

    # --- 1: the admin ignores project roles ------------------------------------------------------
    if wanted("1"):
        from projects.models import Membership

        bob_admin = web.browser()
        logged = web.login(bob_admin, "/admin/login/?next=/admin/", bob.username, password)
        record("ctl", "staff Bob logs into the admin", logged.status_code == 302, f"{logged.status_code}", control=True)
        with system():
            ps_pk = ProjectSync.objects.get(uuid=sync_uuid).pk
            project_pk = Project.objects.get(uuid=pid).pk
            run_pk = SyncRun.objects.filter(project_sync_id=ps_pk).first().pk
        # Not a member: the branch is not there for him.
        page = seen("admin bob", bob_admin.get(f"/admin/syncs/projectsync/{ps_pk}/change/"))
        record("1", "non-member staff opens Alice's branch in the admin", page.status_code in (302, 403, 404), f"{page.status_code} {page.headers.get('location', '')}")
        listing = seen("admin bob", bob_admin.get("/admin/syncs/projectsync/"))
        record("1", "non-member staff lists branches", repo_url not in listing.text, f"{listing.status_code}, Alice's repository {'shown' if repo_url in listing.text else 'absent'}")
        # A viewer of the project: he sees it, but may change nothing.
        a_api.post(f"/api/v1/projects/{pid}/members/", json={"username": bob.username, "role": "viewer"})
        page = seen("admin bob", bob_admin.get(f"/admin/syncs/projectsync/{ps_pk}/change/"))
        token = csrf_of(page.text) or csrf_of(bob_admin.get("/admin/syncs/projectsync/").text)
        form = {"csrfmiddlewaretoken": token, "repository_url": "https://attacker.example/x.git", "project": "1",
                "branch": "evil", "auto_sync": "on", "auto_sync_interval_minutes": "5", "_save": "Save"}  # fmt: skip
        changed = bob_admin.post(f"/admin/syncs/projectsync/{ps_pk}/change/", data=form, headers={"Referer": web.url})
        editable = 'name="repository_url"' in page.text
        record("1", "viewer changes repository_url/branch/auto_sync", state() == before,
               f"page {page.status_code} (repository_url {'editable' if editable else 'not editable'}), POST {changed.status_code}, stored row unchanged: {state() == before}")  # fmt: skip
        listing = bob_admin.get("/admin/syncs/projectsync/")
        token = csrf_of(listing.text)
        for action, url, pk in (
            ("remove", "/admin/syncs/projectsync/", ps_pk),
            ("soft_delete", "/admin/projects/project/", project_pk),
            ("purge", "/admin/projects/project/", project_pk),
            ("cancel", "/admin/syncs/syncrun/", run_pk),
        ):
            data = {"csrfmiddlewaretoken": token, "action": action, "_selected_action": str(pk), "post": "yes", "index": "0"}
            answer = bob_admin.post(url, data=data, headers={"Referer": web.url + url})
            record("1", f"viewer runs the admin action {action!r}", state() == before, f"POST {answer.status_code}, row unchanged: {state() == before}")
        for url in (f"/admin/syncs/projectsync/{ps_pk}/delete/", f"/admin/syncs/syncrun/{run_pk}/delete/", f"/admin/projects/project/{project_pk}/delete/"):
            answer = bob_admin.post(url, data={"csrfmiddlewaretoken": token, "post": "yes"}, headers={"Referer": web.url + url})
            record("1", f"viewer hard-deletes {url}", state() == before and answer.status_code in (302, 403, 404), f"POST {answer.status_code}, unchanged: {state() == before}")
        vectors = bob_admin.get("/admin/embeddings/vector/")
        record("1", "staff (not superuser) opens VectorAdmin", vectors.status_code in (302, 403, 404), f"{vectors.status_code}")
        with system():
            Membership.objects.filter(project__uuid=pid, user=bob).delete()

    # --- 2: shared vectors across tenants ---------------------------------------------------------
    if wanted("2"):
        make_repo(f"bob-guess-{tag}", {"guess/settings_prod.py": secret_file, "guess/billing.py": billing})
        guess = b_api.post("/api/v1/projects/", json={"repository": f"git://127.0.0.1:{port}/bob-guess-{tag}.git", "branch": "main"})
        if guess.status_code == 201:
            trigger(b_api, guess.json()["uuid"])
            run = wait_run(b_api, guess.json()["uuid"])
            seen("API bob run", httpx.Response(200, text=json.dumps(run)))
            record("2", "Bob syncs copies of Alice's files and reads his counters", run["chunks_reused"] == 0 and run["chunks_embedded"] > 0,
                   f"run {run['status']}: chunks_embedded {run['chunks_embedded']}, chunks_reused {run['chunks_reused']}, progress {run['progress_done']}/{run['progress_total']}")  # fmt: skip
        else:
            record("2", "Bob syncs copies of Alice's files", False, f"could not create: {guess.status_code} {guess.text[:200]}")

    # --- 3: webhooks ------------------------------------------------------------------------------
    if wanted("3"):
        body = json.dumps({"ref": "refs/heads/main", "after": "0" * 40, "repository": {"clone_url": repo_url, "full_name": "alice/app"}}).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
        runs_before = run_uuids(a_api, pid)
        forged = "sha256=" + hmac.new(b"guessed", body, hashlib.sha256).hexdigest()
        for url in (f"/api/v1/webhooks/github/{pid}/", "/api/v1/webhooks/github/"):
            answer = seen("webhook", httpx.post(web.url + url, content=body, headers={**headers, "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": forged}))
            record("3", f"forged signature at {url}", answer.status_code == 403 and run_uuids(a_api, pid) == runs_before, f"{answer.status_code} {answer.text[:100]}")
        # Squatting: Bob links 51 projects to Alice's repository, then signs with his own secret.
        squat_secrets, made = [], 0
        for index in range(51):
            squat = b_api.post("/api/v1/projects/", json={"repository": repo_url, "branch": "main", "name": f"squat-{index}"})
            if squat.status_code != 201:
                break
            made += 1
            squat_secrets.append(squat.json()["webhook_secret"])
        own = "sha256=" + hmac.new(squat_secrets[0].encode(), body, hashlib.sha256).hexdigest() if squat_secrets else forged
        answer = httpx.post(web.url + f"/api/v1/webhooks/github/{pid}/", content=body, headers={**headers, "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": own})
        record("3", "Bob's own secret at Alice's per-project URL", answer.status_code == 403 and run_uuids(a_api, pid) == runs_before, f"{answer.status_code}")
        genuine = "sha256=" + hmac.new(SECRETS["alice's webhook secret"].encode(), body, hashlib.sha256).hexdigest()
        answer = seen("webhook", httpx.post(web.url + f"/api/v1/webhooks/github/{pid}/", content=body, headers={**headers, "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": genuine}))
        record("3", f"Alice's genuine delivery with {made} squatting projects", answer.status_code in (200, 202) and answer.json().get("result") in ("queued", "ignored"),
               f"{answer.status_code} {answer.json().get('result')} {answer.json().get('detail', '')[:80]}")  # fmt: skip
        wait_run(a_api, pid, after=runs_before, timeout=120) if answer.status_code == 202 else None
        # A hook made before per-project URLs (the shared URL), beside the same 51 squatters.
        with system():
            Project.objects.filter(uuid=pid).update(webhook_shared_url=True)
        runs_before = run_uuids(a_api, pid)
        answer = httpx.post(web.url + "/api/v1/webhooks/github/", content=body, headers={**headers, "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": genuine})
        record("3", f"Alice's genuine delivery at the shared URL with {made} squatting projects", answer.status_code in (200, 202) and answer.json().get("result") in ("queued", "ignored"),
               f"{answer.status_code} {answer.json().get('result')}")  # fmt: skip
        wait_run(a_api, pid, after=runs_before, timeout=120) if answer.status_code == 202 else None
        with system():
            Project.objects.filter(uuid=pid).update(webhook_shared_url=False)

    # --- 4: streams --------------------------------------------------------------------------------
    if wanted("4"):
        bob_browser = web.browser()
        web.login(bob_browser, "/accounts/login/", bob.username, password)
        bob_cookie = bob_browser.cookies.get("sessionid")
        sam_browser = web.browser()
        web.login(sam_browser, "/accounts/login/", sam.username, password)
        stream = SseClient(web.url, f"/events/projects/?project={pid}", bob_cookie)
        record("4", "Bob opens Alice's project stream", stream.status == 403, f"{stream.status}")
        stream.close()
        stream = SseClient(web.url, "/events/operators/", bob_cookie)
        record("4", "staff Bob opens the operators stream", stream.status == 403, f"{stream.status}")
        stream.close()
        stream = SseClient(web.url, "/events/operators/", sam_browser.cookies.get("sessionid"))
        record("ctl", "a superuser opens the operators stream", stream.status == 200, f"{stream.status}", control=True)
        stream.close()
        meta = SseClient(web.url, f"/events/projects/?project={pid}&es-meta=abc", alice_cookie)
        record("4", "es-meta override", meta.status == 400, f"{meta.status}")
        meta.close()
        a_api.post(f"/api/v1/projects/{pid}/members/", json={"username": bob.username, "role": "viewer"})
        stream = SseClient(web.url, f"/events/projects/?project={pid}", bob_cookie)
        opened = stream.status
        stream.read(b"stream-open", timeout=5)
        removed_at = time.monotonic()
        a_api.delete(f"/api/v1/projects/{pid}/members/{bob.username}/")
        stream.read(b"stream-error", timeout=60)
        ended = b"stream-error" in stream.received
        record("4", "Bob's open stream after his removal", opened == 200 and ended,
               f"opened {opened}, ended with stream-error after {time.monotonic() - removed_at:.1f} s" if ended else f"opened {opened}, still open after 60 s")  # fmt: skip
        SEEN.append(("stream bob", stream.received.decode(errors="replace")))
        stream.close()
        # Deactivation: Carol is a member, her account is switched off while she watches.
        carol_browser = web.browser()
        web.login(carol_browser, "/accounts/login/", carol.username, password)
        a_api.post(f"/api/v1/projects/{pid}/members/", json={"username": carol.username, "role": "viewer"})
        stream = SseClient(web.url, f"/events/projects/?project={pid}", carol_browser.cookies.get("sessionid"))
        opened = stream.status
        stream.read(b"stream-open", timeout=5)
        removed_at = time.monotonic()
        with system():
            User.objects.filter(pk=carol.pk).update(is_active=False)
        stream.read(b"stream-error", timeout=60)
        ended = b"stream-error" in stream.received
        record("4", "a deactivated user's open stream", opened == 200 and ended, f"opened {opened}, ended after {time.monotonic() - removed_at:.1f} s" if ended else f"opened {opened}, still open")
        stream.close()
        with system():
            User.objects.filter(pk=carol.pk).update(is_active=True)
        # Deletion: Alice watches a second project of hers and deletes it.
        doomed = a_api.post("/api/v1/projects/", json={"repository": repo_url, "branch": "main", "name": f"doomed-{tag}"}).json()["uuid"]
        stream = SseClient(web.url, f"/events/projects/?project={doomed}", alice_cookie)
        opened = stream.status
        stream.read(b"stream-open", timeout=5)
        removed_at = time.monotonic()
        deleted = a_api.delete(f"/api/v1/projects/{doomed}/").status_code
        stream.read(b"stream-error", timeout=60)
        ended = b"stream-error" in stream.received
        record("4", "an open stream of a deleted project", opened == 200 and ended,
               f"opened {opened}, delete {deleted}, ended after {time.monotonic() - removed_at:.1f} s" if ended else f"opened {opened}, delete {deleted}, still open")  # fmt: skip
        stream.close()

    # --- 5: git and size limits ---------------------------------------------------------------------
    if wanted("5"):
        work = make_repo(f"refs-{tag}", {"a.py": "x = 1\n"})
        bare = WORK / "served" / f"refs-{tag}.git"
        sha = git("rev-parse", "HEAD", cwd=work).strip()
        lines = "".join(f"create refs/heads/b{index:05d} {sha}\n" for index in range(10_050))
        subprocess.run(["git", "update-ref", "--stdin"], cwd=bare, input=lines, text=True, check=True)
        many = b_api.post("/api/v1/projects/", json={"repository": f"git://127.0.0.1:{port}/refs-{tag}.git", "branch": "main"})
        if many.status_code == 201:
            trigger(b_api, many.json()["uuid"])
            run = wait_run(b_api, many.json()["uuid"])
            branches = b_api.get(f"/api/v1/projects/{many.json()['uuid']}/branches/")
            record("5", "a repository with 10,051 refs", branches.status_code in (400, 422, 502) or run["status"] == "failed",
                   f"link 201, run {run['status']} {run['error'][:80]!r}; branch list {branches.status_code} {branches.text[:120]}")  # fmt: skip
        else:
            record("5", "a repository with 10,051 refs", many.status_code == 400, f"{many.status_code} {many.text[:160]}")
        codes = [a_api.get(f"/api/v1/projects/{pid}/branches/").status_code for _ in range(32)]
        record("5", "32 branch-picker calls in a row", 429 in codes, f"first 429 at call {codes.index(429) + 1 if 429 in codes else '-'}; codes {sorted(set(codes))}")

    # --- 6: IPv6 forms of private addresses, an inherited proxy ------------------------------------
    if wanted("6"):
        for url in ("https://[64:ff9b::7f00:1]/x.git", "https://[::127.0.0.1]/x.git", "https://[::ffff:127.0.0.1]/x.git",
                    "https://[2002:7f00:1::]/x.git", "https://[::ffff:a9fe:a9fe]/x.git", "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x.git"):  # fmt: skip
            answer = b_api.post("/api/v1/projects/", json={"repository": url, "branch": "main"})
            record("6", f"link {url}", answer.status_code == 400, f"{answer.status_code} {answer.json().get('message', answer.text)[:90]}")
        proxy_before = len(proxy.seen)
        via_http = a_api.post("/api/v1/projects/", json={"repository": http_git.url(f"alice-{tag}"), "branch": "main", "name": "over-http"})
        run = (trigger(a_api, via_http.json()["uuid"]) and wait_run(a_api, via_http.json()["uuid"])) if via_http.status_code == 201 else {"status": via_http.text[:100]}
        requests = proxy.seen[proxy_before:]
        record("6", "git with https_proxy/http_proxy/ALL_PROXY inherited", run["status"] == "succeeded" and not requests,
               f"run over http {run['status']}; the proxy got {len(requests)} requests {requests[:1]}")  # fmt: skip

    # --- 7: web and database defaults ------------------------------------------------------------
    if wanted("7"):
        for path, who in (("/accounts/login/", carol.username), ("/admin/login/?next=/admin/", dave.username)):
            client = web.browser()
            codes = [web.login(client, path, who, "wrong-" + secrets.token_hex(3)).status_code for _ in range(7)]
            right = web.login(web.browser(), path, who, password).status_code
            record("7", f"login brute force at {path.split('?')[0]}", 429 in codes and right != 302, f"wrong passwords {codes}; then the right one {right}")
        outside = httpx.get(f"{web.url}/healthz", headers={"X-Forwarded-For": "203.0.113.9"}).json()
        staff = web.browser()
        web.login(staff, "/accounts/login/", sam.username, password)
        inside = staff.get("/healthz").json()
        record("7", "/healthz from outside (X-Forwarded-For)", set(outside) == {"ok"}, f"outside sees {sorted(outside)}; staff sees {sorted(inside)}")
        pages = {"/": alice_browser, f"/projects/{pid}/": alice_browser, f"/projects/{pid}/search/": alice_browser, "/accounts/login/": web.browser(), "/admin/": staff}
        missing = [path for path, client in pages.items() if "script-src" not in client.get(path).headers.get("content-security-policy", "")]
        policy = alice_browser.get("/").headers.get("content-security-policy", "")
        record("7", "Content-Security-Policy on pages and admin", not missing, f"missing on {missing}; policy: {policy[:110]}")
        violations = chromium_csp_violations(web.url, alice_cookie, [f"/projects/{pid}/", f"/projects/{pid}/search/?q=invoice", "/", "/account/"])
        record("7", "pages in Chromium under the policy", not violations, f"violations: {violations[:3]}" if violations else "no securitypolicyviolation event, no CSP console error on 4 pages")
        with system(), connection.cursor() as cursor:
            cursor.execute("SELECT digest, token_key FROM knox_authtoken WHERE user_id = %s", [alice.pk])
            digest, prefix = cursor.fetchone()
            cursor.execute("SHOW statement_timeout")
            timeout = cursor.fetchone()[0]
        record("7", "API token at rest", alice_key not in (digest, prefix) and len(prefix) < len(alice_key) // 2,
               f"stored digest {digest[:12]}... ({len(digest)} hex), lookup prefix {len(prefix)} of {len(alice_key)} characters")  # fmt: skip
        record("7", "statement_timeout of the app's sessions", timeout not in ("0", ""), f"{timeout}")
        codes = []
        for _ in range(130):
            codes.append(a_api.post("/api/v1/search/", json={"query": "x", "project": pid}).status_code)
            if codes[-1] == 429:
                break
        record("7", "search flood", 429 in codes, f"429 after {len(codes)} searches")
        codes = []
        bob_pages = web.browser()
        web.login(bob_pages, "/accounts/login/", bob.username, password)
        a_api.post(f"/api/v1/projects/{pid}/members/", json={"username": bob.username, "role": "viewer"})
        for _ in range(130):
            codes.append(bob_pages.get(f"/projects/{pid}/search/", params={"q": "invoice total"}).status_code)
            if codes[-1] == 429:
                break
        record("7", "search page flood", 429 in codes, f"429 after {len(codes)} page searches (codes {sorted(set(codes))})")
        a_api.delete(f"/api/v1/projects/{pid}/members/{bob.username}/")

    # Every page, admin page and API answer about Alice's project, as the people who may see it.
    sam_admin = web.browser()
    web.login(sam_admin, "/admin/login/?next=/admin/", sam.username, password)
    with system():
        ps_pk = ProjectSync.objects.get(uuid=sync_uuid).pk
        project_pk = Project.objects.get(uuid=pid).pk
    for where, client, path in (
        ("API", a_api, f"/api/v1/projects/{pid}/"), ("API", a_api, f"/api/v1/projects/{pid}/syncs/"),
        ("API", a_api, f"/api/v1/projects/{pid}/runs/"), ("API", a_api, "/api/v1/projects/"),
        ("page", alice_browser, "/"), ("page", alice_browser, f"/projects/{pid}/"),
        ("admin", sam_admin, f"/admin/projects/project/{project_pk}/change/"),
        ("admin", sam_admin, f"/admin/syncs/projectsync/{ps_pk}/change/"), ("admin", sam_admin, "/admin/syncs/syncrun/"),
        ("admin", sam_admin, "/admin/projects/project/"),
    ):  # fmt: skip
        seen(f"{where} {path}", client.get(path))
    events = SseClient(web.url, f"/events/projects/?project={pid}", alice_cookie)
    events.read(b"never", timeout=3)
    SEEN.append(("events", events.received.decode(errors="replace")))
    events.close()

    # --- secrets: nowhere in what the doors answered, nor in the logs -------------------------------
    if args.run_log and Path(args.run_log).exists():
        SEEN.append(("make run's log", Path(args.run_log).read_text(errors="replace")))
    for label, value in SECRETS.items():
        where = [place for place, text in SEEN if value and value in text]
        if label == "alice's webhook secret":  # shown once, in the answer that created the project
            where = [place for place in where if place != "API project create"]
        record("7", f"{label} visible", not where, f"seen in {sorted(set(where))}" if where else f"absent from {len(SEEN)} answers and the log")
    leaked = [r for r in RESULTS if r[2] in ("LEAKED", "BROKEN")]
    print(f"\n{len(RESULTS)} checks, {len(leaked)} LEAKED/BROKEN")
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
