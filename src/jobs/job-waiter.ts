/**
 * TEMPORARY STUB (branch openai-routes): the lead's JobWaiter Durable Object replaces this file when `main` is
 * merged. Same signature; this stand-in re-reads the row with a backing-off delay (25 ms → 500 ms) instead of being
 * woken, so it is correct but not the wake-up mechanism issue 11 asks for. Do not build on it.
 */
import type { Env } from "../env.ts";
import type { Db } from "../storage/db.ts";
import { getTenantJob } from "../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { isTerminal } from "./state.ts";

/** Resolves when the job is terminal (or deleted → null), or at the timeout with the row as it stands. */
export async function waitForTerminalJob(
  _env: Env,
  db: Db,
  tenantId: string,
  jobId: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<TranscriptionRow | null> {
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (;;) {
    const row = await getTenantJob(db, tenantId, jobId);
    if (!row || isTerminal(row.status) || Date.now() >= deadline || signal?.aborted) return row;
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(1, deadline - Date.now()))));
    delay = Math.min(500, delay * 1.5);
  }
}
