"""The live streams' gate: only people who may see a project get its stream; strangers get 403
before any event is read (django-eventstream itself would answer 200 with an error event)."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def stream(client, *projects):
    return client.get(reverse("project_events"), {"project": [str(p) for p in projects]})


def test_the_owner_gets_the_projects_stream(owner_client, owner):
    project = ProjectFactory(owner=owner)
    response = stream(owner_client, project.uuid)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    response.close()


def test_a_stranger_gets_403_for_a_foreign_project(outsider_client, owner):
    project = ProjectFactory(owner=owner)
    response = stream(outsider_client, project.uuid)
    assert response.status_code == 403 and not response.streaming


def test_one_foreign_project_among_own_ones_is_403(outsider_client, outsider, owner):
    mine, theirs = ProjectFactory(owner=outsider), ProjectFactory(owner=owner)
    assert stream(outsider_client, mine.uuid, theirs.uuid).status_code == 403


@pytest.mark.parametrize("value", [uuid.uuid4(), "junk", "../operators"])
def test_a_missing_or_malformed_project_is_403(owner_client, value):
    assert stream(owner_client, value).status_code == 403


def test_anonymous_visitors_get_403(client, owner):
    assert stream(client, ProjectFactory(owner=owner).uuid).status_code == 403
    assert client.get(reverse("operator_events")).status_code == 403


def test_no_project_or_too_many_is_a_bad_request(owner_client, owner):
    assert stream(owner_client).status_code == 400
    projects = [ProjectFactory(owner=owner).uuid for _ in range(11)]
    assert stream(owner_client, *projects).status_code == 400


def test_the_operators_stream_is_for_staff(owner_client, admin_user):
    assert owner_client.get(reverse("operator_events")).status_code == 403
    staff = Client()
    staff.force_login(admin_user)
    response = staff.get(reverse("operator_events"))
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    response.close()

