/** `tenants` and `api_keys`: tenant settings, webhook signing secrets, and API key hashes. */
import { and, count, desc, eq, isNull, lt } from "drizzle-orm";

import type { TenantRetention } from "../jobs/retention-policy.ts";
import type { Db } from "./db.ts";
import { apiKeys, tenants } from "./schema.ts";

export type TenantRow = typeof tenants.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type TenantRetentionColumns = Partial<Pick<TenantRow, "audioRetentionSeconds" | "transcriptRetentionSeconds">>;

export async function insertTenant(db: Db, row: TenantRow): Promise<void> {
  await db.insert(tenants).values(row).run();
}

/** Creates the tenant unless it exists (fixtures and the bench entry point). */
export async function insertTenantIfMissing(db: Db, row: typeof tenants.$inferInsert): Promise<void> {
  await db.insert(tenants).values(row).onConflictDoNothing().run();
}

/**
 * The copy of a tenant a job shard keeps so that its rows' foreign keys hold: name, retention and placement, never
 * the webhook secrets (the directory is their only home). Written on creation and on every change.
 */
export async function mirrorTenant(shard: Db, row: TenantRow): Promise<void> {
  const copy = { ...row, webhookSecret: null, webhookSecretPrevious: null, webhookSecretPreviousUntil: null };
  const { id: _id, ...changes } = copy;
  await shard.insert(tenants).values(copy).onConflictDoUpdate({ target: tenants.id, set: changes }).run();
}

/** How many tenants each shard of a region holds (null shard: from before regions, counted as `legacyShard`). */
export async function countTenantsPerShard(
  db: Db,
  region: string,
  legacy: { region: string; code: string },
): Promise<Map<string, number>> {
  const rows = await db
    .select({ region: tenants.region, shard: tenants.shard, n: count() })
    .from(tenants)
    .groupBy(tenants.region, tenants.shard);
  const counts = new Map<string, number>();
  for (const row of rows) {
    const rowRegion = row.region ?? legacy.region;
    if (rowRegion !== region) continue;
    const code = row.shard ?? legacy.code;
    counts.set(code, (counts.get(code) ?? 0) + row.n);
  }
  return counts;
}

export async function getTenant(db: Db, tenantId: string): Promise<TenantRow | null> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, tenantId)).limit(1);
  return row ?? null;
}

/** Tenants newest first (ids are time ordered), `limit` from before `beforeId`. */
export async function listTenants(db: Db, options: { limit: number; beforeId?: string }): Promise<TenantRow[]> {
  return db
    .select()
    .from(tenants)
    .where(options.beforeId ? lt(tenants.id, options.beforeId) : undefined)
    .orderBy(desc(tenants.id))
    .limit(options.limit);
}

/** Every key of a tenant, newest first, revoked and expired ones included (their hashes are never returned). */
export async function listTenantKeys(db: Db, tenantId: string): Promise<ApiKeyRow[]> {
  return db.select().from(apiKeys).where(eq(apiKeys.tenantId, tenantId)).orderBy(desc(apiKeys.id));
}

/** Changes the tenant's retention windows; returns the updated row (null when there is no such tenant). */
export async function updateTenantRetention(
  db: Db,
  tenantId: string,
  changes: TenantRetentionColumns,
): Promise<TenantRow | null> {
  if (!Object.keys(changes).length) return getTenant(db, tenantId);
  const [row] = await db.update(tenants).set(changes).where(eq(tenants.id, tenantId)).returning();
  return row ?? null;
}

/** Stores the tenant's first webhook secret unless another writer stored one first; returns the one that stuck. */
export async function setFirstWebhookSecret(db: Db, tenantId: string, secret: string): Promise<string | null> {
  await db
    .update(tenants)
    .set({ webhookSecret: secret })
    .where(and(eq(tenants.id, tenantId), isNull(tenants.webhookSecret)))
    .run();
  const [row] = await db
    .select({ secret: tenants.webhookSecret })
    .from(tenants)
    .where(eq(tenants.id, tenantId))
    .limit(1);
  return row?.secret ?? null;
}

/** Replaces the signing secret; the previous one keeps signing beside it until `previousUntil`. */
export async function rotateWebhookSecret(
  db: Db,
  tenantId: string,
  rotation: { secret: string; previous: string | null; previousUntil: number },
): Promise<void> {
  await db
    .update(tenants)
    .set({
      webhookSecret: rotation.secret,
      webhookSecretPrevious: rotation.previous,
      webhookSecretPreviousUntil: rotation.previousUntil,
    })
    .where(eq(tenants.id, tenantId))
    .run();
}

export async function insertApiKey(db: Db, row: typeof apiKeys.$inferInsert): Promise<void> {
  await db.insert(apiKeys).values(row).run();
}

/** Revokes one of a tenant's keys; false when the tenant has no such key. */
export async function revokeApiKey(db: Db, tenantId: string, keyId: string, now: number): Promise<boolean> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, keyId)))
    .returning({ id: apiKeys.id });
  return rows.length > 0;
}

/** The key whose SHA-256 hash this is (authentication: the hash is the lookup, never the key). */
export async function findApiKeyByHash(db: Db, keyHash: string): Promise<ApiKeyRow | null> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash)).limit(1);
  return row ?? null;
}

/** A tenant's placement and move state, as authentication needs it. */
export type TenantPlacementRow = Pick<TenantRow, "region" | "shard" | "formerShards" | "readOnlySince">;

/** The key with its tenant's placement in one directory read (authentication). */
export async function findApiKeyWithTenant(
  db: Db,
  keyHash: string,
): Promise<{ key: ApiKeyRow; tenant: TenantPlacementRow | null } | null> {
  const [row] = await db
    .select({
      key: apiKeys,
      region: tenants.region,
      shard: tenants.shard,
      formerShards: tenants.formerShards,
      readOnlySince: tenants.readOnlySince,
      tenantId: tenants.id,
    })
    .from(apiKeys)
    .leftJoin(tenants, eq(tenants.id, apiKeys.tenantId))
    .where(eq(apiKeys.keyHash, keyHash))
    .limit(1);
  if (!row) return null;
  const { key, tenantId, ...tenant } = row;
  return { key, tenant: tenantId === null ? null : tenant };
}

export async function touchApiKey(db: Db, keyId: string, now: number): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, keyId)).run();
}

/** The tenant's retention windows; both null (service defaults) when the tenant row is missing. */
export async function getTenantRetention(db: Db, tenantId: string): Promise<TenantRetention> {
  const [tenant] = await db
    .select({
      audioRetentionSeconds: tenants.audioRetentionSeconds,
      transcriptRetentionSeconds: tenants.transcriptRetentionSeconds,
    })
    .from(tenants)
    .where(eq(tenants.id, tenantId))
    .limit(1);
  return tenant ?? { audioRetentionSeconds: null, transcriptRetentionSeconds: null };
}

/** Sets (a move starts) or clears (it ended) the tenant's read-only mark; returns the updated row. */
export async function setTenantReadOnly(db: Db, tenantId: string, since: number | null): Promise<TenantRow | null> {
  const [row] = await db.update(tenants).set({ readOnlySince: since }).where(eq(tenants.id, tenantId)).returning();
  return row ?? null;
}

/** The switch of a move: the tenant's new region and shard, its former shards, and writable again. */
export async function switchTenantPlacement(
  db: Db,
  tenantId: string,
  placement: { region: string; shard: string; formerShards: string },
): Promise<TenantRow | null> {
  const [row] = await db
    .update(tenants)
    .set({ ...placement, readOnlySince: null })
    .where(eq(tenants.id, tenantId))
    .returning();
  return row ?? null;
}
