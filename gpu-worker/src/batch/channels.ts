/**
 * Multichannel jobs (`speakers.multichannel`): every channel of the audio is its own speaker. Each channel is decoded
 * on its own (ffmpeg's `pan`, `DecodeOptions.channel`) and streamed through the same window path as any job, its
 * windows batched with everyone else's; the channels' transcripts are then merged by time, each segment and word
 * naming its channel as the speaker (`ch0`, `ch1`, …; the edge renames them `A`, `B`, … by first appearance).
 */
import { setMaxListeners } from "node:events";

import type { StitchedTranscript } from "./stitch.ts";
import type { StreamedTranscription } from "./stream-job.ts";

/** The speaker id of a channel in a callback (docs/pool-contract.md §3). */
export function channelSpeaker(channel: number): string {
  return `ch${channel}`;
}

/**
 * Windows one channel may hold at once: the job's budget shared between its channels (at least one each), so a
 * multichannel job holds about what a single-channel job holds, whatever its channel count.
 */
export function windowsPerChannel(jobWindowsInFlight: number, channels: number): number {
  return Math.max(1, Math.ceil(Math.max(1, Math.floor(jobWindowsInFlight)) / Math.max(1, channels)));
}

/**
 * Runs `transcribeChannel` for channels 0 … count − 1 at once. The first failure stops the other channels (their
 * `stop` signal aborts: their decoders end, their queued windows still settle) and is rethrown once every channel has
 * settled, so nothing of the job is left running.
 */
export async function transcribeChannels(
  count: number,
  transcribeChannel: (channel: number, stop: AbortSignal) => Promise<StreamedTranscription>,
): Promise<StreamedTranscription[]> {
  const stop = new AbortController();
  // each channel's decoder listens to it
  setMaxListeners(count * 4 + 16, stop.signal);
  const state: { failure: { error: unknown } | null } = { failure: null };
  const outcomes = await Promise.allSettled(
    Array.from({ length: count }, (_, channel) =>
      transcribeChannel(channel, stop.signal).catch((error: unknown) => {
        state.failure ??= { error };
        stop.abort(error);
        throw error;
      }),
    ),
  );
  if (state.failure) throw state.failure.error;
  return outcomes.map((o) => (o as PromiseFulfilledResult<StreamedTranscription>).value);
}

/**
 * Per-channel transcripts (index = channel) as one: segments and words tagged with their channel's speaker and
 * ordered by start time (then end, then channel: a stable order for equal times); the text is the merged segments'
 * texts in that order; the language is the first channel's that reports one.
 */
export function mergeChannels(channels: readonly StitchedTranscript[]): StitchedTranscript {
  type Tagged<T> = { item: T; channel: number; index: number };
  const order = <T extends { start: number; end: number }>(a: Tagged<T>, b: Tagged<T>): number =>
    a.item.start - b.item.start || a.item.end - b.item.end || a.channel - b.channel || a.index - b.index;
  const segments = channels
    .flatMap((c, channel) => c.segments.map((item, index) => ({ item, channel, index })))
    .sort(order)
    .map(({ item, channel }) => ({ ...item, speaker: channelSpeaker(channel) }));
  const anyWords = channels.some((c) => c.words !== undefined);
  const words = anyWords
    ? channels
        .flatMap((c, channel) => (c.words ?? []).map((item, index) => ({ item, channel, index })))
        .sort(order)
        .map(({ item, channel }) => ({ ...item, speaker: channelSpeaker(channel) }))
    : undefined;
  return {
    text: segments.map((s) => s.text).join(" "),
    segments,
    ...(words ? { words } : {}),
    language: channels.find((c) => c.language !== null)?.language ?? null,
  };
}
