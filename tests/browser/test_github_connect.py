"""Issue 11 in Chromium: a user connects GitHub (the OAuth web flow against the stand-in's GitHub),
picks a private repository from the picker, syncs it and finds its code; a second user without
access cannot link it from the page. The web server here knows the stand-in as GITHUB_URL (web,
OAuth and git) and GITHUB_API_URL, and has a deployment GITHUB_TOKEN that can read everything:
it must never lend it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects.models import Project
from syncs.models import SyncRun
from tests.browser.conftest import WebServer
from tests.browser.support import login
from tests.github_standin import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]

DEPLOYMENT_TOKEN = "ghp_deployment_reads_everything"


@pytest.fixture(scope="module")
def github_web(django_db_setup, django_db_blocker, tmp_path_factory, github_standin, session_celery_worker):
    with django_db_blocker.unblock():
        server = WebServer(tmp_path_factory.mktemp("web-github"))
        server.env.update({
            "GITHUB_URL": github_standin.url, "GITHUB_API_URL": github_standin.url, "GITHUB_TOKEN": DEPLOYMENT_TOKEN,
            "GITHUB_OAUTH_CLIENT_ID": OAUTH_CLIENT_ID, "GITHUB_OAUTH_CLIENT_SECRET": OAUTH_CLIENT_SECRET,
        })  # fmt: skip
        server.start()
    yield server
    server.stop()


@pytest.fixture
def github(github_api, make_repo):
    repo = make_repo()
    repo.write("app/secret_billing.py", "def compute_secret_invoice_total(lines):\n    return sum(lines)\n").commit()
    github_api.add_repo("corp/secret", bare=repo.bare, private=True, tokens={"gho_alice", DEPLOYMENT_TOKEN})
    other = make_repo()
    other.write("README.md", "# open\n").commit()
    github_api.add_repo("corp/open", bare=other.bare)
    github_api.add_user("alice", token="gho_alice")
    github_api.add_user("bob", token="gho_bob")
    return github_api


@pytest.fixture
def people(django_user_model):
    return [django_user_model.objects.create_user(name, f"{name}@example.com", f"{name}-password") for name in ("alice", "bob")]


def new_github_page(browser, server):
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(20_000)
    return context.new_page()


def test_connect_pick_a_private_repository_sync_and_search(transactional_db, browser, github_web, celery_worker, github, people):
    page = new_github_page(browser, github_web)
    try:
        login(page, "alice", "alice-password")
        page.goto("/projects/link/")
        expect(page.locator("[data-github-hint]")).to_contain_text("Connect GitHub")
        github.authorizing = "alice"  # signed in to GitHub as alice
        page.get_by_role("link", name="Connect GitHub").click()
        expect(page.get_by_role("heading", name="Authorize nyxsync")).to_be_visible()  # GitHub's consent page
        page.get_by_role("link", name="Authorize").click()
        expect(page).to_have_url(re.compile(r"/projects/link/$"))  # back where the connection started
        expect(page.locator(".messages")).to_contain_text("Connected to GitHub as alice")

        picker = page.locator("[data-repo-picker]")
        expect(picker).to_have_attribute("data-state", "ready")
        entry = picker.locator("li", has=page.locator('button[data-full-name="corp/secret"]'))
        expect(entry.locator(".badge.private")).to_have_text("private")
        picker.locator("[data-picker-query]").fill("nothing-like-it")
        expect(picker).to_have_attribute("data-state", "empty")
        picker.locator("[data-picker-query]").fill("secret")
        expect(picker).to_have_attribute("data-state", "ready")
        picker.locator('button[data-full-name="corp/secret"]').click()
        expect(page.locator("input[name=repository]")).to_have_value("corp/secret")
        expect(page.locator("form[data-branch-picker]")).to_have_attribute("data-picker-state", "ready")
        expect(page.locator("select[name=branch]")).to_have_value("main")
        page.click("form[data-branch-picker] [type=submit]")

        project = Project.objects.get(owner__username="alice")
        expect(page).to_have_url(re.compile(f"/projects/{project.uuid}/$"))
        page.get_by_role("button", name="Sync").click()
        card = page.locator("section.branch")
        expect(card).to_have_attribute("data-status", "succeeded")
        assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED

        page.get_by_role("link", name="Search this project").click()
        page.fill("input[name=q]", "compute_secret_invoice_total")
        page.keyboard.press("Enter")
        expect(page.locator("article.hit").first.locator(".path")).to_have_text("app/secret_billing.py")
        assert not any("corp/secret" in path and token == DEPLOYMENT_TOKEN for path, token in github.tokens_seen)
    finally:
        page.context.close()


def test_a_second_user_without_access_cannot_link_it_from_the_page(transactional_db, browser, github_web, celery_worker, github, people):
    page = new_github_page(browser, github_web)
    try:
        login(page, "bob", "bob-password")
        page.goto("/projects/link/")
        page.fill("input[name=repository]", "corp/secret")
        form = page.locator("form[data-branch-picker]")
        expect(form).to_have_attribute("data-picker-state", "error")
        expect(page.locator("[data-error-for=repository]")).to_contain_text("GitHub has no repository corp/secret that you may read")
        page.click("form[data-branch-picker] [type=submit]")  # and submitted anyway, without a branch
        expect(page.locator("[data-error-for=repository]")).to_contain_text("GitHub has no repository corp/secret that you may read")
        assert not Project.objects.exists()
        page.fill("input[name=repository]", "corp/open")
        expect(form).to_have_attribute("data-picker-state", "ready")  # a public one links
    finally:
        page.context.close()
