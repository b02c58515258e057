/** Maps a D1 row (and its R2 transcript document) to the public job object. */
import { redactionOptionsOf, storedAudioSpans, storedEntityCounts } from "../jobs/redaction-options.ts";
import { parseStoredKeyterms } from "../providers/keyterms.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import type { TranscriptDocument } from "../storage/transcript-store.ts";
import type { JobObject } from "./schemas.ts";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function parseStoredMetadata(text: string | null): Record<string, string> {
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, string>;
  } catch {
    return {};
  }
}

export const DELAYED_NOTICE = "processing delayed";

/**
 * `doc` is loaded for single-job reads; list items carry text but no segments (null). `delayReason` overrides the
 * stored reason (the upload route knows the provider's breaker is open before any consumer has seen the job).
 * `audioUrlHost` (src/storage/audio-source.ts `withAudioUrlHost`) names the host of an `audio_url` job's source.
 */
export function toJobObject(
  row: TranscriptionRow & { audioUrlHost?: string | null },
  doc: TranscriptDocument | null,
  delayReason?: string | null,
): JobObject {
  const active = row.status === "queued" || row.status === "processing";
  const reason = active ? (delayReason ?? row.delayedReason) : null;
  return {
    id: row.id,
    object: "transcription",
    status: row.status,
    provider: row.provider,
    task: row.task,
    model: row.model,
    language: row.language ?? row.requestedLanguage,
    language_probability: row.languageProbability,
    duration_seconds: row.durationSeconds,
    text: row.status === "completed" ? (doc?.text ?? row.text) : null,
    segments: doc ? doc.segments : null,
    // both only on jobs with speaker options: other jobs' objects are as they were
    ...(doc?.speakers ? { speakers: doc.speakers } : {}),
    ...(row.speakerLabels || row.multichannel
      ? {
          speaker_options: {
            speaker_labels: row.speakerLabels,
            speakers_expected: row.speakersExpected,
            min_speakers: row.minSpeakers,
            max_speakers: row.maxSpeakers,
            multichannel: row.multichannel,
          },
        }
      : {}),
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? "" } : null,
    attempts: row.attempts,
    delayed: !!reason,
    delay_reason: reason ?? null,
    notice: reason ? DELAYED_NOTICE : null,
    metadata: parseStoredMetadata(row.metadata),
    subject_id: row.subjectId,
    keyterms: parseStoredKeyterms(row.keyterms),
    file_name: row.fileName,
    audio_bytes: row.audioBytes,
    audio_format: row.audioFormat,
    source:
      row.audioUrlSealed === null
        ? { type: "upload" }
        : { type: "url", host: row.audioUrlHost ?? null, fetched_at: iso(row.audioFetchedAt) },
    upload_id: row.uploadId ?? null,
    webhook_url: row.webhookUrl,
    created_at: iso(row.createdAt)!,
    started_at: iso(row.startedAt),
    completed_at: iso(row.completedAt),
    delete_after_seconds: row.deleteAfterSeconds,
    audio_expires_at: iso(row.audioDeleteAt),
    audio_deleted_at: iso(row.audioPurgedAt),
    expires_at: iso(row.deleteAt),
    redaction: redactionOf(row),
  };
}

function redactionOf(row: TranscriptionRow): JobObject["redaction"] {
  const options = redactionOptionsOf(row);
  if (!options) return null;
  return {
    policies: [...options.policies],
    substitution: options.substitution,
    audio: options.audio,
    entities: row.status === "completed" ? (storedEntityCounts(row.piiEntities) ?? {}) : null,
    audio_spans: storedAudioSpans(row.piiAudioSpans),
  };
}
