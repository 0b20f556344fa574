"""live.js's rules, in Chromium with a scripted EventSource and fetch (no server): a page resumes
from the position it rendered, re-reads the state when it reconnects, and never goes back to a
stale state, whatever order catch-up events and re-read states arrive in."""

from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.browser

LIVE_JS = Path(settings.BASE_DIR) / "nyxsync/static/nyxsync/js/live.js"
PROJECT, SYNC, R1, R2 = "p0", "s0", "r1", "r2"
CHANNEL = f"project-{PROJECT}"

FAKES = """
window.sources = [];
window.fetchCalls = [];
window.fetchAnswers = [];
class FakeEventSource {
  constructor(url) { this.url = url; this.readyState = 0; this.listeners = {}; window.sources.push(this); }
  addEventListener(type, listener) { (this.listeners[type] = this.listeners[type] || []).push(listener); }
  close() { this.readyState = 2; }
  emit(type, data, id) {
    (this.listeners[type] || []).forEach(listener => listener({ type, data: data === undefined ? "" : JSON.stringify(data), lastEventId: id || "" }));
  }
}
FakeEventSource.CLOSED = 2;
window.EventSource = FakeEventSource;
window.fetch = (url, options) => {
  window.fetchCalls.push(url);
  const body = window.fetchAnswers.shift();
  return Promise.resolve({ ok: true, json: () => Promise.resolve(body) });
};
"""


def event(run, status, phase, *, done=0, total=0, commit="", error="", error_phase=""):
    finished = status not in ("queued", "running")
    return {
        "run": run, "project": PROJECT, "sync": SYNC, "branch": "main", "trigger": "page", "status": status, "phase": phase,
        "finished": finished, "done": done, "total": total, "percent": round(100 * done / total, 1) if total else None,
        "rate": None, "eta_seconds": None, "commit": commit, "files_seen": 2, "files_changed": 2, "files_deleted": 0,
        "files_skipped": 0, "skipped_by_reason": {}, "chunks_embedded": 2, "chunks_reused": 0, "chunks_deleted": 0,
        "error": error, "error_phase": error_phase,
    }


@pytest.fixture
def page(browser):
    import json

    page = browser.new_page()
    initial = json.dumps([event(R1, "running", "fetch")])
    page.set_content(f"""
      <p data-live-stream data-stream-url="/events/projects/?project={PROJECT}" data-state-url="/state" data-event-id="{CHANNEL}:5">
        <span data-live-status></span></p>
      <script type="application/json" id="live-initial">{initial}</script>
      <section data-live-sync="{SYNC}" data-run="{R1}">
        <span data-field="status"></span> <span data-field="phase"></span> <span data-field="progress"></span>
        <progress data-field="bar" max="100"></progress> <p data-field="result"></p>
        <form data-cancel-form data-show-when="active" data-action-template="/runs/00000000-0000-0000-0000-000000000000/cancel/"></form>
      </section>""")
    page.add_script_tag(content=FAKES)
    page.add_script_tag(path=str(LIVE_JS))
    yield page
    page.close()


def emit(page, kind, data=None, position=None, source=-1):
    page.evaluate(
        "([source, kind, data, id]) => window.sources.at(source).emit(kind, data, id)",
        [source, kind, data, f"{CHANNEL}:{position}" if position is not None else ""],
    )


def shown(page) -> tuple[str, str, str]:
    panel = page.locator(f'[data-live-sync="{SYNC}"]')
    return panel.get_attribute("data-run"), panel.get_attribute("data-status"), panel.locator("[data-field=phase]").inner_text()


def reconnect_with_state(page, state_position, runs):
    """The connection comes back; the page re-reads the state (answered with `runs`)."""
    page.evaluate("answer => window.fetchAnswers.push(answer)", {"event_id": f"{CHANNEL}:{state_position}", "runs": runs})
    calls = page.evaluate("window.fetchCalls.length")
    emit(page, "open")
    page.wait_for_function(f"window.fetchCalls.length > {calls}")
    page.wait_for_timeout(50)  # let the answer's promise settle


def test_it_resumes_from_the_rendered_position(page):
    assert page.evaluate("window.sources.map(s => s.url)") == [f"/events/projects/?project={PROJECT}&lastEventId={CHANNEL}%3A5"]
    assert shown(page) == (R1, "running", "Fetch")
    emit(page, "open")
    assert page.evaluate("window.fetchCalls") == []  # the first connection needs no re-read


def test_a_reconnection_rereads_the_state_and_ignores_older_catch_up_events(page):
    emit(page, "open")
    emit(page, "run", event(R1, "running", "embed", done=1, total=2), 6)
    assert shown(page) == (R1, "running", "Embed")

    reconnect_with_state(page, 9, [event(R1, "succeeded", "done", commit="c" * 40)])
    assert shown(page)[:2] == (R1, "succeeded")
    assert page.locator("[data-field=result]").inner_text().startswith("Synced cccccccccccc")
    assert page.locator("form[data-cancel-form]").evaluate("form => form.hidden")

    emit(page, "run", event(R1, "running", "write", done=2, total=2), 7)  # replayed, older than the state read
    assert shown(page)[:2] == (R1, "succeeded")


def test_a_state_read_before_newer_events_does_not_undo_them(page):
    emit(page, "open")
    page.evaluate("answer => window.fetchAnswers.push(answer)", {"event_id": f"{CHANNEL}:6", "runs": [event(R1, "running", "fetch")]})
    emit(page, "open")  # reconnection: a re-read starts...
    emit(page, "run", event(R1, "succeeded", "done"), 8)  # ...and a newer event arrives before its answer
    page.wait_for_timeout(50)
    assert shown(page)[:2] == (R1, "succeeded")


def test_a_panel_follows_the_newest_run_and_ignores_an_older_one_ending(page):
    emit(page, "open")
    emit(page, "run", event(R1, "succeeded", "done"), 6)
    emit(page, "run", event(R2, "queued", "queued"), 7)
    assert shown(page)[:2] == (R2, "queued")
    form = page.locator("form[data-cancel-form]")
    assert form.get_attribute("action").endswith(f"/runs/{R2}/cancel/") and not form.evaluate("form => form.hidden")
    emit(page, "run", event(R1, "failed", "fetch", error="lost"), 8)  # e.g. an old run marked lost
    assert shown(page)[:2] == (R2, "queued")
    emit(page, "run", event(R2, "running", "diff"), 9)
    assert shown(page) == (R2, "running", "Diff")


def test_a_running_run_is_not_hidden_by_the_next_one_waiting(page):
    emit(page, "open")
    emit(page, "run", event(R2, "queued", "queued"), 6)  # a second trigger while R1 runs
    assert shown(page) == (R1, "running", "Fetch")
    emit(page, "run", event(R1, "succeeded", "done"), 7)
    emit(page, "run", event(R2, "running", "fetch"), 8)
    assert shown(page) == (R2, "running", "Fetch")


def test_a_lost_position_makes_the_page_reread_the_state(page):
    emit(page, "open")
    page.evaluate("answer => window.fetchAnswers.push(answer)", {"event_id": f"{CHANNEL}:40", "runs": [event(R1, "cancelled", "embed", error_phase="embed")]})
    emit(page, "stream-reset", {"channels": [CHANNEL]}, 40)
    page.wait_for_function("window.fetchCalls.length === 1")
    page.wait_for_timeout(50)
    assert shown(page)[:2] == (R1, "cancelled")
    assert page.locator("[data-field=result]").inner_text() == "Cancelled during embed."


def test_a_closed_stream_is_reopened_from_the_last_event(page):
    emit(page, "open")
    emit(page, "run", event(R1, "running", "chunk", done=1, total=4), 12)
    page.evaluate("window.sources.at(-1).readyState = 2")
    emit(page, "error")
    assert page.locator("[data-live-status]").get_attribute("data-state") == "reconnecting"
    page.wait_for_function("window.sources.length === 2", timeout=5000)
    assert page.evaluate("window.sources[1].url") == f"/events/projects/?project={PROJECT}&lastEventId={CHANNEL}%3A12"


def test_a_refused_stream_stops(page):
    emit(page, "stream-error", {"condition": "forbidden", "text": "Permission denied"})
    status = page.locator("[data-live-status]")
    assert status.get_attribute("data-state") == "stopped" and "Permission denied" in status.inner_text()
    assert page.evaluate("window.sources[0].readyState") == 2


def test_a_buttons_answer_never_undoes_what_the_stream_showed(page):
    emit(page, "open")
    emit(page, "run", event(R2, "running", "embed", done=1, total=3), 6)
    page.evaluate("ev => window.nyxsyncLive.show(ev, undefined, false)", event(R2, "queued", "queued"))
    assert shown(page) == (R2, "running", "Embed")


@pytest.fixture
def panel_page(browser):
    """A branch section as the project page renders it: status line, counters, a button note and
    a one-time banner."""
    page = browser.new_page()
    page.set_content(f"""
      <ul><li data-dismiss-on-run>Linked. Press Sync to embed it.</li></ul>
      <p data-live-stream data-stream-url="/events/projects/?project={PROJECT}" data-event-id="{CHANNEL}:5"><span data-live-status></span></p>
      <script type="application/json" id="live-initial">[]</script>
      <section data-live-sync="{SYNC}">
        <span data-action-message>Sync queued.</span>
        <span data-field="status"></span> <span data-field="status_line"></span>
        <dd data-field="chunks_embedded">0</dd> <dd data-field="chunks_reused">0</dd>
      </section>""")
    page.add_script_tag(content=FAKES)
    page.add_script_tag(path=str(LIVE_JS))
    yield page
    page.close()


def test_the_status_line_and_counters_follow_the_run(panel_page):
    page = panel_page
    section = page.locator(f'[data-live-sync="{SYNC}"]')
    page.evaluate(
        "run => { const note = document.querySelector('[data-action-message]');"
        " note.setAttribute('data-note-run', run); note.setAttribute('data-note-status', 'queued'); }", R1
    )
    emit(page, "run", event(R1, "queued", "queued"), 6)
    assert section.locator("[data-field=status_line]").inner_text() == "Queued: waiting for a worker."
    assert section.locator("[data-action-message]").inner_text() == "Sync queued."  # still true
    assert page.locator("[data-dismiss-on-run]").count() == 0  # a run is under way: the banner went

    emit(page, "run", event(R1, "running", "embed", done=128, total=1794), 7)
    assert section.locator("[data-field=status_line]").inner_text() == "Running: phase Embed, 128 / 1,794."
    assert section.locator("[data-field=chunks_embedded]").inner_text() == "128"  # moves with the phase
    assert section.locator("[data-action-message]").inner_text() == ""  # "Sync queued." is no longer true

    emit(page, "run", event(R1, "failed", "fetch", error="repository not found", error_phase="fetch"), 8)
    line = section.locator("[data-field=status_line]")
    assert line.inner_text() == "Failed during fetch: repository not found"
    assert "error-text" in line.get_attribute("class")
    assert section.locator("[data-field=chunks_embedded]").inner_text() == "2"  # the run's own count once finished
