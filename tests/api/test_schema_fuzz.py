"""schemathesis against the generated OpenAPI schema, in process (WSGI), with a real token:
every operation, valid and invalid inputs, a bounded number of examples each. No response may
be a 5xx or disagree with the schema (status codes, content types, bodies, headers).

(schemathesis' own pytest loader does not run on pytest 9, so each operation is driven through
its Hypothesis strategy here; the checks are schemathesis' own, all of them.)"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from nyxsync.api import ApiSchemaGenerator
from projects.models import Project
from projects.services import project_webhook_secret_rotate
from syncs.models import ProjectSync, SyncRun
from tests.factories import api_key_for

pytestmark = pytest.mark.usefixtures("as_system")

MAX_EXAMPLES = 12
SCHEMA_URL = "/api/schema/?format=json"


def _cases() -> list[tuple[str, GenerationMode]]:
    """(operation, mode): valid inputs for every operation, invalid ones for those that take
    input besides the (fixed) path parameters."""
    paths = ApiSchemaGenerator().get_schema(request=None, public=True)["paths"]
    cases = []
    for path, item in paths.items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            cases.append((label, GenerationMode.POSITIVE))
            if "requestBody" in operation or any(p["in"] != "path" for p in operation.get("parameters", [])):
                cases.append((label, GenerationMode.NEGATIVE))
    return sorted(cases)


@pytest.fixture
def fuzz_target(db, owner, github_api, settings):
    """The schema as the app serves it, and real ids for its path parameters (random UUIDs would
    only ever find 404): the owner's project, branch and run."""
    # Generous rates: throttling has its own test; here it would only hide other answers.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"sync_trigger": "10000/minute", "search": "10000/minute", "branch_list": "10000/minute"},
    }
    project = Project.objects.create(owner=owner, name="fuzzed", repository="octo/fuzzed")
    project_sync = ProjectSync.objects.create(project=project, repository_url="https://github.com/octo/fuzzed.git", branch="main")
    project_webhook_secret_rotate(project=project)
    run = SyncRun.objects.create(project_sync=project_sync, trigger=SyncRun.Trigger.API, status=SyncRun.Status.SUCCEEDED)
    github_api.add_repo("octo/fuzzed", branches={"main": "a" * 40, "dev": "b" * 40})
    token = api_key_for(owner)
    # As django.test.Client does: the WSGI handler must not close the test's connection (and its
    # transaction) at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    config = SchemathesisConfig.from_dict({"headers": {"Authorization": f"Token {token}"}})
    schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, get_wsgi_application(), config=config)
    ids = {"project_uuid": str(project.uuid), "sync_uuid": str(project_sync.uuid), "run_uuid": str(run.uuid)}
    yield schema, ids, {"Authorization": f"Token {token}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("label, mode", _cases(), ids=lambda value: getattr(value, "value", value))
def test_the_api_honours_its_schema(fuzz_target, label, mode):
    schema, ids, auth = fuzz_target
    operation = schema.find_operation_by_label(label)
    path_parameters = {name: value for name, value in ids.items() if f"{{{name}}}" in operation.path}
    strategy = operation.as_strategy(mode, path_parameters=path_parameters)

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def fuzz(case):
        # Every check but positive_data_acceptance: input rules a JSON schema cannot state (a
        # repository address, git's branch-name rules) rightly reject some schema-valid values.
        case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])

    fuzz()
