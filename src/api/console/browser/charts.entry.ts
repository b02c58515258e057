/**
 * The operator's charts (health and quality pages): reads the page's JSON data island and draws each
 * `<figure data-chart>` with uPlot, bundled from npm by esbuild (its stylesheet is emitted beside this module as
 * charts.css). Without script the pages keep their tables of the same figures.
 */
import "uplot/dist/uPlot.min.css";

import uPlot from "uplot";

import type { HealthChartData, HealthPoint, QualityChartData } from "../../../domain/health.ts";
import { onReady } from "./dom.ts";

const COLOURS = ["#2457c5", "#c5242f", "#1b7f3b", "#a45a00", "#6b2fb3", "#00707a"];
const HEIGHT = 200;

/** Parses a `<script type="application/json">` island; null when the page has none. */
function island<T>(id: string): T | null {
  const element = document.getElementById(id);
  return element?.textContent ? (JSON.parse(element.textContent) as T) : null;
}

function widthOf(figure: HTMLElement): number {
  return Math.max(240, Math.floor(figure.getBoundingClientRect().width));
}

function draw(
  figure: HTMLElement,
  series: uPlot.Series[],
  data: uPlot.AlignedData,
  time: boolean,
  label: string,
  xLabels?: string[],
  xRange?: [number, number],
) {
  const chart = new uPlot(
    {
      width: widthOf(figure),
      height: HEIGHT,
      scales: { x: xRange ? { time, range: () => xRange } : { time } },
      series: [{}, ...series.map((s, i) => ({ stroke: COLOURS[i % COLOURS.length], width: 2, ...s }))],
      axes: [
        xLabels ? { values: (_u: uPlot, ticks: number[]) => ticks.map((i) => xLabels[i] ?? "") } : {},
        { size: 60 },
      ],
    },
    data,
    figure,
  );
  chart.root.setAttribute("role", "img");
  chart.root.setAttribute("aria-label", `${label} (the table on this page lists the same figures)`);
  new ResizeObserver(() => chart.setSize({ width: widthOf(figure), height: HEIGHT })).observe(figure);
}

const HEALTH_SERIES: Record<string, (points: HealthPoint[]) => [uPlot.Series[], (number | null)[][]]> = {
  queueDepth: (p) => [[{ label: "queued + processing" }], [p.map((x) => x.queueDepth)]],
  jobsPerSecond: (p) => [[{ label: "jobs/s" }], [p.map((x) => x.jobsPerSecond)]],
  latency: (p) => [
    [{ label: "p50 (s)" }, { label: "p95 (s)" }],
    [p.map((x) => x.p50Seconds), p.map((x) => x.p95Seconds)],
  ],
  errorRate: (p) => [[{ label: "error rate" }], [p.map((x) => x.errorRate)]],
  deadLetters: (p) => [[{ label: "unresolved" }], [p.map((x) => x.deadLetters)]],
};

onReady(() => {
  const health = island<HealthChartData>("health-data");
  if (health) {
    for (const figure of document.querySelectorAll<HTMLElement>("figure[data-chart][data-range]")) {
      const points = health[figure.dataset.range as keyof HealthChartData] ?? [];
      const build = HEALTH_SERIES[figure.dataset.chart ?? ""];
      if (!build || points.length === 0) continue;
      const [series, values] = build(points);
      const label = figure.querySelector("figcaption")?.textContent ?? "chart";
      // the whole window, ending now, even while the cron has stored only a few samples
      const end = Date.now() / 1000;
      const span = figure.dataset.range === "hour" ? 3600 : 86_400;
      const data = [points.map((x) => x.t), ...values] as uPlot.AlignedData;
      draw(figure, series, data, true, label, undefined, [end - span, end]);
    }
  }
  const quality = island<QualityChartData>("quality-data");
  const werFigure = document.querySelector<HTMLElement>('figure[data-chart="wer"]');
  if (quality && werFigure && quality.weeks.length > 0) {
    const x = quality.weeks.map((_, i) => i);
    draw(
      werFigure,
      quality.series.map((s) => ({ label: s.label })),
      [x, ...quality.series.map((s) => s.wer)] as uPlot.AlignedData,
      false,
      "Mean WER per week",
      quality.weeks,
    );
    werFigure.dataset.weeks = quality.weeks.join(" ");
  }
  document.documentElement.dataset.chartsReady = "1";
});
