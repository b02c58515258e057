/**
 * The `RateLimit-Policy` and `RateLimit` response fields of draft-ietf-httpapi-ratelimit-headers-10 (pure): Structured
 * Field lists of quoted policy names with integer parameters, e.g. `"requests";q=600;w=60` and
 * `"requests";r=599;t=1`. Sent beside `Retry-After` on a 429 and on the answers of limited routes.
 */

/** The draft's quota units; `requests` is the default and is left out of the field. */
export type QuotaUnit = "requests" | "content-bytes" | "concurrent-requests";

/** One quota a route is subject to: its name, size and window. */
export interface QuotaPolicy {
  name: string;
  /** `q`: units per window */
  quota: number;
  /** `w`: the window in seconds; none for a concurrency cap */
  windowSeconds?: number;
  unit?: QuotaUnit;
}

/** What is left of a policy now. */
export interface QuotaState {
  /** `r`: units left (0 when refused or in debt) */
  remaining: number;
  /** `t`: seconds until the quota is whole again */
  resetSeconds: number;
}

/** Largest integer a Structured Field carries (RFC 9651 §3.3.1: 15 digits). */
const SF_INTEGER_MAX = 999_999_999_999_999;

const integer = (n: number, round: (x: number) => number) =>
  Math.min(SF_INTEGER_MAX, Math.max(0, Number.isFinite(n) ? round(n) : 0));

/** A policy name as an sf-string (names are ours: plain ASCII, but quotes and backslashes are escaped anyway). */
const sfString = (value: string) => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

function policyItem(policy: QuotaPolicy): string {
  let item = `${sfString(policy.name)};q=${integer(policy.quota, Math.floor)}`;
  if (policy.windowSeconds !== undefined) item += `;w=${integer(policy.windowSeconds, Math.ceil)}`;
  if (policy.unit && policy.unit !== "requests") item += `;qu=${sfString(policy.unit)}`;
  return item;
}

function stateItem(policy: QuotaPolicy, state: QuotaState): string {
  return `${sfString(policy.name)};r=${integer(state.remaining, Math.floor)};t=${integer(state.resetSeconds, Math.ceil)}`;
}

/** The two fields for the given policies, as header name → value (lower case, for `Headers`). */
export function rateLimitFields(...quotas: [QuotaPolicy, QuotaState][]): Record<string, string> {
  return {
    "ratelimit-policy": quotas.map(([policy]) => policyItem(policy)).join(", "),
    ratelimit: quotas.map(([policy, state]) => stateItem(policy, state)).join(", "),
  };
}

/** Adds the fields to a response that may already carry some (a Structured Field list may span field lines). */
export function appendRateLimitFields(headers: Headers, fields: Record<string, string>): void {
  for (const [name, value] of Object.entries(fields)) if (value) headers.append(name, value);
}
