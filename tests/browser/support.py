"""Helpers of the browser tests."""

from __future__ import annotations

import threading
import time


class Gate:
    """Holds every request to the git HTTP server until opened: a sync stays in its fetch phase
    for as long as a test needs (set as `git_http.on_request`)."""

    def __init__(self):
        self._open = threading.Event()

    def __call__(self, headers) -> None:
        self._open.wait(timeout=60)

    def open(self) -> None:
        self._open.set()


def login(page, username: str, password: str, *, path: str = "/accounts/login/") -> None:
    page.goto(path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
    page.wait_for_load_state()


def wait_for(predicate, *, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
