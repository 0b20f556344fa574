"""Every page runs under the Content-Security-Policy (django-csp) with no violation: the pages,
the admin and the API docs, in Chromium, as a user and an operator see them."""

import pytest

from syncs import services
from tests.browser.support import login

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]

# Records every violation the page reports, before any of its own scripts run.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.cspViolations.push(event.violatedDirective + ' ' + (event.blockedURI || 'inline') + ' ' + event.sourceFile + ':' + event.lineNumber);
});
"""


def visit(page, path: str) -> list[str]:
    response = page.goto(path)
    assert response.status == 200, f"{path}: {response.status}"
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, f"{path}: {policy!r}"
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.cspViolations")


def test_the_pages_admin_and_api_docs_run_without_a_policy_violation(new_page, celery_worker, admin_user, owner, make_repo, sync_now):
    repo = make_repo()
    repo.write("app/billing.py", "def compute_invoice_total(lines):\n    return sum(lines)\n").commit()
    sync = services.project_link(owner=owner, repository=repo.url, branch="main")
    run = sync_now(sync)
    project = sync.project

    user = new_page()
    user.context.add_init_script(RECORD_VIOLATIONS)
    messages = []
    user.on("console", lambda message: messages.append(message.text))
    login(user, "owner", "owner-password")
    violations = {}
    for path in (
        "/",
        "/projects/link/",
        f"/projects/{project.uuid}/",
        f"/projects/{project.uuid}/search/?q=invoice+total",
        f"/projects/{project.uuid}/dashboard/",
        "/api/docs/",
        "/api/redoc/",
    ):
        violations[path] = visit(user, path)

    operator = new_page()
    operator.context.add_init_script(RECORD_VIOLATIONS)
    operator.on("console", lambda message: messages.append(message.text))
    login(operator, "admin", "password", path="/admin/login/?next=/admin/")
    for path in ("/admin/", "/admin/syncs/syncrun/", f"/admin/syncs/syncrun/{run.pk}/change/", "/admin/projects/project/"):
        violations[path] = visit(operator, path)

    assert {path: found for path, found in violations.items() if found} == {}
    assert [text for text in messages if "Content Security Policy" in text] == []
