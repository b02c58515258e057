/** The operator's pages: tenants (and, as they come, health, breakers, dead letters, drift, quality, keys). */
import type { TenantRow } from "../../storage/tenants.repo.ts";
import { Shell, Time } from "./pages.tsx";

export function OperatorPage(props: { csrfToken: string; tenants: TenantRow[] }) {
  return (
    <Shell title="Operator" who="Operator" csrfToken={props.csrfToken} kind="operator">
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
                  <td>
                    <Time ms={tenant.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Shell>
  );
}
