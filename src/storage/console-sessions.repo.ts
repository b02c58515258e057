/** `console_sessions`: signed-in console sessions, looked up by the hash of the cookie's session id. */
import { eq, lt, or } from "drizzle-orm";

import type { Db } from "./db.ts";
import { apiKeys, consoleSessions, tenants } from "./schema.ts";

export type ConsoleSessionRow = typeof consoleSessions.$inferSelect;

/** A session with the state of the key it was opened with (null for operator sessions). */
export interface ConsoleSessionWithKey {
  session: ConsoleSessionRow;
  key: { revokedAt: number | null; expiresAt: number | null; scopes: string } | null;
  /** the tenant's placement (tenant sessions); null for operator sessions */
  tenant: {
    region: string | null;
    shard: string | null;
    formerShards: string | null;
    readOnlySince: number | null;
  } | null;
}

export async function insertConsoleSession(db: Db, row: ConsoleSessionRow): Promise<void> {
  await db.insert(consoleSessions).values(row).run();
}

/** One read: the session and its key's revocation and expiry, so a revoked key ends its sessions at once. */
export async function findConsoleSession(db: Db, idHash: string): Promise<ConsoleSessionWithKey | null> {
  const [row] = await db
    .select({
      session: consoleSessions,
      revokedAt: apiKeys.revokedAt,
      expiresAt: apiKeys.expiresAt,
      scopes: apiKeys.scopes,
      tenantFound: tenants.id,
      region: tenants.region,
      shard: tenants.shard,
      formerShards: tenants.formerShards,
      readOnlySince: tenants.readOnlySince,
    })
    .from(consoleSessions)
    .leftJoin(apiKeys, eq(apiKeys.id, consoleSessions.apiKeyId))
    .leftJoin(tenants, eq(tenants.id, consoleSessions.tenantId))
    .where(eq(consoleSessions.idHash, idHash))
    .limit(1);
  if (!row) return null;
  const key =
    row.session.apiKeyId === null || row.scopes === null
      ? null
      : { revokedAt: row.revokedAt, expiresAt: row.expiresAt, scopes: row.scopes };
  const tenant =
    row.tenantFound === null
      ? null
      : { region: row.region, shard: row.shard, formerShards: row.formerShards, readOnlySince: row.readOnlySince };
  return { session: row.session, key, tenant };
}

export async function touchConsoleSession(db: Db, idHash: string, now: number): Promise<void> {
  await db.update(consoleSessions).set({ lastSeenAt: now }).where(eq(consoleSessions.idHash, idHash)).run();
}

export async function deleteConsoleSession(db: Db, idHash: string): Promise<void> {
  await db.delete(consoleSessions).where(eq(consoleSessions.idHash, idHash)).run();
}

/** Drops sessions past their absolute or idle end (the cron; a presented one is refused and dropped on read). */
export async function deleteEndedConsoleSessions(db: Db, now: number, idleMs: number): Promise<void> {
  await db
    .delete(consoleSessions)
    .where(or(lt(consoleSessions.expiresAt, now), lt(consoleSessions.lastSeenAt, now - idleMs)))
    .run();
}
