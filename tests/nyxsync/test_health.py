import pytest

from nyxsync.tasks import ping


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_reports_database_redis_and_worker_reachable(client, celery_worker):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True
    assert body["database"]["pgvector"].startswith("0.")
    assert body["redis"]["ok"] is True
    assert body["worker"]["ok"] is True and body["worker"]["workers"]


@pytest.mark.django_db
def test_it_answers_503_naming_the_part_that_is_down(client, settings):
    settings.REDIS = {"unix_socket_path": "/nonexistent/redis.sock", "db": 0}
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["ok"] is False
    assert body["redis"]["ok"] is False and "ConnectionError" in body["redis"]["error"]
    assert body["database"]["ok"] is True


@pytest.mark.worker
def test_a_task_round_trips_through_a_real_worker(celery_worker):
    assert ping.delay("hello").get(timeout=30) == "hello"


@pytest.mark.django_db
def test_from_elsewhere_it_says_only_whether_all_is_well(client, settings, django_user_model):
    settings.REDIS = {"unix_socket_path": "/nonexistent/redis.sock", "db": 0}
    far = client.get("/healthz", REMOTE_ADDR="203.0.113.9")
    proxied = client.get("/healthz", HTTP_X_FORWARDED_FOR="203.0.113.9")  # a local proxy in front
    assert far.status_code == proxied.status_code == 503
    assert far.json() == proxied.json() == {"ok": False}

    client.force_login(django_user_model.objects.create_user("plain", password="pw"))
    assert client.get("/healthz", REMOTE_ADDR="203.0.113.9").json() == {"ok": False}

    client.force_login(django_user_model.objects.create_user("operator", password="pw", is_staff=True))
    staff = client.get("/healthz", REMOTE_ADDR="203.0.113.9").json()
    assert staff["redis"]["ok"] is False and "ConnectionError" in staff["redis"]["error"]
