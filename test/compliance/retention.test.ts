import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { purgeExpired } from "../../src/compliance/retention.ts";
import worker from "../../src/index.ts";
import { DEFAULT_AUDIO_RETENTION_SECONDS } from "../../src/jobs/retention-policy.ts";
import { createDb } from "../../src/storage/db.ts";
import { adminKey, call, createTenant, multipartUpload } from "../helpers/api.ts";
import { jobRow } from "../helpers/jobs.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";

const db = () => createDb(env);

async function uploadAndComplete(key: string, fields: Record<string, string> = {}) {
  const res = await multipartUpload(key, { provider: "whisper-pool", ...fields });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  expect((await poolCallback(completedCallback(id))).status).toBe(200);
  return id;
}

async function objectCount(prefix: string) {
  return (await env.BUCKET.list({ prefix })).objects.length;
}

async function runCron() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: new Date(), cron: "* * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

async function setTenantRetention(tenantId: string, retention: Record<string, unknown>) {
  return call(`/v1/admin/tenants/${tenantId}`, {
    method: "PATCH",
    key: adminKey(),
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ retention }),
  });
}

describe("delete_after_seconds", () => {
  it.each([
    ["abc", "invalid_delete_after_seconds"],
    ["-1", "invalid_delete_after_seconds"],
    ["1.5", "invalid_delete_after_seconds"],
    ["99999999999", "invalid_delete_after_seconds"],
  ])("rejects %s with 422 %s and stores nothing", async (value, code) => {
    const { key, tenantId } = await createTenant("retention-bad");
    const res = await multipartUpload(key, { delete_after_seconds: value });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code });
    expect(await objectCount(`audio/${tenantId}/`)).toBe(0);
  });

  it("a job with delete_after_seconds=0 is purged by the next cron run, audio first, with a receipt", async () => {
    const { key, tenantId } = await createTenant("retention-zero");
    const id = await uploadAndComplete(key, { delete_after_seconds: "0" });
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ status: "completed", delete_after_seconds: 0 });
    expect(job.expires_at).toBe(job.completed_at);
    expect(job.audio_expires_at).toBe(job.completed_at);
    expect(await objectCount(`audio/${tenantId}/${id}`)).toBe(1);
    expect(await objectCount(`transcripts/${tenantId}/${id}/`)).toBe(1);

    await runCron();
    expect(await jobRow(id)).toBeNull();
    expect(await objectCount(`audio/${tenantId}/${id}`)).toBe(0);
    expect(await objectCount(`transcripts/${tenantId}/${id}/`)).toBe(0);
    expect((await call(`/v1/transcriptions/${id}`, { key })).status).toBe(404);
    const audit = await env.DB.prepare("select action, receipt from audit_log where tenant_id = ?")
      .bind(tenantId)
      .all<{ action: string; receipt: string }>();
    expect(audit.results).toHaveLength(1);
    expect(audit.results[0]!.action).toBe("retention.purged");
    const receipt = JSON.parse(audit.results[0]!.receipt) as { erased: Record<string, number> };
    expect(receipt.erased).toMatchObject({ transcriptions: 1, audio_objects: 1, transcript_objects: 1 });
    // the receipt holds counts and ids of its own, never the job id or any text
    expect(audit.results[0]!.receipt).not.toContain(id);
  });

  it("a job that has not finished is never purged", async () => {
    const { key } = await createTenant("retention-active");
    const res = await multipartUpload(key, { provider: "whisper-pool", delete_after_seconds: "0" });
    const { id } = (await res.json()) as { id: string };
    await purgeExpired(env, db(), Date.now() + 365 * 86_400_000);
    expect(await jobRow(id)).toMatchObject({ status: "queued", delete_at: null, audio_delete_at: null });
  });
});

describe("tenant retention defaults", () => {
  it("audio goes after the tenant's audio window; the transcript stays readable until its own window", async () => {
    const { key, tenantId } = await createTenant("retention-tenant");
    const patched = await setTenantRetention(tenantId, { audio_seconds: 3600, transcript_seconds: 7 * 86_400 });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({
      id: tenantId,
      retention: { audio_seconds: 3600, transcript_seconds: 604_800 },
    });

    const id = await uploadAndComplete(key);
    const row = (await jobRow(id))!;
    const completedAt = Number(row.completed_at);
    expect(row).toMatchObject({
      retain_audio_seconds: 3600,
      retain_seconds: 604_800,
      audio_delete_at: completedAt + 3_600_000,
      delete_at: completedAt + 604_800_000,
    });

    // an hour later: only the audio is gone
    await purgeExpired(env, db(), completedAt + 3_600_000);
    expect(await objectCount(`audio/${tenantId}/${id}`)).toBe(0);
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ status: "completed", audio_deleted_at: expect.any(String), audio_expires_at: null });
    expect(job.text).toEqual(expect.stringContaining("fellow Americans"));
    expect((await call(`/v1/transcriptions/${id}/transcript?format=srt`, { key })).status).toBe(200);

    // a week later: everything
    await purgeExpired(env, db(), completedAt + 604_800_000);
    expect(await jobRow(id)).toBeNull();
    expect(await objectCount(`transcripts/${tenantId}/${id}/`)).toBe(0);
  });

  it("without settings, audio is kept for the service default and transcripts until deleted", async () => {
    const { key, tenantId } = await createTenant("retention-default");
    const id = await uploadAndComplete(key);
    const row = (await jobRow(id))!;
    expect(row).toMatchObject({
      retain_audio_seconds: DEFAULT_AUDIO_RETENTION_SECONDS,
      retain_seconds: null,
      delete_at: null,
    });
    await purgeExpired(env, db(), Number(row.completed_at) + 10 * 365 * 86_400_000);
    expect(await jobRow(id)).toMatchObject({ status: "completed", audio_key: null });
    expect(await objectCount(`transcripts/${tenantId}/${id}/`)).toBe(1);
  });

  it("validates the settings and hides unknown tenants", async () => {
    const { tenantId } = await createTenant("retention-validate");
    const tooLong = await setTenantRetention(tenantId, { audio_seconds: 31 * 86_400 });
    expect(tooLong.status).toBe(422);
    const wrongType = await setTenantRetention(tenantId, { transcript_seconds: "soon" });
    expect(wrongType.status).toBe(422);
    const unknown = await setTenantRetention("ten_01ZZZZZZZZZZZZZZZZZZZZZZZZ", { audio_seconds: 60 });
    expect(unknown.status).toBe(404);
    const tenantKey = (await createTenant("retention-not-admin")).key;
    const forbidden = await call(`/v1/admin/tenants/${tenantId}`, {
      method: "PATCH",
      key: tenantKey,
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect([403, 404]).toContain(forbidden.status);
  });
});
