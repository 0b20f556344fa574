"""A second user, in a real browser: the first user's project page, search, state and stream are
closed to them (404 for pages and state, 403 for the stream, and no event ever arrives)."""

import pytest
from playwright.sync_api import expect

from syncs import services
from syncs.models import SyncRun
from tests.browser.support import login, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]


def test_a_second_user_sees_nothing_of_the_first_users_project(new_page, celery_worker, owner, outsider, make_repo, fast_model):
    repo = make_repo()
    repo.write("secret.py", "def launch_codes():\n    return 'hunter2'\n").commit()
    sync = services.project_link(owner=owner, repository=repo.url, branch="main", name="secret-project")
    project = sync.project

    page = new_page()
    login(page, "outsider", "outsider-password")
    expect(page.get_by_text("No projects yet")).to_be_visible()
    assert page.goto(f"/projects/{project.uuid}/").status == 404
    assert page.goto(f"/projects/{project.uuid}/search/?q=launch_codes").status == 404
    assert page.request.get(f"/projects/{project.uuid}/state/").status == 404
    assert page.request.get(f"/projects/state/?project={project.uuid}").json()["runs"] == []
    assert page.request.get(f"/events/projects/?project={project.uuid}").status == 403
    assert page.request.get("/events/operators/").status == 403

    # A hand-made EventSource on the foreign channel: refused, and no event ever arrives even
    # while the owner's project syncs.
    page.goto("/")
    page.evaluate(
        """uuid => {
            window.received = [];
            window.stream = new EventSource(`/events/projects/?project=${uuid}`);
            window.stream.addEventListener("run", event => window.received.push(event.data));
            window.stream.onerror = () => { window.streamClosed = window.stream.readyState === EventSource.CLOSED; };
        }""",
        str(project.uuid),
    )
    # Polled from here: a predicate evaluated in the page would be refused by its Content-Security-Policy.
    wait_for(lambda: page.evaluate("window.streamClosed === true"), what="the refused stream to close")
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.PAGE, requested_by=owner)
    wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.SUCCEEDED).exists(), what="the owner's sync")
    assert page.evaluate("window.received") == []
    assert page.goto(f"/projects/{project.uuid}/search/?q=launch_codes").status == 404
    assert page.goto(f"/runs/{run.uuid}/state/").status == 404
