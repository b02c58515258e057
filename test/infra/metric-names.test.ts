/**
 * Keeps the monitoring artefacts (infra/grafana dashboards, infra/prometheus alert rules) in step with the metrics the
 * code really exports: the edge catalog (src/observability/metrics-catalog.ts) and the pool's prom-client registry
 * (gpu-worker/src/metrics.ts). Renaming a metric or a label without updating a dashboard or a rule fails here, and so
 * does adding a metric that no dashboard shows.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { collectDefaultMetrics, Registry } from "prom-client";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

import { createPoolMetrics } from "../../gpu-worker/src/metrics.ts";
import { EDGE_METRICS, exposedSeriesNames } from "../../src/observability/metrics-catalog.ts";

const ROOT = path.join(import.meta.dirname, "..", "..");
const DASHBOARDS = ["infra/grafana/edge.json", "infra/grafana/pool.json"] as const;
const ALERTS = "infra/prometheus/alerts.yml";
const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"] as const;
/** Labels Prometheus adds to every series of a target (infra/prometheus/prometheus.yml), not the exporter. */
const TARGET_LABELS = {
  edge: ["job", "instance", "environment"],
  pool: ["job", "instance", "namespace", "pod", "node"],
} as const;

type Source = keyof typeof TARGET_LABELS;
interface Family {
  source: Source;
  type: string;
  labels: readonly string[];
}
interface Expr {
  /** Where it comes from, for failure messages. */
  where: string;
  expr: string;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; refId?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
  gridPos?: { x: number; y: number; w: number; h: number };
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query?: string }; definition?: string }[] };
}
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const read = (file: string): string => readFileSync(path.join(ROOT, file), "utf8");

/** Every family the Worker and the pool export, by name (histograms under their family name). */
const families = new Map<string, Family>();
/** Pool families that collectDefaultMetrics adds (process and Node runtime), which no dashboard has to show. */
const poolDefaults = new Set<string>();

beforeAll(async () => {
  for (const [name, entry] of Object.entries(EDGE_METRICS))
    families.set(name, { source: "edge", type: entry.type, labels: entry.labels });
  const pool = createPoolMetrics({
    queueCounts: async () => ({}),
    saturation: () => ({ busy: 0, capacity: 1, activeJobs: 0 }),
  });
  for (const metric of await pool.registry.getMetricsAsJSON()) {
    const labels =
      (pool.registry.getSingleMetric(metric.name) as unknown as { labelNames?: readonly string[] } | undefined)
        ?.labelNames ?? [];
    families.set(metric.name, { source: "pool", type: String(metric.type), labels });
  }
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults, prefix: "vtt_pool_" });
  for (const metric of await defaults.getMetricsAsJSON()) poolDefaults.add(metric.name);
});

/** The family a series name belongs to (`x_bucket` → `x` for histograms), or undefined when nothing exports it. */
function familyOf(series: string): [string, Family] | undefined {
  const direct = families.get(series);
  if (direct) return [series, direct];
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (!series.endsWith(suffix)) continue;
    const base = series.slice(0, -suffix.length);
    const family = families.get(base);
    if (family && (family.type === "histogram" || (family.type === "summary" && suffix !== "_bucket")))
      return [base, family];
  }
  return undefined;
}

/** The expression with string literals blanked (so label values never read as metric names). */
function withoutStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
}

function metricNames(expr: string): string[] {
  return [...new Set(withoutStrings(expr).match(/\bvtt_[A-Za-z0-9_]*/g) ?? [])];
}

/** Index of the parenthesis matching the one at `open` (searching backwards when it is a closing one). */
function matching(text: string, open: number): number {
  const forward = text[open] === "(";
  let depth = 0;
  for (let i = open; forward ? i < text.length : i >= 0; i += forward ? 1 : -1) {
    if (text[i] === "(") depth += forward ? 1 : -1;
    if (text[i] === ")") depth += forward ? -1 : 1;
    if (depth === 0) return i;
  }
  return -1;
}

const splitLabels = (list: string): string[] =>
  list
    .split(",")
    .map((l) => l.trim())
    .filter(Boolean);

/** Label names an expression relies on for vtt_ metrics, each with the metrics it must belong to. */
function labelUses(expr: string): { labels: string[]; metrics: string[]; context: string }[] {
  const uses: { labels: string[]; metrics: string[]; context: string }[] = [];
  // selectors: vtt_x{a="…", b=~"…"}
  for (const m of expr.matchAll(/\b(vtt_[A-Za-z0-9_]*)\s*\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}/g)) {
    const labels = [...m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!);
    uses.push({ labels, metrics: [m[1]!], context: m[0] });
  }
  const bare = withoutStrings(expr);
  // aggregations: sum by (a, b) (arg) or sum (arg) by (a, b)
  for (const m of bare.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    const after = m.index + m[0].length;
    const next = bare.slice(after).search(/\S/);
    let arg: string | undefined;
    if (next >= 0 && bare[after + next] === "(") arg = bare.slice(after + next, matching(bare, after + next) + 1);
    else {
      const close = bare.slice(0, m.index).trimEnd().length - 1;
      if (bare[close] === ")") arg = bare.slice(matching(bare, close), close + 1);
    }
    if (arg === undefined) throw new Error(`cannot find the argument of "${m[0]}" in ${expr}`);
    uses.push({ labels: splitLabels(m[1]!), metrics: metricNames(arg), context: m[0] });
  }
  // vector matching: a and on (x) b, a / ignoring (x) b, group_left (x)
  for (const m of bare.matchAll(/\b(?:on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    uses.push({ labels: splitLabels(m[1]!), metrics: metricNames(bare), context: m[0] });
  }
  return uses;
}

/** Panels of a dashboard, rows' nested panels included. */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

function dashboard(file: string): Dashboard {
  return JSON.parse(read(file)) as Dashboard;
}

function dashboardExprs(file: string): Expr[] {
  const d = dashboard(file);
  const exprs: Expr[] = [];
  for (const panel of allPanels(d.panels)) {
    for (const t of panel.targets ?? [])
      if (t.expr) exprs.push({ where: `${file} panel ${panel.id} "${panel.title}" ${t.refId}`, expr: t.expr });
  }
  for (const v of d.templating.list) {
    if (v.type !== "query") continue;
    const query = typeof v.query === "string" ? v.query : (v.query?.query ?? v.definition ?? "");
    const lv = /^\s*label_values\(\s*(.+),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(query);
    // label_values(metric{…}, label): the label must be one of the metric's
    exprs.push({ where: `${file} variable $${v.name}`, expr: lv ? `sum by (${lv[2]}) (${lv[1]})` : query });
  }
  return exprs;
}

function rules(): { group: string; rule: Rule }[] {
  const doc = parseYaml(read(ALERTS)) as { groups: { name: string; rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((rule) => ({ group: g.name, rule })));
}

function allExprs(): Expr[] {
  return [
    ...DASHBOARDS.flatMap(dashboardExprs),
    ...rules().map(({ group, rule }) => ({
      where: `${ALERTS} ${group}/${rule.alert ?? rule.record}`,
      expr: rule.expr,
    })),
  ];
}

describe("metric names in dashboards and alert rules", () => {
  it("reads the registries it checks against", () => {
    expect(families.get("vtt_job_latency_seconds")).toMatchObject({ source: "edge", type: "histogram" });
    expect(families.get("vtt_pool_jobs_failed_total")).toMatchObject({ source: "pool", labels: ["code", "terminal"] });
    expect(families.get("vtt_pool_batch_size")).toMatchObject({ source: "pool", type: "histogram" });
    expect(familyOf("vtt_job_latency_seconds_bucket")?.[0]).toBe("vtt_job_latency_seconds");
    expect(familyOf("vtt_jobs_finished_count")).toBeUndefined();
    expect(exposedSeriesNames()).toContain("vtt_job_latency_seconds_bucket");
  });

  it("finds metric names and label uses in PromQL", () => {
    const expr =
      'histogram_quantile(0.95, sum by (le, stage) (vtt_job_latency_seconds_bucket{window="5m", provider=~"vtt_x"})) and on (provider) vtt_breaker_open';
    expect(metricNames(expr)).toEqual(["vtt_job_latency_seconds_bucket", "vtt_breaker_open"]);
    expect(labelUses(expr).map((u) => [u.labels, u.metrics])).toEqual([
      [["window", "provider"], ["vtt_job_latency_seconds_bucket"]],
      [["le", "stage"], ["vtt_job_latency_seconds_bucket"]],
      [["provider"], ["vtt_job_latency_seconds_bucket", "vtt_breaker_open"]],
    ]);
    expect(labelUses("sum(vtt_dead_letters) by (classification)")[0]).toMatchObject({
      labels: ["classification"],
      metrics: ["vtt_dead_letters"],
    });
  });

  it("every vtt_ metric a dashboard or rule queries is exported by the Worker or the pool", () => {
    const exprs = allExprs();
    expect(exprs.length).toBeGreaterThan(40);
    const unknown = exprs.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((n) => !familyOf(n))
        .map((n) => `${n} (${where})`),
    );
    expect(unknown).toEqual([]);
  });

  it("edge metrics are queried from the edge dashboard and pool metrics from the pool dashboard", () => {
    const misplaced = DASHBOARDS.flatMap((file) => {
      const want: Source = file.endsWith("edge.json") ? "edge" : "pool";
      return dashboardExprs(file).flatMap(({ where, expr }) =>
        metricNames(expr)
          .filter((n) => familyOf(n)?.[1].source !== want)
          .map((n) => `${n} (${where})`),
      );
    });
    expect(misplaced).toEqual([]);
  });

  it("label names used with vtt_ metrics exist on those metrics", () => {
    const problems: string[] = [];
    for (const { where, expr } of allExprs()) {
      for (const use of labelUses(expr)) {
        const resolved = use.metrics.map(familyOf).filter((f) => f !== undefined);
        if (resolved.length === 0) continue; // only non-vtt metrics (up, kube_*): not ours to check
        const allowed = new Set<string>(resolved.flatMap(([, f]) => [...f.labels, ...TARGET_LABELS[f.source]]));
        if (use.metrics.some((n) => n.endsWith("_bucket"))) allowed.add("le");
        for (const label of use.labels) if (!allowed.has(label)) problems.push(`${label} in ${use.context} (${where})`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("windowed edge gauges always pin the window label (5m and 1h samples must not add up)", () => {
    const unpinned: string[] = [];
    for (const { where, expr } of allExprs()) {
      for (const name of metricNames(expr)) {
        const [family, entry] = familyOf(name) ?? [];
        if (!family || !entry?.labels.includes("window")) continue;
        const selectors = [...expr.matchAll(new RegExp(`\\b${name}\\b(\\s*\\{[^}]*\\})?`, "g"))];
        for (const s of selectors)
          if (!/\bwindow\s*=\s*"(5m|1h)"/.test(s[1] ?? "")) unpinned.push(`${s[0]} (${where})`);
      }
    }
    expect(unpinned).toEqual([]);
  });

  it("every exported metric appears on a dashboard (a new metric needs a panel)", () => {
    const shown = new Set(
      DASHBOARDS.flatMap((f) =>
        dashboardExprs(f).flatMap(({ expr }) => metricNames(expr).map((n) => familyOf(n)?.[0])),
      ),
    );
    const missing = [...families.keys()].filter((name) => !poolDefaults.has(name) && !shown.has(name));
    expect(missing).toEqual([]);
  });
});

describe("Grafana dashboards", () => {
  it.each(DASHBOARDS)(
    "%s is an importable dashboard with unique panel ids and a Prometheus datasource variable",
    (file) => {
      const d = dashboard(file);
      expect(d.uid).toMatch(/^vtt-/);
      expect(d.title).toBeTruthy();
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(d.templating.list).toContainEqual(
        expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", query: "prometheus" }),
      );
      const panels = allPanels(d.panels);
      const ids = panels.map((p) => p.id);
      expect(ids.every((id) => Number.isInteger(id))).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      for (const panel of panels) {
        expect(panel.gridPos, `panel ${panel.id}`).toBeDefined();
        expect(panel.gridPos!.x + panel.gridPos!.w, `panel ${panel.id} width`).toBeLessThanOrEqual(24);
        if (panel.type === "row") continue;
        expect(panel.datasource?.uid, `panel ${panel.id} datasource`).toBe("${DS_PROMETHEUS}");
        expect(panel.targets?.length, `panel ${panel.id} targets`).toBeGreaterThan(0);
        const refIds = panel.targets!.map((t) => t.refId);
        expect(new Set(refIds).size, `panel ${panel.id} refIds`).toBe(refIds.length);
      }
    },
  );

  it("dashboards have distinct uids", () => {
    const uids = DASHBOARDS.map((f) => dashboard(f).uid);
    expect(new Set(uids).size).toBe(uids.length);
  });

  it("every PromQL expression has balanced parentheses and braces", () => {
    const unbalanced = allExprs().filter(({ expr }) => {
      const bare = withoutStrings(expr);
      let round = 0;
      let curly = 0;
      for (const c of bare) {
        round += c === "(" ? 1 : c === ")" ? -1 : 0;
        curly += c === "{" ? 1 : c === "}" ? -1 : 0;
        if (round < 0 || curly < 0) return true;
      }
      return round !== 0 || curly !== 0;
    });
    expect(unbalanced.map((e) => e.where)).toEqual([]);
  });
});

describe("Prometheus alert rules", () => {
  const slug = (heading: string): string =>
    heading
      .trim()
      .toLowerCase()
      .replace(/[^\w\- ]/g, "")
      .replace(/ /g, "-");

  it("every alert has a unique name, an expression, a duration, a severity, a summary, a description and a runbook", () => {
    const all = rules();
    expect(all.length).toBeGreaterThanOrEqual(11);
    const names = all.map(({ rule }) => rule.alert);
    expect(names.every((n) => typeof n === "string" && /^Vtt[A-Za-z]+$/.test(n))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    for (const { rule } of all) {
      expect(rule.expr, rule.alert).toMatch(/\S/);
      expect(rule.for, rule.alert).toMatch(/^\d+[smhd]$/);
      expect(["info", "warning", "critical"], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      expect(rule.annotations?.runbook_url, rule.alert).toMatch(/^docs\/[\w-]+\.md#[\w-]+$/);
    }
  });

  it("runbook links point at existing headings", () => {
    const broken: string[] = [];
    for (const { rule } of rules()) {
      const [file, anchor] = rule.annotations!.runbook_url!.split("#") as [string, string];
      if (!existsSync(path.join(ROOT, file))) {
        broken.push(`${rule.alert}: ${file}`);
        continue;
      }
      const anchors = read(file)
        .split("\n")
        .filter((l) => /^#{1,6} /.test(l))
        .map((l) => slug(l.replace(/^#+ /, "")));
      if (!anchors.includes(anchor)) broken.push(`${rule.alert}: ${rule.annotations!.runbook_url}`);
    }
    expect(broken).toEqual([]);
  });

  it("covers the failure modes the issue asks for", () => {
    const exprs = rules()
      .map(({ rule }) => rule.expr)
      .join("\n");
    for (const needle of [
      "vtt_job_error_rate",
      "vtt_dead_letters",
      "vtt_breaker_open",
      "vtt_queue_oldest_age_seconds",
      "vtt_queue_depth",
      "vtt_drift_psi",
      "vtt_quality_wer",
      "vtt_pool_worker_saturation",
      "vtt_pool_engine_restarts_total",
      "vtt_pool_callback_attempts_total",
      'absent(up{job="vtt-edge"}',
      'absent(up{job="vtt-pool"}',
    ]) {
      expect(exprs, needle).toContain(needle);
    }
  });

  it("prometheus.yml scrapes both jobs and loads the rule file", () => {
    const config = parseYaml(read("infra/prometheus/prometheus.yml")) as {
      rule_files: string[];
      scrape_configs: {
        job_name: string;
        scrape_interval?: string;
        scheme?: string;
        authorization?: { type: string; credentials_file?: string };
      }[];
    };
    expect(config.rule_files).toContain("alerts.yml");
    const edge = config.scrape_configs.find((c) => c.job_name === "vtt-edge");
    expect(edge).toMatchObject({
      scheme: "https",
      scrape_interval: "60s",
      authorization: { type: "Bearer", credentials_file: "/etc/prometheus/vtt-admin-key" },
    });
    expect(config.scrape_configs.map((c) => c.job_name)).toContain("vtt-pool");
  });
});
