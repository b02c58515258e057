/**
 * The operator's tenants and keys: the tenant list with a create form, one tenant's keys and retention windows, and
 * the page that shows a new key, once (the create POST's own response, never stored or shown again).
 */
import type { keyObject } from "../admin/keys.ts";
import type { mintApiKey } from "../admin/keys.ts";
import type { tenantObject } from "../admin/tenants.ts";
import { ActionForm, OperatorShell } from "./operator-service-pages.tsx";
import { Time } from "./pages.tsx";

type TenantView = ReturnType<typeof tenantObject>;
type KeyView = ReturnType<typeof keyObject>;
type NewKey = Awaited<ReturnType<typeof mintApiKey>>;

const tenantPath = (id: string) => `/console/operator/tenants/${encodeURIComponent(id)}`;

function FormError(props: { error?: string | null }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert" data-testid="form-error">
      {props.error}
    </p>
  );
}

export function TenantsPage(props: {
  csrfToken: string;
  flash?: string | null;
  error?: string | null;
  tenants: TenantView[];
  nextCursor: string | null;
}) {
  return (
    <OperatorShell
      title="Tenants and keys"
      path="/console/operator/tenants"
      csrfToken={props.csrfToken}
      flash={props.flash}
    >
      <section aria-labelledby="new-tenant">
        <h2 id="new-tenant">New tenant</h2>
        <FormError error={props.error} />
        <form method="post" action="/console/operator/tenants">
          <input type="hidden" name="csrf_token" value={props.csrfToken} />
          <label for="tenant-name">Name</label>
          <input id="tenant-name" name="name" type="text" required maxlength={200} autocomplete="off" />
          <p>
            <button type="submit">Create tenant</button>
          </p>
        </form>
      </section>
      <h2>Tenants</h2>
      {props.tenants.length === 0 ? (
        <p class="muted">No tenants yet.</p>
      ) : (
        <div class="table-scroll" tabindex={0} role="region" aria-label="Table (scrolls sideways)">
          <table data-testid="tenant-list">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Created</th>
                <th scope="col">Audio kept</th>
                <th scope="col">Transcripts kept</th>
              </tr>
            </thead>
            <tbody>
              {props.tenants.map((t) => (
                <tr data-tenant={t.id}>
                  <th scope="row">
                    <a href={tenantPath(t.id)}>{t.name}</a>
                  </th>
                  <td>
                    <code>{t.id}</code>
                  </td>
                  <td>
                    <Time ms={Date.parse(t.created_at)} />
                  </td>
                  <td>{t.retention.audio_seconds} s</td>
                  <td>
                    {t.retention.transcript_seconds === null ? "until deleted" : `${t.retention.transcript_seconds} s`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.nextCursor ? (
        <p>
          <a href={`/console/operator/tenants?cursor=${encodeURIComponent(props.nextCursor)}`}>Older tenants</a>
        </p>
      ) : null}
    </OperatorShell>
  );
}

export function TenantPage(props: {
  csrfToken: string;
  flash?: string | null;
  error?: string | null;
  tenant: TenantView;
  keys: KeyView[];
}) {
  const { tenant } = props;
  const base = tenantPath(tenant.id);
  return (
    <OperatorShell
      title={`Tenant ${tenant.name}`}
      path="/console/operator/tenants"
      csrfToken={props.csrfToken}
      flash={props.flash}
    >
      <p>
        <code>{tenant.id}</code>, created <Time ms={Date.parse(tenant.created_at)} />.{" "}
        <a href="/console/operator/tenants">All tenants</a>
      </p>
      <FormError error={props.error} />
      <section aria-labelledby="keys">
        <h2 id="keys">API keys</h2>
        {props.keys.length === 0 ? (
          <p class="muted">No keys yet.</p>
        ) : (
          <div class="table-scroll" tabindex={0} role="region" aria-label="Table (scrolls sideways)">
            <table data-testid="keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Status</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {props.keys.map((k) => (
                  <tr data-key={k.id}>
                    <th scope="row">{k.name ?? <span class="muted">(no name)</span>}</th>
                    <td>
                      <code>{k.prefix}…</code>
                    </td>
                    <td>{k.scopes.join(", ")}</td>
                    <td>
                      <span class={`badge key-${k.status}`} data-testid="key-status">
                        {k.status}
                      </span>
                    </td>
                    <td>{k.expires_at ? <Time ms={Date.parse(k.expires_at)} /> : "never"}</td>
                    <td>{k.last_used_at ? <Time ms={Date.parse(k.last_used_at)} /> : "never"}</td>
                    <td class="actions">
                      {k.status === "active" ? (
                        <ActionForm
                          action={`${base}/keys/${encodeURIComponent(k.id)}/revoke`}
                          csrfToken={props.csrfToken}
                          label="Revoke key"
                          confirm="Requests with this key are refused from now on, and its console sessions end."
                          danger
                        />
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="new-key">
        <h2 id="new-key">New key</h2>
        <form method="post" action={`${base}/keys`}>
          <input type="hidden" name="csrf_token" value={props.csrfToken} />
          <label for="key-name">Name (optional)</label>
          <input id="key-name" name="name" type="text" maxlength={200} autocomplete="off" />
          <fieldset>
            <legend>Scopes</legend>
            <label class="check">
              <input type="checkbox" name="scope_write" checked /> transcriptions:write
            </label>
            <label class="check">
              <input type="checkbox" name="scope_read" checked /> transcriptions:read
            </label>
            <label class="check">
              <input type="checkbox" name="scope_admin" /> admin
            </label>
          </fieldset>
          <label for="key-expiry">Expires on (UTC date, optional)</label>
          <input id="key-expiry" name="expires_on" type="date" />
          <p>
            <button type="submit">Create key</button>
          </p>
        </form>
      </section>
      <section aria-labelledby="retention">
        <h2 id="retention">Retention</h2>
        <p class="muted">
          Applies to jobs uploaded afterwards. Leave audio empty for the service default, transcripts empty to keep them
          until deleted.
        </p>
        <form method="post" action={`${base}/retention`}>
          <input type="hidden" name="csrf_token" value={props.csrfToken} />
          <label for="audio-seconds">Audio kept after the job ends (seconds)</label>
          <input
            id="audio-seconds"
            name="audio_seconds"
            type="number"
            min={0}
            inputmode="numeric"
            value={String(tenant.retention.audio_seconds)}
          />
          <label for="transcript-seconds">Transcripts kept after the job ends (seconds)</label>
          <input
            id="transcript-seconds"
            name="transcript_seconds"
            type="number"
            min={0}
            inputmode="numeric"
            value={tenant.retention.transcript_seconds === null ? "" : String(tenant.retention.transcript_seconds)}
          />
          <p>
            <button type="submit">Save retention</button>
          </p>
        </form>
      </section>
    </OperatorShell>
  );
}

export function NewKeyPage(props: { csrfToken: string; tenant: TenantView; created: NewKey }) {
  return (
    <OperatorShell title="New API key" path="/console/operator/tenants" csrfToken={props.csrfToken}>
      <p class="flash" role="status" data-testid="flash">
        Key created for {props.tenant.name}. Copy it now: it is shown only on this page, never again.
      </p>
      <label for="new-key-value">The new key</label>
      <input id="new-key-value" class="secret" type="text" readonly value={props.created.key} data-testid="new-key" />
      <p>
        Scopes: {props.created.scopes.join(", ")}; expires: {props.created.expires_at ?? "never"}.
      </p>
      <p>
        <a href={tenantPath(props.tenant.id)}>Back to {props.tenant.name}</a>
      </p>
    </OperatorShell>
  );
}
