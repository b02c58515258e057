/**
 * Verified API keys, kept in the isolate for a short time so that a hot key costs no directory read per request
 * (docs/scaling.md §5). The bound is `API_KEY_CACHE_SECONDS` (default 30): a key revoked elsewhere, or a tenant set
 * read-only by a move, takes effect within it; a revocation through this isolate takes effect at once.
 */
import type { ApiKeyRow, TenantPlacementRow } from "../storage/tenants.repo.ts";

export interface CachedKey {
  key: ApiKeyRow;
  tenant: TenantPlacementRow | null;
}

interface Entry extends CachedKey {
  expiresAt: number;
}

/** Bounded so a flood of distinct valid keys cannot grow an isolate without limit. */
const MAX_ENTRIES = 10_000;
const entries = new Map<string, Entry>();

export function cachedKey(hash: string, now: number): CachedKey | null {
  const entry = entries.get(hash);
  if (!entry) return null;
  if (entry.expiresAt <= now) {
    entries.delete(hash);
    return null;
  }
  return entry;
}

export function cacheKey(hash: string, found: CachedKey, now: number, ttlMs: number): void {
  if (ttlMs <= 0) return;
  if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  entries.set(hash, { ...found, expiresAt: now + ttlMs });
}

/** Drops every cached key of a tenant (or one key): revocations, moves and erasure made through this isolate. */
export function forgetKeys(match: { tenantId?: string; keyId?: string }): void {
  for (const [hash, entry] of entries) {
    if (entry.key.id === match.keyId || entry.key.tenantId === match.tenantId) entries.delete(hash);
  }
}
