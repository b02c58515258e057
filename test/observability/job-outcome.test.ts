import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";

import type { Env } from "../../src/env.ts";
import { analyticsDataPoint, jobOutcome, recordJobOutcome } from "../../src/observability/job-outcome.ts";
import type { TranscriptionRow } from "../../src/storage/schema.ts";

const row = (overrides: Partial<TranscriptionRow> = {}): TranscriptionRow =>
  ({
    id: "tr_01OUTCOME0000000000000000",
    tenantId: "tn_01TENANT00000000000000000",
    status: "completed",
    provider: "openai",
    model: "whisper-1",
    language: "en",
    durationSeconds: 11,
    audioBytes: 352_078,
    attempts: 2,
    errorCode: null,
    createdAt: 1_000_000,
    startedAt: 1_003_000,
    completedAt: 1_010_500,
    updatedAt: 1_010_500,
    text: "secret words",
    prompt: "private prompt",
    metadata: '{"name":"Jane"}',
    ...overrides,
  }) as TranscriptionRow;

describe("job outcome records", () => {
  it("derive queue wait, processing and end-to-end times from the row", () => {
    expect(jobOutcome(row())).toMatchObject({
      outcome: "completed",
      queue_wait_ms: 3000,
      processing_ms: 7500,
      end_to_end_ms: 10_500,
      attempts: 2,
      audio_seconds: 11,
    });
    expect(
      jobOutcome(row({ status: "failed", startedAt: null, errorCode: "invalid_audio", durationSeconds: null })),
    ).toMatchObject({
      outcome: "failed",
      error_code: "invalid_audio",
      queue_wait_ms: null,
      processing_ms: null,
    });
  });

  it("write one Analytics Engine data point per job (tenant as the index), with no text, prompt or metadata", () => {
    const points: AnalyticsEngineDataPoint[] = [];
    const dataset = { writeDataPoint: (p: AnalyticsEngineDataPoint) => points.push(p) } as AnalyticsEngineDataset;
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    recordJobOutcome({ ...env, JOB_ANALYTICS: dataset } as Env, row());
    expect(points).toEqual([analyticsDataPoint(jobOutcome(row()))]);
    expect(points[0]).toEqual({
      indexes: ["tn_01TENANT00000000000000000"],
      blobs: ["openai", "whisper-1", "completed", "", "en"],
      doubles: [11, 352_078, 2, 3000, 7500, 10_500],
    });
    const logged = log.mock.calls.map((c) => String(c[0])).join("\n");
    expect(logged).toContain('"event":"job_finished"');
    for (const secret of ["secret words", "private prompt", "Jane"]) {
      expect(JSON.stringify(points)).not.toContain(secret);
      expect(logged).not.toContain(secret);
    }
    log.mockRestore();
  });

  it("a failing or absent binding never fails the job", () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const broken = {
      writeDataPoint: () => {
        throw new Error("quota");
      },
    } as unknown as AnalyticsEngineDataset;
    expect(() => recordJobOutcome({ ...env, JOB_ANALYTICS: broken } as Env, row())).not.toThrow();
    expect(() => recordJobOutcome({ ...env, JOB_ANALYTICS: undefined } as Env, row())).not.toThrow();
    expect(log.mock.calls.map((c) => String(c[0])).join("\n")).toContain("analytics_write_failed");
    log.mockRestore();
  });
});
