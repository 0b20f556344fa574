"""A project's repository token reaches git and nothing else. A sync (and a failing one, a
scheduled check, the branch list) of a repository served by a git HTTP server that refuses any
request without that token; then everything they left behind is searched for the token, raw and
in base64: logs of every logger at DEBUG, stored events, the runs' errors, API answers, pages,
admin pages, the git cache on disk and the database column."""

import base64
import json
import logging

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_eventstream.models import Event

from nyxsync import tenancy
from projects.services import project_github_token_set
from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute
from syncs.schedule import Outcome, project_syncs_check_due
from tests.api.conftest import client_for
from tests.factories import ProjectFactory
from tests.gitserver import GitHttp, _GitHttpHandler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]
TOKEN = "ghp_Pr0jectT0kenNeverToBeSeen0123456789"
AUTHORIZATION = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
FORMS = [TOKEN, base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode(), base64.b64encode(TOKEN.encode()).decode()]


class _TokenOnlyHandler(_GitHttpHandler):
    """git http-backend, for requests that carry the project's token only: others get 401."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != AUTHORIZATION:
            self.server.git.refused += 1  # type: ignore[attr-defined]
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.end_headers()
            return
        super().do_GET()

    do_POST = do_GET


@pytest.fixture
def private_git(git_served_root):
    server = GitHttp(git_served_root)
    server._server.RequestHandlerClass = _TokenOnlyHandler
    server.refused = 0
    server.start()
    yield server
    server.stop()


@pytest.fixture
def every_log(caplog):
    """Every record of every logger, DEBUG and up (loggers configured at INFO included)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def sync(project_sync) -> SyncRun:
    with tenancy.acting_for_project(project_sync.project_id):  # as the run's task does
        run, _ = services.sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
        return sync_run_execute(run.pk)


def test_the_token_reaches_git_and_nothing_else(make_repo, private_git, owner, git_cache, fast_model, every_log, admin_user):
    repo = make_repo()
    repo.write("app/billing.py", "def compute_invoice_total(lines):\n    return sum(lines)\n").commit()
    url = private_git.url(repo.name)
    with tenancy.acting_as(owner):
        main = services.project_link(owner=owner, repository=url, branch="main", name="private")
    project = main.project

    without = sync(main)  # no token yet: the server refuses
    assert without.status == SyncRun.Status.FAILED and private_git.refused > 0

    with tenancy.acting_as(owner):
        project_github_token_set(project=project, token=TOKEN)
    private_git.requests.clear()
    done = sync(main)
    with tenancy.acting_as(owner):
        added = services.project_sync_add(project=project, branch="no-such-branch")
    missing = sync(added)
    with tenancy.acting_as(owner):
        services.project_sync_update_schedule(project_sync=main, auto_sync=True, auto_sync_interval_minutes=5)
    [check] = project_syncs_check_due()  # as the beat task: for the system (the module's as_system)

    assert done.status == SyncRun.Status.SUCCEEDED, done.error
    assert missing.status == SyncRun.Status.FAILED and "no-such-branch" in missing.error
    assert check.outcome == Outcome.UNCHANGED  # the scheduled check got through with the token too
    assert private_git.requests and all(headers.get("Authorization") == AUTHORIZATION for _, _, headers in private_git.requests)

    found = {}
    # What the API answers, for the owner.
    api, p = client_for(owner), project.uuid
    for path in [f"/api/v1/projects/{p}/", "/api/v1/projects/", f"/api/v1/projects/{p}/branches/", f"/api/v1/projects/{p}/syncs/",
                 f"/api/v1/projects/{p}/runs/", f"/api/v1/projects/{p}/events/", f"/api/v1/projects/{p}/members/",
                 *(f"/api/v1/projects/{p}/runs/{run.uuid}/" for run in (without, done, missing))]:  # fmt: skip
        response = api.get(path)
        assert response.status_code == 200, (path, response.content)
        found[path] = response.content.decode()
    assert json.loads(found[f"/api/v1/projects/{p}/"])["github_token_set"] is True
    # The branch list went to the private server with the token as well.
    assert [b["name"] for b in json.loads(found[f"/api/v1/projects/{p}/branches/"])["branches"]] == ["main"]
    # The pages and the admin.
    page, admin = Client(), Client()
    page.force_login(owner)
    admin.force_login(admin_user)
    for name, client, path in [
        ("project page", page, reverse("projects:detail", kwargs={"project": p})),
        ("project state", page, reverse("projects:state", kwargs={"project": p})),
        ("project admin list", admin, reverse("admin:projects_project_changelist")),
        ("project admin page", admin, reverse("admin:projects_project_change", args=[project.pk])),
        ("branch admin page", admin, reverse("admin:syncs_projectsync_change", args=[main.pk])),
        ("run admin list", admin, reverse("admin:syncs_syncrun_changelist")),
        *(("run admin page", admin, reverse("admin:syncs_syncrun_change", args=[run.pk])) for run in (without, done, missing)),
    ]:
        response = client.get(path)
        assert response.status_code == 200, (name, response.status_code)
        found[f"{name} {path}"] = response.content.decode()
    # What was stored and logged.
    found["runs' errors"] = " ".join(SyncRun.objects.values_list("error", flat=True))
    events = list(Event.objects.values_list("data", flat=True))
    assert len(events) > 10
    found["events"] = "\n".join(events)
    found["logs"] = every_log.text + "".join(str(vars(record)) for record in every_log.records)
    assert "git.fetch.failed" in found["logs"] and "sync.run.error" in found["logs"]
    # The git cache on disk: its config and everything else git wrote.
    found["git cache"] = "\n".join(path.read_bytes().decode("latin-1") for path in git_cache.rglob("*") if path.is_file())

    assert {where: leaks(text) for where, text in found.items() if leaks(text)} == {}


def test_the_token_is_encrypted_in_its_column(owner):
    project = ProjectFactory(owner=owner)
    with tenancy.acting_as(owner):
        project_github_token_set(project=project, token=TOKEN)

    with connection.cursor() as cursor:
        cursor.execute("SELECT github_token FROM projects_project WHERE id = %s", [project.pk])
        [stored] = cursor.fetchone()
    assert stored.startswith("fernet:") and not leaks(stored)
