"""Live streams under attack, against a real uvicorn: a burst of more streams than the database has
connections leaves searches and /healthz answering and no connection behind; streams past the
bounds get 429/503; a stream ends once its reader may no longer read it; the operators' channel is
for superusers; django-eventstream's es-meta override is refused."""

from __future__ import annotations

import httpx
import pytest
from django.db import connection
from django.test import Client

from nyxsync import tenancy
from projects.models import Membership
from projects.services import project_member_remove
from syncs import services
from syncs.services import project_soft_delete
from tests.browser.conftest import WebServer
from tests.browser.support import wait_for
from tests.factories import MembershipFactory, api_key_for
from tests.sse_client import SseClient

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STREAMS_MAX = 150
PER_USER = 130
POOL = 8  # the web process's connection pool by default (DATABASE_POOL_MAX_SIZE)


@pytest.fixture(scope="module")
def streams_web(django_db_setup, django_db_blocker, tmp_path_factory, session_celery_worker):
    with django_db_blocker.unblock():
        server = WebServer(tmp_path_factory.mktemp("streams"))
        server.env.update(
            # Its database sessions are the ones counted below.
            DATABASE_URL=server.env["DATABASE_URL"] + "?application_name=streams-web",
            NYXSYNC_STREAMS_MAX=str(STREAMS_MAX),
            NYXSYNC_STREAMS_PER_USER=str(PER_USER),
            NYXSYNC_STREAM_RECHECK_SECONDS="1",
        )
        # The pool as deployed: its default size and idle time are what the burst test holds to.
        for name in ("DATABASE_POOL_MAX_SIZE", "DATABASE_POOL_MAX_IDLE", "DATABASE_POOL_TIMEOUT"):
            server.env.pop(name, None)
        server.start()
    yield server
    server.stop()


@pytest.fixture
def synced(owner, make_repo, sync_now):
    repo = make_repo()
    repo.write("app/billing.py", "def compute_invoice_total(lines):\n    return sum(lines)\n").commit()
    with tenancy.acting_as(owner):
        sync = services.project_link(owner=owner, repository=repo.url, branch="main")
    sync_now(sync)
    return sync


def session_cookie(username: str, password: str = "") -> str:
    """A logged-in browser's session cookie (a real session row the server under test reads)."""
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client.cookies["sessionid"].value


def app_connections() -> int:
    """Database sessions the web server under test holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'streams-web'")
        return cursor.fetchone()[0]


def max_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        return int(cursor.fetchone()[0])


def test_a_burst_of_streams_holds_no_connection_and_search_keeps_answering(streams_web, synced, owner):
    cookie = session_cookie("owner", "owner-password")
    path = f"/events/projects/?project={synced.project.uuid}"
    burst = max_connections() + 10
    assert burst <= PER_USER <= STREAMS_MAX
    api = httpx.Client(base_url=streams_web.url, headers={"Authorization": f"Token {api_key_for(owner)}"}, timeout=30)
    streams = []
    try:
        for _ in range(burst):
            streams.append(SseClient(streams_web.url, path, cookie))
        for stream in streams:
            assert stream.status == 200
            assert b"stream-open" in stream.read(b"stream-open")
        # The streams wait holding no connection: the web process never had more than its pool.
        assert app_connections() <= POOL
        for _ in range(5):
            found = api.post("/api/v1/search/", json={"query": "invoice total", "project": str(synced.project.uuid)})
            assert found.status_code == 200, found.text
            assert found.json()["results"][0]["path"] == "app/billing.py"
            assert httpx.get(f"{streams_web.url}/healthz", timeout=30).status_code == 200
    finally:
        for stream in streams:
            stream.close()
        api.close()
    # The burst's extra connections go within seconds (one per DATABASE_POOL_MAX_IDLE, 2 s; the
    # pool keeps one), and the service answers at once.
    wait_for(lambda: app_connections() <= 1, timeout=20, what="connections to be released")
    assert httpx.get(f"{streams_web.url}/healthz", timeout=10).status_code == 200


def test_streams_past_the_bounds_are_refused_with_429_and_503(streams_web, synced, owner, settings):
    cookie = session_cookie("owner", "owner-password")
    path = f"/events/projects/?project={synced.project.uuid}"
    streams = [SseClient(streams_web.url, path, cookie) for _ in range(PER_USER)]
    try:
        assert all(stream.status == 200 for stream in streams)
        over = SseClient(streams_web.url, path, cookie)
        assert over.status == 429
        assert b"at most" in over.read(b"per user") and b"Retry-After: 5" in over.received
        over.close()
        # Another user fills the server up to its total bound; the next one is told to come back.
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_user("second", password="second-password")
        MembershipFactory(project=synced.project, user=get_user_model().objects.get(username="second"), role=Membership.Role.VIEWER)
        second = session_cookie("second", "second-password")
        more = [SseClient(streams_web.url, path, second) for _ in range(STREAMS_MAX - PER_USER)]
        assert all(stream.status == 200 for stream in more)
        full = SseClient(streams_web.url, path, second)
        assert full.status == 503
        full.close()
        streams += more
    finally:
        for stream in streams:
            stream.close()
    # Slots come back when streams end.
    wait_for(lambda: SseClient(streams_web.url, path, cookie).status == 200, timeout=15, what="a slot to be free again")


@pytest.mark.parametrize("revoke", ["membership removed", "user deactivated", "project deleted"])
def test_an_open_stream_ends_when_its_reader_loses_the_right(streams_web, synced, owner, django_user_model, revoke):
    member = django_user_model.objects.create_user("member", password="member-password")
    MembershipFactory(project=synced.project, user=member, role=Membership.Role.VIEWER)
    stream = SseClient(streams_web.url, f"/events/projects/?project={synced.project.uuid}", session_cookie("member", "member-password"))
    try:
        assert stream.status == 200
        stream.read(b"stream-open")
        with tenancy.dangerously_as_system():
            if revoke == "membership removed":
                project_member_remove(project=synced.project, actor=owner, username="member")
            elif revoke == "user deactivated":
                django_user_model.objects.filter(pk=member.pk).update(is_active=False)
            else:
                project_soft_delete(project=synced.project)
        received = stream.read(b"stream-error", timeout=10)
        assert b"event: stream-error" in received and b"forbidden" in received
    finally:
        stream.close()


def test_the_operators_channel_is_for_superusers_only(streams_web, django_user_model, admin_user):
    django_user_model.objects.create_user("staff", password="staff-password", is_staff=True)
    refused = SseClient(streams_web.url, "/events/operators/", session_cookie("staff", "staff-password"))
    assert refused.status == 403
    refused.close()
    allowed = SseClient(streams_web.url, "/events/operators/", session_cookie("admin", "password"))
    assert allowed.status == 200
    allowed.close()


def test_an_api_token_opens_its_users_stream_and_a_bad_one_is_refused(streams_web, synced, owner, django_user_model):
    """An integration follows runs with the key of the REST API (the project's events_url)."""
    path = f"/events/projects/?project={synced.project.uuid}"
    for scheme in ("Token", "Bearer"):
        stream = SseClient(streams_web.url, path, authorization=f"{scheme} {api_key_for(owner)}")
        try:
            assert stream.status == 200
            assert b"stream-open" in stream.read(b"stream-open")
        finally:
            stream.close()
    other = django_user_model.objects.create_user("other", password="other-password")
    for authorization, status in ((f"Token {api_key_for(other)}", 403), ("Token not-a-key", 401), ("Bearer ", 401)):
        refused = SseClient(streams_web.url, path, session_cookie("owner", "owner-password"), authorization=authorization)
        assert refused.status == status, authorization  # the token decides, not the session beside it
        refused.close()


def test_the_es_meta_override_is_refused(streams_web, synced):
    stream = SseClient(streams_web.url, f"/events/projects/?project={synced.project.uuid}&es-meta=x.y.z", session_cookie("owner", "owner-password"))
    assert stream.status == 400
    stream.close()
