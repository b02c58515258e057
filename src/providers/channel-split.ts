/**
 * Multichannel jobs on providers that take one channel at a time (OpenAI, Workers AI): each channel's mono WAV goes
 * to the job's provider as its own transcription request, one after another (so at most one channel is in flight:
 * Workers AI holds its whole input in memory), and the results are merged by time with the channel as the speaker
 * (`ch0`, `ch1`, …; src/jobs/results.ts relabels them `A`, `B`, … by first appearance). A failure on any channel
 * fails the whole call with that provider's error: never a half-labelled transcript.
 */
import { mergeChannels } from "../domain/speakers.ts";
import {
  type NormalisedTranscript,
  ProviderError,
  type TranscriptionOutcome,
  type TranscriptionRequest,
  type TranscriptionService,
} from "./types.ts";

/** The job's audio as one mono WAV per channel, each of `bytes` bytes, opened on demand. */
export interface ChannelAudio {
  channels: number;
  /** exact byte length of every channel's mono WAV */
  bytes: number;
  open(channel: number): Promise<ReadableStream<Uint8Array>>;
}

/** The request of one channel: the job's options without its audio (each channel brings its own). */
export type ChannelRequest = Omit<TranscriptionRequest, "audio" | "bytes" | "format" | "contentType" | "speakers">;

/** Transcribes every channel with `service` and merges them (module comment). */
export async function transcribeChannels(
  service: TranscriptionService,
  request: ChannelRequest,
  audio: ChannelAudio,
): Promise<TranscriptionOutcome> {
  const transcripts: NormalisedTranscript[] = [];
  for (let channel = 0; channel < audio.channels; channel++) {
    const stream = await audio.open(channel);
    let outcome: TranscriptionOutcome;
    try {
      // one mono channel, no speaker options: the provider transcribes it as any mono WAV
      outcome = await service.transcribe({
        ...request,
        audio: stream,
        bytes: audio.bytes,
        format: "wav",
        contentType: "audio/wav",
        speakers: null,
      });
    } catch (error) {
      await stream.cancel().catch(() => undefined);
      throw channelFailure(error, channel, audio.channels);
    }
    if (outcome.kind !== "completed") {
      throw new ProviderError("provider_bad_response", `${service.name} gave no transcript for channel ${channel}`, {
        retryable: false,
      });
    }
    transcripts.push(outcome.transcript);
  }
  return { kind: "completed", transcript: mergeChannelTranscripts(transcripts) };
}

/** The provider's own error, its message naming the channel (its code, retryability and Retry-After unchanged). */
function channelFailure(error: unknown, channel: number, channels: number): unknown {
  if (!(error instanceof ProviderError) || channels === 1) return error;
  return new ProviderError(error.code, `channel ${channel}: ${error.message}`, {
    retryable: error.retryable,
    status: error.status,
    retryAfterSeconds: error.retryAfterSeconds,
    cause: error,
  });
}

/**
 * Per-channel transcripts as one: segments and words tagged `ch{i}` and merged by start time (speakers.ts
 * `mergeChannels`); the language of the channel that said the most, the longest duration, the first channel's model.
 */
export function mergeChannelTranscripts(channels: readonly NormalisedTranscript[]): NormalisedTranscript {
  if (channels.length === 0) throw new RangeError("no channel to merge");
  const merged = mergeChannels(channels);
  const spoken = channels
    .filter((c) => c.language !== null)
    .sort((a, b) => b.text.trim().length - a.text.trim().length)[0];
  const durations = channels.map((c) => c.duration_seconds).filter((d): d is number => d !== null);
  return {
    text: merged.text,
    segments: merged.segments,
    ...(merged.words ? { words: merged.words } : {}),
    language: spoken?.language ?? null,
    ...(spoken?.language_probability !== undefined ? { language_probability: spoken.language_probability } : {}),
    duration_seconds: durations.length ? Math.max(...durations) : null,
    model: channels[0]!.model,
  };
}
