"""The API throttle (nyxsync.api.ScopedUserThrottle) counts a request in one round trip to Redis,
keeps DRF's sliding window and its Retry-After, and loses no count when requests come at once."""

import threading
from types import SimpleNamespace

import pytest
import redis.connection
from django.core.cache import cache

from nyxsync.api import SearchThrottle, throttle_wait


@pytest.fixture(autouse=True)
def search_rate(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "search": "5/minute"},
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def commands(monkeypatch):
    sent = []
    send = redis.connection.AbstractConnection.send_command

    def recording(self, *args, **kwargs):
        sent.append(args[0])
        return send(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_command", recording)
    return sent


def test_it_counts_a_request_in_one_round_trip_and_refuses_past_the_rate_with_a_wait(commands):
    user = SimpleNamespace(pk=7, is_authenticated=True)
    waits = [throttle_wait(SearchThrottle, user) for _ in range(6)]

    assert waits[:5] == [None] * 5
    assert 59 < waits[5] <= 60  # the oldest of the five leaves the window in a minute
    assert len(commands) == 6, commands  # one command a request
    # Another user has a budget of their own.
    assert throttle_wait(SearchThrottle, SimpleNamespace(pk=8, is_authenticated=True)) is None


def test_a_refused_request_is_not_counted_and_the_window_slides(monkeypatch):
    user = SimpleNamespace(pk=7, is_authenticated=True)
    throttle, now = SearchThrottle(), [1000.0]
    monkeypatch.setattr(SearchThrottle, "timer", lambda self: now[0])
    request = SimpleNamespace(user=user, META={})
    assert [throttle.allow_request(request, None) for _ in range(7)] == [True] * 5 + [False] * 2
    now[0] = 1059.0  # the five are still in the window
    assert throttle.allow_request(request, None) is False
    now[0] = 1060.0  # they leave it (DRF drops a request `duration` old); the refused ones never counted
    assert [throttle.allow_request(request, None) for _ in range(6)] == [True] * 5 + [False]


def test_requests_at_once_are_each_counted():
    user = SimpleNamespace(pk=9, is_authenticated=True)
    results, start = [], threading.Barrier(10)

    def one():
        start.wait()
        results.append(throttle_wait(SearchThrottle, user) is None)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True] * 5
