"""Who may call what: anonymous 401, another user's resources 404, visible-but-forbidden 403, and
the one error shape on every path. Also the API token endpoints, the schema and the docs."""

import re
import uuid

import pytest
from knox.models import AuthToken

from syncs.models import SyncRun
from tests.api.conftest import client_for
from tests.factories import MembershipFactory, SyncRunFactory, api_key_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def endpoints(project, sync, run):
    """(method, path) of every v1 endpoint but the webhook (anonymous by design)."""
    p, s, r = project.uuid, sync.uuid, run.uuid
    return [
        ("post", "/api/v1/auth/token/"),
        ("delete", "/api/v1/auth/token/"),
        ("get", "/api/v1/projects/"),
        ("post", "/api/v1/projects/"),
        ("get", f"/api/v1/projects/{p}/"),
        ("patch", f"/api/v1/projects/{p}/"),
        ("delete", f"/api/v1/projects/{p}/"),
        ("get", f"/api/v1/projects/{p}/branches/"),
        ("get", f"/api/v1/projects/{p}/events/"),
        ("post", f"/api/v1/projects/{p}/webhook-secret/"),
        ("get", f"/api/v1/projects/{p}/syncs/"),
        ("post", f"/api/v1/projects/{p}/syncs/"),
        ("get", f"/api/v1/projects/{p}/syncs/{s}/"),
        ("patch", f"/api/v1/projects/{p}/syncs/{s}/"),
        ("delete", f"/api/v1/projects/{p}/syncs/{s}/"),
        ("post", f"/api/v1/projects/{p}/syncs/{s}/runs/"),
        ("get", f"/api/v1/projects/{p}/runs/"),
        ("get", f"/api/v1/projects/{p}/runs/{r}/"),
        ("post", f"/api/v1/projects/{p}/runs/{r}/cancel/"),
        ("get", "/api/v1/deleted-projects/"),
        ("delete", f"/api/v1/deleted-projects/{p}/"),
        ("post", "/api/v1/search/"),
    ]


def assert_error(response, status: int, code: str | None = None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body


def test_it_answers_401_with_the_error_shape_to_anonymous_callers_everywhere(anon, project_sync):
    run = SyncRunFactory(project_sync=project_sync)
    for method, path in endpoints(project_sync.project, project_sync, run):
        response = getattr(anon, method)(path, {}, format="json")
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token"
    assert SyncRun.objects.count() == 1 and project_sync.project.deleted_at is None


def test_it_answers_401_to_an_unknown_token(project):
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    assert_error(client.get("/api/v1/projects/"), 401, "authentication_failed")


def test_a_token_works_with_either_scheme_the_docs_name(owner, project):
    key = api_key_for(owner)
    for scheme in ("Token", "Bearer", "bearer"):
        client = client_for()
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
        listed = client.get("/api/v1/projects/")
        assert listed.status_code == 200, scheme
        assert [p["uuid"] for p in listed.json()["results"]] == [str(project.uuid)]
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + "0" * 40)
    assert_error(client.get("/api/v1/projects/"), 401, "authentication_failed")
    client.credentials(HTTP_AUTHORIZATION=f"Basic {key}")  # not a token scheme: not authenticated
    assert_error(client.get("/api/v1/projects/"), 401, "not_authenticated")


def test_another_users_project_and_everything_under_it_is_404(outsider_api, project_sync):
    run = SyncRunFactory(project_sync=project_sync)
    project = project_sync.project
    for method, path in endpoints(project, project_sync, run):
        if "/projects/" not in path or path.endswith("/v1/projects/"):
            continue
        response = getattr(outsider_api, method)(path, {}, format="json")
        assert_error(response, 404, "not_found")
    project.refresh_from_db()
    run.refresh_from_db()
    assert (project.deleted_at, project.name, run.status) == (None, "demo", SyncRun.Status.QUEUED)
    assert project_sync.runs.count() == 1


def test_a_foreign_project_and_a_missing_one_look_alike(outsider_api, project):
    foreign = outsider_api.get(f"/api/v1/projects/{project.uuid}/")
    missing = outsider_api.get(f"/api/v1/projects/{uuid.uuid4()}/")
    invalid = outsider_api.get("/api/v1/projects/not-a-uuid/")

    assert foreign.status_code == missing.status_code == invalid.status_code == 404
    assert foreign.json() == missing.json() == invalid.json()


def test_a_token_lists_only_its_users_projects(api, outsider_api, project, foreign_sync):
    assert [p["uuid"] for p in api.get("/api/v1/projects/").json()["results"]] == [str(project.uuid)]
    assert [p["uuid"] for p in outsider_api.get("/api/v1/projects/").json()["results"]] == [str(foreign_sync.project.uuid)]


def test_it_answers_403_for_what_the_user_sees_but_may_not_do(project_sync):
    api = client_for(MembershipFactory(project=project_sync.project, role="viewer").user)  # sees, may not change
    p, s = project_sync.project.uuid, project_sync.uuid

    assert api.get(f"/api/v1/projects/{p}/").status_code == 200
    assert_error(api.patch(f"/api/v1/projects/{p}/", {"name": "x"}, format="json"), 403, "permission_denied")
    assert_error(api.delete(f"/api/v1/projects/{p}/"), 403)
    assert_error(api.post(f"/api/v1/projects/{p}/webhook-secret/"), 403)
    assert_error(api.post(f"/api/v1/projects/{p}/syncs/{s}/runs/"), 403)
    assert_error(api.patch(f"/api/v1/projects/{p}/syncs/{s}/", {"auto_sync": False}, format="json"), 403)
    assert_error(api.delete(f"/api/v1/projects/{p}/syncs/{s}/"), 403)
    project_sync.project.refresh_from_db()
    assert (project_sync.project.name, project_sync.project.deleted_at, project_sync.runs.count()) == ("demo", None, 0)


def test_a_superuser_sees_every_project(django_user_model, project):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")

    assert client_for(admin).get(f"/api/v1/projects/{project.uuid}/").status_code == 200


def test_validation_errors_name_the_field_and_refuse_unknown_fields(api):
    missing = api.post("/api/v1/projects/", {"repository": "octo/demo"}, format="json")
    unknown = api.post("/api/v1/projects/", {"repository": "octo/demo", "branch": "main", "owner": 1}, format="json")
    bad_query = api.get("/api/v1/projects/?ordering=password")
    bad_limit = api.get("/api/v1/projects/?limit=0")

    assert_error(missing, 400, "required")
    assert missing.json()["message"] == "branch: This field is required." and missing.json()["fields"] == {
        "branch": ["This field is required."]
    }
    assert_error(unknown, 400)
    assert unknown.json()["fields"] == {"owner": ["unknown field"]}
    assert_error(bad_query, 400, "invalid_choice")
    assert_error(bad_limit, 400, "min_value")


def test_malformed_json_and_other_content_types_are_4xx(api):
    broken = api.generic("POST", "/api/v1/projects/", "{not json", content_type="application/json")
    form = api.generic("POST", "/api/v1/projects/", "repository=x&branch=y", content_type="application/x-www-form-urlencoded")

    assert_error(broken, 400, "parse_error")
    assert_error(form, 415, "unsupported_media_type")


def test_an_unknown_api_address_is_a_json_404(api):
    assert_error(api.get("/api/v1/nothing-here/"), 404, "not_found")
    assert_error(api.post("/api/v1/projects"), 404, "not_found")  # no slash: no redirect, no HTML


def test_a_method_not_allowed_is_405_with_the_allowed_ones(api):
    response = api.put("/api/v1/projects/", {}, format="json")

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, POST, OPTIONS"


def test_a_user_creates_replaces_and_revokes_their_own_token(owner, client):
    client.force_login(owner)  # the user's page (session), where the first token is made

    first = client.post("/api/v1/auth/token/")
    assert first.status_code == 201
    key = first.json()["token"]
    assert first.json()["expiry"] is None
    [stored] = AuthToken.objects.filter(user=owner)
    assert key not in (stored.digest, stored.token_key)  # only a digest and a short lookup prefix are kept
    token_client = client_for()
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert token_client.get("/api/v1/projects/").status_code == 200

    second = token_client.post("/api/v1/auth/token/")
    assert second.status_code == 201 and second.json()["token"] != key
    assert token_client.get("/api/v1/projects/").status_code == 401  # the old key is gone

    token_client.credentials(HTTP_AUTHORIZATION=f"Token {second.json()['token']}")
    assert token_client.delete("/api/v1/auth/token/").status_code == 204
    assert not AuthToken.objects.filter(user=owner).exists()
    assert token_client.get("/api/v1/projects/").status_code == 401


def test_session_requests_need_the_csrf_token(owner):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post("/api/v1/auth/token/")

    assert_error(response, 403, "permission_denied")
    assert not AuthToken.objects.filter(user=owner).exists()


def test_the_schema_documents_every_operation_and_its_errors(anon):
    response = anon.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    operations = {
        (method, path): operation for path, item in schema["paths"].items() for method, operation in item.items()
    }
    assert len(operations) == 29  # 23, the members endpoints (issue 6), re-embed (issue 7), per-project webhooks (issue 12)
    for (method, path), operation in operations.items():
        codes = set(operation["responses"])
        if not path.startswith("/api/v1/webhooks/github/"):
            assert "401" in codes, (method, path)
        if "{project_uuid}" in path and not path.startswith("/api/v1/webhooks/"):
            assert "404" in codes, (method, path)
        for code in codes - {"200", "201", "202", "204"}:
            assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, (method, path, code)
    for throttled in [("post", "/api/v1/search/"), ("post", "/api/v1/projects/{project_uuid}/syncs/{sync_uuid}/runs/")]:
        assert "Retry-After" in operations[throttled]["responses"]["429"]["headers"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_are_served_from_the_project_without_a_cdn(anon, path):
    response = anon.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert scripts and all(src.startswith("/") for src in scripts)
    for src in scripts:
        served = anon.get(src)
        assert served.status_code == 200, src
        assert served.getvalue()  # read to the end, as a browser would (the client then closes it)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"query": 7}, "query"),
        ({"query": "x", "k": "7"}, "k"),
        ({"query": "x", "k": True}, "k"),
        ({"query": "x", "project": 5}, "project"),
        ({"query": ["x"]}, "query"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_not_coerced(api, payload, field):
    response = api.post("/api/v1/search/", payload, format="json")

    assert_error(response, 400)
    assert list(response.json()["fields"]) == [field]


def test_operators_create_and_revoke_tokens_in_the_admin(django_user_model, client, owner):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)

    created = client.post("/admin/knox/authtoken/add/", {"user": owner.pk}, follow=True)

    assert created.status_code == 200
    [shown] = [str(message) for message in created.context["messages"] if str(message).startswith("TOKEN ")]
    key = shown.removeprefix("TOKEN ")  # shown once, to the operator who made it
    assert client_for().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    token = AuthToken.objects.get(user=owner)
    assert key not in client.get("/admin/knox/authtoken/").content.decode()
    assert client.post(f"/admin/knox/authtoken/{token.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not AuthToken.objects.filter(user=owner).exists()
    assert client_for().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_a_token_that_expired_is_refused(owner, client):
    from datetime import timedelta

    from django.utils import timezone

    client.force_login(owner)
    made = client.post("/api/v1/auth/token/", {"expires_in_days": 30}, content_type="application/json")
    assert made.status_code == 201
    expiry = timezone.datetime.fromisoformat(made.json()["expiry"].replace("Z", "+00:00"))
    assert timedelta(days=29) < expiry - timezone.now() <= timedelta(days=30)
    token_client = client_for()
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {made.json()['token']}")
    assert token_client.get("/api/v1/projects/").status_code == 200

    AuthToken.objects.filter(user=owner).update(expiry=timezone.now() - timedelta(seconds=1))
    assert token_client.get("/api/v1/projects/").status_code == 401


@pytest.mark.parametrize("days", [0, -1, 3651, "7", True])
def test_a_token_lifetime_out_of_range_is_refused(owner, client, days):
    client.force_login(owner)
    response = client.post("/api/v1/auth/token/", {"expires_in_days": days}, content_type="application/json")
    assert_error(response, 400)
    assert list(response.json()["fields"]) == ["expires_in_days"]
    assert not AuthToken.objects.filter(user=owner).exists()
