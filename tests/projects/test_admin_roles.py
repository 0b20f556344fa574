"""Attacks on the admin through its real door: a password login, CSRF enforced, the forms and
actions as a browser posts them. Staff hold every model permission of projects, syncs and
embeddings; what they may do is their role in each project (projects.permissions), as in the API.
The staff viewer of project P is not a member of project Q: it may read P, change nothing of P,
and never see Q. A refusal changes nothing in the database."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from embeddings.models import Chunk, SourceFile
from projects.models import Membership, Project
from syncs.models import ProjectSync, SyncRun
from tests.factories import (
    ChunkFactory,
    ProjectFactory,
    ProjectSyncFactory,
    SourceFileFactory,
    SyncRunFactory,
    UserFactory,
)
from tests.projects.test_admin import change_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]
ATTACKER_URL = "https://attacker.example/x.git"
PASSWORD = "password"  # UserFactory's


class Browser:
    """A logged-in admin session that posts as the pages do: the CSRF token read from a page."""

    def __init__(self, user):
        self.client = Client(enforce_csrf_checks=True)
        login = self.client.get("/admin/login/")
        response = self.client.post(
            "/admin/login/?next=/admin/",
            {"username": user.username, "password": PASSWORD, "next": "/admin/", "csrfmiddlewaretoken": token_of(login)},
        )
        assert response.status_code == 302 and response["Location"] == "/admin/", "the login failed"

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url, data, *, page=None, follow=True):
        """Post `data` with the token of `page` (a URL, default `url`) as read by a GET."""
        token = token_of(self.client.get(page or url, follow=True))
        return self.client.post(url, {**data, "csrfmiddlewaretoken": token}, follow=follow)

    def action(self, model: str, name: str, objects, **extra):
        url = reverse(f"admin:{model}_changelist")
        data = {"action": name, "_selected_action": [obj.pk for obj in objects], **extra}
        return self.post(url, data, page=reverse("admin:index"))


def token_of(response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match, "the page has no CSRF token"
    return match.group(1)


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def database(project=None) -> dict:
    """Every row the attacks aim at (of `project` only, if given), every column: equal before and
    after a refusal."""
    tables = [(Project, "pk__in"), (Membership, "project"), (ProjectSync, "project"), (SyncRun, "project_sync__project"),
              (SourceFile, "project"), (Chunk, "project")]  # fmt: skip
    return {
        model.__name__: sorted(
            (model.objects.filter(**{path: [project.pk] if path == "pk__in" else project}) if project else model.objects.all()).values_list(
                *[field.attname for field in model._meta.concrete_fields]
            )
        )
        for model, path in tables
    }


def staff(username: str, project=None, role: str | None = None):
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["projects", "syncs", "embeddings"]))
    if project is not None:
        Membership.objects.create(project=project, user=user, role=role)
    return user


@pytest.fixture
def p(owner):
    project = ProjectFactory(owner=owner, name="pee", repository="octo/pee")
    branch = ProjectSyncFactory(project=project, repository_url="https://github.com/octo/pee.git", branch="main")
    SyncRunFactory(project_sync=branch, status=SyncRun.Status.SUCCEEDED)
    SyncRunFactory(project_sync=branch, status=SyncRun.Status.QUEUED)
    ChunkFactory(file=SourceFileFactory(project_sync=branch, path="p.py"))
    return project


@pytest.fixture
def q():
    project = ProjectFactory(owner=UserFactory(username="quinn"), name="queue-secret", repository="quinn/secret")
    branch = ProjectSyncFactory(project=project, repository_url="https://github.com/quinn/secret.git", branch="trunk")
    SyncRunFactory(project_sync=branch, status=SyncRun.Status.RUNNING)
    ChunkFactory(file=SourceFileFactory(project_sync=branch, path="q_secret.py"))
    return project


@pytest.fixture
def viewer(p, q):
    return Browser(staff("staff-viewer", p, Membership.Role.VIEWER))


@pytest.fixture
def maintainer(p, q):
    return Browser(staff("staff-maintainer", p, Membership.Role.MAINTAINER))


@pytest.fixture
def staff_owner(p, q):
    return Browser(staff("staff-owner", p, Membership.Role.OWNER))


@pytest.fixture
def superuser(p, q):
    return Browser(UserFactory(username="root", is_staff=True, is_superuser=True))


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def delete_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_delete", args=[obj.pk])


def hijack(branch, **changes) -> dict:
    """Everything a hostile form could post for a branch: another repository, project and name."""
    return {
        "repository_url": ATTACKER_URL, "project": branch.project_id, "branch": "evil", "auto_sync": "on",
        "auto_sync_interval_minutes": "5", "live_commit": "0" * 40, "embedding_model": "evil", "_save": "Save",
        **changes,
    }  # fmt: skip


# --- the CSRF door is real ----------------------------------------------------------------------


def test_it_refuses_a_post_without_the_csrf_token(maintainer, p):
    branch = p.syncs.get()
    before = database()

    response = maintainer.client.post(change_url(branch), {"auto_sync": "on", "auto_sync_interval_minutes": "5", "_save": "Save"})

    assert response.status_code == 403 and "CSRF" in response.content.decode()
    assert database() == before


# --- a viewer of P reads P and changes nothing -------------------------------------------------


def test_a_viewer_reads_the_branch_but_cannot_change_it(viewer, p, q):
    branch = p.syncs.get()
    before = database()

    page = viewer.get(change_url(branch))
    post = viewer.post(change_url(branch), hijack(branch, project=q.pk), follow=False)

    html = page.content.decode()
    assert page.status_code == 200 and "https://github.com/octo/pee.git" in html
    assert 'name="_save"' not in html and 'name="auto_sync"' not in html and 'name="repository_url"' not in html
    assert post.status_code == 403
    assert database() == before


def test_a_viewer_cannot_delete_or_remove_branches_or_runs(viewer, p):
    branch, run = p.syncs.get(), SyncRun.objects.filter(project_sync__project=p).first()
    before = database()

    for obj in (branch, run):
        assert viewer.get(delete_url(obj)).status_code == 403
        assert viewer.post(delete_url(obj), {"post": "yes"}, page=reverse("admin:index"), follow=False).status_code == 403
    removed = viewer.action("syncs_projectsync", "remove", [branch], post="yes")
    deleted = viewer.action("syncs_syncrun", "delete_selected", [run], post="yes")

    assert texts(removed) == [f"You may not remove {branch}."]
    assert texts(deleted) == ["No action selected."]  # Django's delete is not offered at all
    assert database() == before


def test_a_viewer_cannot_sync_cancel_or_reembed(viewer, p):
    branch = p.syncs.get()
    runs = list(SyncRun.objects.filter(project_sync=branch))
    before = database()

    responses = [
        viewer.action("syncs_projectsync", "sync_now", [branch]),
        viewer.action("syncs_projectsync", "cancel_active", [branch]),
        viewer.action("syncs_syncrun", "cancel", runs),
        viewer.action("syncs_syncrun", "reembed", runs),
        viewer.action("projects_project", "sync_now", [p]),
    ]

    assert [texts(response) for response in responses] == [
        [f"You may not sync {branch}."], [f"You may not cancel syncs of {branch}."],
        [f"You may not cancel syncs of {branch}, {branch}."], [f"You may not sync {branch}."],
        [f"You may not sync {branch}."],
    ]  # fmt: skip
    assert database() == before


def test_a_viewer_cannot_add_a_branch(viewer, p):
    before = database()

    response = viewer.post(reverse("admin:syncs_projectsync_add"), {"project": p.pk, "branch": "dev", "_save": "Save"})

    assert "You may not add branches to this project." in response.content.decode()
    assert database() == before


def test_staff_below_owner_cannot_rename_delete_or_repoint_the_project(viewer, maintainer, p, owner):
    other = UserFactory(username="mallory")
    before = database()

    for browser in (viewer, maintainer):
        post = browser.post(
            change_url(p), {"name": "renamed", "owner": other.pk, "repository": ATTACKER_URL, "_save": "Save"}, follow=False
        )
        assert post.status_code == 403
        assert browser.get(delete_url(p)).status_code == 403
        assert texts(browser.action("projects_project", "soft_delete", [p], post="yes")) == [f"You may not delete {p}."]
    assert database() == before


# --- Q does not exist for them ----------------------------------------------------------------


def test_another_project_is_invisible_everywhere(viewer, maintainer, q):
    q_branch = q.syncs.get()
    q_run = SyncRun.objects.get(project_sync=q_branch)
    q_file = SourceFile.objects.get(project=q)
    q_chunk = Chunk.objects.get(project=q)
    before = database()

    for browser in (viewer, maintainer):
        for changelist in ("projects_project", "syncs_projectsync", "syncs_syncrun", "embeddings_sourcefile", "embeddings_chunk"):
            html = browser.get(reverse(f"admin:{changelist}_changelist")).content.decode()
            assert "queue-secret" not in html and "q_secret.py" not in html and "trunk" not in html and "quinn" not in html
        for obj in (q, q_branch, q_run, q_file, q_chunk):
            page = browser.get(change_url(obj))
            assert page.status_code == 302 and page["Location"] == reverse("admin:index")  # "does not exist"
            history = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_history", args=[obj.pk])
            assert browser.get(history).status_code == 302
            assert browser.get(delete_url(obj)).status_code in (302, 403)
        assert browser.post(change_url(q_branch), hijack(q_branch), follow=False).status_code == 302
        state = browser.get(reverse("admin:syncs_syncrun_live_state"), data={"run": str(q_run.uuid)}).json()
        assert state["runs"] == []
        # Actions on Q's ids get no rows: nothing is done and nothing is said about Q.
        for model, name, obj in [
            ("syncs_projectsync", "sync_now", q_branch), ("syncs_projectsync", "remove", q_branch),
            ("syncs_syncrun", "cancel", q_run), ("syncs_syncrun", "reembed", q_run), ("projects_project", "sync_now", q),
            ("projects_project", "soft_delete", q), ("projects_project", "purge", q),
            ("projects_project", "check_integrity", q), ("syncs_projectsync", "check_integrity", q_branch),
        ]:  # fmt: skip
            response = browser.action(model, name, [obj], post="yes")
            assert response.status_code == 200
            assert not any("queue-secret" in text or "trunk" in text for text in texts(response)), texts(response)
        add = browser.post(reverse("admin:syncs_projectsync_add"), {"project": q.pk, "branch": "dev", "_save": "Save"})
        assert "Select a valid choice" in add.content.decode()
    assert database() == before


# --- what the role allows still works, through the services -------------------------------------


def test_a_maintainer_changes_the_schedule_and_nothing_else(maintainer, p, q):
    branch = p.syncs.get()

    page = maintainer.get(change_url(branch))
    response = maintainer.post(change_url(branch), hijack(branch, project=q.pk, auto_sync_interval_minutes="30"))

    html = page.content.decode()
    assert 'name="auto_sync"' in html and 'name="repository_url"' not in html and 'name="project"' not in html
    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("admin:syncs_projectsync_changelist")
    branch.refresh_from_db()
    assert (branch.auto_sync, branch.auto_sync_interval_minutes, branch.next_check_at) == (True, 30, None)  # due now
    assert (branch.repository_url, branch.project_id, branch.branch) == ("https://github.com/octo/pee.git", p.pk, "main")
    assert (branch.live_commit, branch.embedding_model) != ("0" * 40, "evil")


def test_a_bad_schedule_is_the_services_error_on_the_form(maintainer, p):
    branch = p.syncs.get()
    before = database()

    response = maintainer.post(change_url(branch), {"auto_sync": "on", "_save": "Save"})

    assert response.status_code == 200 and "auto_sync needs auto_sync_interval_minutes" in response.content.decode()
    assert database() == before


def test_a_maintainer_adds_a_branch_of_the_projects_repository(maintainer, p):
    response = maintainer.post(
        reverse("admin:syncs_projectsync_add"),
        {"project": p.pk, "branch": "dev", "repository_url": ATTACKER_URL, "_save": "Save"},
    )

    assert response.status_code == 200
    added = ProjectSync.objects.get(project=p, branch="dev")
    assert added.repository_url == "https://github.com/octo/pee.git"  # the project's, never the form's
    bad = maintainer.post(reverse("admin:syncs_projectsync_add"), {"project": p.pk, "branch": "-x", "_save": "Save"})
    assert bad.status_code == 200 and not ProjectSync.objects.filter(branch="-x").exists()
    assert "errornote" in bad.content.decode()


def test_a_maintainer_removes_a_branch_through_the_service(maintainer, p, q):
    branch = p.syncs.get()
    q_before = database(q)

    confirm = maintainer.action("syncs_projectsync", "remove", [branch])
    assert confirm.status_code == 200 and "Stop syncing these branches" in confirm.content.decode()
    assert ProjectSync.objects.filter(pk=branch.pk).exists()  # asking removes nothing
    done = maintainer.action("syncs_projectsync", "remove", [branch], post="yes")

    assert texts(done) == [f"Removed {branch}."]
    assert not ProjectSync.objects.filter(project=p).exists()
    assert not SyncRun.objects.filter(project_sync__project=p).exists() and not Chunk.objects.filter(project=p).exists()
    assert Project.objects.filter(pk=p.pk).exists()
    assert database(q) == q_before


def test_a_run_page_is_only_read(maintainer, superuser, p):
    run = SyncRun.objects.filter(project_sync__project=p).first()
    before = database()

    for browser in (maintainer, superuser):
        page = browser.get(change_url(run))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        # A save would write the whole row back over what the worker wrote since the page was read.
        assert browser.post(change_url(run), {"status": "failed", "_save": "Save"}, follow=False).status_code == 403
    assert database() == before


def test_select_all_removes_only_what_the_role_allows(p, q):
    r = ProjectFactory(owner=UserFactory(username="rita"), name="arr", repository="rita/arr")
    r_branch = ProjectSyncFactory(project=r, repository_url="https://github.com/rita/arr.git", branch="main")
    user = staff("staff-both", p, Membership.Role.MAINTAINER)
    Membership.objects.create(project=r, user=user, role=Membership.Role.VIEWER)
    browser = Browser(user)
    r_before, q_before = database(r), database(q)

    # Every row of the changelist ("select all"), as Django's action bar posts it.
    response = browser.action("syncs_projectsync", "remove", [r_branch], post="yes", select_across="1", index="0")

    assert texts(response) == [f"Removed {p.name}@main.", f"You may not remove {r_branch}."]
    assert not ProjectSync.objects.filter(project=p).exists()
    assert database(r) == r_before and database(q) == q_before


def test_a_maintainer_cancels_and_syncs_runs_of_the_project(maintainer, p):
    waiting = SyncRun.objects.get(project_sync__project=p, status=SyncRun.Status.QUEUED)

    response = maintainer.action("syncs_syncrun", "cancel", [waiting])

    assert texts(response) == [f"Cancelled the waiting sync of {waiting.project_sync}."]
    assert SyncRun.objects.get(pk=waiting.pk).status == SyncRun.Status.CANCELLED


def test_an_owner_renames_but_cannot_change_owner_or_repository(staff_owner, p, owner):
    other = UserFactory(username="mallory")

    page = staff_owner.get(change_url(p))
    form = change_form(staff_owner.client, p, name="renamed", owner=other.pk, repository=ATTACKER_URL)
    response = staff_owner.post(change_url(p), form)

    html = page.content.decode()
    assert 'name="name"' in html and 'name="owner"' not in html and 'name="repository"' not in html
    assert response.status_code == 200
    p.refresh_from_db()
    assert (p.name, p.owner_id, p.repository) == ("renamed", owner.pk, "octo/pee")
    # A name the creator has taken, on a project this staff owner cannot see: the service refuses.
    taken = ProjectFactory(owner=owner, name="taken")
    clash = staff_owner.post(change_url(p), change_form(staff_owner.client, p, name=taken.name, new_github_token="ghp_x"))
    assert texts(clash) == ["Nothing was saved: you already have a project named 'taken'."]
    p.refresh_from_db()
    assert (p.name, p.github_token) == ("renamed", None)


def test_an_owner_soft_deletes_then_purges(staff_owner, p, q):
    confirm = staff_owner.action("projects_project", "soft_delete", [p])
    assert "kept until they are purged" in confirm.content.decode() and Project.objects.get(pk=p.pk).deleted_at is None

    deleted = staff_owner.action("projects_project", "soft_delete", [p], post="yes")

    p.refresh_from_db()
    assert texts(deleted) == [f"Deleted {p}; purge them to remove their embeddings."]
    assert p.deleted_at is not None and Chunk.objects.filter(project=p).exists()  # kept, as the API's delete
    assert not SyncRun.objects.filter(project_sync__project=p, status=SyncRun.Status.QUEUED).exists()  # its syncs stop
    assert staff_owner.post(change_url(p), {"name": "again", "_save": "Save"}, follow=False).status_code == 403
    resync = staff_owner.action("projects_project", "sync_now", [p])
    assert texts(resync) == [f"Deleted projects are not synced: {p.syncs.get()}."]

    purged = staff_owner.action("projects_project", "purge", [p], post="yes")

    assert texts(purged) == [f"Purged {p}."]
    assert not Project.objects.filter(pk=p.pk).exists() and not Chunk.objects.filter(project=p).exists()
    assert Project.objects.filter(pk=q.pk).exists() and Chunk.objects.filter(project=q).exists()


# --- superusers: every project, the same services and read-only fields --------------------------


def test_a_superuser_changes_any_schedule_but_no_repository(superuser, q):
    branch = q.syncs.get()

    superuser.post(change_url(branch), hijack(branch, auto_sync_interval_minutes="60"))

    branch.refresh_from_db()
    assert (branch.auto_sync, branch.auto_sync_interval_minutes) == (True, 60)
    assert (branch.repository_url, branch.branch) == ("https://github.com/quinn/secret.git", "trunk")
    for obj in (q, branch, SyncRun.objects.get(project_sync=branch)):
        assert superuser.get(delete_url(obj)).status_code == 403  # Django's delete skips the services
    assert superuser.get(reverse("admin:projects_project_add")).status_code == 403


def test_a_deleted_projects_branches_wait_for_the_purge(superuser, p):
    from syncs.services import project_soft_delete

    project_soft_delete(project=p)
    branch = p.syncs.get()
    before = database()

    edit = superuser.post(change_url(branch), hijack(branch), follow=False)
    removed = superuser.action("syncs_projectsync", "remove", [branch], post="yes")
    synced = superuser.action("syncs_projectsync", "sync_now", [branch])

    assert edit.status_code == 403
    assert texts(removed) == [f"You may not remove {branch}."]
    assert texts(synced) == [f"Deleted projects are not synced: {branch}."]
    assert database() == before


def test_embedding_rows_are_read_only_even_for_superusers(viewer, superuser, p):
    source_file, chunk = SourceFile.objects.get(project=p), Chunk.objects.get(project=p)
    before = database()

    for browser in (viewer, superuser):
        for obj in (source_file, chunk):
            page = browser.get(change_url(obj))
            assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
            assert browser.post(change_url(obj), {"path": "evil.py", "start_line": "1", "_save": "Save"}, follow=False).status_code == 403
            assert browser.get(delete_url(obj)).status_code == 403
    assert database() == before
