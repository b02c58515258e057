/** Dead-letter classification and re-drive schedule (pure). */
import { cappedExponentialBackoff } from "@vtt/pool-contract";

export type DeadLetterVerdict =
  | {
      classification: "corrupt";
      code: "audio_missing" | "empty_audio" | "audio_too_large" | "invalid_audio";
      reason: string;
    }
  | { classification: "recoverable"; reason: string };

export interface StoredAudioFacts {
  /** null when the object is gone */
  size: number | null;
  maxBytes: number;
  /** whether the stored bytes still sniff as a supported container */
  sniffsAsAudio: boolean;
  /** an `audio_url` job whose audio was never fetched: its URL failed retryably, like a provider would */
  awaitingFetch?: boolean;
}

/** Corrupt input fails for good; anything else was the providers' trouble and is worth another try later. */
export function classifyDeadLetter(audio: StoredAudioFacts, lastReason: string | null): DeadLetterVerdict {
  if (audio.awaitingFetch) return { classification: "recoverable", reason: lastReason ?? "audio_url_fetch_failures" };
  if (audio.size === null)
    return { classification: "corrupt", code: "audio_missing", reason: "the audio object is gone" };
  if (audio.size === 0) return { classification: "corrupt", code: "empty_audio", reason: "the audio is empty" };
  if (audio.size > audio.maxBytes)
    return { classification: "corrupt", code: "audio_too_large", reason: "the audio exceeds the upload limit" };
  if (!audio.sniffsAsAudio)
    return {
      classification: "corrupt",
      code: "invalid_audio",
      reason: "the stored bytes are not a supported audio container",
    };
  return { classification: "recoverable", reason: lastReason ?? "provider_failures" };
}

const REDRIVE_BASE_SECONDS = 60;
const REDRIVE_CAP_SECONDS = 60 * 60;

/** Growing delay before the n-th re-drive (0-based): 1 min, 2, 4, … capped at 1 h. */
export function redriveDelaySeconds(redriveCount: number): number {
  return cappedExponentialBackoff(redriveCount, { base: REDRIVE_BASE_SECONDS, cap: REDRIVE_CAP_SECONDS });
}
