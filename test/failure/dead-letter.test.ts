import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { redriveDue } from "../../src/jobs/dead-letters.ts";
import { createDb } from "../../src/storage/db.ts";
import { call } from "../helpers/api.ts";
import { jobRow, seedJob, seedTenant } from "../helpers/jobs.ts";
import { deliverDeadLetters } from "../helpers/queue.ts";

const deadLetterRow = (id: string) =>
  env.DB.prepare("select * from dead_letters where job_id = ?").bind(id).first<Record<string, unknown>>();

describe("dead-letter inspector", () => {
  it("fails corrupt jobs with their code and parks recoverable ones", async () => {
    const tenant = await seedTenant();
    const good = await seedJob(tenant);
    const missing = await seedJob(tenant, { audio: null });
    const empty = await seedJob(tenant, { audio: new Uint8Array(0) });
    const garbage = await seedJob(tenant, {
      audio: new Uint8Array(new TextEncoder().encode("RIFF....WAVE this is not audio, it only pretends to be")),
    });
    const result = await deliverDeadLetters([good, missing, empty, garbage], tenant);
    expect(result.explicitAcks.sort()).toEqual([...result.ids].sort());

    expect(await jobRow(good)).toMatchObject({ status: "queued", delayed_reason: "dead_lettered" });
    expect(await deadLetterRow(good)).toMatchObject({ classification: "recoverable", resolved_at: null });
    expect(await jobRow(missing)).toMatchObject({ status: "failed", error_code: "audio_missing" });
    expect(await jobRow(empty)).toMatchObject({ status: "failed", error_code: "empty_audio" });
    expect(await jobRow(garbage)).toMatchObject({ status: "failed", error_code: "invalid_audio" });
    expect(await deadLetterRow(garbage)).toMatchObject({ classification: "corrupt", resolution: "failed" });
  });

  it("ignores messages for deleted or finished jobs", async () => {
    const tenant = await seedTenant();
    const done = await seedJob(tenant, { status: "completed" });
    const result = await deliverDeadLetters([done, "tr_01ZZZZZZZZZZZZZZZZZZZZZZZZ"], tenant);
    expect(result.explicitAcks).toHaveLength(2);
    expect(await deadLetterRow(done)).toBeNull();
  });

  it("re-drives parked jobs once due, and fails them with retries_exhausted past the maximum age", async () => {
    const tenant = await seedTenant();
    const id = await seedJob(tenant);
    await deliverDeadLetters([id], tenant);
    const db = createDb(env);
    const first = (await deadLetterRow(id))!;
    // not yet due
    expect(await redriveDue(env, db, Number(first.first_dead_at) + 1000)).toMatchObject({ redriven: 0 });
    const dueAt = Number(first.next_redrive_at) + 1;
    expect((await redriveDue(env, db, dueAt)).redriven).toBeGreaterThanOrEqual(1);
    const after = (await deadLetterRow(id))!;
    expect(after.redrive_count).toBe(1);
    // the next re-drive waits longer than the first one did
    expect(Number(after.next_redrive_at) - dueAt).toBeGreaterThan(
      Number(first.next_redrive_at) - Number(first.first_dead_at),
    );
    const expired = await redriveDue(env, db, Number(first.first_dead_at) + 25 * 3600 * 1000);
    expect(expired.expired).toBeGreaterThanOrEqual(1);
    expect(await deadLetterRow(id)).toMatchObject({ resolution: "expired" });
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "retries_exhausted" });
  });

  it("lists, re-drives and fails items through the admin API", async () => {
    const tenant = await seedTenant();
    const a = await seedJob(tenant);
    const b = await seedJob(tenant);
    await deliverDeadLetters([a, b], tenant);
    const list = (await (await call("/v1/admin/dead-letters", { key: env.ADMIN_API_KEY })).json()) as {
      data: { job_id: string; classification: string }[];
    };
    expect(list.data.filter((d) => [a, b].includes(d.job_id)).map((d) => d.classification)).toEqual([
      "recoverable",
      "recoverable",
    ]);
    expect((await call(`/v1/admin/dead-letters/${a}/redrive`, { method: "POST", key: env.ADMIN_API_KEY })).status).toBe(
      202,
    );
    const failed = await call(`/v1/admin/dead-letters/${b}/fail`, { method: "POST", key: env.ADMIN_API_KEY });
    expect(await failed.json()).toEqual({ failed: true });
    expect(await jobRow(b)).toMatchObject({ status: "failed", error_code: "dead_lettered" });
    expect((await call(`/v1/admin/dead-letters/${b}/fail`, { method: "POST", key: env.ADMIN_API_KEY })).status).toBe(
      404,
    );
  });
});
