"""The embedding admin pages: vectors for superusers only; counts other staff see come from their
own projects' rows, never from an estimate over every tenant's."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from projects.models import Membership
from tests.factories import ChunkFactory, MembershipFactory, ProjectFactory, SourceFileFactory, VectorFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


@pytest.fixture
def staff(django_user_model):
    """A staff member with every permission on the embedding models, a maintainer of one project."""
    user = django_user_model.objects.create_user("staffer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="embeddings"))
    return user


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_vectors_are_for_superusers_only(staff, admin_user):
    VectorFactory(tenant=staff)

    assert login(staff).get(reverse("admin:embeddings_vector_changelist")).status_code == 403
    assert "/admin/embeddings/vector/" not in login(staff).get(reverse("admin:index")).content.decode()
    page = login(admin_user).get(reverse("admin:embeddings_vector_changelist"))
    assert page.status_code == 200 and "/admin/embeddings/vector/" in login(admin_user).get(reverse("admin:index")).content.decode()


def test_staff_count_only_the_chunks_of_their_projects(staff):
    theirs = ProjectFactory()
    MembershipFactory(project=theirs, user=staff, role=Membership.Role.MAINTAINER)
    ChunkFactory.create_batch(2, file=SourceFileFactory(project_sync__project=theirs))
    ChunkFactory.create_batch(5)  # another tenant's

    html = login(staff).get(reverse("admin:embeddings_chunk_changelist")).content.decode()

    assert "2 chunks" in html and "5 chunks" not in html and "7 chunks" not in html
