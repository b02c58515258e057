/**
 * A multichannel job's stored WAV as one mono WAV per channel, for providers that take one channel at a time: the
 * header is read once (a bounded prefix of the sealed object) to learn the layout and each channel's exact size,
 * then every channel is its own streaming pass over the stored audio (decrypt → de-interleave,
 * src/domain/wav-channels.ts), never held whole.
 */
import {
  ChannelSplitError,
  monoWavBytes,
  type WavChannelLayout,
  wavChannelLayout,
  wavChannelTransform,
} from "../domain/wav-channels.ts";
import type { Env } from "../env.ts";
import { concatBytes } from "../lib/bytes.ts";
import { getSealedStream } from "../storage/sealed-objects.ts";

export { ChannelSplitError };

/** Where a job's stored audio lies. */
export interface ChannelAudioSource {
  tenantId: string;
  audioKey: string;
  audioBytes: number;
}

/** A WAV the edge can split: its layout and the exact size of each channel's mono WAV. */
export interface ChannelSplitPlan {
  ok: true;
  channels: number;
  channelBytes: number;
  layout: WavChannelLayout;
}

/** Why the stored WAV cannot be split (its sample format, no `data` chunk): the job's failure message. */
export interface ChannelSplitRefusal {
  ok: false;
  reason: string;
}

/**
 * Reads the stored WAV's header (at most 1 MiB, `MAX_CHANNEL_SPLIT_HEADER_BYTES`; usually the first sealed segment)
 * and plans the split. Null when the audio is no longer stored; storage errors propagate (the delivery is retried).
 */
export async function planChannelSplit(
  env: Env,
  source: ChannelAudioSource,
): Promise<ChannelSplitPlan | ChannelSplitRefusal | null> {
  const opened = await getSealedStream(env, source.tenantId, source.audioKey);
  if (!opened) return null;
  const reader = opened.body.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  try {
    for (;;) {
      const next = await reader.read();
      if (!next.done) {
        chunks.push(next.value);
        have += next.value.byteLength;
      }
      const head = concatBytes(chunks, have);
      const layout = wavChannelLayout(head, next.done ? have : source.audioBytes);
      if (layout) return { ok: true, channels: layout.channels, channelBytes: monoWavBytes(layout), layout };
      if (next.done) throw new ChannelSplitError("The WAV file ends before its `data` chunk.");
      if (chunks.length > 1) chunks.splice(0, chunks.length, head);
    }
  } catch (error) {
    if (error instanceof ChannelSplitError) return { ok: false, reason: error.message };
    throw error;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Channel `channel` of the stored WAV as a mono WAV stream of exactly `monoWavBytes(layout)` bytes (a fresh read of
 * the stored object); null when the audio is no longer stored.
 */
export async function openChannelAudio(
  env: Env,
  source: ChannelAudioSource,
  layout: WavChannelLayout,
  channel: number,
): Promise<ReadableStream<Uint8Array> | null> {
  const opened = await getSealedStream(env, source.tenantId, source.audioKey);
  return opened ? opened.body.pipeThrough(wavChannelTransform(layout, channel)) : null;
}
