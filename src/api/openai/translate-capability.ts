/**
 * TEMPORARY STUB (branch openai-routes): `providerCanTranslate(env, name)` lands in src/providers/registry.ts from
 * branch pipeline-options, which makes the adapters honour `task: "translate"`; when it is merged this file goes and
 * src/api/openai/fields.ts imports it from the registry. Until then: OpenAI's translations endpoint and the pool's
 * whisper.cpp translate task can; Deepgram and Workers AI cannot.
 */
import type { Env } from "../../env.ts";
import type { ProviderName } from "../../providers/types.ts";

export function providerCanTranslate(_env: Env, name: ProviderName): boolean {
  return name === "openai" || name === "whisper-pool";
}
