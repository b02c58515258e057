/**
 * `/internal`: endpoints for the Whisper pool only, authenticated by HMAC signatures (docs/pool-contract.md),
 * never by API keys.
 */
import {
  parseKeyRing,
  PoolCallbackSchema,
  type RedactionUploadResponse,
  signAudioUrl,
  signRedactionUpload,
  timingSafeEqual,
  type VerifyFailure,
  verifySignedRequest,
} from "@vtt/pool-contract";
import { type Context, Hono } from "hono";

import type { AppEnv } from "../app.context.ts";
import { precheckSignatureHeaders } from "../auth/signature-precheck.ts";
import { audioUrlTtlSeconds } from "../config.ts";
import type { Env } from "../env.ts";
import { readTextLimited } from "../http/body-limit.ts";
import { ApiError } from "../http/problem.ts";
import { MAX_POOL_REDACTED_BYTES, storePoolRedactedAudio } from "../jobs/redact-audio.ts";
import {
  AudioRedactionNotQueued,
  storeCompletedResult,
  storeFailure,
  storeResultAwaitingAudio,
} from "../jobs/results.ts";
import { isTerminal } from "../jobs/state.ts";
import { isWellFormedId } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import type { NormalisedTranscript } from "../providers/types.ts";
import { createDb, type Db } from "../storage/db.ts";
import { getJobById } from "../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../storage/schema.ts";
import { getSealedStream } from "../storage/sealed-objects.ts";
import { placeById } from "../storage/shards.ts";

export const internal = new Hono<AppEnv>();

/** Largest callback body accepted: transcripts of long audio with word timings stay well under this. */
const MAX_CALLBACK_BYTES = 8 * 1024 * 1024;

/** How far a signed audio URL's `exp` may lie beyond `now + AUDIO_URL_TTL_SECONDS` (clock skew between isolates). */
export const AUDIO_URL_EXP_SKEW_SECONDS = 60;
/** `exp` exactly as the edge writes it: unix seconds in plain digits (no sign, fraction, exponent or hex). */
const PLAIN_UNIX_SECONDS = /^\d{1,12}$/;

/**
 * Internal requests start from a job id, not a tenant: they work inside the shard and region the id names. False
 * for an id whose shard suffix names no configured shard (answered like an unknown job).
 */
function placeByJobId(c: Context<AppEnv>, jobId: string): boolean {
  const placed = placeById(c.env, jobId);
  if (!placed) return false;
  c.env = placed;
  c.set("db", createDb(placed));
  return true;
}

internal.get("/internal/audio/:id", async (c) => {
  const id = c.req.param("id");
  const expText = c.req.query("exp") ?? "";
  const exp = PLAIN_UNIX_SECONDS.test(expText) ? Number(expText) : Number.NaN;
  const kid = c.req.query("kid") ?? "";
  const sig = c.req.query("sig") ?? "";
  const key = parseKeyRing(c.env.AUDIO_URL_KEYS).find((k) => k.id === kid);
  const nowSeconds = Math.floor(Date.now() / 1000);
  // the edge never signs a URL for longer than the TTL: a later expiry is a forgery or a leaked long-lived key
  const latestExp = nowSeconds + audioUrlTtlSeconds(c.env) + AUDIO_URL_EXP_SKEW_SECONDS;
  if (!key || !Number.isInteger(exp) || exp < nowSeconds || exp > latestExp || !isWellFormedId(id, "transcription")) {
    throw new ApiError(403, "invalid_audio_url", "The audio URL is invalid or expired.");
  }
  if (!timingSafeEqual(await signAudioUrl(key.secret, id, exp), sig)) {
    throw new ApiError(403, "invalid_audio_url", "The audio URL is invalid or expired.");
  }
  if (!placeByJobId(c, id)) throw new ApiError(404, "not_found", "The audio is gone.");
  const job = await getJobById(c.var.db, id);
  const object = job?.audioKey ? await getSealedStream(c.env, job.tenantId, job.audioKey) : null;
  if (!job || !object) throw new ApiError(404, "not_found", "The audio is gone.");
  return new Response(object.body, {
    headers: {
      "content-type": object.contentType,
      "content-length": String(job.audioBytes),
      "cache-control": "no-store",
    },
  });
});

/** A result id as `ulid()` writes it (Crockford base32, 26 characters). */
const RESULT_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
/** The smallest upload that can be a WAV: its canonical 44-byte header. */
const MIN_WAV_BYTES = 44;

/**
 * `PUT /internal/redactions/{job_id}/{result_id}`: the pool uploads a job's redacted audio (docs/pool-contract.md
 * §5). The URL is signed like an audio URL but over `redacted.{job_id}.{result_id}.{exp}`; the body streams into a
 * sealed R2 object beside the job's audio, bounded by its declared length.
 */
internal.put("/internal/redactions/:id/:resultId", async (c) => {
  const id = c.req.param("id");
  const resultId = c.req.param("resultId");
  const expText = c.req.query("exp") ?? "";
  const exp = PLAIN_UNIX_SECONDS.test(expText) ? Number(expText) : Number.NaN;
  const key = parseKeyRing(c.env.AUDIO_URL_KEYS).find((k) => k.id === (c.req.query("kid") ?? ""));
  const nowSeconds = Math.floor(Date.now() / 1000);
  const latestExp = nowSeconds + audioUrlTtlSeconds(c.env) + AUDIO_URL_EXP_SKEW_SECONDS;
  const invalid = () => new ApiError(403, "invalid_upload_url", "The upload URL is invalid or expired.");
  if (!key || !Number.isInteger(exp) || exp < nowSeconds || exp > latestExp) throw invalid();
  if (!isWellFormedId(id, "transcription") || !RESULT_ID.test(resultId)) throw invalid();
  if (!timingSafeEqual(await signRedactionUpload(key.secret, id, resultId, exp), c.req.query("sig") ?? ""))
    throw invalid();
  const lengthText = c.req.header("content-length") ?? "";
  const declared = /^\d{1,12}$/.test(lengthText) ? Number(lengthText) : Number.NaN;
  if (!Number.isInteger(declared)) throw new ApiError(411, "length_required", "Send Content-Length.");
  if (declared > MAX_POOL_REDACTED_BYTES) throw new ApiError(413, "payload_too_large");
  if (declared < MIN_WAV_BYTES || !c.req.raw.body)
    throw new ApiError(400, "invalid_redacted_audio", "The body is not a WAV file.");
  const job = placeByJobId(c, id) ? await getJobById(c.var.db, id) : null;
  if (!job || isTerminal(job.status)) throw new ApiError(404, "not_found", "The job is gone or already settled.");
  const stored = await storePoolRedactedAudio(c.env, job, resultId, c.req.raw.body, declared);
  if (stored === "job_not_redactable")
    throw new ApiError(409, "job_not_redactable", "This job's audio is not redacted by the pool.");
  log("pool_redaction_stored", { job_id: job.id, tenant_id: job.tenantId, bytes: stored.bytes, key_id: key.id });
  const answer: RedactionUploadResponse = { stored: true, bytes: stored.bytes };
  return c.json(answer);
});

/** The pool's codes for options it cannot honour, as the provider codes the same refusal at dispatch gets. */
const POOL_FAILURE_CODES: Record<string, string> = {
  translation_unsupported: "translation_unsupported",
  model_unavailable: "provider_model_unavailable",
};

const signatureError = (reason: VerifyFailure) =>
  new ApiError(
    401,
    reason === "stale_signature" ? "stale_signature" : "invalid_signature",
    "The callback signature is not valid.",
  );

internal.post("/internal/pool/callback", async (c) => {
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > MAX_CALLBACK_BYTES) throw new ApiError(413, "payload_too_large");
  const ring = parseKeyRing(c.env.POOL_CALLBACK_KEYS);
  // unauthenticated: nothing of the body is read until the headers name a known key with a fresh timestamp
  const precheck = precheckSignatureHeaders(ring, c.req.raw.headers);
  if (!precheck.ok) throw signatureError(precheck.reason);
  const raw = await readTextLimited(c.req.raw, MAX_CALLBACK_BYTES);
  const verified = await verifySignedRequest(ring, c.req.raw.headers, raw);
  if (!verified.ok) throw signatureError(verified.reason);
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new ApiError(400, "malformed_json", "The callback body is not JSON.");
  }
  const parsed = PoolCallbackSchema.safeParse(body);
  if (!parsed.success) throw new ApiError(400, "invalid_callback", parsed.error.issues[0]?.message);
  const callback = parsed.data;
  const job =
    isWellFormedId(callback.job_id, "transcription") && placeByJobId(c, callback.job_id)
      ? await getJobById(c.var.db, callback.job_id)
      : null;
  // a job deleted meanwhile stays deleted, and a terminal job keeps its first result
  if (!job || isTerminal(job.status) || job.provider !== "whisper-pool") {
    return c.json({ ok: true, applied: false });
  }
  // a pool older than the task field drops it and transcribes: that result must never pass for a translation
  const untranslated =
    callback.status === "completed" && job.task === "translate" && callback.result.task !== "translate";
  const applied = untranslated
    ? await storeFailure(c.env, c.var.db, job, "translation_unsupported", "The pool did not translate the audio.")
    : callback.status === "completed"
      ? await storePoolResult(c.env, c.var.db, job, {
          text: callback.result.text,
          segments: callback.result.segments,
          words: callback.result.words,
          // a translation is English whatever the callback names (the pool says `en`; an older one may not)
          language: job.task === "translate" ? "en" : (callback.result.language ?? job.requestedLanguage),
          // a probability is only about a language the pool detected: not with a requested one, not on a translation
          ...(callback.result.language_probability !== undefined &&
          callback.result.language &&
          job.requestedLanguage === null &&
          job.task !== "translate"
            ? { language_probability: callback.result.language_probability }
            : {}),
          duration_seconds: callback.result.duration_seconds ?? null,
          model: callback.result.model,
        })
      : await storeFailure(
          c.env,
          c.var.db,
          job,
          POOL_FAILURE_CODES[callback.error.code] ?? callback.error.code,
          callback.error.message,
        );
  log("pool_callback", {
    job_id: job.id,
    tenant_id: job.tenantId,
    status: callback.status,
    applied,
    key_id: verified.keyId,
  });
  return c.json({ ok: true, applied });
});

/**
 * {@link storeCompletedResult}; for a `redact_pii_audio` job {@link storeResultAwaitingAudio}, so the callback answers
 * without waiting for the audio's redaction (the queue consumer does that). A failed queue send is answered
 * `503 enqueue_failed`: the pool retries its callback, which sends the message again.
 */
async function storePoolResult(env: Env, db: Db, job: TranscriptionRow, transcript: NormalisedTranscript) {
  if (!job.redactPii || !job.redactPiiAudio) return storeCompletedResult(env, db, job, transcript);
  try {
    return await storeResultAwaitingAudio(env, db, job, transcript);
  } catch (error) {
    if (!(error instanceof AudioRedactionNotQueued)) throw error;
    throw new ApiError(
      503,
      "enqueue_failed",
      "The result is stored but its audio redaction could not be queued; retry.",
    );
  }
}
