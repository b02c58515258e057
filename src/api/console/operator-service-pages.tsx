/**
 * The operator's service pages: health (charts + the same figures as a table), breakers, dead letters, drift and
 * quality. Every value from a caller or a provider is a JSX child, so it renders as text; the charts get their data
 * through JSON data islands (DataIsland), never through markup.
 */
import type { Child } from "hono/jsx";

import type { HealthChartData, QualityChartData } from "../../domain/health.ts";
import type { DriftReportResult } from "../../drift/drift.ts";
import { PSI_SIGNIFICANT_FROM, PSI_STABLE_BELOW } from "../../drift/psi.ts";
import type { QualityReportResult } from "../../quality/feedback.ts";
import type { DeadLetterRow } from "../../storage/dead-letters.repo.ts";
import type { ShardErrorCode, ShardFailure } from "../../storage/shard-fanout.ts";
import type { breakerView } from "../admin/breakers.ts";
import { Shell, Time } from "./pages.tsx";

type BreakerView = Awaited<ReturnType<typeof breakerView>>;

/** Inline JSON for a browser module: `<` `>` `&` and the JS line separators escaped, so no value can end the script. */
export function jsonForScript(data: unknown): string {
  return JSON.stringify(data)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** A `<script type="application/json">` data island; the browser never runs it, the chart module parses it. */
export function DataIsland(props: { id: string; data: unknown }) {
  return (
    <script type="application/json" id={props.id} dangerouslySetInnerHTML={{ __html: jsonForScript(props.data) }} />
  );
}

/** The page a state-changing form redirected to says what happened (a fixed message per code, never echoed input). */
export function Flash(props: { message?: string | null }) {
  if (!props.message) return null;
  return (
    <p class="flash" role="status" data-testid="flash">
      {props.message}
    </p>
  );
}

export function OperatorShell(props: {
  title: string;
  path: string;
  csrfToken: string;
  flash?: string | null;
  scripts?: string[];
  styles?: string[];
  children: Child;
}) {
  return (
    <Shell
      title={props.title}
      who="Operator"
      csrfToken={props.csrfToken}
      kind="operator"
      current={props.path}
      scripts={props.scripts}
      styles={props.styles}
    >
      <Flash message={props.flash} />
      {props.children}
    </Shell>
  );
}

/** A POST form with the CSRF token; `confirm` puts it behind a <details> disclosure (a two-step confirmation). */
export function ActionForm(props: {
  action: string;
  csrfToken: string;
  label: string;
  confirm?: string;
  danger?: boolean;
}) {
  const form = (
    <form method="post" action={props.action} class="inline">
      <input type="hidden" name="csrf_token" value={props.csrfToken} />
      <button type="submit" class={props.danger ? "danger" : undefined}>
        {props.confirm ? `Confirm: ${props.label.toLowerCase()}` : props.label}
      </button>
    </form>
  );
  if (!props.confirm) return form;
  return (
    <details class="confirm">
      <summary>{props.label}…</summary>
      <p>{props.confirm}</p>
      {form}
    </details>
  );
}

export interface HealthFigures {
  window: "hour" | "day";
  jobsPerSecond: number;
  finished: number;
  errorRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}

const seconds = (ms: number | null) => (ms === null ? "—" : `${(ms / 1000).toFixed(2)} s`);
const percent = (share: number | null) => (share === null ? "—" : `${(share * 100).toFixed(1)} %`);

const HEALTH_CHARTS = [
  ["queueDepth", "Queue depth (jobs)"],
  ["jobsPerSecond", "Jobs finished per second"],
  ["latency", "End-to-end latency p50 / p95 (s)"],
  ["errorRate", "Error rate (failed / finished)"],
  ["deadLetters", "Dead letters (unresolved)"],
] as const;

export function HealthPage(props: {
  csrfToken: string;
  figures: HealthFigures[];
  queueDepth: number;
  deadLetters: number;
  chart: HealthChartData;
  /** job shards that did not answer: their figures are missing */
  failed?: readonly ShardFailure[];
}) {
  return (
    <OperatorShell
      title="Health"
      path="/console/operator/health"
      csrfToken={props.csrfToken}
      scripts={["charts"]}
      styles={["charts"]}
    >
      <ShardNotice failed={props.failed ?? []} />
      <p>
        Now: <strong data-testid="queue-depth">{props.queueDepth}</strong> jobs queued or processing,{" "}
        <strong data-testid="dead-letters">{props.deadLetters}</strong> unresolved dead letters. The same figures as{" "}
        <code>/metrics</code>; the charts read the per-minute samples the cron stores.
      </p>
      <div class="table-scroll" tabindex={0} role="region" aria-label="Table (scrolls sideways)">
        <table data-testid="health-figures">
          <caption class="muted">Jobs finished in the last hour and day (end-to-end latency).</caption>
          <thead>
            <tr>
              <th scope="col">Window</th>
              <th scope="col">Finished</th>
              <th scope="col">Jobs per second</th>
              <th scope="col">Error rate</th>
              <th scope="col">Latency p50</th>
              <th scope="col">Latency p95</th>
            </tr>
          </thead>
          <tbody>
            {props.figures.map((f) => (
              <tr data-window={f.window}>
                <th scope="row">{f.window === "hour" ? "Last hour" : "Last day"}</th>
                <td>{f.finished}</td>
                <td>{f.jobsPerSecond.toFixed(4)}</td>
                <td>{percent(f.errorRate)}</td>
                <td>{seconds(f.p50Ms)}</td>
                <td>{seconds(f.p95Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <DataIsland id="health-data" data={props.chart} />
      {(["hour", "day"] as const).map((range) => (
        <section aria-labelledby={`charts-${range}`}>
          <h2 id={`charts-${range}`}>{range === "hour" ? "Last hour" : "Last day"}</h2>
          {props.chart[range].length === 0 ? <p class="muted">No samples yet: the cron stores one a minute.</p> : null}
          <div class="charts">
            {HEALTH_CHARTS.map(([series, label]) => (
              <figure class="chart" data-chart={series} data-range={range}>
                <figcaption>{label}</figcaption>
              </figure>
            ))}
          </div>
        </section>
      ))}
    </OperatorShell>
  );
}

export function BreakersPage(props: { csrfToken: string; flash?: string | null; breakers: BreakerView[] }) {
  return (
    <OperatorShell title="Breakers" path="/console/operator/breakers" csrfToken={props.csrfToken} flash={props.flash}>
      <div class="table-scroll" tabindex={0} role="region" aria-label="Table (scrolls sideways)">
        <table data-testid="breakers">
          <thead>
            <tr>
              <th scope="col">Provider</th>
              <th scope="col">State</th>
              <th scope="col">Failure rate</th>
              <th scope="col">Next attempt</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {props.breakers.map((b) => (
              <tr data-provider={b.provider}>
                <th scope="row">{b.provider}</th>
                <td>
                  <span class={`badge state-${b.status}`} data-testid="breaker-state">
                    {b.status.replace("_", " ")}
                    {b.forced_open ? " (forced)" : ""}
                  </span>
                </td>
                <td>{percent(b.failure_rate)}</td>
                <td>{b.next_attempt_at ? <Time ms={Date.parse(b.next_attempt_at)} /> : "—"}</td>
                <td class="actions">
                  <ActionForm
                    action={`/console/operator/breakers/${encodeURIComponent(b.provider)}/open`}
                    csrfToken={props.csrfToken}
                    label={`Force ${b.provider} open`}
                    confirm={`No job goes to ${b.provider} until the breaker is closed again.`}
                    danger
                  />
                  <ActionForm
                    action={`/console/operator/breakers/${encodeURIComponent(b.provider)}/close`}
                    csrfToken={props.csrfToken}
                    label={`Force ${b.provider} closed`}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </OperatorShell>
  );
}

export function DeadLettersPage(props: {
  csrfToken: string;
  flash?: string | null;
  items: { item: DeadLetterRow; jobStatus: string | null }[];
  /** the cursor of the next page (a job id), null on the last */
  nextCursor?: string | null;
  /** job shards that did not answer: their items are missing from this page */
  failedShards?: readonly ShardFailure[];
}) {
  const failed = props.failedShards ?? [];
  return (
    <OperatorShell
      title="Dead letters"
      path="/console/operator/dead-letters"
      csrfToken={props.csrfToken}
      flash={props.flash}
    >
      <ShardNotice failed={failed} />
      {props.items.length === 0 ? (
        <p class="muted">No unresolved dead letters.</p>
      ) : (
        <div class="table-scroll" tabindex={0} role="region" aria-label="Table (scrolls sideways)">
          <table data-testid="dead-letters">
            <caption class="muted">Unresolved items, newest first.</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Tenant</th>
                <th scope="col">Provider</th>
                <th scope="col">Classification</th>
                <th scope="col">Reason</th>
                <th scope="col">Re-drives</th>
                <th scope="col">First dead</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {props.items.map(({ item, jobStatus }) => (
                <tr data-job={item.jobId}>
                  <td>
                    <code>{item.jobId}</code>
                    <div class="muted">{jobStatus ?? "job gone"}</div>
                  </td>
                  <td>
                    <code>{item.tenantId}</code>
                  </td>
                  <td>{item.provider}</td>
                  <td>
                    <span class={`badge class-${item.classification}`}>{item.classification}</span>
                  </td>
                  <td>{item.reason}</td>
                  <td>{item.redriveCount}</td>
                  <td>
                    <Time ms={item.firstDeadAt} />
                  </td>
                  <td class="actions">
                    <ActionForm
                      action={`/console/operator/dead-letters/${encodeURIComponent(item.jobId)}/redrive`}
                      csrfToken={props.csrfToken}
                      label="Re-drive"
                    />
                    <ActionForm
                      action={`/console/operator/dead-letters/${encodeURIComponent(item.jobId)}/fail`}
                      csrfToken={props.csrfToken}
                      label="Fail job"
                      confirm="The job ends as failed (dead_lettered); its tenant is told."
                      danger
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.nextCursor ? (
        <p>
          <a href={`/console/operator/dead-letters?cursor=${encodeURIComponent(props.nextCursor)}`}>Older items</a>
        </p>
      ) : null}
    </OperatorShell>
  );
}

const VERDICT_LABELS = {
  stable: "stable",
  moderate: "moderate drift",
  significant: "significant drift",
  insufficient_data: "too few samples",
} as const;

const SHARD_ERROR_LABELS: Record<ShardErrorCode, string> = {
  storage_unavailable: "database unavailable",
  shard_timeout: "did not answer in time",
  internal_error: "read failed",
};

/** A page built from every job shard names the shards that failed or timed out: their jobs are missing from it. */
export function ShardNotice(props: { failed: readonly ShardFailure[] }) {
  if (!props.failed.length) return null;
  return (
    <p class="error" role="alert" data-testid="shard-notice">
      Incomplete: the jobs of{" "}
      {props.failed.map((f, i) => (
        <>
          {i > 0 ? ", " : ""}
          shard <span data-shard={f.shard}>{f.shard}</span> ({SHARD_ERROR_LABELS[f.error]})
        </>
      ))}{" "}
      are missing from this page.
    </p>
  );
}

export function DriftPage(props: { csrfToken: string; report: DriftReportResult; failed: readonly ShardFailure[] }) {
  const { report } = props;
  return (
    <OperatorShell title="Drift" path="/console/operator/drift" csrfToken={props.csrfToken}>
      <ShardNotice failed={props.failed} />
      <p>
        Population stability index of each feature, the last window (<Time ms={report.current.from} /> to{" "}
        <Time ms={report.current.to} />) against the baseline before it. Below {PSI_STABLE_BELOW}: stable; from{" "}
        {PSI_SIGNIFICANT_FROM}: significant; each window needs {report.min_samples} jobs for a verdict.
      </p>
      {report.groups.length === 0 ? (
        <p class="muted">No completed jobs with features in these windows.</p>
      ) : (
        report.groups.map((group) => (
          <section>
            <h2>
              {group.provider} / {group.model}
            </h2>
            <p class="muted">
              {group.current_samples} recent jobs, {group.baseline_samples} in the baseline.
            </p>
            <div class="table-scroll" tabindex={0} role="region" aria-label="Table (scrolls sideways)">
              <table data-testid="drift">
                <thead>
                  <tr>
                    <th scope="col">Feature</th>
                    <th scope="col">PSI</th>
                    <th scope="col">Verdict</th>
                  </tr>
                </thead>
                <tbody>
                  {group.features.map((f) => (
                    <tr>
                      <th scope="row">{f.feature}</th>
                      <td>{f.psi === null ? "—" : f.psi.toFixed(3)}</td>
                      <td>
                        <span class={`badge verdict-${f.verdict}`} data-verdict={f.verdict}>
                          {VERDICT_LABELS[f.verdict]}
                        </span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        ))
      )}
    </OperatorShell>
  );
}

export function QualityPage(props: {
  csrfToken: string;
  report: QualityReportResult;
  chart: QualityChartData;
  failed: readonly ShardFailure[];
}) {
  return (
    <OperatorShell
      title="Quality"
      path="/console/operator/quality"
      csrfToken={props.csrfToken}
      scripts={["charts"]}
      styles={["charts"]}
    >
      <ShardNotice failed={props.failed} />
      <p>Word error rate of reviewed transcripts per provider and model, per ISO week ({props.report.weeks} weeks).</p>
      <DataIsland id="quality-data" data={props.chart} />
      {props.chart.weeks.length === 0 ? <p class="muted">No reviews in these weeks.</p> : null}
      <figure class="chart" data-chart="wer">
        <figcaption>Mean WER per week</figcaption>
      </figure>
      <div class="table-scroll" tabindex={0} role="region" aria-label="Table (scrolls sideways)">
        <table data-testid="quality">
          <thead>
            <tr>
              <th scope="col">Provider / model</th>
              <th scope="col">Week</th>
              <th scope="col">Reviews</th>
              <th scope="col">Good</th>
              <th scope="col">Bad</th>
              <th scope="col">Mean WER</th>
              <th scope="col">Mean CER</th>
            </tr>
          </thead>
          <tbody>
            {props.report.data.map((row) => (
              <tr>
                <th scope="row">
                  {row.provider} / {row.model}
                </th>
                <td>{row.week}</td>
                <td>{row.reviews}</td>
                <td>{row.good}</td>
                <td>{row.bad}</td>
                <td>{row.mean_wer === null ? "—" : row.mean_wer.toFixed(3)}</td>
                <td>{row.mean_cer === null ? "—" : row.mean_cer.toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </OperatorShell>
  );
}
