/**
 * Audio redaction for compressed audio: decode (MP3, FLAC, Ogg Vorbis/Opus/FLAC), put a tone over the given spans,
 * encode as 16-bit PCM WAV. Two streaming passes over the source: {@link measureDecoded} decodes it all once to learn
 * the exact frame count (a WAV header states its length up front, and a sealed object cannot be patched after it is
 * written) and to refuse a file with any undecodable frame before anything is written; {@link toneWavStream} decodes
 * it again and emits the WAV. Each pass holds one input piece ({@link DECODE_PIECE_BYTES}) and the PCM decoded from
 * it, never the recording. Pure: web streams in, web streams out, no bindings.
 */
import { AudioRedactionError, type ToneOptions, toneSample, type ToneSpan } from "../wav-tone.ts";
import { AudioDecodeError, createDecoder, type DecodableCodec, type PcmBlock, type StreamDecoder } from "./decoders.ts";

/** The containers {@link measureDecoded} takes (the sniffer's names, src/domain/audio-format.ts). */
export type DecodableContainer = "mp3" | "flac" | "ogg";

export const DECODABLE_CONTAINERS: ReadonlySet<string> = new Set<DecodableContainer>(["mp3", "flac", "ogg"]);

/**
 * Input is fed to a decoder in pieces of at most this many bytes, so the PCM of one piece stays small (64 KiB of
 * 24 kbit/s Opus is 22 s: 8.4 MB of stereo float at 48 kHz; 16 KiB keeps it near 2 MB).
 */
export const DECODE_PIECE_BYTES = 16 * 1024;

/** RIFF sizes are 32-bit: the redacted WAV (header included) must fit in 4 GiB − 1 byte. */
export const MAX_REDACTED_WAV_BYTES = 0xffff_ffff;

const WAV_HEADER_BYTES = 44;
const PCM16_BYTES = 2;

/** What a decode found: the WAV's shape. */
export interface DecodedLayout {
  codec: DecodableCodec;
  channels: number;
  sampleRate: number;
  frames: number;
}

/** Bytes of the redacted WAV for `layout`. */
export const redactedWavBytes = (layout: Pick<DecodedLayout, "channels" | "frames">) =>
  WAV_HEADER_BYTES + layout.frames * layout.channels * PCM16_BYTES;

const failed = (message: string) => new AudioRedactionError("audio_redaction_failed", message);

/** The Ogg codec from the first packet's signature (the same ones the sniffer accepts). */
function oggCodec(head: Uint8Array): DecodableCodec | null {
  const text = String.fromCharCode(...head.subarray(0, Math.min(head.length, 512)));
  if (text.includes("OpusHead")) return "opus";
  if (text.includes("\x01vorbis")) return "vorbis";
  if (text.includes("\x7fFLAC")) return "ogg-flac";
  return null;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Bytes held before a decoder starts: enough for an Ogg's first packet and a FLAC's STREAMINFO. */
const HEAD_BYTES = 512;

/**
 * The decoded blocks of `source`, in order; returns the frame count the container itself declares, when it does.
 * The first bytes are held until the codec is known (an Ogg's first packet); every decoder error becomes
 * {@link AudioRedactionError} `audio_redaction_failed`.
 */
async function* decodedBlocks(
  container: DecodableContainer,
  source: ReadableStream<Uint8Array>,
): AsyncGenerator<{ codec: DecodableCodec; block: PcmBlock }, number | null> {
  const reader = source.getReader();
  let head: Uint8Array = new Uint8Array(0);
  let codec: DecodableCodec | null = container === "ogg" ? null : container;
  let decoder: StreamDecoder | null = null;
  const start = async (): Promise<StreamDecoder> => {
    if (!head.length) throw failed("The audio is empty.");
    codec ??= oggCodec(head);
    if (!codec)
      throw new AudioRedactionError("audio_redaction_unsupported", "The Ogg stream is not Opus, Vorbis or FLAC.");
    decoder = await createDecoder(codec);
    return decoder;
  };
  try {
    for (let ended = false; !ended;) {
      const { done, value } = await reader.read();
      ended = done;
      let bytes = value ?? new Uint8Array(0);
      if (!decoder) {
        head = concat(head, bytes);
        if (!ended && head.length < HEAD_BYTES) continue;
        await start();
        bytes = head;
        head = new Uint8Array(0);
      }
      for (let at = 0; at < bytes.length; at += DECODE_PIECE_BYTES) {
        const block = await decoder!.decode(bytes.subarray(at, at + DECODE_PIECE_BYTES));
        if (block.samples) yield { codec: codec!, block };
      }
    }
    const rest = await decoder!.flush();
    if (rest.samples) yield { codec: codec!, block: rest };
    return decoder!.declaredFrames();
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof AudioDecodeError) throw failed(`The audio could not be decoded (${error.message}).`);
    throw error;
  } finally {
    (decoder as StreamDecoder | null)?.free();
    reader.releaseLock();
  }
}

/** Options of {@link measureDecoded}. */
export interface MeasureOptions {
  /**
   * The duration the provider reported for this audio (the timeline of the spans), when known: a decode more than
   * {@link DURATION_TOLERANCE_SECONDS} away from it is refused, since the spans would fall on the wrong audio.
   */
  expectedSeconds?: number | null;
}

/** How far the decoded duration may be from the provider's (its rounding, encoder delay handling). */
export const DURATION_TOLERANCE_SECONDS = 0.25;

/**
 * Pass one: decodes all of `source` and returns its shape. Refuses (`audio_redaction_failed`) a decode error, no
 * audio at all, a channel count or rate that changes mid-stream, a frame count other than the one the container
 * declares (FLAC STREAMINFO, Ogg Opus granule position: a decoder that lost sync and skipped data would misplace
 * every span after it), a duration away from `expectedSeconds`, and (`audio_redaction_too_large`) a result over
 * {@link MAX_REDACTED_WAV_BYTES}.
 */
export async function measureDecoded(
  container: DecodableContainer,
  source: ReadableStream<Uint8Array>,
  options: MeasureOptions = {},
): Promise<DecodedLayout> {
  let layout: DecodedLayout | null = null;
  const blocks = decodedBlocks(container, source);
  let next = await blocks.next();
  for (; !next.done; next = await blocks.next()) {
    const { codec, block } = next.value;
    if (!layout) layout = { codec, channels: block.channelData.length, sampleRate: block.sampleRate, frames: 0 };
    else if (block.channelData.length !== layout.channels || block.sampleRate !== layout.sampleRate)
      throw failed("The audio changes its channel count or sample rate mid-stream.");
    layout.frames += block.samples;
    if (redactedWavBytes(layout) > MAX_REDACTED_WAV_BYTES) {
      await blocks.return(null);
      throw new AudioRedactionError(
        "audio_redaction_too_large",
        `The redacted copy (16-bit PCM WAV) would pass the WAV size limit of ${MAX_REDACTED_WAV_BYTES} bytes.`,
      );
    }
  }
  if (!layout || layout.frames === 0 || layout.channels < 1 || layout.sampleRate < 1)
    throw failed("The audio decoded to no samples.");
  const declared = next.value;
  if (declared !== null && declared !== layout.frames)
    throw failed(`The audio decoded to ${layout.frames} frames; the file declares ${declared}.`);
  const expected = options.expectedSeconds;
  const seconds = layout.frames / layout.sampleRate;
  if (expected && expected > 0 && Math.abs(seconds - expected) > DURATION_TOLERANCE_SECONDS)
    throw failed(`The audio decoded to ${seconds.toFixed(3)} s; the transcript covers ${expected} s.`);
  return layout;
}

/** The 44-byte header of a 16-bit PCM WAV of `layout`. */
export function wavHeader16(layout: Pick<DecodedLayout, "channels" | "sampleRate" | "frames">): Uint8Array {
  const dataBytes = layout.frames * layout.channels * PCM16_BYTES;
  const header = new Uint8Array(WAV_HEADER_BYTES);
  const view = new DataView(header.buffer);
  const ascii = (at: number, text: string) => {
    for (let i = 0; i < text.length; i++) header[at + i] = text.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, WAV_HEADER_BYTES - 8 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, layout.channels, true);
  view.setUint32(24, layout.sampleRate, true);
  view.setUint32(28, layout.sampleRate * layout.channels * PCM16_BYTES, true);
  view.setUint16(32, layout.channels * PCM16_BYTES, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  return header;
}

/** Interleaved 16-bit PCM of `block`, whose first frame is `firstFrame`, with the tone over `spans`. */
function encodeBlock(
  block: PcmBlock,
  firstFrame: number,
  spans: readonly ToneSpan[],
  cursor: { span: number },
  tone: ToneOptions,
): Uint8Array {
  const channels = block.channelData.length;
  const out = new Uint8Array(block.samples * channels * PCM16_BYTES);
  const view = new DataView(out.buffer);
  for (let f = 0; f < block.samples; f++) {
    const frame = firstFrame + f;
    const t = frame / block.sampleRate;
    while (cursor.span < spans.length && spans[cursor.span]!.end <= t) cursor.span += 1;
    const span = spans[cursor.span];
    const toned = span !== undefined && t >= span.start;
    const toneValue = toned ? toneSample(frame, block.sampleRate, tone) : 0;
    for (let ch = 0; ch < channels; ch++) {
      const sample = toned ? toneValue : Math.max(-1, Math.min(1, block.channelData[ch]![f]!));
      view.setInt16((f * channels + ch) * PCM16_BYTES, Math.round(sample * 32767), true);
    }
  }
  return out;
}

/**
 * Pass two: the redacted WAV of `source` (the same bytes {@link measureDecoded} measured as `layout`), read as the
 * consumer pulls. Errors the stream with `audio_redaction_failed` when the decode differs from the measured one.
 */
export function toneWavStream(
  container: DecodableContainer,
  source: ReadableStream<Uint8Array>,
  layout: DecodedLayout,
  spans: readonly ToneSpan[],
  tone: ToneOptions = {},
): ReadableStream<Uint8Array> {
  const sorted = [...spans].filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
  const blocks = decodedBlocks(container, source);
  const cursor = { span: 0 };
  let frames = 0;
  let headerSent = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!headerSent) {
          headerSent = true;
          controller.enqueue(wavHeader16(layout));
          return;
        }
        const next = await blocks.next();
        if (next.done) {
          if (frames !== layout.frames) throw failed("The audio decoded differently the second time.");
          controller.close();
          return;
        }
        const { block } = next.value;
        if (
          block.channelData.length !== layout.channels ||
          block.sampleRate !== layout.sampleRate ||
          frames + block.samples > layout.frames
        )
          throw failed("The audio decoded differently the second time.");
        controller.enqueue(encodeBlock(block, frames, sorted, cursor, tone));
        frames += block.samples;
      },
      async cancel() {
        await blocks.return(null);
      },
    },
    { highWaterMark: 0 },
  );
}
