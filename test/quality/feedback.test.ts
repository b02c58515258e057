import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { purgeExpired } from "../../src/compliance/retention.ts";
import { openField } from "../../src/domain/envelope.ts";
import { renderExposition } from "../../src/observability/prometheus.ts";
import { isoWeek, qualityMetricFamilies, readFeedback, scoreCorrection } from "../../src/quality/feedback.ts";
import { createDb } from "../../src/storage/db.ts";
import { masterKeys } from "../../src/storage/sealed-objects.ts";
import { adminKey, call, createTenant, multipartUpload } from "../helpers/api.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";

const db = () => createDb(env);
const DAY = 86_400_000;
/** The transcript every completed job in this file has (test/helpers/pool.ts). */
const TRANSCRIPT = "And so my fellow Americans, ask not what your country can do for you.";

async function completedJob(key: string, fields: Record<string, string> = {}): Promise<string> {
  const res = await multipartUpload(key, { provider: "whisper-pool", ...fields });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  expect((await poolCallback(completedCallback(id))).status).toBe(200);
  return id;
}

function feedback(id: string, key: string, body: unknown) {
  return call(`/v1/transcriptions/${id}/feedback`, {
    method: "POST",
    key,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const count = async (table: string, jobId: string) =>
  (await env.DB.prepare(`select count(*) as n from ${table} where job_id = ?`).bind(jobId).first<{ n: number }>())!.n;

describe("scoreCorrection (hand-computed)", () => {
  it.each([
    // 14 reference words; "you" → "yours" is one substitution; in characters (spaces excluded, 56 in the reference) two deletions
    ["And so my fellow Americans, ask not what your country can do for yours.", 1 / 14, 2 / 56],
    // casing and punctuation never count
    ["and so, my fellow americans: ask not what your country can do for you!", 0, 0],
    // the correction drops "so" (the transcript inserted it: 1 insertion over 13 words) …
    ["And my fellow Americans, ask not what your country can do for you.", 1 / 13, 2 / 52],
    // … or adds "all" (1 deletion over 15 words; 3 of 57 characters)
    ["And so my fellow Americans, ask not what all your country can do for you.", 1 / 15, 3 / 57],
  ])("%s", (correction, wer, cer) => {
    const score = scoreCorrection(TRANSCRIPT, correction);
    expect(score.wer).toBeCloseTo(wer, 12);
    expect(score.cer).toBeCloseTo(cer, 12);
  });

  it("an empty correction has no rate (nothing to divide by)", () => {
    expect(scoreCorrection(TRANSCRIPT, "")).toEqual({ wer: null, cer: null, referenceWords: 0 });
  });
});

describe("POST /v1/transcriptions/{id}/feedback", () => {
  it("scores the correction, seals it (and the reason) in D1, and replaces an earlier review", async () => {
    const { key, tenantId } = await createTenant("fb-a", ["admin"]);
    const id = await completedJob(key);
    const correction = "And so my fellow Americans, ask not what your country can do for yours.";
    const res = await feedback(id, key, { rating: "bad", reason: "last word wrong", corrected_text: correction });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      job_id: id,
      rating: "bad",
      reason: "last word wrong",
      has_correction: true,
      reference_words: 14,
      provider: "whisper-pool",
      model: "ggml-tiny.en",
      replaced: false,
    });
    expect(body.wer).toBeCloseTo(1 / 14, 12);
    expect(body.cer).toBeCloseTo(2 / 56, 12);

    const raw = (await env.DB.prepare("select * from transcript_feedback where job_id = ?")
      .bind(id)
      .first<Record<string, unknown>>())!;
    expect(raw).toMatchObject({ tenant_id: tenantId, rating: "bad", provider: "whisper-pool", model: "ggml-tiny.en" });
    for (const column of ["corrected_text", "reason"]) {
      expect(String(raw[column])).toMatch(/^enc1\.m2\./);
      expect(String(raw[column])).not.toContain("yours");
      expect(String(raw[column])).not.toContain("wrong");
    }
    const opened = await readFeedback(env, db(), tenantId, id);
    expect(opened).toMatchObject({ correctedText: correction, reason: "last word wrong" });
    // the AAD binds the sealed text to its job: copied to another job's row it does not open
    await expect(
      openField(
        masterKeys(env),
        tenantId,
        "transcript_feedback.corrected_text:tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C",
        String(raw.corrected_text),
      ),
    ).rejects.toThrow();
    await expect(readFeedback(env, db(), "tn_other", id)).resolves.toBeNull();

    const again = await feedback(id, key, { rating: "good" });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      rating: "good",
      replaced: true,
      wer: null,
      cer: null,
      has_correction: false,
    });
    expect(await count("transcript_feedback", id)).toBe(1);
    expect(await readFeedback(env, db(), tenantId, id)).toMatchObject({
      rating: "good",
      correctedText: null,
      reason: null,
    });
  });

  it("is tenant-scoped: another tenant's job and unknown ids are 404, an unfinished job 409", async () => {
    const a = await createTenant("fb-iso-a", ["admin"]);
    const b = await createTenant("fb-iso-b", ["admin"]);
    const id = await completedJob(a.key);
    for (const target of [id, "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C", "not-an-id"]) {
      const res = await feedback(target, b.key, { rating: "good" });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("not_found");
    }
    expect(await count("transcript_feedback", id)).toBe(0);

    const queued = await multipartUpload(a.key, { provider: "whisper-pool" });
    const { id: queuedId } = (await queued.json()) as { id: string };
    const res = await feedback(queuedId, a.key, { rating: "good" });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe("transcript_not_ready");
  });

  it("needs the admin scope on a tenant key; validates the body", async () => {
    const writer = await createTenant("fb-scope");
    const id = await completedJob(writer.key);
    const noScope = await feedback(id, writer.key, { rating: "good" });
    expect(noScope.status).toBe(403);
    expect(((await noScope.json()) as { code: string }).code).toBe("insufficient_scope");
    const operator = await feedback(id, adminKey(), { rating: "good" });
    expect(operator.status).toBe(403);
    expect(((await operator.json()) as { code: string }).code).toBe("tenant_required");

    const { key } = await createTenant("fb-valid", ["admin"]);
    const own = await completedJob(key);
    for (const body of [
      { rating: "bad" },
      { rating: "meh" },
      { rating: "good", reason: "x".repeat(501) },
      { rating: "good", corrected_text: "x".repeat(100_001) },
      { rating: "bad", reason: "  " },
    ]) {
      const res = await feedback(own, key, body);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(422);
      expect(((await res.json()) as { code: string }).code).toBe("validation_failed");
    }
    expect((await feedback(own, key, { rating: "bad", corrected_text: TRANSCRIPT })).status).toBe(201);
  });
});

describe("GET /v1/admin/quality and the quality gauges", () => {
  it("aggregates reviews per provider, model and ISO week", async () => {
    const now = Date.now();
    const seed = (jobId: string, rating: string, wer: number | null, cer: number | null, at: number) =>
      env.DB.prepare(
        "insert into transcript_feedback (job_id, tenant_id, provider, model, rating, wer, cer, created_at, updated_at) values (?, 'tn_q', 'q-prov', 'q-model', ?, ?, ?, ?, ?)",
      ).bind(jobId, rating, wer, cer, at, at);
    await env.DB.batch([
      seed("tr_q1", "good", 0.1, 0.05, now - 1000),
      seed("tr_q2", "bad", 0.5, 0.25, now - 2000),
      seed("tr_q3", "bad", null, null, now - 3000),
      seed("tr_q4", "good", 0.2, 0.1, now - 8 * DAY),
      seed("tr_q5", "good", 0.9, 0.9, now - 400 * DAY),
    ]);
    const res = await call("/v1/admin/quality?weeks=3&provider=q-prov", { key: adminKey() });
    expect(res.status).toBe(200);
    const report = (await res.json()) as { weeks: number; data: Record<string, unknown>[] };
    expect(report.weeks).toBe(3);
    const thisWeek = report.data.find((d) => d.week === isoWeek(now))!;
    expect(thisWeek.reviews).toBeGreaterThanOrEqual(1);
    const byWeek = new Map<string, { reviews: number; good: number; bad: number; werSum: number; scored: number }>();
    for (const [rating, wer, at] of [
      ["good", 0.1, now - 1000],
      ["bad", 0.5, now - 2000],
      ["bad", null, now - 3000],
      ["good", 0.2, now - 8 * DAY],
    ] as const) {
      const week = isoWeek(at);
      const entry = byWeek.get(week) ?? { reviews: 0, good: 0, bad: 0, werSum: 0, scored: 0 };
      entry.reviews += 1;
      entry[rating] += 1;
      if (wer !== null) {
        entry.werSum += wer;
        entry.scored += 1;
      }
      byWeek.set(week, entry);
    }
    expect(report.data).toHaveLength(byWeek.size);
    for (const [week, expected] of byWeek) {
      const row = report.data.find((d) => d.week === week)!;
      expect(row).toMatchObject({
        provider: "q-prov",
        model: "q-model",
        reviews: expected.reviews,
        good: expected.good,
        bad: expected.bad,
        scored: expected.scored,
      });
      expect(row.mean_wer as number).toBeCloseTo(expected.werSum / expected.scored, 12);
    }
    expect(isoWeek(Date.UTC(2021, 0, 3))).toBe("2020-W53");
    expect(isoWeek(Date.UTC(2026, 0, 1))).toBe("2026-W01");
    expect(isoWeek(Date.UTC(2024, 11, 30))).toBe("2025-W01");

    const families = await qualityMetricFamilies(db(), now);
    const text = renderExposition(families);
    expect(text).toContain('vtt_quality_reviews{model="q-model",provider="q-prov",rating="bad"} 2');
    expect(text).toContain('vtt_quality_reviews{model="q-model",provider="q-prov",rating="good"} 1');
    expect(text).toContain('vtt_quality_wer{model="q-model",provider="q-prov"} 0.3');
    expect(text).toContain("# HELP vtt_quality_wer Mean word error rate of reviewed transcripts over the last 7 days.");
  });
});

describe("erasure covers features and reviews", () => {
  async function reviewed(key: string, fields: Record<string, string> = {}) {
    const id = await completedJob(key, fields);
    expect((await feedback(id, key, { rating: "bad", corrected_text: "ask not" })).status).toBe(201);
    expect(await count("job_features", id)).toBe(1);
    expect(await count("transcript_feedback", id)).toBe(1);
    return id;
  }

  it("subject erasure", async () => {
    const { key } = await createTenant("fb-subject", ["admin"]);
    const id = await reviewed(key, { subject_id: "person-fb" });
    const kept = await reviewed(key, { subject_id: "person-other" });
    const res = await call("/v1/subjects/person-fb", { method: "DELETE", key });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { erased: Record<string, number> }).erased).toMatchObject({
      transcriptions: 1,
      job_features: 1,
      feedback: 1,
    });
    expect(await count("job_features", id)).toBe(0);
    expect(await count("transcript_feedback", id)).toBe(0);
    expect(await count("job_features", kept)).toBe(1);
    expect(await count("transcript_feedback", kept)).toBe(1);
  });

  it("tenant erasure", async () => {
    const { key, tenantId } = await createTenant("fb-tenant", ["admin"]);
    const ids = [await reviewed(key), await reviewed(key)];
    const res = await call(`/v1/admin/tenants/${tenantId}`, { method: "DELETE", key: adminKey() });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { erased: Record<string, number> }).erased).toMatchObject({
      transcriptions: 2,
      job_features: 2,
      feedback: 2,
    });
    for (const id of ids) {
      expect(await count("job_features", id)).toBe(0);
      expect(await count("transcript_feedback", id)).toBe(0);
    }
  });

  it("retention purge", async () => {
    const { key, tenantId } = await createTenant("fb-retention", ["admin"]);
    const id = await reviewed(key, { delete_after_seconds: "60" });
    const result = await purgeExpired(env, db(), Date.now() + 120_000);
    expect(result.transcriptions).toBeGreaterThanOrEqual(1);
    expect(await count("job_features", id)).toBe(0);
    expect(await count("transcript_feedback", id)).toBe(0);
    const receipt = await env.DB.prepare(
      "select receipt from audit_log where tenant_id = ? and action = 'retention.purged'",
    )
      .bind(tenantId)
      .first<{ receipt: string }>();
    expect(JSON.parse(receipt!.receipt).erased).toMatchObject({ transcriptions: 1, job_features: 1, feedback: 1 });
  });
});
