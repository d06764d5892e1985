// The dashboard's chart: uPlot over the daily series in the chart's data-series attribute.
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
    var human = el.dataset.publisher === "true" ? "Human loads" : "Impressions";
    var opts = {
      width: Math.max(el.clientWidth, 280),
      height: 300,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true } },
      axes: [axis, Object.assign({ values: function (u, ticks) { return ticks.map(function (v) { return number.format(v); }); } }, axis)],
      series: [
        { label: "Day (UTC)" },
        { label: human, stroke: cssVar("--accent", "#1d4ed8"), width: 2, value: function (u, v) { return v == null ? "—" : number.format(v); } },
        { label: "Bot", stroke: "#c2410c", width: 2, value: function (u, v) { return v == null ? "—" : number.format(v); } },
        { label: "AI agent", stroke: "#7e22ce", width: 2, dash: [6, 4], value: function (u, v) { return v == null ? "—" : number.format(v); } }
      ]
    };
    var plot = new uPlot(opts, [xs, data.human, data.bot, data.ai_agent], el);
    el.dataset.drawn = "1";
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(el.clientWidth, 280), height: 300 });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".chart[data-series]").forEach(draw);
  });
})();
