/** Cheap "is this provider's breaker open?" for the request path: one Durable Object read per provider per isolate every few seconds. */
import type { Env } from "../env.ts";
import { breakerFor } from "./circuit-breaker.ts";

const CACHE_MS = 5_000;
const cache = new Map<string, { open: boolean; at: number }>();

export async function isProviderDown(env: Env, provider: string, now = Date.now()): Promise<boolean> {
  const hit = cache.get(provider);
  if (hit && now - hit.at < CACHE_MS) return hit.open;
  let open = false;
  try {
    const snap = await breakerFor(env, provider).snapshot(provider);
    open = snap.state.status === "open";
  } catch {
    // an unreachable breaker must not fail an upload; the consumer checks again
  }
  cache.set(provider, { open, at: now });
  return open;
}
