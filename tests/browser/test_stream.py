"""The events a Celery worker publishes (in its own process, through Redis) reach an SSE client
of the ASGI server: a real streaming HTTP client, reading the stream as it comes."""

import json
import queue
import threading

import httpx
import pytest
from django.test import Client
from django_eventstream.models import Event

from syncs import services
from syncs.models import SyncRun

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.usefixtures("as_system")]
SECRET = "TOP-SECRET-FILE-CONTENT-7f3a"


def read_events(response, into: queue.Queue) -> None:
    """Parse the SSE stream into (event, id, data) tuples, as a browser's EventSource would."""
    event, event_id, data = "message", None, []
    try:
        for line in response.iter_lines():
            if line == "":
                if data:
                    into.put((event, event_id, "\n".join(data)))
                event, event_id, data = "message", None, []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
    except httpx.HTTPError:
        pass  # closed by the test


def test_worker_events_reach_an_sse_client_of_the_asgi_server(web, transactional_db, celery_worker, owner, make_repo, fast_model):
    repo = make_repo()
    repo.write("app/secret.py", f"KEY = '{SECRET}'\n").write("app/other.py", "def other():\n    return 1\n").commit()
    sync = services.project_link(owner=owner, repository=repo.url, branch="main")
    browserless = Client()
    browserless.force_login(owner)
    cookies = {"sessionid": browserless.cookies["sessionid"].value}
    events: queue.Queue = queue.Queue()

    with httpx.Client(base_url=web.url, cookies=cookies, timeout=httpx.Timeout(30)) as http:
        with http.stream("GET", "/events/projects/", params={"project": str(sync.project.uuid)}) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            reader = threading.Thread(target=read_events, args=(response, events), daemon=True)
            reader.start()
            assert events.get(timeout=10)[0] == "stream-open"

            run, _ = services.sync_run_enqueue(project_sync=sync, trigger=SyncRun.Trigger.API, requested_by=owner)
            received = []
            while not received or not received[-1][2]["finished"]:
                kind, event_id, data = events.get(timeout=30)
                if kind == "run":
                    received.append((kind, event_id, json.loads(data)))
            response.close()

    payloads = [data for _, _, data in received]
    # Every event the run published reached the client, in order, each with its stream position
    # (what a reconnecting client sends back as Last-Event-ID).
    channel = f"project-{sync.project.uuid}"
    stored = Event.objects.filter(channel=channel, eid__gt=0).order_by("eid")
    assert [(event_id, data) for _, event_id, data in received] == [(f"{channel}:{e.eid}", json.loads(json.loads(e.data))) for e in stored]
    assert {data["run"] for data in payloads} == {str(run.uuid)}
    assert {"fetch", "diff", "chunk", "embed", "write", "swap"} <= {data["phase"] for data in payloads}
    assert (payloads[0]["status"], payloads[-1]["status"], payloads[-1]["phase"]) == ("queued", "succeeded", "done")
    assert (payloads[-1]["files_changed"], payloads[-1]["chunks_embedded"]) == (2, 2)
    # Counters and ids only: no file contents, no credentials.
    raw = json.dumps(payloads)
    assert SECRET not in raw and "KEY =" not in raw
    assert not {key for data in payloads for key in data} & {"text", "content", "token", "password", "secret", "repository_url"}
