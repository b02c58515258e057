/** Small helpers shared by the HTTP-based adapters. */
import { concatBytes } from "../lib/bytes.ts";
import { ProviderError } from "./types.ts";

/** Maps a thrown fetch failure (timeout, abort, DNS, reset) to a retryable ProviderError. */
export function networkFailure(
  provider: string,
  error: unknown,
  timeoutCode: "provider_timeout" | "pool_unreachable" = "provider_timeout",
): ProviderError {
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError" || name === "AbortError") {
    return new ProviderError(timeoutCode, `${provider} did not answer in time`, { retryable: true, cause: error });
  }
  const code = timeoutCode === "pool_unreachable" ? "pool_unreachable" : "provider_network_error";
  return new ProviderError(code, `${provider} could not be reached`, { retryable: true, cause: error });
}

/** Reads a whole stream with a byte cap (for APIs that need the complete file). */
export async function readAllCapped(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  provider: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new ProviderError("provider_rejected_audio", `the audio exceeds ${provider}'s ${maxBytes}-byte limit`, {
        retryable: false,
      });
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}

/** The caller's abort signal (if any) combined with our own deadline: whichever fires first aborts the call. */
export function deadlineSignal(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/** `{ language_probability }` for a finite probability in [0, 1], else nothing (the field stays absent). */
export function languageProbability(value: unknown): { language_probability?: number } {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= 1
    ? { language_probability: value }
    : {};
}

/** A transcript without timestamps still needs one segment so the subtitle exports are not empty. */
export function singleSegment(text: string, duration: number | null) {
  const trimmed = text.trim();
  return trimmed ? [{ start: 0, end: duration ?? 0, text: trimmed }] : [];
}

/**
 * Whisper's per-segment signals, kept under their own names: `avg_logprob` is a log-probability and must never land
 * in `confidence` (a probability, as Deepgram reports it), or drift would compare unlike quantities.
 */
export function whisperSignals(segment: { avg_logprob?: unknown; no_speech_prob?: unknown }): {
  avg_logprob?: number;
  no_speech_prob?: number;
} {
  return {
    ...(typeof segment.avg_logprob === "number" && Number.isFinite(segment.avg_logprob)
      ? { avg_logprob: segment.avg_logprob }
      : {}),
    ...(typeof segment.no_speech_prob === "number" && segment.no_speech_prob >= 0 && segment.no_speech_prob <= 1
      ? { no_speech_prob: segment.no_speech_prob }
      : {}),
  };
}
