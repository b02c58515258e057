/** Which providers are enabled (`PROVIDERS`, ordered); pure, no adapter imported. */
import type { Env } from "../env.ts";
import { PROVIDER_NAMES, type ProviderName } from "./types.ts";

/** True for one of the provider names this Worker knows. */
export const isProviderName = (name: string): name is ProviderName =>
  (PROVIDER_NAMES as readonly string[]).includes(name);

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
