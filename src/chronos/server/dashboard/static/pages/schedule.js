// A schedule's page: the runs' duration chart (uPlot), drawn again whenever htmx swaps the
// runs in; and after an action, the live regions refresh at once (the action answers with a
// message only).
(function () {
  "use strict";
  let chart = null;

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function seconds(value) {
    if (value == null) return "—";
    if (value < 1) return Math.round(value * 1000) + " ms";
    if (value < 60) return value.toFixed(1) + " s";
    return Math.floor(value / 60) + "m " + String(Math.round(value % 60)).padStart(2, "0") + "s";
  }

  function draw() {
    const target = document.getElementById("runs-chart");
    const source = document.getElementById("runs-data");
    if (chart) { chart.destroy(); chart = null; }
    if (!target || !source || !window.uPlot) return;
    let data;
    try { data = JSON.parse(source.textContent); } catch (e) { return; }
    target.textContent = "";
    if (!data.x.length) {
      target.innerHTML = '<p class="muted small">No run has a duration yet.</p>';
      return;
    }
    const muted = css("--muted"), grid = css("--border");
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const options = {
      width: Math.max(target.clientWidth, 240),
      height: 170,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max * 1.1, 0.001)]; } } },
      series: [
        {},
        { label: "completed", stroke: css("--ok"), width: 1.5, points: { show: true, size: 6, fill: css("--ok") }, spanGaps: true, value: function (u, v) { return seconds(v); } },
        { label: "failed", stroke: css("--bad"), width: 0, paths: function () { return null; }, points: { show: true, size: 7, fill: css("--bad") }, value: function (u, v) { return seconds(v); } },
      ],
      axes: [axis, Object.assign({}, axis, { size: 60, values: function (u, values) { return values.map(seconds); } })],
      legend: { show: true },
      cursor: { points: { size: 8 } },
    };
    chart = new window.uPlot(options, [data.x, data.ok, data.failed], target);
  }

  // After an action, refresh what it changed without waiting for the live stream (and close
  // the pause form, whose being open would hold the header still).
  document.addEventListener("htmx:afterRequest", function (evt) {
    const form = evt.detail.elt;
    if (!form.matches || !form.matches("form[data-schedule-action]") || !evt.detail.successful) return;
    const details = form.closest("details");
    if (details) details.open = false;
    if (document.activeElement && form.contains(document.activeElement)) document.activeElement.blur();
    htmx.trigger(document.body, "live:schedules");
    htmx.trigger(document.body, "live:jobs");
  });

  // Escape closes the pause form, back on its button.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") return;
    const details = evt.target.closest && evt.target.closest("details.pause-form[open]");
    if (!details) return;
    details.open = false;
    details.querySelector("summary").focus();
  });

  document.addEventListener("htmx:load", function (evt) {
    const elt = evt.detail.elt;
    if (elt && elt.querySelector && (elt.id === "schedule-runs" || elt.querySelector("#runs-chart"))) draw();
  });
  document.addEventListener("DOMContentLoaded", draw);
  let resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(draw, 150);
  });
  // The theme switch changes the colours.
  new MutationObserver(draw).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
})();
