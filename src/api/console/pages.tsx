/**
 * The console's server-rendered pages (Hono JSX). JSX escapes every interpolated value, so file names, metadata
 * and error messages from callers and providers render as text; nothing here uses raw HTML.
 */
import type { Child } from "hono/jsx";

import type { TranscriptionRow } from "../../storage/schema.ts";
import type { TenantRow } from "../../storage/tenants.repo.ts";

export const CSS_PATH = "/console/assets/console.css";

function Document(props: { title: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Voice-to-text console`}</title>
        <link rel="stylesheet" href={CSS_PATH} />
      </head>
      <body>{props.children}</body>
    </html>
  );
}

/** Header (who is signed in, sign-out), navigation and the page's main content. */
export function Shell(props: { title: string; who: string; csrfToken: string; children: Child }) {
  return (
    <Document title={props.title}>
      <header>
        <span class="who" data-testid="who">
          {props.who}
        </span>
        <form class="sign-out" method="post" action="/console/sign-out">
          <input type="hidden" name="csrf_token" value={props.csrfToken} />
          <button type="submit">Sign out</button>
        </form>
      </header>
      <nav aria-label="Console">
        <ul>
          <li>
            <a href="/console">Home</a>
          </li>
        </ul>
      </nav>
      <main>
        <h1>{props.title}</h1>
        {props.children}
      </main>
    </Document>
  );
}

export function SignInPage(props: { error?: string }) {
  return (
    <Document title="Sign in">
      <main>
        <h1>Sign in</h1>
        <p>
          Sign in with a tenant API key that has the <code>transcriptions:read</code> scope, or with the operator key.
          The key is exchanged for a short-lived session; the browser never stores it.
        </p>
        {props.error ? (
          <p class="error" role="alert" data-testid="sign-in-error">
            {props.error}
          </p>
        ) : null}
        <form method="post" action="/console/sign-in">
          <label for="api_key">API key</label>
          <input id="api_key" name="api_key" type="password" autocomplete="off" required autofocus />
          <p>
            <button type="submit">Sign in</button>
          </p>
        </form>
      </main>
    </Document>
  );
}

const formatTime = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";

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
                    <code>{job.id}</code>
                  </td>
                  <td>{job.status}</td>
                  <td>{formatTime(job.createdAt)}</td>
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

export function OperatorPage(props: { csrfToken: string; tenants: TenantRow[] }) {
  return (
    <Shell title="Operator" who="Operator" csrfToken={props.csrfToken}>
      <h2>Tenants</h2>
      {props.tenants.length === 0 ? (
        <p class="muted">No tenants yet.</p>
      ) : (
        <div class="table-scroll">
          <table data-testid="tenants">
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Name</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {props.tenants.map((tenant) => (
                <tr>
                  <td>
                    <code>{tenant.id}</code>
                  </td>
                  <td>{tenant.name}</td>
                  <td>{formatTime(tenant.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Shell>
  );
}
