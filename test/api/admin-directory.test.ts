/** The operator's directory: list and read tenants, list a tenant's keys (never the keys themselves). */
import { beforeAll, describe, expect, it } from "vitest";

import { adminKey, call, createTenant } from "../helpers/api.ts";

interface Tenant {
  id: string;
  name: string;
  retention: { audio_seconds: number; transcript_seconds: number | null };
}
interface ApiKey {
  id: string;
  tenant_id: string;
  prefix: string;
  scopes: string[];
  status: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

const admin = (path: string, init: RequestInit = {}) => call(path, { ...init, key: adminKey() });

let first: Awaited<ReturnType<typeof createTenant>>;
let second: Awaited<ReturnType<typeof createTenant>>;

beforeAll(async () => {
  first = await createTenant("directory-first");
  second = await createTenant("directory-second");
});

describe("GET /v1/admin/tenants", () => {
  it("lists tenants newest first with keyset pages", async () => {
    const page = await admin("/v1/admin/tenants?limit=1");
    expect(page.status).toBe(200);
    const one = (await page.json()) as { data: Tenant[]; next_cursor: string | null };
    expect(one.data.map((t) => t.id)).toEqual([second.tenantId]);
    expect(one.next_cursor).toBe(second.tenantId);
    const next = (await (await admin(`/v1/admin/tenants?limit=100&cursor=${one.next_cursor}`)).json()) as {
      data: Tenant[];
    };
    expect(next.data[0]!.id).toBe(first.tenantId);
    expect(next.data.map((t) => t.id)).not.toContain(second.tenantId);
  });

  it("reads one tenant with its retention, 404 for an unknown one, 400 for a bad cursor", async () => {
    const res = await admin(`/v1/admin/tenants/${first.tenantId}`);
    expect(res.status).toBe(200);
    expect((await res.json()) as Tenant).toMatchObject({ id: first.tenantId, name: "directory-first" });
    expect((await admin("/v1/admin/tenants/tn_01M8RRNAVBWXJWHN128RR7DGG5")).status).toBe(404);
    expect((await admin("/v1/admin/tenants/not-a-tenant")).status).toBe(404);
    expect((await admin("/v1/admin/tenants?cursor=nope")).status).toBe(400);
  });

  it("answers only the operator", async () => {
    for (const path of [
      "/v1/admin/tenants",
      `/v1/admin/tenants/${first.tenantId}`,
      `/v1/admin/tenants/${first.tenantId}/keys`,
    ]) {
      const res = await call(path, { key: first.key });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe("operator_required");
    }
  });
});

describe("GET /v1/admin/tenants/{tenant}/keys", () => {
  it("lists every key with its status and prefix, never the key or its hash", async () => {
    const minted = (await (
      await admin(`/v1/admin/tenants/${first.tenantId}/keys`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "reader", scopes: ["transcriptions:read"] }),
      })
    ).json()) as { id: string; key: string };
    expect(
      (await admin(`/v1/admin/tenants/${first.tenantId}/keys/${minted.id}/revoke`, { method: "POST" })).status,
    ).toBe(204);
    // a request with the tenant's first key, so its last_used_at is set
    expect((await call("/v1/transcriptions", { key: first.key })).status).toBe(200);

    const res = await admin(`/v1/admin/tenants/${first.tenantId}/keys`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(minted.key);
    expect(text).not.toContain(first.key);
    expect(text).not.toMatch(/key_hash|keyHash/);
    const keys = (JSON.parse(text) as { data: ApiKey[] }).data;
    expect(keys.map((k) => k.id)).toEqual([minted.id, first.keyId]);
    expect(keys[0]).toMatchObject({ status: "revoked", scopes: ["transcriptions:read"], tenant_id: first.tenantId });
    expect(keys[0]!.revoked_at).toEqual(expect.any(String));
    expect(keys[1]).toMatchObject({ status: "active", revoked_at: null });
    expect(keys[1]!.last_used_at).toEqual(expect.any(String));
    expect(minted.key.startsWith(keys[0]!.prefix)).toBe(true);
  });

  it("is a 404 for an unknown tenant", async () => {
    expect((await admin("/v1/admin/tenants/tn_01M8RRNAVBWXJWHN128RR7DGG5/keys")).status).toBe(404);
  });
});
