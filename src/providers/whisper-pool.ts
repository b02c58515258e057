/**
 * The self-hosted Whisper pool (docs/pool-contract.md): an asynchronous provider. `transcribe` only dispatches a
 * signed job carrying a per-job signed audio URL and the callback URL; the result arrives at /internal/pool/callback.
 */
import { audioUrlTtlSeconds } from "../config.ts";
import { parseKeyRing, signAudioUrl, signedHeaders, type SigningKey } from "../domain/signing.ts";
import type { Env } from "../env.ts";
import { deadlineSignal, networkFailure, positiveNumber } from "./http.ts";
import { classifyHttpStatus, ProviderError, type TranscriptionOutcome, type TranscriptionRequest, type TranscriptionService } from "./types.ts";

export const POOL_DISPATCH_TIMEOUT_MS = 10_000;

export class WhisperPoolService implements TranscriptionService {
  readonly name = "whisper-pool" as const;
  readonly #poolUrl: string;
  readonly #publicBaseUrl: string;
  readonly #signingKeys: SigningKey[];
  readonly #audioKey: SigningKey;
  readonly #audioTtlSeconds: number;
  readonly #timeoutMs: number;

  constructor(env: Env) {
    const signingKeys = parseKeyRing(env.POOL_SIGNING_KEYS);
    const audioKey = parseKeyRing(env.AUDIO_URL_KEYS)[0];
    if (!env.POOL_URL || !env.PUBLIC_BASE_URL || !signingKeys.length || !audioKey) {
      throw new ProviderError("provider_not_configured", "POOL_URL, PUBLIC_BASE_URL, POOL_SIGNING_KEYS and AUDIO_URL_KEYS must be set", { retryable: false });
    }
    this.#poolUrl = env.POOL_URL.replace(/\/$/, "");
    this.#publicBaseUrl = env.PUBLIC_BASE_URL.replace(/\/$/, "");
    this.#signingKeys = signingKeys;
    this.#audioKey = audioKey;
    this.#audioTtlSeconds = audioUrlTtlSeconds(env);
    this.#timeoutMs = positiveNumber(env.POOL_DISPATCH_TIMEOUT_MS, POOL_DISPATCH_TIMEOUT_MS);
  }

  async transcribe(request: TranscriptionRequest): Promise<TranscriptionOutcome> {
    // the pool fetches the audio itself through the signed URL
    await request.audio.cancel().catch(() => undefined);
    const exp = Math.floor(Date.now() / 1000) + this.#audioTtlSeconds;
    const sig = await signAudioUrl(this.#audioKey.secret, request.jobId, exp);
    const body = JSON.stringify({
      job_id: request.jobId,
      language: request.language,
      prompt: request.prompt,
      audio_url: `${this.#publicBaseUrl}/internal/audio/${request.jobId}?exp=${exp}&kid=${encodeURIComponent(this.#audioKey.id)}&sig=${sig}`,
      audio_expires_at: exp,
      callback_url: `${this.#publicBaseUrl}/internal/pool/callback`,
      ...(request.traceparent ? { traceparent: request.traceparent } : {}),
    });
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
    await response.body?.cancel();
    if (response.status === 202 || response.status === 200) return { kind: "dispatched" };
    if (response.status === 503 || response.status === 502) {
      throw new ProviderError("pool_unreachable", `whisper-pool answered ${response.status}`, { retryable: true, status: response.status });
    }
    throw classifyHttpStatus("whisper-pool", response.status, response.headers.get("retry-after"));
  }
}
