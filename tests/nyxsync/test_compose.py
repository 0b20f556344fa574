"""docker-compose.yml, checked without a Docker engine: its shape, its secrets (none), and that
every command it runs exists in this project."""

import importlib
import re
import shlex

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

COMPOSE = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "beat"]


def test_it_has_the_production_shape():
    assert set(SERVICES) == {"db", "redis", "migrate", "web", "worker", "beat"}
    assert SERVICES["db"]["image"].startswith("pgvector/pgvector:")
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    for name in ("db", "redis", "web", "worker", "beat"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert int(SERVICES["worker"]["deploy"]["replicas"].split(":-")[1].rstrip("}")) >= 2


def test_configuration_comes_only_from_the_environment():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|_KEY", key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", str(value)), f"{name}.{key} is written in the file"
            assert "://" not in str(value) or "${" in str(value) or key in ("REDIS_URL", "GITHUB_API_URL", "OPENAI_BASE_URL"), key


def commands():
    for name in APP_SERVICES:
        yield name, SERVICES[name]["command"]
        test = SERVICES[name].get("healthcheck", {}).get("test")
        if test and test[0] == "CMD":
            yield f"{name} healthcheck", test[1:]


@pytest.mark.parametrize(("where", "command"), list(commands()))
def test_every_command_it_runs_exists(where, command):
    if command[:2] == ["python", "manage.py"]:
        assert command[2] in get_commands(), where
    elif command[:2] == ["python", "-m"]:
        module = importlib.import_module(command[2])
        assert command[3] in module.CHECKS, where
    elif command[0] == "uvicorn":
        module, attribute = command[1].split(":")
        assert callable(getattr(importlib.import_module(module), attribute)), where
    elif command[0] == "celery":
        assert command[1:3] == ["-A", "nyxsync"] and command[3] in ("worker", "beat"), where
        assert importlib.import_module("nyxsync.celery").app.main == "nyxsync"
    else:
        pytest.fail(f"{where}: unknown command {command}")


def test_the_app_connects_under_row_level_security_and_migrations_as_the_owner():
    env = COMPOSE["x-app"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://nyxsync_app:")
    assert env["MIGRATION_DATABASE_URL"].startswith("postgres://nyxsync:")
    init = (settings.BASE_DIR / "deploy/postgres/01-app-role.sh").read_text()
    assert "CREATE ROLE nyxsync_app LOGIN NOSUPERUSER NOBYPASSRLS" in init
    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in SERVICES["db"]["volumes"]


def test_the_migrate_service_runs_the_guarded_migrate():
    assert SERVICES["migrate"]["command"][:3] == ["python", "manage.py", "migrate"]
    assert get_commands()["migrate"] == "embeddings"  # our guarded command, not Django's


def test_the_image_installs_the_cpu_torch_and_runs_the_asgi_server():
    dockerfile = (settings.BASE_DIR / "Dockerfile").read_text()
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in dockerfile
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    assert yaml.safe_load(cmd)[:2] == ["uvicorn", "nyxsync.asgi:application"]
    assert "USER nyxsync" in dockerfile
    assert shlex.split("python manage.py collectstatic --no-input")[2] in get_commands()
