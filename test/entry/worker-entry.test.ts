/** The Worker's entry point: queues reach exactly their configured consumer, and cron tasks run independently. */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";

import { queueNames } from "../../src/config.ts";
import { CRON_TASKS, queueConsumers, runCronTasks } from "../../src/index.ts";
import { deliver } from "../helpers/queue.ts";

function captureLogs(): { events: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  return { events: () => lines.flatMap((l) => (l.startsWith("{") ? [JSON.parse(l) as Record<string, unknown>] : [])) };
}

afterEach(() => vi.restoreAllMocks());

describe("queue entry", () => {
  it("maps each configured queue name to its own consumer, and renamed queues follow the configuration", () => {
    const consumers = queueConsumers(env);
    expect([...consumers.keys()].sort()).toEqual(["vtt-jobs", "vtt-jobs-dlq", "vtt-webhooks"]);
    expect(new Set(consumers.values()).size).toBe(3);
    const renamed = queueNames({ ...env, JOBS_QUEUE: "jobs-eu", JOBS_DLQ: "jobs-eu-dlq", WEBHOOKS_QUEUE: "hooks-eu" });
    expect(renamed).toEqual({ jobs: "jobs-eu", deadLetters: "jobs-eu-dlq", webhooks: "hooks-eu" });
  });

  it("fails loudly (and logs) for a queue no consumer is configured for, instead of guessing by its name", async () => {
    const logs = captureLogs();
    // a name the old substring routing would have sent to the dead-letter consumer
    const message = { body: { v: 1, job_id: "tr_x", tenant_id: "tn_x" } };
    const result = await deliver("vtt-jobs-eu-dlq", [message], { captureError: true });
    expect(result.error).toBeInstanceOf(Error);
    expect((result.error as Error).message).toMatch(/No consumer is configured for queue "vtt-jobs-eu-dlq"/);
    expect(result.explicitAcks).toEqual([]);
    expect(logs.events()).toContainEqual(expect.objectContaining({ event: "queue_unknown", queue: "vtt-jobs-eu-dlq" }));
  });
});

describe("cron entry", () => {
  it("runs every task even when one fails, with one log line per task outcome", async () => {
    const logs = captureLogs();
    const original = CRON_TASKS.refresh_drift_snapshot!;
    CRON_TASKS.refresh_drift_snapshot = async () => {
      throw new RangeError("snapshot broke");
    };
    try {
      const outcomes = await runCronTasks(env);
      expect(outcomes.map((o) => o.status)).toEqual(
        Object.keys(CRON_TASKS).map((name) => (name === "refresh_drift_snapshot" ? "rejected" : "fulfilled")),
      );
    } finally {
      CRON_TASKS.refresh_drift_snapshot = original;
    }
    const lines = logs.events().filter((e) => e.event === "cron_task");
    expect(lines.map((l) => l.task).sort()).toEqual(Object.keys(CRON_TASKS).sort());
    expect(lines.find((l) => l.task === "refresh_drift_snapshot")).toMatchObject({
      outcome: "failed",
      error: "RangeError",
    });
    expect(lines.filter((l) => l.outcome === "ok")).toHaveLength(Object.keys(CRON_TASKS).length - 1);
  });
});
