/**
 * The self-hosted Whisper pool (docs/pool-contract.md): an asynchronous provider. `transcribe` only dispatches a
 * signed job carrying a per-job signed audio URL and the callback URL; the result arrives at /internal/pool/callback.
 */
import {
  type DispatchBody,
  ErasureResponseSchema,
  erasureSigningString,
  parseKeyRing,
  type RedactionRequestBody,
  type RedactionResponse,
  RedactionResponseSchema,
  type RedactionSpan,
  signAudioUrl,
  signedHeaders,
  type SigningKey,
  signRedactionUpload,
} from "@vtt/pool-contract";

import { audioUrlTtlSeconds, MAX_PROMPT_UTF16_UNITS, settings } from "../config.ts";
import type { Env } from "../env.ts";
import { providerModels } from "./capabilities.ts";
import { deadlineSignal, networkFailure, readAllCapped } from "./http.ts";
import { promptWithKeyterms } from "./keyterms.ts";
import {
  classifyHttpStatus,
  ProviderError,
  type TranscriptionOutcome,
  type TranscriptionRequest,
  type TranscriptionService,
} from "./types.ts";

/** Limit of one erasure call to the pool (headers and body). */
export const POOL_ERASE_TIMEOUT_MS = 5_000;
/** Erasure calls in flight at once (a Worker invocation keeps at most 6 connections open). */
export const POOL_ERASE_CONCURRENCY = 6;
/** Budget for all erasure calls of one request; ids not attempted by then are reported as failed. */
export const POOL_ERASE_DEADLINE_MS = 20_000;
/** Most of a refused dispatch's problem body read to find its code. */
const POOL_PROBLEM_MAX_BYTES = 8 * 1024;

/** The pool's 400 codes for options it cannot honour, as the job's stable error codes (docs/pool-contract.md §1). */
const POOL_REFUSALS: Record<
  string,
  "translation_unsupported" | "provider_model_unavailable" | "diarization_unavailable" | "multichannel_unsupported"
> = {
  translation_unsupported: "translation_unsupported",
  model_unavailable: "provider_model_unavailable",
  diarization_unavailable: "diarization_unavailable",
  multichannel_unsupported: "multichannel_unsupported",
};

export class WhisperPoolService implements TranscriptionService {
  readonly name = "whisper-pool" as const;
  readonly #poolUrl: string;
  readonly #publicBaseUrl: string;
  readonly #signingKeys: SigningKey[];
  readonly #audioKey: SigningKey;
  readonly #audioTtlSeconds: number;
  readonly #timeoutMs: number;
  /** POOL_MODELS: the names the pool serves */
  readonly #models: string[];

  constructor(env: Env) {
    const signingKeys = parseKeyRing(env.POOL_SIGNING_KEYS);
    const audioKey = parseKeyRing(env.AUDIO_URL_KEYS)[0];
    if (!env.POOL_URL || !env.PUBLIC_BASE_URL || !signingKeys.length || !audioKey) {
      throw new ProviderError(
        "provider_not_configured",
        "POOL_URL, PUBLIC_BASE_URL, POOL_SIGNING_KEYS and AUDIO_URL_KEYS must be set",
        { retryable: false },
      );
    }
    this.#poolUrl = env.POOL_URL.replace(/\/$/, "");
    this.#publicBaseUrl = env.PUBLIC_BASE_URL.replace(/\/$/, "");
    this.#signingKeys = signingKeys;
    this.#audioKey = audioKey;
    this.#audioTtlSeconds = audioUrlTtlSeconds(env);
    this.#timeoutMs = settings(env).POOL_DISPATCH_TIMEOUT_MS;
    this.#models = providerModels(env, "whisper-pool");
  }

  async transcribe(request: TranscriptionRequest): Promise<TranscriptionOutcome> {
    // the pool fetches the audio itself through the signed URL
    await request.audio.cancel().catch(() => undefined);
    if (request.model !== null && !this.#models.includes(request.model)) {
      throw new ProviderError("provider_model_unavailable", `whisper-pool does not serve model ${request.model}`, {
        retryable: false,
      });
    }
    const exp = Math.floor(Date.now() / 1000) + this.#audioTtlSeconds;
    const sig = await signAudioUrl(this.#audioKey.secret, request.jobId, exp);
    const dispatch: DispatchBody = {
      job_id: request.jobId,
      language: request.language,
      // the pool hands its prompt to whisper.cpp as the initial prompt: keyterms follow the caller's prompt
      prompt: promptWithKeyterms(request.prompt, request.keyterms, MAX_PROMPT_UTF16_UNITS),
      audio_url: `${this.#publicBaseUrl}/internal/audio/${request.jobId}?exp=${exp}&kid=${encodeURIComponent(this.#audioKey.id)}&sig=${sig}`,
      audio_expires_at: exp,
      callback_url: `${this.#publicBaseUrl}/internal/pool/callback`,
      ...(request.traceparent ? { traceparent: request.traceparent } : {}),
      task: request.task,
      model: request.model,
      temperature: request.temperature,
      word_timestamps: request.wordTimestamps,
      // left out without speaker options: an older pool's strict schema never sees the field then
      ...(request.speakers ? { speakers: request.speakers } : {}),
    };
    const body = JSON.stringify(dispatch);
    let response: Response;
    try {
      response = await fetch(`${this.#poolUrl}/v1/jobs`, {
        method: "POST",
        headers: { ...(await signedHeaders(this.#signingKeys, body)), "content-type": "application/json" },
        body,
        signal: deadlineSignal(request.signal, this.#timeoutMs),
      });
    } catch (error) {
      throw networkFailure("whisper-pool", error, "pool_unreachable");
    }
    if (response.status === 400) {
      const refusal = POOL_REFUSALS[await problemCode(response)];
      if (refusal)
        throw new ProviderError(refusal, "whisper-pool cannot honour the job's task or model", {
          retryable: false,
          status: 400,
        });
      throw classifyHttpStatus("whisper-pool", 400, null);
    }
    await response.body?.cancel();
    if (response.status === 202 || response.status === 200) return { kind: "dispatched" };
    if (response.status === 503 || response.status === 502) {
      throw new ProviderError("pool_unreachable", `whisper-pool answered ${response.status}`, {
        retryable: true,
        status: response.status,
      });
    }
    throw classifyHttpStatus("whisper-pool", response.status, response.headers.get("retry-after"));
  }
}

/** The `code` of a problem+json answer, read through a byte limit; "" when there is none. */
async function problemCode(response: Response): Promise<string> {
  if (!response.body) return "";
  try {
    const bytes = await readAllCapped(response.body, POOL_PROBLEM_MAX_BYTES, "whisper-pool");
    const body = JSON.parse(new TextDecoder().decode(bytes)) as { code?: unknown };
    return typeof body.code === "string" ? body.code : "";
  } catch {
    return "";
  }
}

/** Options for {@link erasePoolJobs}; the defaults are the `POOL_ERASE_*` constants. */
export interface ErasePoolJobsOptions {
  timeoutMs?: number;
  concurrency?: number;
  deadlineMs?: number;
}

/** Outcome of {@link erasePoolJobs}. */
export interface PoolErasureResult {
  /** Jobs the pool held and erased (it answered `erased: true`); ids it no longer held count neither here nor as failed. */
  erased: number;
  /** Ids whose erasure could not be confirmed (pool unreachable, timeout, non-200 answer): report them, retry later. */
  failed: string[];
}

/**
 * Erases the pool's copies of these jobs (queued dispatch with its prompt and audio URL, results awaiting
 * acknowledgement, failed jobs kept for inspection) with one signed `DELETE {POOL_URL}/v1/jobs/{job_id}` per id.
 * Without POOL_URL there is no pool and nothing to do. Never throws: a pool that is down or slow must not block the
 * erasure of the edge's own data, so each call is bounded ({@link POOL_ERASE_TIMEOUT_MS}, all of them by
 * {@link POOL_ERASE_DEADLINE_MS}) and the ids that failed are returned for the caller to report.
 */
export async function erasePoolJobs(
  env: Env,
  jobIds: string[],
  options: ErasePoolJobsOptions = {},
): Promise<PoolErasureResult> {
  if (!env.POOL_URL) return { erased: 0, failed: [] };
  const ids = [...new Set(jobIds)];
  let keys: SigningKey[];
  try {
    keys = parseKeyRing(env.POOL_SIGNING_KEYS);
  } catch {
    keys = [];
  }
  if (ids.length === 0) return { erased: 0, failed: [] };
  if (keys.length === 0) return { erased: 0, failed: ids };
  const poolUrl = env.POOL_URL.replace(/\/$/, "");
  const timeoutMs = options.timeoutMs ?? POOL_ERASE_TIMEOUT_MS;
  const deadline = Date.now() + (options.deadlineMs ?? POOL_ERASE_DEADLINE_MS);
  const result: PoolErasureResult = { erased: 0, failed: [] };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const outcome =
        Date.now() < deadline
          ? await erasePoolJob(poolUrl, keys, id, Math.min(timeoutMs, deadline - Date.now()))
          : "failed";
      if (outcome === "erased") result.erased++;
      else if (outcome === "failed") result.failed.push(id);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(ids.length, Math.max(1, options.concurrency ?? POOL_ERASE_CONCURRENCY)) }, lane),
  );
  return result;
}

async function erasePoolJob(
  poolUrl: string,
  keys: SigningKey[],
  jobId: string,
  timeoutMs: number,
): Promise<"erased" | "absent" | "failed"> {
  try {
    const response = await fetch(`${poolUrl}/v1/jobs/${encodeURIComponent(jobId)}`, {
      method: "DELETE",
      headers: await signedHeaders(keys, erasureSigningString(jobId)),
      signal: AbortSignal.timeout(Math.max(1, timeoutMs)),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      return "failed";
    }
    const answer = ErasureResponseSchema.safeParse(await response.json());
    if (!answer.success) return "failed";
    return answer.data.erased ? "erased" : "absent";
  } catch {
    return "failed";
  }
}

/** Whether this edge can ask a pool to redact audio: POOL_URL, PUBLIC_BASE_URL and both key rings are set. */
export function poolRedactsAudio(env: Env): boolean {
  try {
    return (
      !!env.POOL_URL &&
      !!env.PUBLIC_BASE_URL &&
      parseKeyRing(env.POOL_SIGNING_KEYS).length > 0 &&
      parseKeyRing(env.AUDIO_URL_KEYS).length > 0
    );
  } catch {
    return false;
  }
}

/** The outcome of {@link requestPoolRedaction}. */
export type PoolRedactionOutcome =
  | { ok: true; answer: RedactionResponse }
  /** `terminal`: the audio's fault (the pool answered 4xx), another attempt would fail the same way */
  | { ok: false; terminal: boolean; code: string; message: string };

/**
 * Asks the pool to redact a job's audio (docs/pool-contract.md §5): a signed `POST {POOL_URL}/v1/redactions` with a
 * signed audio URL, the spans and a signed upload URL (`PUT /internal/redactions/{job_id}/{result_id}`). The pool
 * answers once the edge has stored the copy, so this waits for the whole fetch → ffmpeg → upload, up to
 * `POOL_REDACTION_TIMEOUT_MS`. Never throws.
 */
export async function requestPoolRedaction(
  env: Env,
  jobId: string,
  resultId: string,
  spans: readonly RedactionSpan[],
): Promise<PoolRedactionOutcome> {
  const signingKeys = parseKeyRing(env.POOL_SIGNING_KEYS);
  const audioKey = parseKeyRing(env.AUDIO_URL_KEYS)[0]!;
  const base = env.PUBLIC_BASE_URL!.replace(/\/$/, "");
  const exp = Math.floor(Date.now() / 1000) + audioUrlTtlSeconds(env);
  const kid = encodeURIComponent(audioKey.id);
  const audioSig = await signAudioUrl(audioKey.secret, jobId, exp);
  const uploadSig = await signRedactionUpload(audioKey.secret, jobId, resultId, exp);
  const request: RedactionRequestBody = {
    job_id: jobId,
    audio_url: `${base}/internal/audio/${jobId}?exp=${exp}&kid=${kid}&sig=${audioSig}`,
    audio_expires_at: exp,
    upload_url: `${base}/internal/redactions/${jobId}/${resultId}?exp=${exp}&kid=${kid}&sig=${uploadSig}`,
    spans: spans.map(({ start, end }) => ({ start, end })),
  };
  const body = JSON.stringify(request);
  let response: Response;
  try {
    response = await fetch(`${env.POOL_URL!.replace(/\/$/, "")}/v1/redactions`, {
      method: "POST",
      headers: { ...(await signedHeaders(signingKeys, body)), "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(settings(env).POOL_REDACTION_TIMEOUT_MS),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.name : "unknown";
    return {
      ok: false,
      terminal: false,
      code: "pool_unreachable",
      message: `The pool could not be reached (${reason}).`,
    };
  }
  if (response.status === 200) {
    const parsed = RedactionResponseSchema.safeParse(await response.json().catch(() => null));
    if (parsed.success && parsed.data.job_id === jobId) return { ok: true, answer: parsed.data };
    return {
      ok: false,
      terminal: false,
      code: "pool_bad_answer",
      message: "The pool's redaction answer is not valid.",
    };
  }
  const code = (await problemCode(response)) || `http_${response.status}`;
  // 4xx: the audio (or this request) is at fault and a retry fails the same way; 5xx/429: the pool is busy or down
  const terminal =
    response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
  return { ok: false, terminal, code, message: `The pool answered ${response.status} ${code}.` };
}
