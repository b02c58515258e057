/** `tenants` and `api_keys`: tenant settings, webhook signing secrets, and API key hashes. */
import { and, desc, eq, isNull, lt } from "drizzle-orm";

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
