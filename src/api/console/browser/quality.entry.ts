/**
 * The quality page's chart: mean WER and CER per ISO week (uPlot, bundled with its stylesheet, which the build emits
 * as /console/assets/quality.css). The table beside it holds the same figures for every reader.
 */
import "uplot/dist/uPlot.min.css";

import uPlot from "uplot";

import { QUALITY_DATA_ID, type QualityView } from "../views.ts";
import { readIsland } from "./data.ts";
import { onReady } from "./dom.ts";

const CHART_HEIGHT = 280;

onReady(() => {
  const view = readIsland<QualityView>(QUALITY_DATA_ID);
  const target = document.getElementById("quality-chart");
  if (!view || !target) return;
  const xs = view.points.map((p) => p.weekStart);
  const wer = view.points.map((p) => (p.meanWer === null ? null : p.meanWer * 100));
  const cer = view.points.map((p) => (p.meanCer === null ? null : p.meanCer * 100));
  const width = () => Math.max(280, Math.floor(target.getBoundingClientRect().width));
  const chart = new uPlot(
    {
      width: width(),
      height: CHART_HEIGHT,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(10, Math.ceil((max ?? 0) / 10) * 10)] } },
      axes: [{}, { label: "%", values: (_u, ticks) => ticks.map((t) => `${t} %`) }],
      series: [
        { label: "Week" },
        { label: "Mean WER", stroke: "#2457c5", width: 2, points: { show: true }, spanGaps: true },
        { label: "Mean CER", stroke: "#b35900", width: 2, dash: [6, 4], points: { show: true }, spanGaps: true },
      ],
    },
    [xs, wer, cer],
    target,
  );
  target.dataset.ready = "true";
  new ResizeObserver(() => chart.setSize({ width: width(), height: CHART_HEIGHT })).observe(target);
});
