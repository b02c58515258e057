/**
 * D1 binds at most 100 parameters per query: every path that handles many jobs at once must slice its id lists.
 * These run each path with well over 100 jobs against the real (Miniflare) D1, which enforces the limit.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { purgeExpired } from "../../src/compliance/retention.ts";
import { sweepStuckJobs } from "../../src/jobs/sweeper.ts";
import { createDb } from "../../src/storage/db.ts";
import { call, createTenant } from "../helpers/api.ts";

const db = () => createDb(env);

async function seedMany(tenantId: string, count: number, columns: Record<string, string | number | null>) {
  const now = Date.now();
  const names = Object.keys(columns);
  const statements = [];
  for (let start = 0; start < count; start += 50) {
    const rows = [];
    for (let i = start; i < Math.min(count, start + 50); i++) {
      const id = `tr_01BULK${tenantId.slice(-6)}${String(i).padStart(13, "0")}`;
      const values = names.map((n) => {
        const v = columns[n];
        return v === null ? "null" : typeof v === "number" ? String(v) : `'${v}'`;
      });
      rows.push(
        `('${id}', '${tenantId}', 1000, 'wav', ${now - 3_600_000}, ${now - 3_600_000}, 'audio/${tenantId}/${id}', ${values.join(", ")})`,
      );
    }
    statements.push(
      env.DB.prepare(
        `insert into transcriptions (id, tenant_id, audio_bytes, audio_format, created_at, updated_at, audio_key, ${names.join(", ")}) values ${rows.join(", ")}`,
      ),
    );
  }
  await env.DB.batch(statements);
}

const count = async (tenantId: string, where = "1 = 1") =>
  (await env.DB.prepare(`select count(*) as n from transcriptions where tenant_id = ? and ${where}`)
    .bind(tenantId)
    .first<{ n: number }>())!.n;

describe("bulk paths stay within D1's bound-parameter limit", () => {
  it("the sweeper re-queues 150 stuck jobs over two runs", async () => {
    const { tenantId } = await createTenant("bulk-sweep");
    await seedMany(tenantId, 150, { status: "queued", provider: "openai", enqueued_at: null });
    const first = await sweepStuckJobs(env, db());
    const second = await sweepStuckJobs(env, db());
    expect(first.requeued + second.requeued).toBe(150);
    expect(await count(tenantId, "enqueued_at is null")).toBe(0);
  });

  it("a subject with 120 recordings is erased in one call", async () => {
    const { tenantId, key } = await createTenant("bulk-erase");
    await seedMany(tenantId, 120, {
      status: "completed",
      provider: "openai",
      subject_id: "many",
      completed_at: Date.now(),
    });
    const res = await call("/v1/subjects/many", { method: "DELETE", key });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { erased: { transcriptions: number } }).erased.transcriptions).toBe(120);
    expect(await count(tenantId)).toBe(0);
  });

  it("the retention purge handles 150 expired audio objects and 150 expired jobs in a run", async () => {
    const { tenantId } = await createTenant("bulk-purge");
    const past = Date.now() - 1000;
    await seedMany(tenantId, 150, {
      status: "completed",
      provider: "openai",
      completed_at: past,
      audio_delete_at: past,
      delete_at: null,
    });
    const audio = await purgeExpired(env, db());
    expect(audio.audio_objects).toBe(150);
    expect(await count(tenantId, "audio_key is null and audio_purged_at is not null")).toBe(150);
    await env.DB.prepare("update transcriptions set delete_at = ? where tenant_id = ?").bind(past, tenantId).run();
    const jobs = await purgeExpired(env, db());
    expect(jobs.transcriptions).toBe(150);
    expect(await count(tenantId)).toBe(0);
  });
});
