"""The search page and the dashboard in Chromium (issue 17): what is highlighted, the working state
while a query runs, the keyboard, hits grouped by file, and the dashboard's charts drawn from the
table that a browser without JavaScript reads as it is. Every page here runs under a strict
Content-Security-Policy and must cause no violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from syncs import services
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute
from tests.browser.support import login

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]  # /healthz, which the web fixture waits for, asks for a worker

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


def under_strict_csp(page) -> None:
    """Records the violations of the pages' own Content-Security-Policy (django-csp) in window.cspViolations."""
    page.add_init_script(RECORD_VIOLATIONS)


def no_violations(page) -> None:
    assert page.evaluate("window.cspViolations") == []


@pytest.fixture
def project(owner, make_repo, fast_model, git_cache):
    repo = make_repo()
    helpers = "".join(f"def invoice_helper_{n}(lines):\n    return [line for line in lines if line > {n}]\n\n\n" for n in range(30))
    repo.write("app/invoices.py", "def refuse_migration(operation):\n    # refuse the migration that drops the embedding column\n"
               "    raise RefusedMigration(operation)\n\n\n" + helpers)  # fmt: skip
    repo.write("tests/test_invoices.py", "def test_refuse_migration():\n    assert refuse_migration is not None\n")
    repo.commit()
    sync = services.project_link(owner=owner, repository=repo.url, branch="main")
    for _ in range(2):
        run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
        assert sync_run_execute(run.pk).status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.UP_TO_DATE)
        repo.write("app/extra.py", "EXTRA = 1\n").commit()
    return sync.project


def test_search_highlights_meaningful_words_groups_by_file_and_shows_that_it_works(new_page, celery_worker, project):
    page = new_page()
    under_strict_csp(page)
    login(page, "owner", "owner-password")
    page.goto(f"/projects/{project.uuid}/search/")
    expect(page.locator("[data-empty=no-query]")).to_be_visible()
    box = page.locator("input[name=q]")
    page.locator("h1").click()
    page.keyboard.press("/")
    expect(box).to_be_focused()

    # What the page shows between the submit and the answer, kept across the navigation.
    page.evaluate("""() => document.querySelector("[data-search-form]").addEventListener("submit", () => {
      const form = document.querySelector("[data-search-form]");
      sessionStorage.setItem("working", JSON.stringify([form.getAttribute("data-state"), form.getAttribute("aria-busy"),
        !document.querySelector("[data-search-progress]").hidden]));
    })""")
    box.fill("refuse the migration that drops the embedding column")
    box.press("Enter")
    page.wait_for_url(re.compile(r"q=refuse"))
    assert page.evaluate("JSON.parse(sessionStorage.getItem('working'))") == ["searching", "true", True]

    marks = {text.lower() for text in page.locator("article.hit mark").all_inner_texts()}
    assert {"refuse", "migration"} <= marks
    assert not marks & {"the", "that", "a"}, marks
    paths = page.locator("article.hit .path").all_inner_texts()
    assert len(paths) == len(set(paths)) and "app/invoices.py" in paths
    expect(page.locator("article.hit").first.locator(".path")).to_have_text("app/invoices.py")
    invoices = page.locator('article.hit[data-path="app/invoices.py"]')
    expect(invoices.locator("[data-more]")).to_have_text(re.compile(r"^\d+ more in this file$"))

    page.check("input[name=no_tests]")
    box.press("Enter")
    page.wait_for_url(re.compile(r"no_tests=on"))
    assert "tests/test_invoices.py" not in page.locator("article.hit .path").all_inner_texts()
    expect(page.locator("input[name=no_tests]")).to_be_checked()  # the filter stays set
    no_violations(page)


def test_the_dashboard_draws_its_runs_and_reads_without_javascript(new_page, celery_worker, browser, web, project):
    page = new_page()
    under_strict_csp(page)
    login(page, "owner", "owner-password")
    page.goto(f"/projects/{project.uuid}/dashboard/")
    charts = page.locator("[data-charts]")
    expect(charts).to_have_attribute("data-state", "drawn")
    expect(charts).to_have_attribute("data-points", "2")
    expect(page.locator("[data-chart=duration] canvas")).to_have_count(1)
    expect(page.locator("[data-chart=chunks] canvas")).to_have_count(1)
    rows = page.locator("[data-chart-source] tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("table.index-size tr[data-branch=main] [data-field=chunks]")).to_have_text(re.compile(r"^\d+$"))
    no_violations(page)

    context = browser.new_context(base_url=web.url, java_script_enabled=False)
    try:
        plain = context.new_page()
        login(plain, "owner", "owner-password")
        plain.goto(f"/projects/{project.uuid}/dashboard/")
        expect(plain.locator("[data-chart-source] tbody tr")).to_have_count(2)
        first = plain.locator("[data-chart-source] tbody tr").first
        expect(first.locator("td").nth(3)).to_contain_text("Succeeded")
        expect(plain.locator("canvas")).to_have_count(0)
    finally:
        context.close()


def test_a_sync_from_the_page_runs_without_a_policy_violation(new_page, celery_worker, project):
    page = new_page()
    under_strict_csp(page)
    login(page, "owner", "owner-password")
    response = page.goto(f"/projects/{project.uuid}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_role("button", name="Sync").click()
    expect(page.locator("section.branch")).to_have_attribute("data-status", re.compile("up_to_date|succeeded"))
    expect(page.locator("[data-live-region=history] tr[data-run]")).to_have_count(3)  # re-read as a region
    no_violations(page)
