"""Personas of one project: its creator (the `owner` fixture), a member of each role and an
outsider; logged-in page clients and staff for the admin."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import MembershipFactory, ProjectFactory, ProjectSyncFactory, UserFactory


@pytest.fixture
def project(owner):
    return ProjectFactory(owner=owner, name="demo", repository="octo/demo")


@pytest.fixture
def branch(project):
    return ProjectSyncFactory(project=project, repository_url="https://github.com/octo/demo.git", branch="main")


@pytest.fixture
def member(project):
    """member(role, staff=False) -> a user `a-<role>` with that role in the project; staff also
    get every model permission of projects and syncs (what they may do then is the role's)."""

    def make(role: str, *, staff: bool = False):
        user = UserFactory(username=f"{'staff' if staff else 'a'}-{role}", is_staff=staff)
        MembershipFactory(project=project, user=user, role=role)
        if staff:
            user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["projects", "syncs"]))
        return user

    return make


@pytest.fixture
def login():
    """login(user) -> a Client logged in as `user`."""

    def as_user(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return as_user
