/**
 * Retention windows (pure). A job's audio and the job itself (transcript, row, webhook log) each get a window,
 * counted from the moment the job finishes; the purge cron deletes what is past its window.
 */

/** Audio is never kept longer than this; infra/r2 carries a lifecycle rule one day longer as a backstop. */
export const MAX_AUDIO_RETENTION_SECONDS = 30 * 86_400;
export const DEFAULT_AUDIO_RETENTION_SECONDS = 7 * 86_400;
/** Upper bound of `delete_after_seconds` and of a tenant's transcript window (ten years). */
export const MAX_RETENTION_SECONDS = 10 * 365 * 86_400;

export interface TenantRetention {
  audioRetentionSeconds: number | null;
  transcriptRetentionSeconds: number | null;
}

export interface ResolvedRetention {
  /** seconds after the job finishes that its audio is deleted */
  retainAudioSeconds: number;
  /** seconds after the job finishes that everything about it is deleted; null keeps it until deleted */
  retainSeconds: number | null;
}

/**
 * `delete_after_seconds` (per job) wins over the tenant's transcript window; the audio goes at the earliest of the
 * tenant's audio window (or the service default), the service maximum, and the job's own deletion.
 */
export function resolveRetention(
  deleteAfterSeconds: number | null,
  tenant: TenantRetention,
  defaultAudioSeconds = DEFAULT_AUDIO_RETENTION_SECONDS,
): ResolvedRetention {
  const retainSeconds = deleteAfterSeconds ?? tenant.transcriptRetentionSeconds ?? null;
  const audioWindow = tenant.audioRetentionSeconds ?? defaultAudioSeconds;
  const retainAudioSeconds = Math.min(
    audioWindow,
    MAX_AUDIO_RETENTION_SECONDS,
    retainSeconds ?? Number.POSITIVE_INFINITY,
  );
  return { retainAudioSeconds: Math.max(0, retainAudioSeconds), retainSeconds };
}
