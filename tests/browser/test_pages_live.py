"""Pages that stay true while you watch (issue 17), in Chromium against uvicorn and a real worker:
the status line, counters, one-time banners and run history follow a run without a reload, and
what a page shows at the end of a run is what a reload shows. The same in the admin."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects.models import Project
from syncs import services
from syncs.models import SyncRun
from tests.browser.support import login, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]

# What a reader of the page takes in: the text of every live field but the moving ones (rate,
# ETA), the run history's rows, the one-time banners and the button notes.
STATE_JS = """() => {
  const text = (node) => node.textContent.replace(/\\s+/g, " ").trim();
  const skip = new Set(["rate", "eta"]);
  const visible = (node) => !node.closest("[hidden]");
  return {
    fields: [...document.querySelectorAll("[data-live-sync] [data-field], [data-live-run] [data-field]")]
      .filter(n => !skip.has(n.dataset.field))
      .map(n => [n.closest("[data-live-sync],[data-live-run]").getAttribute("data-live-sync") || n.closest("[data-live-run]").dataset.liveRun,
                 n.dataset.field, visible(n) ? text(n) : "(hidden)"]),
    history: [...document.querySelectorAll("[data-live-region] tr[data-run]")].map(r => [r.dataset.run, r.dataset.status, text(r)]),
    banners: [...document.querySelectorAll(".messages .message")].map(text),
    notes: [...document.querySelectorAll("[data-action-message]")].map(text).filter(Boolean),
    bars: [...document.querySelectorAll("progress[data-field=bar]")].map(b => b.hasAttribute("value") ? b.value : null),
  };
}"""


def page_state(page) -> dict:
    return page.evaluate(STATE_JS)


def assert_same_as_a_reload(page) -> None:
    live = page_state(page)
    page.reload()
    page.wait_for_load_state()
    expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live")
    again = page_state(page)
    for key in live:  # one key at a time: a difference reads as what went stale
        assert again[key] == live[key], key


@pytest.fixture
def served(make_repo, git_http):
    repo = make_repo()
    repo.write("app/billing.py", "def compute_invoice_total(lines):\n    return sum(line.amount for line in lines)\n")
    for number in range(12):
        repo.write(f"lib/module_{number}.py", f"def helper_{number}(value):\n    return value * {number}\n")
    repo.commit()
    return repo, git_http.url(repo.name)


def test_the_project_page_follows_a_run_to_the_end_and_reads_as_a_reload(new_page, celery_worker, owner, served, git_http, gate, fast_model):
    _, url = served
    page = new_page()
    login(page, "owner", "owner-password")
    page.goto("/projects/link/")
    page.fill("input[name=repository]", url)
    expect(page.locator("form[data-branch-picker]")).to_have_attribute("data-picker-state", "ready")
    page.click("form[data-branch-picker] [type=submit]")
    project = Project.objects.get(owner=owner)
    expect(page).to_have_url(re.compile(f"/projects/{project.uuid}/$"))
    banner = page.locator("[data-dismiss-on-run]")
    expect(banner).to_contain_text("Press Sync to embed it.")
    card = page.locator("section.branch")
    expect(card.locator("[data-field=status_line]")).to_contain_text("Not synced yet")
    expect(page.locator("[data-live-region=history]")).to_contain_text("No runs yet. Press Sync")
    expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live")
    page.evaluate("window.notReloaded = true")

    git_http.on_request = gate  # the run waits in its fetch phase while we look
    page.get_by_role("button", name="Sync").click()
    expect(banner).to_have_count(0)  # a run is under way: "Press Sync" no longer applies
    expect(card.locator("[data-field=status_line]")).to_have_text("Running: phase Fetch.")
    expect(card.locator("[data-action-message]")).to_have_text("")  # "Sync queued." went with the queue
    run = SyncRun.objects.get()
    history = page.locator(f'[data-live-region=history] tr[data-run="{run.uuid}"]')
    expect(history).to_have_attribute("data-status", "running")  # the history gained the run, live

    gate.open()
    expect(card).to_have_attribute("data-status", "succeeded")
    run.refresh_from_db()
    short = run.commit_after[:12]
    result = f"Synced {short}: 13 files changed, 0 skipped; 13 chunks embedded, 0 reused."
    expect(card.locator("[data-field=status_line]")).to_have_text(result)
    expect(card.locator("[data-field=chunks_embedded]")).to_have_text("13")
    expect(card.locator("[data-field=synced]")).to_have_text("synced just now")
    expect(history).to_have_attribute("data-status", "succeeded")
    expect(history).to_contain_text("13 / 0")
    assert page.evaluate("window.notReloaded") is True

    assert_same_as_a_reload(page)


def test_a_failed_run_says_why_on_the_page_and_the_list(new_page, celery_worker, owner, git_daemon, fast_model):
    sync = services.project_link(owner=owner, repository=git_daemon.url("gone-repo"), branch="main")
    page = new_page()
    login(page, "owner", "owner-password")
    listing = page.context.new_page()
    listing.goto("/")
    page.goto(f"/projects/{sync.project.uuid}/")
    expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live")
    expect(listing.locator("[data-live-status]")).to_have_attribute("data-state", "live")

    page.get_by_role("button", name="Sync").click()
    card = page.locator("section.branch")
    expect(card).to_have_attribute("data-status", "failed")
    run = SyncRun.objects.get()
    line = card.locator("[data-field=status_line]")
    expect(line).to_have_text(f"Failed during fetch: {run.error}")
    expect(line).to_have_class(re.compile(r"\berror-text\b"))
    row = listing.locator("tr.branch-row")
    expect(row.locator("[data-field=status_line]")).to_have_text(f"Failed during fetch: {run.error}")
    expect(page.locator(f'[data-live-region=history] tr[data-run="{run.uuid}"]')).to_have_attribute("data-status", "failed")

    assert_same_as_a_reload(page)
    assert_same_as_a_reload(listing)


def test_the_admin_run_list_gains_new_runs_and_the_change_page_reads_as_a_reload(
    new_page, celery_worker, admin_user, owner, make_repo, git_http, gate, fast_model
):
    repo = make_repo()
    repo.write("app/main.py", "def main():\n    return 42\n").commit()
    sync = services.project_link(owner=owner, repository=git_http.url(repo.name), branch="main")
    first, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.ADMIN)
    wait_for(lambda: SyncRun.objects.filter(pk=first.pk, status=SyncRun.Status.SUCCEEDED).exists(), what="the first run")

    changelist = new_page()
    login(changelist, "admin", "password", path="/admin/login/?next=/admin/syncs/syncrun/")
    change = changelist.context.new_page()
    change.goto(f"/admin/syncs/syncrun/{first.pk}/change/")
    for page in (changelist, change):
        expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live")
        page.evaluate("window.notReloaded = true")
    expect(changelist.locator("#result_list tbody tr")).to_have_count(1)

    repo.write("app/more.py", "def more():\n    return 43\n").commit()
    git_http.on_request = gate
    second, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.ADMIN)
    # The list gains the new run without a reload, and then follows it.
    status = changelist.locator(f'span[data-live-run="{second.uuid}"] [data-field=status]')
    expect(status).to_have_text("Running")
    expect(changelist.locator("#result_list tbody tr")).to_have_count(2)
    gate.open()
    expect(status).to_have_text("Succeeded")
    expect(changelist.locator(f'span[data-live-run="{second.uuid}"] [data-field=chunks_embedded]')).to_have_text("1")
    for page in (changelist, change):
        assert page.evaluate("window.notReloaded") is True
    assert_same_as_a_reload(changelist)

    # A run's change page, open while it runs, shows the final counters and times without a reload.
    third_commit = repo.write("app/third.py", "def third():\n    return 44\n").commit()
    git_http.on_request = gate.__class__()  # a fresh, closed gate
    held = git_http.on_request
    third, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.ADMIN)
    wait_for(lambda: SyncRun.objects.filter(pk=third.pk, phase=SyncRun.Phase.FETCH).exists(), what="the third run's fetch")
    change.goto(f"/admin/syncs/syncrun/{third.pk}/change/")
    expect(change.locator("[data-live-status]")).to_have_attribute("data-state", "live")
    change.evaluate("window.notReloaded = true")
    held.open()
    expect(change.locator(".field-commit_after .readonly")).to_have_text(third_commit)
    expect(change.locator(f'div[data-live-run="{third.uuid}"]')).to_have_attribute("data-status", "succeeded")
    assert change.evaluate("window.notReloaded") is True
    assert_same_as_a_reload(change)
