"""An end user, in a real browser against uvicorn and a real Celery worker: log in, link a
repository served by a local git server, pick a branch, sync while watching the progress panel
move through the phases without a reload, then search."""

import re

import pytest
from playwright.sync_api import expect

from projects.models import Project
from syncs.models import SyncRun
from tests.browser.support import login

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]


@pytest.fixture
def repo(make_repo):
    repo = make_repo()
    repo.write("app/billing.py", "def compute_invoice_total(lines):\n    return sum(line.amount for line in lines)\n")
    for number in range(30):  # enough files for the chunk and embed phases to report progress
        repo.write(f"lib/module_{number}.py", f"def helper_{number}(value):\n    return value * {number}\n")
    repo.commit()
    repo.checkout("develop").write("app/extra.py", "EXTRA = True\n").commit()
    repo.checkout("main")
    return repo


def test_a_user_links_a_repository_syncs_it_live_and_searches(new_page, celery_worker, owner, repo):
    page = new_page()
    login(page, "owner", "owner-password")
    expect(page.get_by_text("No projects yet")).to_be_visible()

    page.get_by_role("link", name="Link a repository").first.click()
    page.fill("input[name=repository]", repo.url)
    form = page.locator("form[data-branch-picker]")
    expect(form).to_have_attribute("data-picker-state", "ready")
    expect(page.locator("select[name=branch] option")).to_have_text(["main", "develop"])
    expect(page.locator("select[name=branch]")).to_have_value("main")  # the default, preselected
    page.select_option("select[name=branch]", "develop")
    page.select_option("select[name=branch]", "main")
    page.click("form[data-branch-picker] [type=submit]")

    project = Project.objects.get(owner=owner)
    expect(page).to_have_url(re.compile(f"/projects/{project.uuid}/$"))
    card = page.locator("section.branch")
    expect(card.locator("[data-field=status]")).to_have_text("Never synced")
    expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live")
    page.evaluate("window.notReloaded = true")
    listing = page.context.new_page()  # the projects list, open in another tab, moves too
    listing.goto("/")
    row = listing.locator("tr.branch-row")
    expect(row.locator("[data-field=status]")).to_have_text("Never synced")
    expect(listing.locator("[data-live-status]")).to_have_attribute("data-state", "live")

    page.get_by_role("button", name="Sync").click()

    expect(card).to_have_attribute("data-status", "succeeded")
    run = SyncRun.objects.get()
    assert page.evaluate("window.notReloaded") is True
    # Every phase went by on the page (in the pipeline's order, which is the pipeline's business).
    seen = card.get_attribute("data-seen").split()
    assert {"fetch", "diff", "chunk", "embed", "write", "swap"} <= set(seen) and seen[-1] == "succeeded", seen
    assert seen.index("fetch") < seen.index("embed") < seen.index("swap"), seen
    short = run.commit_after[:12]
    expect(card.locator("[data-field=result]")).to_have_text(
        f"Synced {short}: 31 files changed, 0 skipped; 31 chunks embedded, 0 reused."
    )
    expect(card.locator("[data-field=live_commit]")).to_have_text(short)
    expect(card.locator("[data-field=status]")).to_have_text("Succeeded")
    assert card.locator("progress[data-field=bar]").evaluate("bar => bar.value") == 100
    expect(card.locator("form[data-cancel-form]")).to_be_hidden()
    expect(row.locator("[data-field=status]")).to_have_text("Succeeded")
    expect(row.locator("[data-field=live_commit]")).to_have_text(short)
    expect(row.locator("[data-field=when]")).to_have_text("just now")

    page.get_by_role("link", name="Search this project").click()
    page.fill("input[name=q]", "compute_invoice_total")
    page.get_by_role("button", name="Search").click()
    first = page.locator("article.hit").first
    expect(first.locator(".path")).to_have_text("app/billing.py")
    expect(first.locator(".lines")).to_have_text("lines 1–2")
    expect(first.locator("mark").first).to_have_text("compute_invoice_total")
