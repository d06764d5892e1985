// The segment report's chart: uPlot over the per-day series in data-series. Drawn on load and
// again when htmx swaps the completed report in.
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function draw(el) {
    if (!window.uPlot || el.dataset.drawn) { return; }
    var data = JSON.parse(el.dataset.series);
    var xs = data.days.map(function (day) { return Date.parse(day + "T00:00:00Z") / 1000; });
    var text = cssVar("--text", "#14171c");
    var grid = cssVar("--border", "#cfd5de");
    var axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    var number = new Intl.NumberFormat();
    var fmt = function (u, v) { return v == null ? "—" : number.format(v); };
    var opts = {
      width: Math.max(el.clientWidth, 280),
      height: 300,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true }, n: {}, m: {} },
      axes: [axis, Object.assign({ scale: "n" }, axis), Object.assign({ scale: "m", side: 1, grid: { show: false } }, axis)],
      series: [
        { label: "Day (UTC)" },
        { label: "Impressions", scale: "n", stroke: cssVar("--accent", "#1d4ed8"), width: 2, value: fmt },
        { label: "Clicks", scale: "n", stroke: "#c2410c", width: 2, value: fmt },
        { label: "Spend", scale: "m", stroke: "#0f766e", width: 2, value: fmt },
        { label: "eCPM", scale: "m", stroke: "#7e22ce", width: 2, dash: [6, 4], value: fmt }
      ]
    };
    var plot = new uPlot(opts, [xs, data.impressions, data.clicks, data.spend, data.ecpm], el);
    el.dataset.drawn = "1";
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(el.clientWidth, 280), height: 300 });
    });
  }

  function drawAll() { document.querySelectorAll(".chart[data-series]").forEach(draw); }
  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
