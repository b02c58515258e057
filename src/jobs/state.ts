/** The transcription job state machine (pure). */
import type { JobStatus } from "../storage/schema.ts";

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["completed", "failed"]);

const ALLOWED: Record<JobStatus, readonly JobStatus[]> = {
  queued: ["processing", "failed"],
  // processing → queued happens when the sweeper re-queues a job whose worker vanished
  processing: ["processing", "completed", "failed", "queued"],
  completed: [],
  failed: [],
};

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return ALLOWED[from].includes(to);
}
