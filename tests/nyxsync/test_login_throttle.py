"""Guessing passwords is throttled on both login pages (django-axes): after LOGIN_FAILURE_LIMIT
failures of one username from one address, that pair is refused for a while, even with the
right password; other addresses and other users are not affected."""

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def attempt(path: str, password: str, address: str = "198.51.100.7", username: str = "owner"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_it_refuses_a_username_and_address_after_five_failures(path, owner, settings):
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(path, "wrong").status_code == 200  # the form again, with its error
    locked = attempt(path, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()

    right = attempt(path, "owner-password")
    assert right.status_code == 429 and "sessionid" not in right.cookies
    # Another address, or another user from this one, logs in as usual.
    assert attempt(path, "owner-password", address="198.51.100.8").status_code == 302
    assert attempt(path, "outsider-password", username="outsider").status_code in (200, 302)


def test_an_operator_unlocks_a_username_with_axes_reset(owner, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt("/accounts/login/", "wrong")
    assert attempt("/accounts/login/", "owner-password").status_code == 429

    call_command("axes_reset_username", "owner")

    assert attempt("/accounts/login/", "owner-password").status_code == 302
