/** The tenant administrator's pages: transcripts list (and, as they come, transcript, feedback and quality). */
import type { TranscriptionRow } from "../../storage/schema.ts";
import { Shell, Time } from "./pages.tsx";

export function TranscriptsPage(props: { tenantName: string; csrfToken: string; jobs: TranscriptionRow[] }) {
  return (
    <Shell title="Transcripts" who={props.tenantName} csrfToken={props.csrfToken}>
      {props.jobs.length === 0 ? (
        <p class="muted">No transcripts yet.</p>
      ) : (
        <div class="table-scroll">
          <table data-testid="transcripts">
            <caption class="muted">The newest {props.jobs.length} transcripts of this tenant.</caption>
            <thead>
              <tr>
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
                <tr>
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
                  <td>{job.metadata ?? ""}</td>
                  <td>{job.errorMessage ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Shell>
  );
}
