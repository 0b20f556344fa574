/* nyxsync dashboard: draws the runs table ([data-chart-source]) as two charts with uPlot (served
   from our own static files). The table stays the source and the page reads without script; the
   charts are drawn again when live.js replaces the dashboard region after a run.

   Rows: tr[data-n][data-duration][data-embedded][data-reused][data-failed?]
   Charts: [data-charts] with figure[data-chart=duration|chunks]; data-state: loading | drawn | error */
(function () {
  "use strict";

  var FAILED = "#c0392b";

  function rows(table) {
    return Array.prototype.map.call(table.querySelectorAll("tbody tr[data-n]"), function (tr) {
      var duration = tr.getAttribute("data-duration");
      return {
        n: Number(tr.getAttribute("data-n")),
        duration: duration === "" ? null : Number(duration),
        embedded: Number(tr.getAttribute("data-embedded")),
        reused: Number(tr.getAttribute("data-reused")),
        failed: tr.hasAttribute("data-failed")
      };
    });
  }

  function options(figure, series) {
    return {
      width: Math.max(280, Math.min(figure.parentElement.clientWidth || 640, 900)),
      height: 220,
      scales: { x: { time: false } },
      // Runs are counted: whole-number ticks only.
      axes: [{ label: "run", incrs: [1, 2, 5, 10, 20, 50] }, {}],
      legend: { live: false },
      series: [{ label: "run" }].concat(series)
    };
  }

  function draw(root) {
    var table = document.querySelector("[data-chart-source]");
    var note = root.querySelector("[data-charts-note]");
    if (!table) return;
    if (!window.uPlot) {
      root.setAttribute("data-state", "error");
      if (note) note.textContent = "The charts could not be drawn here; the table below has the same figures.";
      return;
    }
    var data = rows(table);
    var x = data.map(function (row) { return row.n; });
    var duration = root.querySelector('[data-chart="duration"]');
    var chunks = root.querySelector('[data-chart="chunks"]');
    var points = { show: true, size: 6 };
    new window.uPlot(options(duration, [
      { label: "duration (s)", stroke: "#2c6fbb", width: 2, points: points, spanGaps: true },
      // Failures: the same runs as red points, without a line.
      { label: "failed", stroke: FAILED, fill: FAILED, paths: function () { return null; }, points: { show: true, size: 10, fill: FAILED } }
    ]), [x, data.map(function (row) { return row.duration; }), data.map(function (row) { return row.failed ? row.duration || 0 : null; })], duration);
    new window.uPlot(options(chunks, [
      { label: "embedded", stroke: "#8e44ad", width: 2, points: points },
      { label: "reused", stroke: "#27ae60", width: 2, points: points },
      { label: "failed", stroke: FAILED, paths: function () { return null; }, points: { show: true, size: 10, fill: FAILED } }
    ]), [x, data.map(function (row) { return row.embedded; }), data.map(function (row) { return row.reused; }),
      data.map(function (row) { return row.failed ? row.embedded : null; })], chunks);
    root.setAttribute("data-state", "drawn");
    root.setAttribute("data-points", String(data.length));
    if (note) note.remove();
  }

  function start() {
    document.querySelectorAll("[data-charts]").forEach(draw);
  }

  document.addEventListener("nyxsync:regions", start);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
