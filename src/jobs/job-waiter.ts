/**
 * Holding a request until its job is terminal without polling D1: one `JobWaiter` Durable Object per job
 * (`idFromName(jobId)`) parks the waiting requests, and whoever settles the job (queue consumer, pool callback,
 * dead-letter inspector, deletion) wakes them. The object remembers that the job settled for a while, so a request
 * that starts waiting just after the notification still returns at once.
 */
import { DurableObject } from "cloudflare:workers";

import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import type { Db } from "../storage/db.ts";
import { getTenantJob } from "../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { isTerminal } from "./state.ts";

const SETTLED_KEY = "settled";
/** how long a settled object keeps answering "settled" before it deletes its storage */
const SETTLED_MEMORY_MS = 15 * 60_000;
/**
 * A waiting request re-reads its job at least this often: a notification lost to a failed DO call then costs one
 * slice of waiting, not the whole wait. One D1 read per slice, never a tight loop.
 */
export const WAIT_RECHECK_MS = 20_000;

export class JobWaiter extends DurableObject<Env> {
  readonly #wakers = new Set<() => void>();

  /**
   * True once the job has settled (at once if it already had, unless `onlyNew`), false when `timeoutMs` passes first.
   */
  async wait(timeoutMs: number, onlyNew = false): Promise<boolean> {
    if (!onlyNew && (await this.ctx.storage.get<boolean>(SETTLED_KEY))) return true;
    return new Promise<boolean>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(
        () => {
          this.#wakers.delete(wake);
          resolve(false);
        },
        Math.max(0, timeoutMs),
      );
      this.#wakers.add(wake);
    });
  }

  /** Marks the job settled and wakes every waiting request. */
  async settle(): Promise<void> {
    await this.ctx.storage.put(SETTLED_KEY, true);
    await this.ctx.storage.setAlarm(Date.now() + SETTLED_MEMORY_MS);
    for (const wake of [...this.#wakers]) wake();
  }

  /** The settled flag has served its purpose: free the object's storage. */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

function waiterFor(env: Env, jobId: string): DurableObjectStub<JobWaiter> {
  return env.JOB_WAITER.get(env.JOB_WAITER.idFromName(jobId));
}

/**
 * Wakes the requests waiting on a job that just became terminal (or was deleted). Never throws: a lost notification
 * delays a waiter by at most `WAIT_RECHECK_MS`, while a throw here would fail the job's own processing.
 */
export async function notifyJobSettled(env: Env, jobId: string): Promise<void> {
  try {
    await waiterFor(env, jobId).settle();
  } catch (error) {
    log("job_waiter_notify_failed", { job_id: jobId, error: error instanceof Error ? error.name : "unknown" });
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort: T): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve(onAbort);
  return new Promise<T>((resolve, reject) => {
    const abort = () => resolve(onAbort);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/**
 * The tenant's job once it is terminal, or as it stands when `timeoutMs` passes (or `signal` aborts); null when the
 * job does not exist in the tenant (or was deleted while waiting).
 */
export async function waitForTerminalJob(
  env: Env,
  db: Db,
  tenantId: string,
  jobId: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<TranscriptionRow | null> {
  const deadline = Date.now() + timeoutMs;
  let woken = false;
  for (;;) {
    const row = await getTenantJob(db, tenantId, jobId);
    if (!row || isTerminal(row.status)) return row;
    const left = deadline - Date.now();
    if (left <= 0 || signal?.aborted) return row;
    // woken yet still active (a notification that raced ahead of its write): wait for a new one, never spin
    const wait = waiterFor(env, jobId).wait(Math.min(left, WAIT_RECHECK_MS), woken);
    woken = await abortable(wait, signal, false);
  }
}
