"""Secrets at rest: Fernet with rotation (nyxsync.crypto), the encrypted model field, the data
migration that encrypts plaintext written before it, and `rotate_secrets`."""

import importlib

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.serializers import deserialize, serialize
from django.db import connection

from nyxsync import crypto
from projects.models import Project
from projects.services import project_github_token_set, project_webhook_secret_rotate
from tests.factories import ProjectFactory

pytestmark = pytest.mark.usefixtures("as_system")

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SECRET = "whsec-correct-horse-battery-staple"
migration = importlib.import_module("projects.migrations.0005_encrypt_plaintext_webhook_secrets")


@pytest.fixture
def keys(settings):
    """keys(*keys): make these NYXSYNC_ENCRYPTION_KEYS (the first encrypts)."""

    def use(*keys: str) -> None:
        settings.NYXSYNC_ENCRYPTION_KEYS = list(keys)

    use(OLD)
    return use


def stored(project, field: str = "webhook_secret") -> str | None:
    """The column as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {field} FROM projects_project WHERE id = %s", [project.pk])
        return cursor.fetchone()[0]


def store_raw(project, value: str | None, field: str = "webhook_secret") -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE projects_project SET {field} = %s WHERE id = %s", [value, project.pk])


# --- nyxsync.crypto ---------------------------------------------------------------------------


def test_it_round_trips_and_never_encrypts_the_same_way_twice(keys):
    first, second = crypto.encrypt(SECRET), crypto.encrypt(SECRET)

    assert first != second and first.startswith("fernet:") and SECRET not in first
    assert crypto.decrypt(first) == crypto.decrypt(second) == SECRET
    assert crypto.decrypt(crypto.encrypt("")) == "" and crypto.decrypt(crypto.encrypt("é ✓")) == "é ✓"


def test_every_key_decrypts_and_the_first_encrypts(keys):
    under_old = crypto.encrypt(SECRET)
    keys(NEW, OLD)

    assert crypto.decrypt(under_old) == SECRET
    assert crypto.needs_rotation(under_old)
    rotated = crypto.rotate(under_old)
    assert not crypto.needs_rotation(rotated)
    keys(NEW)  # the old key retired: what was rotated still reads
    assert crypto.decrypt(rotated) == SECRET


def test_a_secret_no_key_fits_fails_with_a_clear_error_naming_nothing_secret(keys):
    under_old = crypto.encrypt(SECRET)
    keys(NEW)

    with pytest.raises(crypto.SecretError) as raised:
        crypto.decrypt(under_old)
    message = str(raised.value)
    assert "cannot be decrypted with any of NYXSYNC_ENCRYPTION_KEYS" in message
    assert SECRET not in message and OLD not in message and NEW not in message
    with pytest.raises(crypto.SecretError):
        crypto.rotate(under_old)


def test_a_changed_ciphertext_is_refused_not_decrypted_to_junk(keys):
    token = crypto.encrypt(SECRET)
    changed = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]

    with pytest.raises(crypto.SecretError):
        crypto.decrypt(changed)


def test_plaintext_from_before_encryption_reads_as_it_is(keys):
    assert crypto.decrypt(SECRET) == SECRET
    assert crypto.needs_rotation(SECRET) and crypto.decrypt(crypto.rotate(SECRET)) == SECRET


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "NYXSYNC_ENCRYPTION_KEYS: no key given"),
        ("not-a-key", "NYXSYNC_ENCRYPTION_KEYS: key 1 of 1 is not a Fernet key"),
        (f"{OLD},{OLD[:-2]}", "NYXSYNC_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key"),
    ],
)
def test_malformed_keys_are_refused_in_one_line_that_does_not_show_them(value, message):
    with pytest.raises(ImproperlyConfigured) as raised:
        crypto.parse_keys(value)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert OLD[:-2] not in str(raised.value) and "not-a-key" not in str(raised.value)


@pytest.mark.parametrize(
    "key",
    [OLD, crypto.generate_key(), OLD[:-2], OLD[:-1], OLD + "A", OLD.replace("=", ""), "A" * 44, "A" * 43 + "=",
     "+" * 43 + "=", "/" * 43 + "=", "-" * 43 + "=", "é" * 44, "0" * 64, "not-a-key"],
)  # fmt: skip
def test_the_settings_accept_a_key_exactly_when_fernet_does(key):
    """parse_keys checks the keys without importing cryptography (the settings load it): the same
    check as cryptography.fernet.Fernet()'s."""
    try:
        Fernet(key)
        fernet_accepts = True
    except (ValueError, TypeError):
        fernet_accepts = False
    try:
        crypto.parse_keys(key)
        accepted = True
    except ImproperlyConfigured:
        accepted = False

    assert accepted == fernet_accepts


def test_keys_may_be_separated_by_commas_or_lines():
    assert crypto.parse_keys(f" {OLD},\n{NEW}\n") == [OLD, NEW]


# --- the field ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_column_holds_ciphertext_and_the_model_plaintext(keys, owner):
    project = ProjectFactory(owner=owner, webhook_secret=SECRET)
    project_github_token_set(project=project, token="ghp_projectToken123")

    assert stored(project).startswith("fernet:") and SECRET not in stored(project)
    assert stored(project, "github_token").startswith("fernet:") and "ghp_projectToken123" not in stored(project, "github_token")
    project = Project.objects.get(pk=project.pk)
    assert (project.webhook_secret, project.github_token) == (SECRET, "ghp_projectToken123")
    assert Project.objects.filter(github_token__isnull=False).get() == project


@pytest.mark.django_db
def test_it_refuses_lookups_that_could_only_be_wrong(keys, owner):
    with pytest.raises(FieldError, match="Unsupported lookup"):
        Project.objects.filter(webhook_secret=SECRET).exists()
    with pytest.raises(FieldError, match="Unsupported lookup"):
        Project.objects.filter(github_token__startswith="ghp").exists()


@pytest.mark.django_db
def test_dumps_hold_ciphertext_that_loads_back(keys, owner):
    project = ProjectFactory(owner=owner, webhook_secret=SECRET)

    dumped = serialize("json", [project])

    assert SECRET not in dumped and '"webhook_secret": "fernet:' in dumped
    [loaded] = deserialize("json", dumped)
    assert loaded.object.webhook_secret == SECRET


# --- the data migration and rotate_secrets -----------------------------------------------------


@pytest.mark.django_db
def test_the_migration_encrypts_plaintext_secrets_and_can_run_again(keys, owner, monkeypatch):
    plain = [ProjectFactory(owner=owner) for _ in range(3)]
    for number, project in enumerate(plain):
        store_raw(project, f"plain-secret-{number}")
    already = ProjectFactory(owner=owner, webhook_secret="encrypted-before")
    before = stored(already)
    none = ProjectFactory(owner=owner)
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches

    migration.encrypt_plaintext(apps, None)
    once = {project.pk: stored(project) for project in plain}
    migration.encrypt_plaintext(apps, None)

    assert {project.pk: stored(project) for project in plain} == once  # the second run wrote nothing
    for number, project in enumerate(plain):
        assert once[project.pk].startswith("fernet:")
        assert Project.objects.get(pk=project.pk).webhook_secret == f"plain-secret-{number}"
    assert stored(already) == before and stored(none) is None


@pytest.mark.django_db
def test_the_migration_reverses_to_plaintext(keys, owner):
    project = ProjectFactory(owner=owner, webhook_secret=SECRET)

    migration.decrypt_to_plaintext(apps, None)

    assert stored(project) == SECRET


@pytest.mark.django_db
def test_rotate_secrets_re_encrypts_everything_with_the_first_key(keys, owner, capsys):
    project = ProjectFactory(owner=owner)
    secret = project_webhook_secret_rotate(project=project)
    project_github_token_set(project=project, token="ghp_rotateMe")
    legacy = ProjectFactory(owner=owner)
    store_raw(legacy, "legacy-plaintext")
    keys(NEW, OLD)

    call_command("rotate_secrets")

    assert "Re-encrypted 3 secrets; 0 were already under the first key." in capsys.readouterr().out
    keys(NEW)  # the old key can go now
    project = Project.objects.get(pk=project.pk)
    assert (project.webhook_secret, project.github_token) == (secret, "ghp_rotateMe")
    assert Project.objects.get(pk=legacy.pk).webhook_secret == "legacy-plaintext"
    call_command("rotate_secrets")
    assert "Re-encrypted 0 secrets; 3 were already under the first key." in capsys.readouterr().out


@pytest.mark.django_db
def test_rotate_secrets_fails_loudly_on_secrets_no_key_decrypts(keys, owner, capsys):
    project = ProjectFactory(owner=owner, webhook_secret=SECRET)
    lost = stored(project)
    keys(NEW)

    with pytest.raises(CommandError, match="1 secrets cannot be decrypted"):
        call_command("rotate_secrets")

    assert stored(project) == lost  # left as it was, for when the key comes back


@pytest.mark.django_db
def test_rotate_secrets_re_encrypts_users_github_tokens_too(keys, owner, capsys):
    from django.db import connection

    from repositories.models import GithubConnection

    GithubConnection.objects.create(user=owner, login="owner", host="github.com", token="gho_rotateMe")
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM repositories_githubconnection")
        assert cursor.fetchone()[0].startswith("fernet:")  # encrypted at rest
    keys(NEW, OLD)

    call_command("rotate_secrets")

    assert "Re-encrypted 1 secrets" in capsys.readouterr().out
    keys(NEW)
    assert GithubConnection.objects.get().token == "gho_rotateMe"
