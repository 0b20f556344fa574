"""The web server dies mid-run and comes back: the page reconnects, catches up (Last-Event-ID
and a fresh read of the run's state) and shows the true final state, without a reload."""

import pytest
from playwright.sync_api import expect

from syncs import services
from syncs.models import SyncRun
from tests.browser.support import login, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]


def test_the_page_shows_the_true_final_state_after_the_server_restarts(
    new_page, web, celery_worker, owner, make_repo, git_http, gate, fast_model
):
    repo = make_repo()
    repo.write("app/main.py", "def main():\n    return 42\n").write("app/util.py", "def util():\n    return 1\n").commit()
    sync = services.project_link(owner=owner, repository=git_http.url(repo.name), branch="main")
    page = new_page()
    login(page, "owner", "owner-password")
    page.goto(f"/projects/{sync.project.uuid}/")
    card = page.locator("section.branch")
    status = page.locator("[data-live-status]")
    expect(status).to_have_attribute("data-state", "live")
    page.evaluate("window.notReloaded = true")

    git_http.on_request = gate  # the run stays in its fetch phase until the server is down
    page.get_by_role("button", name="Sync").click()
    expect(card.locator("[data-field=phase]")).to_have_text("Fetch")
    expect(card.locator("[data-field=status]")).to_have_text("Running")
    expect(card.locator("form[data-cancel-form]")).to_be_visible()
    run = SyncRun.objects.get()

    web.kill()
    expect(status).to_have_attribute("data-state", "reconnecting")
    gate.open()  # the run finishes while no web server is up: every event of it is missed live
    wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.SUCCEEDED).exists(), what="the run to finish")
    assert card.get_attribute("data-status") == "running"
    web.start()

    expect(card).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(status).to_have_attribute("data-state", "live")
    run.refresh_from_db()
    expect(card.locator("[data-field=result]")).to_have_text(
        f"Synced {run.commit_after[:12]}: 2 files changed, 0 skipped; 2 chunks embedded, 0 reused."
    )
    expect(card.locator("[data-field=live_commit]")).to_have_text(run.commit_after[:12])
    expect(card.locator("form[data-cancel-form]")).to_be_hidden()
    assert page.evaluate("window.notReloaded") is True
