/** The tenant administrator's pages: transcripts list (and, as they come, transcript, feedback and quality). */
import { PROVIDER_NAMES } from "../../providers/types.ts";
import type { TranscriptionRow } from "../../storage/schema.ts";
import { JOB_STATUSES } from "../../storage/schema.ts";
import { Shell, Time } from "./pages.tsx";
import { EXPORT_FORMATS, EXPORT_MAX_JOBS } from "./transcript-export.ts";

/** The list's filter fields, as the form sends them (empty strings dropped). */
export type ListFilterFields = Partial<
  Record<
    "q" | "status" | "provider" | "subject_id" | "metadata_key" | "metadata_value" | "created_after" | "created_before",
    string
  >
>;

export interface TranscriptsPageProps {
  tenantName: string;
  csrfToken: string;
  jobs: TranscriptionRow[];
  filters: ListFilterFields;
  /** the query string of the next page, or null on the last */
  nextQuery: string | null;
  /** a message for a filter the API would refuse */
  error?: string;
  notice?: string;
}

function TextFilter(props: { name: keyof ListFilterFields; label: string; value?: string; type?: string }) {
  return (
    <div class="field">
      <label for={`f-${props.name}`}>{props.label}</label>
      <input id={`f-${props.name}`} name={props.name} type={props.type ?? "text"} value={props.value ?? ""} />
    </div>
  );
}

function ChoiceFilter(props: {
  name: keyof ListFilterFields;
  label: string;
  value?: string;
  choices: readonly string[];
}) {
  return (
    <div class="field">
      <label for={`f-${props.name}`}>{props.label}</label>
      <select id={`f-${props.name}`} name={props.name}>
        <option value="">any</option>
        {props.choices.map((choice) => (
          <option value={choice} selected={props.value === choice}>
            {choice}
          </option>
        ))}
      </select>
    </div>
  );
}

export function TranscriptsPage(props: TranscriptsPageProps) {
  const f = props.filters;
  const filtered = Object.keys(f).length > 0;
  return (
    <Shell title="Transcripts" who={props.tenantName} csrfToken={props.csrfToken}>
      <form class="filters" method="get" action="/console/transcripts" role="search" aria-label="Find transcripts">
        <div class="field wide">
          <label for="f-q">Search inside transcripts</label>
          <input id="f-q" name="q" type="search" value={f.q ?? ""} placeholder={'words or a "quoted phrase"'} />
        </div>
        <ChoiceFilter name="status" label="Status" value={f.status} choices={JOB_STATUSES} />
        <ChoiceFilter name="provider" label="Provider" value={f.provider} choices={PROVIDER_NAMES} />
        <TextFilter name="created_after" label="Created on or after" value={f.created_after} type="date" />
        <TextFilter name="created_before" label="Created before" value={f.created_before} type="date" />
        <TextFilter name="subject_id" label="Subject id" value={f.subject_id} />
        <TextFilter name="metadata_key" label="Metadata key" value={f.metadata_key} />
        <TextFilter name="metadata_value" label="Metadata value" value={f.metadata_value} />
        <div class="actions">
          <button type="submit">Apply</button>
          {filtered ? <a href="/console/transcripts">Clear</a> : null}
        </div>
      </form>
      {props.error ? (
        <p class="error" role="alert" data-testid="list-error">
          {props.error}
        </p>
      ) : null}
      {props.notice ? (
        <p class="notice" role="status" data-testid="list-notice">
          {props.notice}
        </p>
      ) : null}
      {props.jobs.length === 0 ? (
        <p class="muted" data-testid="no-transcripts">
          {filtered ? "No transcripts match." : "No transcripts yet."}
        </p>
      ) : (
        <>
          <form id="export" class="export" method="post" action="/console/transcripts/export">
            <input type="hidden" name="csrf_token" value={props.csrfToken} />
            {Object.entries(f).map(([name, value]) => (
              <input type="hidden" name={`filter_${name}`} value={value} />
            ))}
            <fieldset>
              <legend>Export as a zip</legend>
              {EXPORT_FORMATS.map((format) => (
                <label class="inline">
                  <input type="checkbox" name="format" value={format} checked /> {format}
                </label>
              ))}
              <button type="submit">Export</button>
              <span class="muted">
                {" "}
                the selected rows, or with none selected every completed match (at most {EXPORT_MAX_JOBS})
              </span>
            </fieldset>
          </form>
          <div class="table-scroll">
            <table data-testid="transcripts">
              <caption class="muted">
                {filtered ? "Matching transcripts" : "Transcripts"}, newest first ({props.jobs.length} on this page).
              </caption>
              <thead>
                <tr>
                  <th scope="col">
                    <span class="visually-hidden">Select</span>
                  </th>
                  <th scope="col">Id</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">File name</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Provider</th>
                  <th scope="col">Metadata</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {props.jobs.map((job) => (
                  <tr data-job-id={job.id}>
                    <td>
                      <input type="checkbox" name="id" value={job.id} form="export" aria-label={`Select ${job.id}`} />
                    </td>
                    <td>
                      <a href={`/console/transcripts/${job.id}`}>
                        <code>{job.id}</code>
                      </a>
                    </td>
                    <td>{job.status}</td>
                    <td>
                      <Time ms={job.createdAt} />
                    </td>
                    <td>{job.fileName ?? ""}</td>
                    <td>{job.durationSeconds === null ? "" : `${job.durationSeconds.toFixed(1)} s`}</td>
                    <td>{job.provider}</td>
                    <td>{job.metadata && job.metadata !== "{}" ? job.metadata : ""}</td>
                    <td>{job.errorMessage ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {props.nextQuery !== null ? (
        <p>
          <a href={`/console/transcripts?${props.nextQuery}`} rel="next" data-testid="next-page">
            Older transcripts →
          </a>
        </p>
      ) : null}
    </Shell>
  );
}
