"""The GitHub push webhook, with real HMAC-SHA256 signatures computed here."""

import hashlib
import hmac
import json
import logging
import uuid

import pytest
from django.test import Client

from projects.models import WebhookDelivery
from syncs.models import ProjectSync, SyncRun
from tests.api.conftest import runs_of
from tests.api.test_access import assert_error
from tests.factories import ProjectFactory, ProjectSyncFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]

URL = "/api/v1/webhooks/github/"
SECRET = "s3cr3t-webhook-key-for-tests"


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_body(ref: str = "refs/heads/main", full_name: str = "octo/demo", **extra) -> bytes:
    payload = {
        "ref": ref,
        "before": "0" * 40,
        "after": "a" * 40,
        "deleted": False,
        "repository": {"full_name": full_name, "clone_url": f"https://github.com/{full_name}.git", "private": False},
        **extra,
    }
    return json.dumps(payload).encode()


def deliver(body: bytes, *, event: str = "push", signature: str | None = None, delivery: str | None = None, url: str = URL, **headers):
    headers = {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
        **({"HTTP_X_HUB_SIGNATURE_256": signature if signature is not None else sign(body)} if signature != "" else {}),
        **headers,
    }
    return Client().generic("POST", url, body, content_type=headers.pop("content_type", "application/json"), **headers)


@pytest.fixture
def hooked(project_sync):
    """A project whose hook predates per-project URLs: GitHub sends to the shared URL."""
    project_sync.project.webhook_secret = SECRET
    project_sync.project.webhook_shared_url = True
    project_sync.project.save(update_fields=["webhook_secret", "webhook_shared_url"])
    return project_sync


def own_url(project) -> str:
    return f"{URL}{project.uuid}/"


def nothing_changed(project_sync):
    return not SyncRun.objects.exists() and not WebhookDelivery.objects.exists()


def test_a_signed_push_to_a_synced_branch_queues_one_sync(hooked, caplog):
    caplog.set_level(logging.DEBUG)
    body = push_body()

    response = deliver(body, delivery="d-1")

    assert response.status_code == 202, response.content
    [run] = runs_of(hooked)
    assert (run.trigger, run.status) == (SyncRun.Trigger.WEBHOOK, SyncRun.Status.QUEUED)
    assert response.json() == {
        "event": "push",
        "delivery": "d-1",
        "result": "queued",
        "detail": "sync queued (coalesced with any waiting run)",
        "runs": [str(run.uuid)],
    }
    assert WebhookDelivery.objects.get().delivery_id == "d-1"
    assert SECRET not in caplog.text and sign(body) not in caplog.text


def test_a_second_push_coalesces_into_the_waiting_run(hooked):
    first = deliver(push_body())
    second = deliver(push_body())

    assert first.status_code == second.status_code == 202
    assert first.json()["runs"] == second.json()["runs"]
    assert len(runs_of(hooked)) == 1


def test_a_replayed_delivery_is_ignored(hooked):
    body = push_body()
    first = deliver(body, delivery="same-delivery")
    SyncRun.objects.update(status=SyncRun.Status.SUCCEEDED)  # the run is done; a replay must not start another

    replay = deliver(body, delivery="same-delivery")

    assert first.status_code == 202
    assert replay.status_code == 200 and replay.json()["result"] == "duplicate" and replay.json()["runs"] == []
    assert len(runs_of(hooked)) == 1 and WebhookDelivery.objects.count() == 1


def test_a_wrong_signature_is_403_and_changes_nothing(hooked):
    body = push_body()

    wrong_secret = deliver(body, signature=sign(body, "not-the-secret"))
    other_body = deliver(body, signature=sign(push_body(ref="refs/heads/other")))
    not_hex = deliver(body, signature="sha256=" + "z" * 64)
    sha1 = deliver(body, signature="sha1=" + hashlib.sha1(body).hexdigest())

    for response in (wrong_secret, other_body, not_hex, sha1):
        assert_error(response, 403, "webhook_signature_invalid")
    assert nothing_changed(hooked)


def test_a_missing_signature_is_403_and_changes_nothing(hooked):
    response = deliver(push_body(), signature="")

    assert_error(response, 403, "webhook_signature_missing")
    assert nothing_changed(hooked)


@pytest.mark.parametrize(
    "body",
    [
        push_body(full_name="octo/unknown"),
        json.dumps({"ref": "refs/heads/main"}).encode(),  # no repository
        json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": "file:///etc"}}).encode(),
    ],
)
def test_an_unknown_or_missing_repository_looks_like_a_bad_signature(hooked, body):
    response = deliver(body)

    assert_error(response, 403, "webhook_signature_invalid")
    assert nothing_changed(hooked)


def test_a_project_without_a_secret_never_accepts_deliveries(project_sync):
    body = push_body()

    assert_error(deliver(body, signature=sign(body, "")), 403, "webhook_signature_invalid")
    assert nothing_changed(project_sync)


def test_a_push_to_a_branch_not_synced_is_recorded_and_ignored(hooked):
    response = deliver(push_body(ref="refs/heads/feature"))

    assert response.status_code == 200
    assert (response.json()["result"], response.json()["detail"]) == ("ignored", "branch 'feature' is not synced")
    assert not SyncRun.objects.exists() and WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("ref, deleted", [("refs/tags/v1.0", False), ("refs/heads/main", True)])
def test_tags_and_branch_deletions_are_ignored(hooked, ref, deleted):
    response = deliver(push_body(ref=ref, deleted=deleted))

    assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert not SyncRun.objects.exists()


def test_it_answers_ping(hooked):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1, "repository": {"full_name": "octo/demo"}}).encode()

    response = deliver(body, event="ping")

    assert response.status_code == 200 and response.json()["result"] == "pong"
    assert not SyncRun.objects.exists()


def test_other_events_are_ignored(hooked):
    response = deliver(push_body(), event="issues")

    assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert not SyncRun.objects.exists()


def test_a_10_mb_body_is_refused_with_413_before_it_is_read(hooked):
    body = b'{"ref": "refs/heads/main", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'

    response = deliver(body)

    assert_error(response, 413, "payload_too_large")
    assert nothing_changed(hooked)


def test_a_body_longer_than_its_declared_length_is_never_read_past_the_limit(hooked):
    from projects.apis import GithubWebhookApi
    from projects.webhooks import MAX_BODY_BYTES

    class Stream:
        read_sizes = []

        def read(self, size=-1):
            self.read_sizes.append(size)
            return b"x" * (size if size >= 0 else 50 * MAX_BODY_BYTES)

    view = GithubWebhookApi()
    view.request = type("R", (), {"META": {"CONTENT_LENGTH": "10"}, "stream": Stream()})()

    with pytest.raises(Exception, match="larger than"):
        view._read_body(MAX_BODY_BYTES)
    assert Stream.read_sizes == [MAX_BODY_BYTES + 1]


@pytest.mark.parametrize(
    "body, code",
    [
        (b"{not json", "webhook_body_invalid"),
        (b"[1, 2]", "webhook_body_invalid"),
        (b"[" * 100_000 + b"]" * 100_000, "webhook_body_invalid"),
        (push_body(ref=None), "webhook_body_invalid"),
        (push_body(ref="refs/heads/../../x"), "webhook_body_invalid"),
        (b"\xff\xfe not utf-8", "webhook_body_invalid"),
    ],
)
def test_malformed_bodies_are_400_even_when_signed(hooked, body, code):
    response = deliver(body)

    assert_error(response, 400, code)
    assert nothing_changed(hooked)


def test_missing_github_headers_empty_and_form_bodies_are_refused(hooked):
    body = push_body()

    assert_error(deliver(body, event=""), 400, "webhook_event_invalid")
    assert_error(deliver(body, delivery="bad id!"), 400, "webhook_delivery_invalid")
    assert_error(deliver(b"payload=" + body, content_type="application/x-www-form-urlencoded"), 415)
    assert_error(deliver(b""), 415)  # no body, no content type
    assert nothing_changed(hooked)


def test_only_the_project_whose_secret_signed_the_delivery_is_synced(hooked, outsider):
    theirs = ProjectSyncFactory(project=ProjectFactory(owner=outsider, name="fork", repository="octo/demo", webhook_secret="theirs", webhook_shared_url=True))
    body = push_body()

    response = deliver(body, signature=sign(body, "theirs"))

    assert response.status_code == 202
    assert runs_of(theirs) and not runs_of(hooked)


def test_a_non_github_server_routes_by_its_clone_url(owner, make_repo):
    repo = make_repo()
    project = ProjectFactory(owner=owner, name="local", repository=repo.url, webhook_secret=SECRET, webhook_shared_url=True)
    sync = ProjectSync.objects.create(project=project, repository_url=repo.url, branch="main")
    body = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "octo/demo", "clone_url": repo.url}}).encode()

    response = deliver(body)

    assert response.status_code == 202 and len(runs_of(sync)) == 1


def test_a_deleted_project_takes_no_deliveries(hooked):
    from syncs.services import project_soft_delete

    project_soft_delete(project=hooked.project)

    assert_error(deliver(push_body()), 403)
    assert not SyncRun.objects.exists()


# --- per-project URLs (issue 12): no squatting --------------------------------------------------


def squatters(count: int, full_name: str = "octo/demo") -> list:
    """Projects of another tenant linked to the same repository, each with a secret of its own."""
    projects = []
    for number in range(count):
        project = ProjectFactory(name=f"squat-{number}", repository=full_name)
        project.webhook_secret = f"squatter-secret-{number}"
        project.webhook_shared_url = number % 2 == 0  # even the shared URL's old hooks cannot crowd it out
        project.save(update_fields=["webhook_secret", "webhook_shared_url"])
        ProjectSyncFactory(project=project, repository_url=f"https://github.com/{full_name}.git", branch="main")
        projects.append(project)
    return projects


def test_the_projects_own_url_verifies_its_delivery_whatever_else_is_linked(project_sync):
    squatters(60)  # more than the 50 candidates the shared URL used to compare
    project = project_sync.project
    project.webhook_secret = SECRET
    project.save(update_fields=["webhook_secret"])

    response = deliver(push_body(), url=own_url(project))

    assert response.status_code == 202, response.content
    [run] = runs_of(project_sync)
    assert run.trigger == SyncRun.Trigger.WEBHOOK
    assert SyncRun.objects.count() == 1  # no squatter's branch was synced


def test_the_shared_url_compares_every_old_hook_without_a_cap(hooked):
    squatters(120)
    response = deliver(push_body())
    assert response.status_code == 202, response.content
    assert len(runs_of(hooked)) == 1 and SyncRun.objects.count() == 1


def test_a_project_linked_since_is_not_reachable_at_the_shared_url(project_sync):
    project = project_sync.project
    project.webhook_secret = SECRET
    project.save(update_fields=["webhook_secret"])

    response = deliver(push_body())

    assert_error(response, 403, "webhook_signature_invalid")
    assert nothing_changed(project_sync)


def test_a_delivery_signed_for_another_project_is_refused_at_this_projects_url(project_sync):
    [other] = squatters(1)
    project = project_sync.project
    project.webhook_secret = SECRET
    project.save(update_fields=["webhook_secret"])

    # Signed with the victim's secret, sent to the squatter's URL; and the other way round.
    assert_error(deliver(push_body(), url=own_url(other)), 403, "webhook_signature_invalid")
    assert_error(deliver(push_body(), url=own_url(project), signature=sign(push_body(), "squatter-secret-0")), 403, "webhook_signature_invalid")
    assert nothing_changed(project_sync)


@pytest.mark.parametrize("path", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_project_url_looks_like_a_wrong_signature(project_sync, path):
    response = deliver(push_body(), url=f"{URL}{path}/")
    assert_error(response, 403, "webhook_signature_invalid")
    assert nothing_changed(project_sync)


def test_a_delivery_for_another_repository_is_refused_at_a_projects_url(project_sync):
    project = project_sync.project
    project.webhook_secret = SECRET
    project.save(update_fields=["webhook_secret"])
    body = push_body(full_name="octo/other")

    assert_error(deliver(body, url=own_url(project)), 403, "webhook_signature_invalid")
    assert nothing_changed(project_sync)


@pytest.mark.django_db(transaction=True)
def test_existing_hooks_are_marked_for_the_shared_url_by_the_migration(owner_sql):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from nyxsync.db import as_migration_role

    with_hook = ProjectFactory(name="old-hook")
    with_hook.webhook_secret = SECRET
    with_hook.save(update_fields=["webhook_secret"])
    without_hook = ProjectFactory(name="no-hook")
    owner_sql("UPDATE projects_project SET webhook_shared_url = false")

    mark = __import__("importlib").import_module("projects.migrations.0006_project_webhook_shared_url").mark_existing_hooks
    apps = MigrationExecutor(connection).loader.project_state(("projects", "0006_project_webhook_shared_url")).apps
    with as_migration_role(connection), connection.schema_editor() as editor:
        mark(apps, editor)

    rows = dict(owner_sql("SELECT name, webhook_shared_url FROM projects_project"))
    assert rows[with_hook.name] is True and rows[without_hook.name] is False
