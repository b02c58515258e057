/**
 * A small builder for the Prometheus text exposition format, version 0.0.4. Pure TypeScript.
 *
 * Families are written sorted by name and samples sorted by their label set, so the same numbers always render to
 * the same bytes (scrapes diff cleanly and tests compare exact text). Histograms are given precomputed: cumulative
 * bucket counts, sum and count, as an edge store would keep them; {@link histogramFromObservations} builds those from
 * raw values when that is more convenient.
 */

/** The `Content-Type` of a response body produced by {@link renderExposition}. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED_LABEL_PREFIX = "__";
const HISTOGRAM_BUCKET_LABEL = "le";
const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"] as const;

/** Label name → value. Values may hold any text; they are escaped on output. */
export type Labels = Readonly<Record<string, string>>;

export interface ScalarSample {
  labels?: Labels;
  value: number;
}

/** One cumulative bucket: how many observations were ≤ `le`. */
export interface HistogramBucket {
  le: number;
  count: number;
}

export interface HistogramSample {
  labels?: Labels;
  /** finite, strictly increasing upper bounds with non-decreasing cumulative counts; `+Inf` is added from `count` */
  buckets: readonly HistogramBucket[];
  sum: number;
  count: number;
}

interface FamilyBase {
  /** metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*` */
  name: string;
  /** one line of help text; backslashes and newlines are escaped */
  help: string;
}

/** A monotonically increasing total; values must be finite and ≥ 0. By convention the name ends in `_total`. */
export interface CounterFamily extends FamilyBase {
  type: "counter";
  samples: readonly ScalarSample[];
}

/** A value that goes up and down; any number, NaN and ±Infinity included. */
export interface GaugeFamily extends FamilyBase {
  type: "gauge";
  samples: readonly ScalarSample[];
}

export interface HistogramFamily extends FamilyBase {
  type: "histogram";
  samples: readonly HistogramSample[];
}

export type MetricFamily = CounterFamily | GaugeFamily | HistogramFamily;

/** Thrown for a family that would render to an invalid or ambiguous exposition. */
export class ExpositionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExpositionError";
  }
}

/**
 * Renders families as exposition text: `# HELP` and `# TYPE` lines, then samples, each line ending in `\n`.
 * Throws {@link ExpositionError} for invalid names, duplicate families or label sets, reserved labels, negative
 * counters, or inconsistent histogram buckets.
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  assertUniqueSampleNames(families);
  const sorted = [...families].sort((a, b) => compareStrings(a.name, b.name));
  let out = "";
  for (const family of sorted) {
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
    out += `# TYPE ${family.name} ${family.type}\n`;
    const rows = family.type === "histogram" ? histogramRows(family) : scalarRows(family);
    for (const row of rows) out += row.lines.join("");
  }
  return out;
}

/**
 * Cumulative buckets, sum and count of raw observations for the given finite, increasing upper bounds.
 * NaN observations are rejected; a value above the last bound is counted only by the implicit `+Inf` bucket.
 */
export function histogramFromObservations(
  bounds: readonly number[],
  observations: Iterable<number>,
): Omit<HistogramSample, "labels"> {
  assertBounds("histogramFromObservations", bounds);
  const perBucket = new Array<number>(bounds.length).fill(0);
  let count = 0;
  let sum = 0;
  for (const value of observations) {
    if (Number.isNaN(value)) throw new ExpositionError("histogram observations must not be NaN");
    count += 1;
    sum += value;
    const index = bounds.findIndex((bound) => value <= bound);
    if (index !== -1) perBucket[index]! += 1;
  }
  let running = 0;
  const buckets = bounds.map((le, i) => ({ le, count: (running += perBucket[i]!) }));
  return { buckets, sum, count };
}

/** Label values escape `\`, `"` and newline, as the 0.0.4 format requires. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes `\` and newline (double quotes stay as they are). */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go-compatible number text: integers without a decimal point, `NaN`, `+Inf`, `-Inf`. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

interface RenderedSample {
  sortKey: string;
  lines: string[];
}

function scalarRows(family: CounterFamily | GaugeFamily): RenderedSample[] {
  const rows = family.samples.map((sample) => {
    if (typeof sample.value !== "number") throw new ExpositionError(`${family.name}: sample value must be a number`);
    if (family.type === "counter" && !(Number.isFinite(sample.value) && sample.value >= 0)) {
      throw new ExpositionError(`${family.name}: counter values must be finite and non-negative`);
    }
    const labels = checkedLabels(family.name, sample.labels, []);
    return { sortKey: labelKey(labels), lines: [`${family.name}${labelText(labels)} ${formatValue(sample.value)}\n`] };
  });
  return sortedUnique(family.name, rows);
}

function histogramRows(family: HistogramFamily): RenderedSample[] {
  const rows = family.samples.map((sample) => {
    const labels = checkedLabels(family.name, sample.labels, [HISTOGRAM_BUCKET_LABEL]);
    assertBounds(
      family.name,
      sample.buckets.map((bucket) => bucket.le),
    );
    if (!Number.isInteger(sample.count) || sample.count < 0) {
      throw new ExpositionError(`${family.name}: histogram count must be a non-negative integer`);
    }
    if (typeof sample.sum !== "number" || Number.isNaN(sample.sum))
      throw new ExpositionError(`${family.name}: histogram sum must be a number`);
    let previous = 0;
    for (const bucket of sample.buckets) {
      if (!Number.isInteger(bucket.count) || bucket.count < previous || bucket.count > sample.count) {
        throw new ExpositionError(`${family.name}: bucket counts must be cumulative integers no greater than count`);
      }
      previous = bucket.count;
    }
    const lines = [
      ...sample.buckets.map(
        (bucket) =>
          `${family.name}_bucket${labelText([...labels, [HISTOGRAM_BUCKET_LABEL, formatValue(bucket.le)]])} ${bucket.count}\n`,
      ),
      `${family.name}_bucket${labelText([...labels, [HISTOGRAM_BUCKET_LABEL, "+Inf"]])} ${sample.count}\n`,
      `${family.name}_sum${labelText(labels)} ${formatValue(sample.sum)}\n`,
      `${family.name}_count${labelText(labels)} ${sample.count}\n`,
    ];
    return { sortKey: labelKey(labels), lines };
  });
  return sortedUnique(family.name, rows);
}

/** Validated labels sorted by name. */
function checkedLabels(metric: string, labels: Labels | undefined, reserved: readonly string[]): [string, string][] {
  const entries = Object.entries(labels ?? {});
  for (const [name, value] of entries) {
    if (!LABEL_NAME.test(name)) throw new ExpositionError(`${metric}: invalid label name "${name}"`);
    if (name.startsWith(RESERVED_LABEL_PREFIX))
      throw new ExpositionError(`${metric}: label names starting with "__" are reserved`);
    if (reserved.includes(name))
      throw new ExpositionError(`${metric}: label "${name}" is reserved for this metric type`);
    if (typeof value !== "string") throw new ExpositionError(`${metric}: label "${name}" must have a string value`);
  }
  return entries.sort(([a], [b]) => compareStrings(a, b));
}

function labelText(labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return "";
  return `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

/** Unambiguous key of a label set: JSON of the sorted pairs. */
function labelKey(labels: readonly (readonly [string, string])[]): string {
  return JSON.stringify(labels);
}

function sortedUnique(metric: string, rows: RenderedSample[]): RenderedSample[] {
  rows.sort((a, b) => compareStrings(a.sortKey, b.sortKey));
  for (let i = 1; i < rows.length; i++) {
    if (rows[i]!.sortKey === rows[i - 1]!.sortKey)
      throw new ExpositionError(`${metric}: duplicate label set ${rows[i]!.sortKey}`);
  }
  return rows;
}

function assertBounds(metric: string, bounds: readonly number[]): void {
  bounds.forEach((bound, i) => {
    if (!Number.isFinite(bound))
      throw new ExpositionError(`${metric}: bucket bounds must be finite (+Inf is added automatically)`);
    if (i > 0 && bound <= bounds[i - 1]!)
      throw new ExpositionError(`${metric}: bucket bounds must be strictly increasing`);
  });
}

/** Family names must be valid and no rendered sample name (histograms add _bucket/_sum/_count) may collide. */
function assertUniqueSampleNames(families: readonly MetricFamily[]): void {
  const owners = new Map<string, string>();
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new ExpositionError(`invalid metric name "${family.name}"`);
    if (!["counter", "gauge", "histogram"].includes(family.type))
      throw new ExpositionError(`${family.name}: unknown type`);
    const names =
      family.type === "histogram"
        ? [family.name, ...HISTOGRAM_SUFFIXES.map((suffix) => family.name + suffix)]
        : [family.name];
    for (const name of names) {
      const owner = owners.get(name);
      if (owner !== undefined)
        throw new ExpositionError(`metric name "${name}" of "${family.name}" collides with "${owner}"`);
      owners.set(name, family.name);
    }
  }
}

/** Code-unit order, independent of the runtime's locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
