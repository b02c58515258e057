/** Which providers are enabled (`PROVIDERS`, ordered) and the factory that builds one by name. */
import type { Env } from "../env.ts";
import { DeepgramTranscriptionService } from "./deepgram.ts";
import { OpenAITranscriptionService } from "./openai.ts";
import { PROVIDER_NAMES, ProviderError, type ProviderName, type TranscriptionService } from "./types.ts";
import { WhisperPoolService } from "./whisper-pool.ts";
import { WorkersAITranscriptionService } from "./workers-ai.ts";

const isProviderName = (name: string): name is ProviderName => (PROVIDER_NAMES as readonly string[]).includes(name);

/**
 * Enabled providers in configured order. Unknown names are ignored (a typo must not take the API down); without
 * `PROVIDERS` the default is the pool when `POOL_URL` is set, else OpenAI.
 */
export function parseProviderList(env: Env): ProviderName[] {
  if (!env.PROVIDERS?.trim()) return [env.POOL_URL ? "whisper-pool" : "openai"];
  const names = env.PROVIDERS.split(",")
    .map((p) => p.trim().toLowerCase())
    .filter(Boolean);
  return [...new Set(names.filter(isProviderName))];
}

export function defaultProvider(env: Env): ProviderName | null {
  return parseProviderList(env)[0] ?? null;
}

export function isProviderEnabled(env: Env, name: string): name is ProviderName {
  return parseProviderList(env).includes(name as ProviderName);
}

/** Builds the adapter; a provider whose settings or secrets are missing throws `provider_not_configured` (permanent). */
export function createTranscriptionService(name: ProviderName, env: Env): TranscriptionService {
  switch (name) {
    case "openai":
      return new OpenAITranscriptionService(env);
    case "deepgram":
      return new DeepgramTranscriptionService(env);
    case "workers-ai":
      return new WorkersAITranscriptionService(env);
    case "whisper-pool":
      return new WhisperPoolService(env);
    default:
      throw new ProviderError("provider_not_configured", `unknown provider ${String(name)}`, { retryable: false });
  }
}
