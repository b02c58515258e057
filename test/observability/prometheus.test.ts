import { describe, expect, it } from "vitest";

import {
  escapeLabelValue,
  ExpositionError,
  formatValue,
  histogramFromObservations,
  type MetricFamily,
  PROMETHEUS_CONTENT_TYPE,
  renderExposition,
} from "../../src/observability/prometheus.ts";

const FAMILIES: MetricFamily[] = [
  {
    name: "vtt_queue_depth",
    type: "gauge",
    help: "Jobs waiting in the queue.",
    samples: [
      { labels: { queue: "transcribe" }, value: 3 },
      { labels: { queue: "callbacks" }, value: 0.5 },
    ],
  },
  {
    name: "vtt_jobs_total",
    type: "counter",
    help: 'Jobs finished, by "status".\nSecond line \\ backslash',
    samples: [
      { labels: { status: "failed", provider: "openai" }, value: 2 },
      { labels: { provider: "openai", status: "completed" }, value: 10 },
    ],
  },
  {
    name: "vtt_job_duration_seconds",
    type: "histogram",
    help: "Time from accepted to finished.",
    samples: [
      {
        labels: { provider: "pool" },
        buckets: [
          { le: 0.5, count: 1 },
          { le: 1, count: 3 },
          { le: 5, count: 4 },
        ],
        sum: 7.25,
        count: 5,
      },
    ],
  },
];

const EXPECTED = `# HELP vtt_job_duration_seconds Time from accepted to finished.
# TYPE vtt_job_duration_seconds histogram
vtt_job_duration_seconds_bucket{provider="pool",le="0.5"} 1
vtt_job_duration_seconds_bucket{provider="pool",le="1"} 3
vtt_job_duration_seconds_bucket{provider="pool",le="5"} 4
vtt_job_duration_seconds_bucket{provider="pool",le="+Inf"} 5
vtt_job_duration_seconds_sum{provider="pool"} 7.25
vtt_job_duration_seconds_count{provider="pool"} 5
# HELP vtt_jobs_total Jobs finished, by "status".\\nSecond line \\\\ backslash
# TYPE vtt_jobs_total counter
vtt_jobs_total{provider="openai",status="completed"} 10
vtt_jobs_total{provider="openai",status="failed"} 2
# HELP vtt_queue_depth Jobs waiting in the queue.
# TYPE vtt_queue_depth gauge
vtt_queue_depth{queue="callbacks"} 0.5
vtt_queue_depth{queue="transcribe"} 3
`;

/** Line grammar of text format 0.0.4 (comments, HELP, TYPE, samples with optional labels and timestamp). */
const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\\\\\|\\\\"|\\\\n)*"';
const VALUE = "(?:[-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?|NaN|[-+]Inf)";
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (?:[^\\\\\\n]|\\\\\\\\|\\\\n)*$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*)?\\})? (${VALUE})(?: -?\\d+)?$`);

/** Checks every line against the grammar and the structural rules a Prometheus parser enforces. */
function assertValidExposition(text: string): void {
  expect(text.endsWith("\n")).toBe(true);
  let family: { name: string; type: string } | null = null;
  let helpFor: string | null = null;
  const seenFamilies = new Set<string>();
  let lastLe = -Infinity;
  for (const line of text.slice(0, -1).split("\n")) {
    const help = HELP_LINE.exec(line);
    const type = TYPE_LINE.exec(line);
    const sample = SAMPLE_LINE.exec(line);
    expect(help || type || sample, `line does not match the grammar: ${line}`).toBeTruthy();
    if (help) {
      helpFor = help[1]!;
      continue;
    }
    if (type) {
      expect(helpFor).toBe(type[1]);
      expect(seenFamilies.has(type[1]!), `family ${type[1]} appears twice`).toBe(false);
      seenFamilies.add(type[1]!);
      family = { name: type[1]!, type: type[2]! };
      lastLe = -Infinity;
      continue;
    }
    expect(family, "sample before any TYPE line").not.toBeNull();
    const name = sample![1]!;
    if (family!.type === "histogram") {
      expect([`${family!.name}_bucket`, `${family!.name}_sum`, `${family!.name}_count`]).toContain(name);
      if (name.endsWith("_bucket")) {
        const le = /le="([^"]+)"/.exec(sample![2]!)![1]!;
        const bound = le === "+Inf" ? Infinity : Number(le);
        expect(bound).toBeGreaterThan(lastLe);
        lastLe = bound;
      } else if (name.endsWith("_count")) {
        lastLe = -Infinity; // the next bucket line starts another label set
      }
    } else {
      expect(name).toBe(family!.name);
    }
  }
}

describe("renderExposition", () => {
  it("renders HELP/TYPE lines and samples in a deterministic order", () => {
    expect(renderExposition(FAMILIES)).toBe(EXPECTED);
    expect(renderExposition([...FAMILIES].reverse())).toBe(EXPECTED);
    assertValidExposition(EXPECTED);
  });

  it("escapes backslash, double quote and newline in label values", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const text = renderExposition([
      {
        name: "vtt_info",
        type: "gauge",
        help: "Build info.",
        samples: [{ labels: { path: 'C:\\tmp\\"x"\nnext' }, value: 1 }],
      },
    ]);
    expect(text).toBe(
      '# HELP vtt_info Build info.\n# TYPE vtt_info gauge\nvtt_info{path="C:\\\\tmp\\\\\\"x\\"\\nnext"} 1\n',
    );
    assertValidExposition(text);
  });

  it("writes unlabelled samples, special values and exponents in Go-compatible form", () => {
    expect([NaN, Infinity, -Infinity, 0, -0.25, 1e-7, 1.5e21].map(formatValue)).toEqual([
      "NaN",
      "+Inf",
      "-Inf",
      "0",
      "-0.25",
      "1e-7",
      "1.5e+21",
    ]);
    const text = renderExposition([
      { name: "up", type: "gauge", help: "", samples: [{ value: 1 }] },
      {
        name: "vtt_ratio",
        type: "gauge",
        help: "Edge values.",
        samples: [
          { labels: { k: "a" }, value: NaN },
          { labels: { k: "b" }, value: -Infinity },
          { labels: { k: "c" }, value: 1e-7 },
        ],
      },
      { name: "vtt_empty_total", type: "counter", help: "No samples yet.", samples: [] },
    ]);
    expect(text.startsWith("# HELP up \n")).toBe(true);
    expect(text).toContain('vtt_ratio{k="a"} NaN\nvtt_ratio{k="b"} -Inf\nvtt_ratio{k="c"} 1e-7\n');
    expect(text).toContain(
      "# TYPE up gauge\nup 1\n# HELP vtt_empty_total No samples yet.\n# TYPE vtt_empty_total counter\n# HELP vtt_ratio",
    );
    assertValidExposition(text);
  });

  it("builds histogram buckets from raw observations", () => {
    const histogram = histogramFromObservations([0.5, 1, 5], [0.25, 0.5, 0.75, 3, 10]);
    expect(histogram).toEqual({
      buckets: [
        { le: 0.5, count: 2 },
        { le: 1, count: 3 },
        { le: 5, count: 4 },
      ],
      sum: 14.5,
      count: 5,
    });
    const text = renderExposition([
      {
        name: "vtt_audio_seconds",
        type: "histogram",
        help: "Audio length.",
        samples: [histogram, { labels: { provider: "openai" }, ...histogram }],
      },
    ]);
    expect(text).toContain(
      'vtt_audio_seconds_bucket{le="+Inf"} 5\nvtt_audio_seconds_sum 14.5\nvtt_audio_seconds_count 5\n',
    );
    expect(text).toContain('vtt_audio_seconds_bucket{provider="openai",le="1"} 3\n');
    assertValidExposition(text);
    expect(() => histogramFromObservations([1], [NaN])).toThrow(ExpositionError);
  });

  it("rejects names, labels and values that would make an invalid exposition", () => {
    const gauge = (name: string, labels?: Record<string, string>, value = 1): MetricFamily => ({
      name,
      type: "gauge",
      help: "h",
      samples: [{ labels, value }],
    });
    expect(() => renderExposition([gauge("1bad")])).toThrow(/invalid metric name/);
    expect(() => renderExposition([gauge("bad-name")])).toThrow(/invalid metric name/);
    expect(() => renderExposition([gauge("ok", { "bad-label": "x" })])).toThrow(/invalid label name/);
    expect(() => renderExposition([gauge("ok", { __name__: "x" })])).toThrow(/reserved/);
    expect(() => renderExposition([gauge("ok"), gauge("ok")])).toThrow(/collides/);
    expect(() =>
      renderExposition([
        {
          name: "ok",
          type: "gauge",
          help: "h",
          samples: [
            { labels: { a: "1" }, value: 1 },
            { labels: { a: "1" }, value: 2 },
          ],
        },
      ]),
    ).toThrow(/duplicate label set/);
    expect(() => renderExposition([{ name: "c_total", type: "counter", help: "h", samples: [{ value: -1 }] }])).toThrow(
      /non-negative/,
    );
    expect(() =>
      renderExposition([{ name: "c_total", type: "counter", help: "h", samples: [{ value: NaN }] }]),
    ).toThrow(/non-negative/);
  });

  it("rejects inconsistent histograms and sample-name collisions", () => {
    const histogram = (
      buckets: { le: number; count: number }[],
      count: number,
      labels?: Record<string, string>,
    ): MetricFamily => ({
      name: "h",
      type: "histogram",
      help: "h",
      samples: [{ labels, buckets, sum: 1, count }],
    });
    expect(() =>
      renderExposition([
        histogram(
          [
            { le: 1, count: 3 },
            { le: 2, count: 2 },
          ],
          3,
        ),
      ]),
    ).toThrow(/cumulative/);
    expect(() => renderExposition([histogram([{ le: 1, count: 4 }], 3)])).toThrow(/cumulative/);
    expect(() =>
      renderExposition([
        histogram(
          [
            { le: 2, count: 1 },
            { le: 1, count: 2 },
          ],
          3,
        ),
      ]),
    ).toThrow(/strictly increasing/);
    expect(() => renderExposition([histogram([{ le: Infinity, count: 1 }], 1)])).toThrow(/finite/);
    expect(() => renderExposition([histogram([], 1, { le: "1" })])).toThrow(/reserved/);
    expect(() =>
      renderExposition([histogram([], 0), { name: "h_count", type: "counter", help: "x", samples: [] }]),
    ).toThrow(/collides/);
    expect(renderExposition([histogram([], 2)])).toBe(
      '# HELP h h\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n',
    );
  });

  it("names the exposition content type", () => {
    expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });
});
