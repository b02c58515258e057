/** `console_sessions`: signed-in console sessions, looked up by the hash of the cookie's session id. */
import { eq, lt, or } from "drizzle-orm";

import type { Db } from "./db.ts";
import { apiKeys, consoleSessions } from "./schema.ts";

export type ConsoleSessionRow = typeof consoleSessions.$inferSelect;

/** A session with the state of the key it was opened with (null for operator sessions). */
export interface ConsoleSessionWithKey {
  session: ConsoleSessionRow;
  key: { revokedAt: number | null; expiresAt: number | null; scopes: string } | null;
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
    })
    .from(consoleSessions)
    .leftJoin(apiKeys, eq(apiKeys.id, consoleSessions.apiKeyId))
    .where(eq(consoleSessions.idHash, idHash))
    .limit(1);
  if (!row) return null;
  const key =
    row.session.apiKeyId === null || row.scopes === null
      ? null
      : { revokedAt: row.revokedAt, expiresAt: row.expiresAt, scopes: row.scopes };
  return { session: row.session, key };
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
