"""An operator watches a run live in the admin: the changelist row and the change page move from
the fetch phase to "Succeeded" without a reload (the operators' stream)."""

import pytest
from playwright.sync_api import expect

from syncs import services
from syncs.models import SyncRun
from tests.browser.support import login, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]


def test_an_operator_watches_a_run_live_in_the_admin(new_page, celery_worker, admin_user, owner, make_repo, git_http, gate, fast_model):
    repo = make_repo()
    repo.write("app/main.py", "def main():\n    return 42\n").commit()
    sync = services.project_link(owner=owner, repository=git_http.url(repo.name), branch="main")
    git_http.on_request = gate  # the fetch waits until the operator is watching
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.PAGE, requested_by=owner)
    wait_for(lambda: SyncRun.objects.filter(pk=run.pk, phase=SyncRun.Phase.FETCH).exists(), what="the fetch phase")

    changelist = new_page()
    login(changelist, "admin", "password", path="/admin/login/?next=/admin/syncs/syncrun/")
    row_status = changelist.locator(f'span[data-live-run="{run.uuid}"] [data-field=status]')
    expect(row_status).to_have_text("Running")
    expect(changelist.locator(f'.live-progress[data-live-run="{run.uuid}"] [data-field=summary]')).to_have_text("Fetch")
    change = changelist.context.new_page()
    change.goto(f"/admin/syncs/syncrun/{run.pk}/change/")
    panel = change.locator(f'div[data-live-run="{run.uuid}"]')
    expect(panel.locator("[data-field=status]")).to_have_text("Running")
    for page in (changelist, change):
        expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live")
        page.evaluate("window.notReloaded = true")

    gate.open()

    expect(row_status).to_have_text("Succeeded")
    expect(changelist.locator(f'.live-progress[data-live-run="{run.uuid}"] [data-field=summary]')).to_have_text("Succeeded")
    expect(changelist.locator(f'span[data-live-run="{run.uuid}"] [data-field=chunks_embedded]')).to_have_text("1")
    expect(panel).to_have_attribute("data-status", "succeeded")
    expect(panel.locator("[data-field=result]")).to_contain_text("1 files changed, 0 skipped; 1 chunks embedded")
    assert "embed" in panel.get_attribute("data-seen").split()
    for page in (changelist, change):
        assert page.evaluate("window.notReloaded") is True


def test_a_failed_run_shows_its_error_and_phase_in_the_admin(new_page, celery_worker, admin_user, owner, git_daemon, fast_model):
    sync = services.project_link(owner=owner, repository=git_daemon.url("missing-repo"), branch="main")
    run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.ADMIN)
    run = wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.FAILED).first(), what="the failure")

    page = new_page()
    login(page, "admin", "password", path="/admin/login/?next=/admin/syncs/syncrun/")
    failure = page.locator(f'span[data-live-run="{run.uuid}"] .error-text')
    expect(failure).to_be_visible()
    expect(failure.locator("[data-field=error_phase]")).to_have_text("Fetch")
    page.goto(f"/admin/syncs/syncrun/{run.pk}/change/")
    expect(page.locator("[data-field=result]")).to_have_text(f"Failed during fetch: {run.error}")
