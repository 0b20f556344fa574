"""factory_boy factories for the data model. Vectors get real (random, normalised) values.

Factories write as the system (nyxsync.tenancy.dangerously_as_system), as an operator at a psql
prompt would: test data of any tenant appears whatever the test itself acts for. What the test
then does acts for nobody unless it says whom for (`as_system`, `as_owner`, `tenancy.acting_as`),
as production code does."""

import hashlib

import factory
import numpy as np
from django.contrib.auth import get_user_model

from embeddings.models import Chunk, EmbeddingModel, SourceFile, Vector
from nyxsync import tenancy
from projects.models import Membership, Project
from syncs.models import ProjectSync, SyncRun


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def unit_vector(seed: int, dimensions: int = 384) -> list[float]:
    vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    return (vector / np.linalg.norm(vector)).tolist()


class Factory(factory.django.DjangoModelFactory):
    """Creates its rows as the system: row-level security does not stand in a test's set-up."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with tenancy.dangerously_as_system():
            return super()._create(model_class, *args, **kwargs)


class UserFactory(Factory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("password")


class ProjectFactory(Factory):
    class Meta:
        model = Project

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"project{n}")
    repository = factory.LazyAttribute(lambda project: f"example/{project.name}")


class MembershipFactory(Factory):
    """A member of a project: a viewer unless `role` says otherwise."""

    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.VIEWER


class ProjectSyncFactory(Factory):
    class Meta:
        model = ProjectSync

    project = factory.SubFactory(ProjectFactory)
    repository_url = factory.LazyAttribute(lambda sync: f"https://github.com/{sync.project.repository}.git")
    branch = "main"


class SyncRunFactory(Factory):
    class Meta:
        model = SyncRun

    project_sync = factory.SubFactory(ProjectSyncFactory)
    trigger = SyncRun.Trigger.COMMAND


class EmbeddingModelFactory(Factory):
    class Meta:
        model = EmbeddingModel
        django_get_or_create = ["name"]

    name = "all-MiniLM-L6-v2-int8-r2"  # the default model, which branches get
    backend = "onnxruntime"
    dimensions = 384


class SourceFileFactory(Factory):
    class Meta:
        model = SourceFile

    project_sync = factory.SubFactory(ProjectSyncFactory)
    project = factory.LazyAttribute(lambda file: file.project_sync.project)
    path = factory.Sequence(lambda n: f"src/module{n}.py")
    blob_sha = factory.LazyAttribute(lambda file: hashlib.sha1(file.path.encode()).hexdigest())
    language = "python"
    born_generation = 1


class ChunkFactory(Factory):
    class Meta:
        model = Chunk

    file = factory.SubFactory(SourceFileFactory)
    project = factory.LazyAttribute(lambda chunk: chunk.file.project)
    ordinal = factory.Sequence(lambda n: n)
    start_line = 1
    end_line = 3
    text = factory.Sequence(lambda n: f"def function_{n}():\n    return {n}\n")
    content_hash = factory.LazyAttribute(lambda chunk: sha256(chunk.text))


class VectorFactory(Factory):
    class Meta:
        model = Vector

    model = factory.SubFactory(EmbeddingModelFactory)
    tenant = factory.SubFactory(UserFactory)  # pass a chunk's project owner for the vector to serve it
    content_hash = factory.Sequence(lambda n: sha256(f"text {n}"))
    embedding = factory.Sequence(lambda n: unit_vector(n))


def api_key_for(user) -> str:
    """A new API token of `user` (its key; the database keeps a digest). Each call makes one
    more, so every client of a test has a valid key of its own."""
    from knox.models import AuthToken

    return AuthToken.objects.create(user=user, expiry=None)[1]
