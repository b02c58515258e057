/** Which providers are enabled (`PROVIDERS`, ordered) and the factory that builds one by name. */
import type { Env } from "../env.ts";
import { DeepgramTranscriptionService } from "./deepgram.ts";
import { OpenAITranscriptionService } from "./openai.ts";
import { ProviderError, type ProviderName, type TranscriptionService } from "./types.ts";
import { WhisperPoolService } from "./whisper-pool.ts";
import { WorkersAITranscriptionService } from "./workers-ai.ts";

// the enabled list lives apart from the factory so capabilities.ts can read it without importing every adapter
export { defaultProvider, isProviderEnabled, parseProviderList } from "./enabled.ts";

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
