"""Production settings (nyxsync.settings.production), in a subprocess with the environment a real
deployment sets and nothing else: `check --deploy` passes, and a missing or malformed secret
stops the process with one readable line that does not show the secret."""

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

SECRET_KEY = "k" * 10 + "-production-secret-key-with-enough-entropy-0123456789"
KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]


@pytest.fixture
def deployment(tmp_path):
    """The environment of a deployment: its settings module, secrets, database and Redis (which
    nothing here connects to), host and proxy; NYXSYNC_HOME empty, to see nothing is made there."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "NYXSYNC_HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "nyxsync.settings.production",
        "SECRET_KEY": SECRET_KEY,
        "NYXSYNC_ENCRYPTION_KEYS": ",".join(KEYS),
        "DATABASE_URL": "postgres://nyxsync:password@db.invalid:5432/nyxsync",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        "ALLOWED_HOSTS": "nyxsync.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://nyxsync.example.com",
        "BEHIND_TLS_PROXY": "true",
    }


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_deploy_check_passes_with_production_settings(deployment):
    result = manage(deployment, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert not any(os.scandir(deployment["NYXSYNC_HOME"]))  # no key made on the machine


def test_production_settings_are_https_only(deployment):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.NYXSYNC_ENCRYPTION_KEYS == " + repr(KEYS) + ")"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=deployment, capture_output=True, text=True, timeout=60)

    assert result.stdout.split() == ["False", "True", "True", "True", "True", "True"], result.stderr


def test_keys_may_come_from_a_file(deployment, tmp_path):
    path = tmp_path / "keys"
    path.write_text("\n".join(KEYS) + "\n")
    env = {**deployment, "NYXSYNC_ENCRYPTION_KEYS_FILE": str(path)}
    del env["NYXSYNC_ENCRYPTION_KEYS"]

    assert manage(env, "check", "--deploy", "--fail-level", "WARNING").returncode == 0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"SECRET_KEY": None}, "SECRET_KEY (or SECRET_KEY_FILE) must be set in production"),
        ({"NYXSYNC_ENCRYPTION_KEYS": None}, "NYXSYNC_ENCRYPTION_KEYS (or NYXSYNC_ENCRYPTION_KEYS_FILE) must be set in production"),
        ({"NYXSYNC_ENCRYPTION_KEYS": f"{KEYS[0]},s3cr3t-not-a-key"}, "NYXSYNC_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key"),
        ({"NYXSYNC_ENCRYPTION_KEYS": None, "NYXSYNC_ENCRYPTION_KEYS_FILE": "/nonexistent/keys"}, "NYXSYNC_ENCRYPTION_KEYS_FILE: cannot read /nonexistent/keys"),
    ],
)
def test_it_refuses_to_start_without_its_secrets(deployment, change, message):
    env = {**deployment, **{name: value for name, value in change.items() if value is not None}}
    for name in [name for name, value in change.items() if value is None]:
        del env[name]

    result = manage(env, "check")

    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr and KEYS[0] not in result.stdout + result.stderr
