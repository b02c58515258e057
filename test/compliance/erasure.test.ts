import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { retryPoolErasures } from "../../src/compliance/pool-erasure-retry.ts";
import { createDb } from "../../src/storage/db.ts";
import { call, createTenant, multipartUpload } from "../helpers/api.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";

async function upload(key: string, subject: string | null, webhook = false): Promise<string> {
  const fields: Record<string, string> = { provider: "whisper-pool" };
  if (subject) fields.subject_id = subject;
  if (webhook) fields.webhook_url = "https://hooks.example.com/x";
  const res = await multipartUpload(key, fields);
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const rows = async (tenantId: string) =>
  (
    await env.DB.prepare("select id from transcriptions where tenant_id = ?").bind(tenantId).all<{ id: string }>()
  ).results.map((r) => r.id);

describe("DELETE /v1/subjects/{subject_id}", () => {
  it("erases the subject's recordings, transcripts and webhook records in the caller's tenant only, with a receipt", async () => {
    const a = await createTenant("erase-a");
    const b = await createTenant("erase-b");
    const done = await upload(a.key, "person-1", true);
    await poolCallback(completedCallback(done));
    const queued = await upload(a.key, "person-1");
    const otherSubject = await upload(a.key, "person-2");
    const otherTenant = await upload(b.key, "person-1");

    const res = await call("/v1/subjects/person-1", { method: "DELETE", key: a.key });
    expect(res.status).toBe(200);
    const receipt = (await res.json()) as { receipt_id: string; scope: string; erased: Record<string, number> };
    expect(receipt.scope).toBe("subject");
    expect(receipt.erased).toMatchObject({
      transcriptions: 2,
      audio_objects: 2,
      transcript_objects: 1,
      webhook_events: 1,
    });

    expect((await rows(a.tenantId)).sort()).toEqual([otherSubject]);
    expect(await rows(b.tenantId)).toEqual([otherTenant]);
    for (const id of [done, queued]) {
      expect((await env.BUCKET.list({ prefix: `audio/${a.tenantId}/${id}` })).objects).toHaveLength(0);
      expect((await env.BUCKET.list({ prefix: `transcripts/${a.tenantId}/${id}` })).objects).toHaveLength(0);
      expect((await call(`/v1/transcriptions/${id}`, { key: a.key })).status).toBe(404);
    }
    // a late pool result for an erased job is dropped, not resurrected
    expect(await (await poolCallback(completedCallback(queued))).json()).toEqual({ ok: true, applied: false });
    expect(await rows(a.tenantId)).toEqual([otherSubject]);

    // idempotent, and the audit log keeps the receipt without the subject's id
    const again = (await (await call("/v1/subjects/person-1", { method: "DELETE", key: a.key })).json()) as {
      erased: Record<string, number>;
    };
    expect(Object.values(again.erased).every((n) => n === 0)).toBe(true);
    const audit = await env.DB.prepare("select receipt from audit_log where id = ?")
      .bind(receipt.receipt_id)
      .first<{ receipt: string }>();
    expect(JSON.parse(audit!.receipt)).toEqual(receipt);
    expect(audit!.receipt).not.toContain("person-1");
  });

  it("erases what the Whisper pool still holds for dispatched jobs, and reports a pool it could not reach", async () => {
    const t = await createTenant("erase-pool");
    const dispatched = await upload(t.key, "person-9");
    const notDispatched = await upload(t.key, "person-9");
    await env.DB.prepare("update transcriptions set status = 'processing', dispatched_at = ? where id = ?")
      .bind(Date.now(), dispatched)
      .run();
    const pool = interceptFetch().on("DELETE", "https://pool.test/v1/jobs/", ({ url }) =>
      json({ job_id: url.pathname.split("/").pop(), erased: true, state: "active", callback: "absent" }),
    );
    const receipt = (await (await call("/v1/subjects/person-9", { method: "DELETE", key: t.key })).json()) as {
      erased: Record<string, number>;
    };
    // only the job handed to the pool is erased there
    expect(pool.requests.map((r) => r.url.pathname)).toEqual([`/v1/jobs/${dispatched}`]);
    expect(receipt.erased).toMatchObject({ transcriptions: 2, pool_jobs: 1, pool_jobs_unconfirmed: 0 });
    expect(await rows(t.tenantId)).not.toContain(notDispatched);

    // the pool is down: the edge's data still goes, and the receipt says the pool's copy is unconfirmed
    const again = await upload(t.key, "person-10");
    await env.DB.prepare("update transcriptions set status = 'processing', dispatched_at = ? where id = ?")
      .bind(Date.now(), again)
      .run();
    interceptFetch().on("DELETE", "https://pool.test/v1/jobs/", () => json({ title: "down" }, 503));
    const down = (await (await call("/v1/subjects/person-10", { method: "DELETE", key: t.key })).json()) as {
      erased: Record<string, number>;
    };
    expect(down.erased).toMatchObject({ transcriptions: 1, pool_jobs: 0, pool_jobs_unconfirmed: 1 });
    expect(await rows(t.tenantId)).not.toContain(again);

    // the cron keeps asking: still down → later again; back up → confirmed and forgotten
    const pending = () =>
      env.DB.prepare("select job_id, attempts, next_attempt_at from pending_pool_erasures where job_id = ?")
        .bind(again)
        .first<{ attempts: number; next_attempt_at: number }>();
    const first = (await pending())!;
    expect(first.attempts).toBe(1);
    const db = createDb(env);
    expect(await retryPoolErasures(env, db, first.next_attempt_at - 1)).toEqual({
      confirmed: 0,
      pending: 0,
      abandoned: 0,
    });
    expect(await retryPoolErasures(env, db, first.next_attempt_at)).toEqual({ confirmed: 0, pending: 1, abandoned: 0 });
    const second = (await pending())!;
    expect(second.attempts).toBe(2);
    expect(second.next_attempt_at).toBeGreaterThan(first.next_attempt_at);
    const back = interceptFetch().on("DELETE", "https://pool.test/v1/jobs/", ({ url }) =>
      json({ job_id: url.pathname.split("/").pop(), erased: true, state: "completed", callback: "absent" }),
    );
    expect(await retryPoolErasures(env, db, second.next_attempt_at)).toEqual({
      confirmed: 1,
      pending: 0,
      abandoned: 0,
    });
    expect(back.requests.map((r) => r.url.pathname)).toEqual([`/v1/jobs/${again}`]);
    expect(await pending()).toBeNull();
  });

  it("gives up on a pool erasure the pool never confirms after 7 days", async () => {
    const db = createDb(env);
    const requested = Date.now() - 8 * 86_400_000;
    await env.DB.prepare(
      "insert into pending_pool_erasures (job_id, requested_at, attempts, next_attempt_at) values ('tr_01GIVEUP000000000000000000', ?, 9, ?)",
    )
      .bind(requested, requested)
      .run();
    interceptFetch().on("DELETE", "https://pool.test/v1/jobs/", () => json({ title: "down" }, 503));
    expect(await retryPoolErasures(env, db)).toMatchObject({ abandoned: 1 });
    expect(
      await env.DB.prepare(
        "select count(*) as n from pending_pool_erasures where job_id = 'tr_01GIVEUP000000000000000000'",
      ).first("n"),
    ).toBe(0);
  });

  it("rejects a malformed subject id and needs the write scope", async () => {
    const t = await createTenant("erase-scope");
    expect((await call("/v1/subjects/bad%20id", { method: "DELETE", key: t.key })).status).toBe(400);
    const reader = await createTenant("erase-reader", ["transcriptions:read"]);
    expect((await call("/v1/subjects/p", { method: "DELETE", key: reader.key })).status).toBe(403);
  });
});

describe("POST /v1/subjects/erase (the subject id in the body, never in a URL)", () => {
  const erase = (key: string, body: unknown) =>
    call("/v1/subjects/erase", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("erases the subject's jobs in the caller's tenant only, with a receipt, idempotently", async () => {
    const a = await createTenant("erase-body-a");
    const b = await createTenant("erase-body-b");
    const done = await upload(a.key, "jane.doe@example.com", true);
    await poolCallback(completedCallback(done));
    const queued = await upload(a.key, "jane.doe@example.com");
    const otherSubject = await upload(a.key, "person-2");
    const otherTenant = await upload(b.key, "jane.doe@example.com");

    const res = await erase(a.key, { subject_id: "jane.doe@example.com" });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("deprecation")).toBeNull();
    const receipt = (await res.json()) as { receipt_id: string; scope: string; erased: Record<string, number> };
    expect(receipt.scope).toBe("subject");
    expect(receipt.erased).toMatchObject({
      transcriptions: 2,
      audio_objects: 2,
      transcript_objects: 1,
      webhook_events: 1,
    });
    expect(await rows(a.tenantId)).toEqual([otherSubject]);
    expect(await rows(b.tenantId)).toEqual([otherTenant]);
    for (const id of [done, queued]) expect((await call(`/v1/transcriptions/${id}`, { key: a.key })).status).toBe(404);

    const again = (await (await erase(a.key, { subject_id: "jane.doe@example.com" })).json()) as {
      erased: Record<string, number>;
    };
    expect(Object.values(again.erased).every((n) => n === 0)).toBe(true);
    const audit = await env.DB.prepare("select receipt from audit_log where id = ?")
      .bind(receipt.receipt_id)
      .first<{ receipt: string }>();
    expect(audit!.receipt).not.toContain("jane.doe");
  });

  it("validates the body and needs the write scope", async () => {
    const t = await createTenant("erase-body-validation");
    for (const body of [
      { subject_id: "bad id" },
      { subject_id: "" },
      {},
      { subject_id: "p", tenant_id: "tn_x" },
      { subject_id: ["p"] },
    ]) {
      const res = await erase(t.key, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(((await res.json()) as { code: string }).code).toBe("validation_failed");
    }
    const reader = await createTenant("erase-body-reader", ["transcriptions:read"]);
    expect((await erase(reader.key, { subject_id: "p" })).status).toBe(403);
  });

  it("the path form keeps working, marked deprecated in its headers and in the OpenAPI document", async () => {
    const t = await createTenant("erase-deprecated");
    await upload(t.key, "person-old");
    const res = await call("/v1/subjects/person-old", { method: "DELETE", key: t.key });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { erased: { transcriptions: number } }).erased.transcriptions).toBe(1);
    expect(res.headers.get("deprecation")).toMatch(/^@\d+$/);
    expect(new Date(res.headers.get("sunset")!).getTime()).toBeGreaterThan(Date.now());
    expect(res.headers.get("link")).toBe('</v1/subjects/erase>; rel="successor-version"');
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { deprecated?: boolean }>>;
    };
    expect(doc.paths["/v1/subjects/{subject_id}"]!.delete!.deprecated).toBe(true);
    expect(doc.paths["/v1/subjects/erase"]!.post!.deprecated).toBeUndefined();
  });
});

describe("DELETE /v1/admin/tenants/{tenant}", () => {
  it("erases the tenant, its keys and all its data; its key stops working; idempotent", async () => {
    const t = await createTenant("doomed");
    const survivor = await createTenant("survivor");
    const id = await upload(t.key, "someone", true);
    await poolCallback(completedCallback(id));
    const keep = await upload(survivor.key, null);

    const res = await call(`/v1/admin/tenants/${t.tenantId}`, { method: "DELETE", key: env.ADMIN_API_KEY });
    expect(res.status).toBe(200);
    const receipt = (await res.json()) as { scope: string; erased: Record<string, number> };
    expect(receipt).toMatchObject({
      scope: "tenant",
      erased: {
        transcriptions: 1,
        audio_objects: 1,
        transcript_objects: 1,
        api_keys: 1,
        tenants: 1,
        webhook_events: 1,
      },
    });
    expect((await env.BUCKET.list({ prefix: `audio/${t.tenantId}/` })).objects).toHaveLength(0);
    expect((await call("/v1/transcriptions", { key: t.key })).status).toBe(401);
    expect(await rows(survivor.tenantId)).toEqual([keep]);

    const again = (await (
      await call(`/v1/admin/tenants/${t.tenantId}`, { method: "DELETE", key: env.ADMIN_API_KEY })
    ).json()) as { erased: Record<string, number> };
    expect(Object.values(again.erased).every((n) => n === 0)).toBe(true);
    // tenant keys cannot erase tenants
    expect((await call(`/v1/admin/tenants/${survivor.tenantId}`, { method: "DELETE", key: survivor.key })).status).toBe(
      403,
    );
  });
});
