import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { cachedDriftFamilies, refreshDriftSnapshot } from "../../src/drift/drift-snapshot.ts";
import worker from "../../src/index.ts";
import { createDb } from "../../src/storage/db.ts";
import { adminKey, call } from "../helpers/api.ts";

const db = () => createDb(env);
const HOUR = 3_600_000;

async function seedFeatures(model: string, completedAt: number, count: number, duration: (i: number) => number) {
  for (let i = 0; i < count; i++) {
    await env.DB.prepare(
      `insert into job_features (job_id, tenant_id, provider, model, created_at, completed_at, duration_seconds, bytes, characters, words, empty_transcript, segment_count)
       values (?, 'tn_snapshot', 'openai', ?, ?, ?, ?, 1000, 10, 2, 0, 1)`,
    )
      .bind(`tr_snap_${model}_${completedAt}_${i}`, model, completedAt - 1000, completedAt, duration(i))
      .run();
  }
}

describe("drift snapshot for /metrics", () => {
  it("the cron computes drift at most every 15 minutes and /metrics serves the stored figures with their age", async () => {
    const now = Date.now();
    await seedFeatures("snap", now - 3 * 24 * HOUR, 120, () => 10);
    await seedFeatures("snap", now - 2 * HOUR, 120, (i) => (i % 2 ? 10 : 100));

    // before any cron run: the families are named but empty
    const before = await (await call("/metrics", { key: adminKey() })).text();
    expect(before).toContain("# TYPE vtt_drift_psi gauge");
    expect(before).not.toContain('vtt_drift_psi{feature="durationSeconds",model="snap"');

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: new Date(now), cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);

    const text = await (await call("/metrics", { key: adminKey() })).text();
    const psi = /vtt_drift_psi\{feature="durationSeconds",model="snap",provider="openai",shard="us0"\} (\S+)/.exec(
      text,
    );
    expect(Number(psi?.[1])).toBeGreaterThan(0.25);
    const age = Number(/^vtt_drift_snapshot_age_seconds\{shard="us0"\} (\S+)$/m.exec(text)?.[1]);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);

    // within the interval the snapshot is kept; past it, recomputed
    expect(await refreshDriftSnapshot(db(), Date.now() + 60_000)).toBe(false);
    expect(await refreshDriftSnapshot(db(), Date.now() + 16 * 60_000)).toBe(true);
    const families = await cachedDriftFamilies(db());
    expect(families.map((f) => f.name)).toEqual([
      "vtt_drift_psi",
      "vtt_drift_missing_share",
      "vtt_drift_snapshot_age_seconds",
    ]);
  });
});
