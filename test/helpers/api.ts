/** Drives the Worker through its real fetch handler, as a client would. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";

import type { Env } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { makeWav } from "./audio.ts";

export const BASE = "https://edge.test";

export function call(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("authorization", `Bearer ${init.key}`);
  return exports.default.fetch(new Request(BASE + path, { ...init, headers }));
}

/**
 * Like `call`, but with some bindings overridden (limits, ENVIRONMENT=production, another key ring). `path` may be
 * a full URL, to test the scheme or host.
 */
export async function callWith(
  overrides: Partial<Env>,
  path: string,
  init: RequestInit & { key?: string } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("authorization", `Bearer ${init.key}`);
  const url = /^https?:\/\//.test(path) ? path : BASE + path;
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(url, { ...init, headers }) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...overrides } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

export const adminKey = () => env.ADMIN_API_KEY;

/** Creates a tenant and a key through the admin API; returns both. */
export async function createTenant(
  name = "acme",
  scopes?: string[],
): Promise<{ tenantId: string; key: string; keyId: string }> {
  const tenantRes = await call("/v1/admin/tenants", {
    method: "POST",
    key: adminKey(),
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (tenantRes.status !== 201) throw new Error(`tenant: ${tenantRes.status} ${await tenantRes.text()}`);
  const tenant = (await tenantRes.json()) as { id: string };
  const keyRes = await call(`/v1/admin/tenants/${tenant.id}/keys`, {
    method: "POST",
    key: adminKey(),
    headers: { "content-type": "application/json" },
    body: JSON.stringify(scopes ? { scopes } : {}),
  });
  if (keyRes.status !== 201) throw new Error(`key: ${keyRes.status} ${await keyRes.text()}`);
  const key = (await keyRes.json()) as { id: string; key: string };
  return { tenantId: tenant.id, key: key.key, keyId: key.id };
}

export function multipartUpload(
  key: string,
  fields: Record<string, string> = {},
  file: Uint8Array<ArrayBuffer> | null = makeWav(),
  fileName = "clip.wav",
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  if (file) form.append("file", new Blob([file], { type: "audio/wav" }), fileName);
  return call("/v1/transcriptions", { method: "POST", key, body: form });
}

export function rawUpload(
  key: string,
  body: BodyInit | null,
  query = "",
  contentType = "audio/wav",
): Promise<Response> {
  return call(`/v1/transcriptions${query}`, { method: "POST", key, body, headers: { "content-type": contentType } });
}

/** Counts of everything stored, to prove a rejected request left nothing behind. */
export async function storageCounts(): Promise<{ rows: number; objects: number }> {
  const row = await env.DB.prepare("select count(*) as n from transcriptions").first<{ n: number }>();
  const listed = await env.BUCKET.list();
  return { rows: row?.n ?? 0, objects: listed.objects.length };
}
