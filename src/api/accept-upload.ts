/**
 * The steps every audio upload route shares (`POST /v1/transcriptions`, `POST /v1/audio/transcriptions|translations`):
 * refuse an impossible declared length, read the Idempotency-Key, hold the key's upload budget while the body is read,
 * stream the audio into R2 sealed under the new job's key (or, where the route takes one, read an `audio_url` instead),
 * judge the option fields, and create the job. Anything that fails after the audio was stored deletes it again, so a
 * refused request leaves nothing in R2 or D1.
 */
import type { Context } from "hono";

import type { AppEnv } from "../app.context.ts";
import { tenantOf } from "../auth/middleware.ts";
import { maxUploadBodyBytes, maxUploadBytes, storeYieldBytes, UPLOAD_PART_BYTES } from "../config.ts";
import type { Env } from "../env.ts";
import { guardRequestBody } from "../http/body-stream.ts";
import { ApiError } from "../http/problem.ts";
import { planChannelSplit } from "../jobs/channel-audio.ts";
import { createJob, type CreateJobResult, type ResolvedUploadOptions } from "../jobs/create-job.ts";
import { canRedactAudio } from "../jobs/redact-audio.ts";
import { newId } from "../lib/ids.ts";
import {
  checkAudioSize,
  EDGE_CHANNEL_SPLIT_FORMATS,
  failoverCandidates,
  providerAudioBytes,
  type StoredAudioFacts,
} from "../providers/capabilities.ts";
import type { AudioUrlSource } from "../storage/audio-source.ts";
import { audioKey, storeAudioStream } from "../storage/audio-store.ts";
import { objectSealer } from "../storage/sealed-objects.ts";
import { idShardCode } from "../storage/shards.ts";
import {
  type AudioSink,
  readUploadBody,
  type UploadBody,
  type UploadFields,
  type UploadLists,
  type UrlSubmissionBody,
} from "./upload-body.ts";
import { reserveUploadBudget } from "./upload-budget.ts";

/** What a route's fields resolve to: the job's options, and for a submission by URL its source. */
export interface ResolvedUpload {
  options: ResolvedUploadOptions;
  /** set exactly when `resolve` was told `byUrl` */
  audioUrl?: AudioUrlSource;
}

/** How a route turns its option fields into job options (plus whatever else it needs); throws ApiError to refuse. */
export interface AcceptUploadOptions<R extends ResolvedUpload> {
  /**
   * `byUrl`: the body named its audio by `audio_url` (only with `acceptAudioUrl`) and nothing was stored. `audio`:
   * for a multichannel job, what the stored audio turned out to be (its container, its channel split), given on a
   * second call once the audio is stored, so routing can take it into account.
   */
  resolve(fields: UploadFields, lists: UploadLists, byUrl: boolean, audio?: StoredAudioFacts): R;
  /** also take `application/json` and a multipart `audio_url` field in place of the file (`POST /v1/transcriptions`) */
  acceptAudioUrl?: boolean;
  /** refuse raw audio bodies: the OpenAI-compatible routes take multipart only */
  multipartOnly?: boolean;
  /** multipart fields that may repeat, handed to `resolve` as lists */
  listFields?: readonly string[];
}

export interface AcceptedUpload<R> {
  created: CreateJobResult;
  resolved: R;
}

/**
 * Runs the upload steps (module comment) and returns the created or replayed job. The upload budget is settled to the
 * bytes actually read before this returns, so a route that then waits for the job holds no upload slot.
 */
export async function acceptUpload<R extends ResolvedUpload>(
  c: Context<AppEnv>,
  route: AcceptUploadOptions<R>,
): Promise<AcceptedUpload<R>> {
  const { env } = c;
  const tenantId = tenantOf(c.var.principal);
  const declaredBytes = declaredBodyBytes(c.req.header("content-length"), env);
  const idempotencyKey = parseIdempotencyKey(c.req.header("idempotency-key"));
  const budget = await reserveUploadBudget(env, c.var.principal.keyId, declaredBytes);
  // the upload policies' RateLimit fields, beside the request policy's that authentication adds
  for (const [name, value] of Object.entries(budget.fields)) c.header(name, value, { append: true });
  const raw = c.req.raw.body;
  const body = raw ? guardRequestBody(raw, { drainLimitBytes: maxUploadBodyBytes(env) }) : null;
  try {
    const jobId = newId("transcription", idShardCode(env));
    const key = audioKey(tenantId, jobId);
    const sink = await audioSinkFor(env, key, tenantId, idempotencyKey !== null);
    // with `acceptAudioUrl` the body may name its audio instead of carrying it (`stored: null`)
    const upload: UploadBody | UrlSubmissionBody = await readUploadBody({
      acceptAudioUrl: route.acceptAudioUrl ?? false,
      contentType: c.req.header("content-type") ?? "",
      body: body?.stream ?? null,
      query: new URL(c.req.url).searchParams,
      sink,
      checkFieldsFirst: (fields) => void route.resolve(fields, Object.create(null), false),
      multipartOnly: route.multipartOnly,
      listFields: route.listFields,
    });
    try {
      const lists: UploadLists = "lists" in upload ? upload.lists : Object.create(null);
      let resolved = route.resolve(upload.fields, lists, upload.stored === null);
      let facts: StoredAudioFacts | undefined;
      if (upload.stored && resolved.options.speakers?.multichannel) {
        // a multichannel job: its container and (for a WAV) each channel's size decide who can take it
        facts = await storedAudioFacts(env, tenantId, key, upload.stored);
        resolved = route.resolve(upload.fields, lists, false, facts);
      }
      if (upload.stored) refuseAudioNoProviderTakes(env, resolved.options, upload.stored.bytes, facts);
      // audio redaction rewrites WAV, MP3, FLAC and Ogg at the edge, anything else through the pool's ffmpeg: without a
      // pool other audio (MP4/AAC, WebM) is refused now, not failed after it was transcribed
      if (resolved.options.redactPiiAudio && upload.stored && !canRedactAudio(env, upload.stored.audio.format))
        throw new ApiError(
          422,
          "invalid_redact_pii_audio",
          `redact_pii_audio: without a Whisper pool, audio redaction rewrites WAV, MP3, FLAC and Ogg only; this upload is ${upload.stored.audio.format}`,
          [{ field: "redact_pii_audio", message: `unsupported for ${upload.stored.audio.format} audio` }],
        );
      const audio = upload.stored ? { stored: upload.stored } : { stored: null, audioUrl: urlSourceOf(resolved) };
      const base = { jobId, tenantId, audioKey: key, fileName: upload.fileName, options: resolved.options };
      const input = { ...base, ...audio, idempotencyKey, traceparent: c.var.traceparent };
      const created = await createJob(env, c.var.db, input);
      return { created, resolved };
    } catch (error) {
      await sink.discard();
      throw error;
    }
  } finally {
    await budget.end(body?.bytesRead() ?? 0);
  }
}

/** The stored audio's container and, for a WAV, its channel split (one bounded read of its header). */
async function storedAudioFacts(
  env: Env,
  tenantId: string,
  audioKey: string,
  stored: { bytes: number; audio: { format: string } },
): Promise<StoredAudioFacts> {
  const format = stored.audio.format;
  if (!EDGE_CHANNEL_SPLIT_FORMATS.has(format)) return { format, channelSplit: null };
  const plan = await planChannelSplit(env, { tenantId, audioKey, audioBytes: stored.bytes });
  return {
    format,
    channelSplit: plan?.ok ? { ok: true, channels: plan.channels, channelBytes: plan.channelBytes } : plan,
  };
}

/**
 * 422 `audio_too_large_for_provider` when the stored audio is over the job's provider's size limit and no provider
 * after it in `FAILOVER_CHAIN` can take it either (the same rule the consumer applies), so a job that could only fail
 * is refused at once. An explicit `provider` is judged the same way: it fails over for size as it does for an outage.
 * A multichannel WAV is judged per channel where the edge splits it (each channel is its own request).
 */
function refuseAudioNoProviderTakes(
  env: Env,
  options: ResolvedUploadOptions,
  bytes: number,
  audio?: StoredAudioFacts,
): void {
  const jobOptions = {
    task: options.task,
    model: options.requestedModel,
    bytes,
    ...(options.speakers?.multichannel ? { multichannel: true, ...audio } : {}),
  };
  if (failoverCandidates(env, options.provider, jobOptions).length > 0) return;
  const refusal = checkAudioSize(env, options.provider, providerAudioBytes(options.provider, jobOptions));
  throw new ApiError(422, "audio_too_large_for_provider", refusal?.message ?? "No provider can take audio this large.");
}

function urlSourceOf(resolved: ResolvedUpload): AudioUrlSource {
  if (!resolved.audioUrl) throw new Error("a submission by URL was resolved without its source");
  return resolved.audioUrl;
}

/** 413 for a declared length no valid upload can have; the declared length, or null for a chunked body. */
function declaredBodyBytes(header: string | undefined, env: Env): number | null {
  if (header === undefined) return null;
  const bytes = Number(header);
  if (bytes > maxUploadBodyBytes(env)) {
    throw new ApiError(413, "payload_too_large", `Uploads are limited to ${maxUploadBytes(env)} bytes.`);
  }
  return Number.isFinite(bytes) ? bytes : null;
}

/** The Idempotency-Key header, or null; 400 `invalid_idempotency_key` when it is not 1–255 printable ASCII. */
export function parseIdempotencyKey(header: string | undefined): string | null {
  if (header === undefined) return null;
  if (!/^[\x21-\x7e]{1,255}$/.test(header)) {
    throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1–255 printable ASCII characters.");
  }
  return header;
}

/** Stores the audio sealed under the job's key; `discard` deletes it again. */
async function audioSinkFor(env: Env, key: string, tenantId: string, digest: boolean): Promise<AudioSink> {
  const sealer = await objectSealer(env, tenantId, key);
  const options = {
    maxBytes: maxUploadBytes(env),
    partBytes: UPLOAD_PART_BYTES,
    digest,
    sealer,
    yieldEveryBytes: storeYieldBytes(env),
  };
  let stored = false;
  return {
    store: async (audio) => {
      stored = true;
      return storeAudioStream(env.BUCKET, key, audio, options);
    },
    discard: async () => {
      if (stored) await env.BUCKET.delete(key).catch(() => undefined);
    },
  };
}
