/* nyxsync live progress: pages and the admin follow sync runs over Server-Sent Events.

   A page renders the runs it read and, in data-event-id, the stream position it read just
   before them; the stream starts from that position, so no event falls between the render and
   the connection. When the connection drops and comes back (server restart, network), the
   browser resumes with Last-Event-ID and the page also re-reads the true state from
   data-state-url. Every state carries its stream position: an event at or before the position
   of what a panel shows is old news and is ignored, so the page never goes back to a stale
   state.

   Markup (all optional but the stream root):
     [data-live-stream]       data-stream-url, data-event-id, data-state-url
     [data-live-status]       text and data-state: connecting | live | reconnecting | stopped
     #live-initial            JSON list of the rendered runs' events
     [data-live-sync="<uuid>"]  follows the current run of a branch
     [data-live-run="<uuid>"]   follows one run
       inside them: [data-field=...], [data-show-when=active|finished|failed|run],
       form[data-cancel-form][data-action-template] (its action follows the run)
     form[data-live-action]   posted with fetch; the JSON answer's run is shown at once;
                              its [data-action-message] note clears once the run moves on
     [data-live-region="<name>"]  server-rendered parts (run history, the admin's run list):
                              when a run they do not show yet appears, or one changes status,
                              the page is re-read and the region replaced, so it reads as a
                              reload would (data-region-run="<uuid>": only that run counts)
     [data-dismiss-on-run]    one-time banners ("Press Sync"), removed once a run is under way
*/
(function () {
  "use strict";

  var LABELS = { up_to_date: "Up to date", reembed: "Re-embed", page: "Web page", api: "API" };
  var OK = { succeeded: true, up_to_date: true };
  var PLACEHOLDER = "00000000-0000-0000-0000-000000000000";
  var RETRY_MS = 1000;
  var RETRY_MAX_MS = 15000;

  function label(value) {
    if (!value) return "";
    return LABELS[value] || value.charAt(0).toUpperCase() + value.slice(1).replace(/_/g, " ");
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }

  // "project-a:5,project-b:7" -> {"project-a": 5, "project-b": 7}
  function positions(eventId) {
    var out = {};
    if (!eventId || eventId === "error") return out;
    eventId.split(",").forEach(function (part) {
      var at = part.lastIndexOf(":");
      if (at > 0) out[decodeURIComponent(part.slice(0, at))] = parseInt(part.slice(at + 1), 10);
    });
    return out;
  }

  // A run's status only moves forward: queued, running, finished. (Phases need no order: the
  // events of one stream arrive in the order they were sent.)
  function rank(ev) {
    return ev.finished ? 2 : ev.status === "running" ? 1 : 0;
  }

  function result(ev) {
    var commit = (ev.commit || "").slice(0, 12);
    switch (ev.status) {
      case "succeeded":
        return "Synced " + commit + ": " + ev.files_changed + " files changed, " + ev.files_skipped + " skipped; " +
          ev.chunks_embedded + " chunks embedded, " + ev.chunks_reused + " reused.";
      case "up_to_date":
        return "Already up to date at " + commit + ".";
      case "failed":
        return "Failed during " + (ev.error_phase || "the run") + ": " + ev.error;
      case "cancelled":
        return ev.error_phase ? "Cancelled during " + ev.error_phase + "." : "Cancelled before it started.";
    }
    return "";
  }

  function count(value) { return Number(value).toLocaleString("en-US"); }

  // The same line as syncs.views.run_status_line.
  function statusLine(ev) {
    if (ev.finished) return result(ev);
    if (ev.status === "queued") return "Queued: waiting for a worker.";
    return "Running: phase " + label(ev.phase) + (ev.total ? ", " + count(ev.done) + " / " + count(ev.total) : "") + ".";
  }

  var FIELDS = {
    status: function (node, ev) {
      node.textContent = label(ev.status);
      node.className = node.className.replace(/\bstatus-\S+/g, "").trim() + " status-" + ev.status;
    },
    status_line: function (node, ev) {
      node.textContent = statusLine(ev);
      node.classList.toggle("error-text", ev.status === "failed");
    },
    // While the embed phase runs, its progress is the count of chunks embedded so far.
    chunks_embedded: function (node, ev) {
      node.textContent = String(!ev.finished && ev.phase === "embed" ? ev.done : ev.chunks_embedded);
    },
    phase: function (node, ev) { node.textContent = label(ev.phase); },
    trigger: function (node, ev) { node.textContent = label(ev.trigger); },
    bar: function (node, ev) {
      var value = ev.finished ? (OK[ev.status] ? 100 : ev.percent || 0) : ev.percent;
      if (value === null || value === undefined) node.removeAttribute("value");
      else node.value = value;
    },
    progress: function (node, ev) { node.textContent = ev.total ? ev.done + " / " + ev.total : "—"; },
    percent: function (node, ev) { node.textContent = ev.percent === null ? "" : ev.percent + "%"; },
    rate: function (node, ev) { node.textContent = ev.rate && !ev.finished ? ev.rate + "/s" : "—"; },
    eta: function (node, ev) {
      node.textContent = ev.eta_seconds !== null && !ev.finished ? "~" + duration(ev.eta_seconds) : "—";
    },
    summary: function (node, ev) {
      node.textContent = ev.finished ? label(ev.status)
        : label(ev.phase) + (ev.percent === null ? "" : " " + ev.percent + "%");
    },
    commit: function (node, ev) { node.textContent = (ev.commit || "").slice(0, 12); },
    live_commit: function (node, ev) {
      if (OK[ev.status] && ev.commit) node.textContent = ev.commit.slice(0, 12);
    },
    result: function (node, ev) { node.textContent = result(ev); },
    error: function (node, ev) { node.textContent = ev.error; },
    error_phase: function (node, ev) { node.textContent = label(ev.error_phase); },
    when: function (node, ev, switched) { if (switched) node.textContent = "just now"; },
    synced: function (node, ev) {
      if (ev.status === "succeeded") { node.textContent = "synced just now"; node.hidden = false; }
    }
  };
  ["files_seen", "files_changed", "files_deleted", "files_skipped", "chunks_reused",
    "chunks_deleted", "done", "total"].forEach(function (name) {
    FIELDS[name] = function (node, ev) { node.textContent = String(ev[name]); };
  });

  function render(el, ev) {
    var switched = el.getAttribute("data-run") !== ev.run;
    // A button's note ("Sync queued.") holds only until the run it spoke of moves on.
    if (switched || el.getAttribute("data-status") !== ev.status) {
      el.querySelectorAll("[data-action-message]").forEach(function (node) {
        if (node.getAttribute("data-note-status") !== ev.status || node.getAttribute("data-note-run") !== ev.run) node.textContent = "";
      });
    }
    el.setAttribute("data-run", ev.run);
    el.setAttribute("data-status", ev.status);
    // The steps this element has shown, in order (tests and curious people read it).
    var seen = switched ? [] : (el.getAttribute("data-seen") || "").split(" ").filter(Boolean);
    var step = ev.finished ? ev.status : ev.phase;
    if (seen[seen.length - 1] !== step) seen.push(step);
    el.setAttribute("data-seen", seen.join(" "));
    el.querySelectorAll("[data-field]").forEach(function (node) {
      var fill = FIELDS[node.getAttribute("data-field")];
      if (fill) fill(node, ev, switched);
    });
    el.querySelectorAll("[data-show-when]").forEach(function (node) {
      var when = node.getAttribute("data-show-when");
      var show = when === "active" ? !ev.finished : when === "finished" ? ev.finished
        : when === "failed" ? ev.status === "failed" : true;
      node.hidden = !show;
    });
    el.querySelectorAll("form[data-cancel-form]").forEach(function (form) {
      form.action = form.getAttribute("data-action-template").replace(PLACEHOLDER, ev.run);
    });
  }

  function each(selector, fn) {
    document.querySelectorAll(selector).forEach(fn);
  }

  function Live(root) {
    this.streamUrl = root.getAttribute("data-stream-url");
    this.stateUrl = root.getAttribute("data-state-url");
    this.lastId = root.getAttribute("data-event-id") || "";
    this.floor = positions(this.lastId); // channel -> position covered by the state shown
    this.bySync = {}; // sync uuid -> {ev, pos}
    this.byRun = {}; // run uuid -> {ev, pos}
    this.opened = false;
    this.asked = {}; // "run:status" -> the regions were re-read for it
    this.refreshing = false;
    this.refreshAgain = false;
    this.retry = RETRY_MS;
    this.source = null;
    var initial = document.getElementById("live-initial");
    var self = this;
    if (initial) {
      JSON.parse(initial.textContent).forEach(function (ev) {
        self.show(ev, self.floor[self.channelOf(ev)], true);
      });
    }
    if (this.streamUrl && window.EventSource) this.connect();
  }

  Live.prototype.channelOf = function (ev) {
    var channels = Object.keys(this.floor);
    return channels.length === 1 ? channels[0] : "project-" + ev.project;
  };

  Live.prototype.setStatus = function (state, text) {
    each("[data-live-status]", function (node) {
      node.setAttribute("data-state", state);
      node.textContent = text || state;
    });
  };

  Live.prototype.connect = function () {
    var self = this;
    var url = this.streamUrl;
    if (this.lastId) url += (url.indexOf("?") < 0 ? "?" : "&") + "lastEventId=" + encodeURIComponent(this.lastId);
    var source = this.source = new EventSource(url);
    source.addEventListener("open", function () {
      self.retry = RETRY_MS;
      self.setStatus("live");
      // A reconnection: events may have been missed, or the server lost them; read the truth.
      if (self.opened) self.refetch();
      self.opened = true;
    });
    source.addEventListener("run", function (message) { self.onRun(message); });
    source.addEventListener("stream-reset", function (message) {
      if (message.lastEventId) self.lastId = message.lastEventId;
      self.refetch();
    });
    source.addEventListener("stream-error", function (message) {
      var text = "stopped";
      try { text = "stopped: " + JSON.parse(message.data).text; } catch (e) { /* keep the short text */ }
      source.close();
      self.setStatus("stopped", text);
    });
    source.addEventListener("error", function () {
      if (source !== self.source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error answer, or a failed reconnection): try again ourselves.
        self.setStatus("reconnecting", "reconnecting…");
        setTimeout(function () { if (self.source === source) self.connect(); }, self.retry);
        self.retry = Math.min(self.retry * 2, RETRY_MAX_MS);
      } else {
        self.setStatus("reconnecting", "reconnecting…");
      }
    });
  };

  Live.prototype.onRun = function (message) {
    if (message.lastEventId) this.lastId = message.lastEventId;
    var ev;
    try { ev = JSON.parse(message.data); } catch (e) { return; }
    var channel = this.channelOf(ev);
    var pos = positions(message.lastEventId)[channel];
    if (pos !== undefined && this.floor[channel] !== undefined && pos <= this.floor[channel]) return;
    this.show(ev, pos, false);
  };

  Live.prototype.refetch = function () {
    if (!this.stateUrl) return;
    var self = this;
    fetch(this.stateUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("state " + response.status);
        return response.json();
      })
      .then(function (state) {
        var at = positions(state.event_id);
        Object.keys(at).forEach(function (channel) {
          self.floor[channel] = Math.max(self.floor[channel] || 0, at[channel]);
        });
        state.runs.forEach(function (ev) { self.show(ev, at[self.channelOf(ev)], true); });
      })
      .catch(function () { /* the next reconnection tries again */ });
  };

  // Whether a panel showing `current` should move to `ev`, an event of the stream (`pos` known)
  // or the answer to a button (no position: it may be older than what the stream has shown).
  function follows(current, ev, pos) {
    if (!current) return true;
    if (current.run === ev.run) return pos === undefined ? rank(ev) > rank(current) : rank(ev) >= rank(current);
    if (ev.finished) return false; // an older run ending while the panel follows a newer one
    if (current.finished) return true; // a new run
    return !(current.status === "running" && ev.status === "queued"); // keep the running one
  }

  // `snapshot`: a state read at stream position `pos` (render or refetch): it wins over what a
  // panel shows unless the panel already shows a later event.
  Live.prototype.show = function (ev, pos, snapshot) {
    if (!snapshot) each("[data-dismiss-on-run]", function (node) { node.remove(); });
    this.checkRegions(ev);
    var shown = this.bySync[ev.sync];
    var take = snapshot ? !shown || shown.pos === undefined || pos === undefined || shown.pos <= pos
      : follows(shown && shown.ev, ev, pos);
    if (take) {
      this.bySync[ev.sync] = { ev: ev, pos: pos === undefined && shown ? shown.pos : pos };
      each('[data-live-sync="' + CSS.escape(ev.sync) + '"]', function (el) { render(el, ev); });
    }
    var known = this.byRun[ev.run];
    take = snapshot ? !known || known.pos === undefined || pos === undefined || known.pos <= pos
      : !known || (pos === undefined ? rank(ev) > rank(known.ev) : rank(ev) >= rank(known.ev));
    if (take) {
      this.byRun[ev.run] = { ev: ev, pos: pos === undefined && known ? known.pos : pos };
      each('[data-live-run="' + CSS.escape(ev.run) + '"]', function (el) { render(el, ev); });
    }
  };

  // A region is stale when it lacks the run or shows it in another status. Each (run, status)
  // asks once: a filtered admin list that will never show a run does not re-read forever.
  Live.prototype.checkRegions = function (ev) {
    var key = ev.run + ":" + ev.status;
    if (this.asked[key]) return;
    var stale = false;
    each("[data-live-region]", function (region) {
      var only = region.getAttribute("data-region-run"); // a region about one run (the admin's run page)
      if (only && only !== ev.run) return;
      var row = region.querySelector('[data-run="' + CSS.escape(ev.run) + '"]');
      if (!row || row.getAttribute("data-status") !== ev.status) stale = true;
    });
    if (!stale) return;
    this.asked[key] = true;
    this.refreshRegions();
  };

  // Re-read the page and replace its regions; one read at a time, one more if asked meanwhile.
  Live.prototype.refreshRegions = function () {
    if (this.refreshing) { this.refreshAgain = true; return; }
    this.refreshing = true;
    var self = this;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("page " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var root = doc.querySelector("[data-live-stream]");
        var at = positions(root && root.getAttribute("data-event-id"));
        if (root && root.getAttribute("data-state-url")) self.stateUrl = root.getAttribute("data-state-url");
        each("[data-live-region]", function (region) {
          // A list with rows ticked for an action is left alone: the operator is choosing.
          if (region.querySelector("input[type=checkbox]:checked")) return;
          var name = region.getAttribute("data-live-region");
          var fresh = doc.querySelector('[data-live-region="' + CSS.escape(name) + '"]');
          if (!fresh) return;
          fresh = document.importNode(fresh, true);
          // The steps a panel has shown (data-seen) are the page's own memory: keep them.
          region.querySelectorAll("[data-seen]").forEach(function (old) {
            var key = old.hasAttribute("data-live-run") ? "data-live-run" : "data-live-sync";
            var same = fresh.querySelector("[" + key + '="' + CSS.escape(old.getAttribute(key) || "") + '"]');
            if (same && same.getAttribute("data-run") === old.getAttribute("data-run")) same.setAttribute("data-seen", old.getAttribute("data-seen"));
          });
          region.replaceWith(fresh);
          // The page was read at `at`; what the stream showed after that still wins.
          Object.keys(self.byRun).forEach(function (run) {
            var known = self.byRun[run];
            var floor = at[self.channelOf(known.ev)];
            if (known.pos !== undefined && floor !== undefined && known.pos <= floor) return;
            fresh.querySelectorAll('[data-live-run="' + CSS.escape(run) + '"]').forEach(function (el) { render(el, known.ev); });
          });
        });
      })
      .then(function () { document.dispatchEvent(new CustomEvent("nyxsync:regions")); })
      .catch(function () { /* the next change asks again */ })
      .then(function () {
        self.refreshing = false;
        if (self.refreshAgain) { self.refreshAgain = false; self.refreshRegions(); }
      });
  };

  // Sync and Cancel without leaving the page; without this script the forms post and redirect.
  function actions(live) {
    document.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-live-action]");
      if (!form || !window.fetch) return;
      event.preventDefault();
      var button = form.querySelector("button");
      var note = form.parentElement.querySelector("[data-action-message]");
      if (button) button.disabled = true;
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { Accept: "application/json" }
      })
        .then(function (response) {
          return response.json().then(function (data) { return { ok: response.ok, data: data }; });
        })
        .then(function (answer) {
          if (note) {
            note.textContent = answer.ok ? answer.data.message : answer.data.error || "Refused.";
            note.setAttribute("data-note-run", answer.data.run ? answer.data.run.run : "");
            note.setAttribute("data-note-status", answer.data.run ? answer.data.run.status : "");
          }
          if (answer.data.run && live) live.show(answer.data.run, undefined, false);
        })
        .catch(function () { if (note) note.textContent = "The request failed; try again."; })
        .then(function () { if (button) button.disabled = false; });
    });
  }

  function start() {
    var root = document.querySelector("[data-live-stream]");
    var live = root ? new Live(root) : null;
    window.nyxsyncLive = live;
    actions(live);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
