"""The tools' behaviour, through the official SDK's client connected in process to the server that
/mcp/ and `manage.py mcp` serve (agents.server), acting for a given user: the text read_file
rebuilds, searches over several projects, names that are ambiguous, branches not searchable yet,
throttles shared with the REST API, and errors of one line."""

from types import SimpleNamespace

import anyio
import pytest
from mcp import Client
from rest_framework.test import APIClient

from agents.server import build_server
from projects.models import Membership
from syncs import services
from syncs.locks import project_sync_lock
from syncs.models import SyncRun
from syncs.pipeline import sync_run_execute
from tests.agents.conftest import BILLING, text_of, token_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]


def call(user, tool: str, arguments: dict):
    async def main():
        async with Client(build_server(caller=lambda: user)) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(main)


def error_of(user, tool: str, arguments: dict) -> str:
    result = call(user, tool, arguments)
    assert result.is_error, result.structured_content
    text = text_of(result)
    assert "\n" not in text and "Traceback" not in text
    return text.removeprefix(f"Error executing tool {tool}: ")


# --- read_file ----------------------------------------------------------------------------------


def test_read_file_gives_the_live_text_line_for_line(owner, world):
    whole = call(owner, "read_file", {"project": "mine", "branch": "main", "path": "billing.py"}).structured_content
    middle = call(owner, "read_file", {"project": "owner/mine", "branch": "main", "path": "billing.py", "start_line": 4, "end_line": 6})

    assert whole["text"] == BILLING.rstrip("\n")  # blank lines included, in place
    assert (whole["start_line"], whole["end_line"], whole["total_lines"], whole["truncated"]) == (1, 11, 11, False)
    assert (whole["commit"], whole["language"]) == (world["head"], "python")
    assert middle.structured_content["text"] == "\n".join(BILLING.split("\n")[3:6])
    assert middle.structured_content["end_line"] == 6


def test_read_file_rebuilds_a_line_longer_than_a_chunk_and_caps_long_reads(owner, make_repo, link, sync_now):
    long_line = "DATA = [" + ", ".join(str(number) for number in range(2000)) + "]"  # ~10,000 characters
    many = "\n".join(f"value_{number} = {number}" for number in range(2500)) + "\n"
    repo = make_repo()
    repo.write("data.py", f"import os\n\n{long_line}\nprint(DATA)\n").write("many.py", many).write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    repo.commit()
    sync_now(link(repo, name="data"))

    rebuilt = call(owner, "read_file", {"project": "data", "branch": "main", "path": "data.py"}).structured_content
    capped = call(owner, "read_file", {"project": "data", "branch": "main", "path": "many.py", "start_line": 2})

    assert rebuilt["text"] == f"import os\n\n{long_line}\nprint(DATA)"
    assert (capped.structured_content["start_line"], capped.structured_content["end_line"]) == (2, 2001)
    assert capped.structured_content["truncated"] and capped.structured_content["total_lines"] == 2500
    assert capped.structured_content["text"].split("\n")[0] == "value_1 = 1"
    assert error_of(owner, "read_file", {"project": "data", "branch": "main", "path": "logo.png"}) == (
        "'logo.png' is in owner/data@main but was not indexed (binary), so its text is not stored"
    )
    assert error_of(owner, "read_file", {"project": "data", "branch": "main", "path": "nope.py"}).startswith(
        "no file 'nope.py' in the live snapshot of owner/data@main"
    )
    assert error_of(owner, "read_file", {"project": "data", "branch": "main", "path": "data.py", "start_line": 9}) == (
        "'data.py' has 4 lines; start_line 9 is past its end"
    )
    assert error_of(owner, "read_file", {"project": "data", "branch": "dev", "path": "data.py"}) == (
        "owner/data has no synced branch 'dev' (its branches: main)"
    )


# --- search ---------------------------------------------------------------------------------------


def test_search_spans_several_projects_or_all_of_them(owner, world, make_repo, link, sync_now):
    other = make_repo()
    other.write("invoices/render.py", "def render_invoice_total(total):\n    return f'{total:.2f}'\n").commit()
    sync_now(link(other, name="other"))

    both = call(owner, "search_code", {"query": "invoice total", "project": ["mine", "owner/other"], "k": 10})
    everything = call(owner, "search_code", {"query": "invoice total", "k": 10})
    python_under_invoices = call(owner, "search_code", {"query": "invoice total", "path_glob": "invoices/**", "language": "python"})

    assert {hit["project"] for hit in both.structured_content["results"]} == {"owner/mine", "owner/other"}
    assert sorted(both.structured_content["searched"]) == ["owner/mine@main", "owner/other@main"]
    assert {hit["project"] for hit in everything.structured_content["results"]} == {"owner/mine", "owner/other"}
    assert {hit["path"] for hit in python_under_invoices.structured_content["results"]} == {"invoices/render.py"}
    assert error_of(owner, "search_code", {"query": "x", "project": ["mine", "ghost"]}) == (
        "no project 'ghost' among yours; list_projects shows them"
    )


def test_a_name_two_owners_share_is_refused_until_it_is_said_whose(owner, outsider, world, make_repo, link, sync_now):
    repo = make_repo()
    repo.write("mine.py", "def outsiders_mine():\n    pass\n").commit()
    theirs = link(repo, name="mine", user=outsider)
    sync_now(theirs)
    Membership.objects.create(project=theirs.project, user=owner, role=Membership.Role.VIEWER)

    assert error_of(owner, "sync_status", {"project": "mine"}) == (
        "'mine' names 2 projects: say which with one of outsider/mine, owner/mine"
    )
    status = call(owner, "sync_status", {"project": "outsider/mine"}).structured_content
    assert (status["project"], status["role"], status["branches"][0]["searchable"]) == ("outsider/mine", "viewer", True)
    by_uuid = call(owner, "sync_status", {"project": str(theirs.project.uuid)}).structured_content
    assert by_uuid["uuid"] == str(theirs.project.uuid)


def test_search_says_when_nothing_is_searchable_yet(owner, make_repo, link, fast_model):
    repo = make_repo()
    repo.write("app.py", "print('hi')\n").commit()
    fresh = link(repo, name="fresh")

    never = error_of(owner, "search_code", {"query": "hi", "project": "fresh"})
    services.sync_run_enqueue(project_sync=fresh, trigger=SyncRun.Trigger.API, dispatch=False)
    waiting = error_of(owner, "search_code", {"query": "hi", "project": "fresh"})

    assert never == "nothing to search yet (owner/fresh@main: never synced); sync_status follows a sync, sync starts one"
    assert waiting.startswith("nothing to search yet (owner/fresh@main: first sync queued, queued 0/0)")


def test_search_and_sync_share_the_rest_apis_throttle_budget(owner, world, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "search": "2/minute", "sync_trigger": "1/minute"}}
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_of(owner)}")

    assert api.post("/api/v1/search/", {"query": "invoice"}, format="json").status_code == 200
    assert not call(owner, "search_code", {"query": "invoice"}).is_error
    throttled = error_of(owner, "search_code", {"query": "invoice"})
    assert not call(owner, "sync", {"project": "mine", "branch": "main", "wait": False}).is_error
    sync_throttled = error_of(owner, "sync", {"project": "mine", "branch": "main", "wait": False})

    assert throttled.startswith("too many requests: try again in ") and throttled.endswith(" s")
    assert sync_throttled.startswith("too many requests")
    assert api.post("/api/v1/search/", {"query": "invoice"}, format="json").status_code == 429


# --- sync, status, errors -------------------------------------------------------------------------


def test_sync_coalesces_into_the_waiting_run_and_status_shows_it(owner, world):
    # Holding the branch's lock as a running sync would: a worker that gets the task waits.
    with project_sync_lock(world["mine"].pk):
        first = call(owner, "sync", {"project": "mine", "branch": "main", "wait": False}).structured_content
        second = call(owner, "sync", {"project": "mine", "branch": "main", "wait": False}).structured_content
        status = call(owner, "sync_status", {"project": "mine", "branch": "main"}).structured_content
        queued = [str(run.uuid) for run in SyncRun.objects.filter(project_sync=world["mine"], status=SyncRun.Status.QUEUED)]

    assert (first["coalesced"], second["coalesced"]) == (False, True)
    assert first["run"]["run"] == second["run"]["run"] and first["run"]["status"] == "queued"
    assert first["waited_seconds"] == 0.0
    branch = status["branches"][0]
    assert branch["searchable"] and branch["live_commit"] == world["head"]
    assert branch["run"]["run"] == first["run"]["run"] and branch["run"]["trigger"] == "api"
    assert queued == [first["run"]["run"]]


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("search_code", {"query": "x", "k": 500}, "invalid arguments: k: 500 is greater than the maximum of 100"),
        ("search_code", {"query": ""}, "invalid arguments: query: '' should be non-empty"),
        ("read_file", {"project": "mine", "path": "a.py"}, "invalid arguments: 'branch' is a required property"),
        ("read_file", {"project": "mine", "branch": "main", "path": "a", "start_line": 0}, "invalid arguments: start_line: 0 is less than the minimum of 1"),
        ("search_code", {"query": "x", "path_glob": "a" * 300}, "the path filter is too long or holds control characters"),
        ("search_code", {"query": "x", "language": "Not A Language"}, "unknown language 'Not A Language'"),
    ],
)
def test_bad_arguments_get_one_line_saying_what_is_wrong(owner, world, tool, arguments, message):
    assert error_of(owner, tool, arguments) == message


def test_a_caller_that_is_no_longer_valid_is_refused(owner, world):
    assert error_of(None, "list_projects", {}) == "not authenticated: the API token was revoked or has expired, or the user is inactive"


def test_a_branch_whose_first_sync_failed_says_why(owner, git_daemon, link, fast_model, git_cache):
    missing = SimpleNamespace(url=git_daemon.url("does-not-exist"), name="broken")  # nothing served there
    broken = link(missing)
    run, _ = services.sync_run_enqueue(project_sync=broken, trigger=SyncRun.Trigger.COMMAND, dispatch=False)
    assert sync_run_execute(run.pk).status == SyncRun.Status.FAILED

    message = error_of(owner, "search_code", {"query": "x", "project": "broken"})

    assert message.startswith("nothing to search yet (owner/broken@main: its first sync failed in fetch: ")
