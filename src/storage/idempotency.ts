/** `Idempotency-Key` on uploads: per tenant, kept for 24 h, bound to a fingerprint of the request. */
import { toHex } from "@vtt/pool-contract";
import { and, eq, lt } from "drizzle-orm";

import type { Db } from "./db.ts";
import { StorageError } from "./errors.ts";
import { type NewTranscriptionRow, type TranscriptionRow, transcriptions } from "./schema.ts";

export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** SHA-256 over the resolved options and the audio's own digest: the same request gives the same fingerprint. */
export async function requestFingerprint(options: object, audioSha256: string): Promise<string> {
  const canonical = JSON.stringify(options, Object.keys(options).sort()) + "\n" + audioSha256;
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical))));
}

/**
 * Inserts the job under the key, or returns the job that already holds it (same fingerprint → replay). A different
 * request under a live key is a 409. Keys older than the window are released first.
 */
export async function claimIdempotencyKey(
  db: Db,
  tenantId: string,
  key: string,
  fingerprint: string,
  row: NewTranscriptionRow,
): Promise<TranscriptionRow | null> {
  const now = Date.now();
  await db
    .update(transcriptions)
    .set({ idempotencyKey: null })
    .where(
      and(
        eq(transcriptions.tenantId, tenantId),
        eq(transcriptions.idempotencyKey, key),
        lt(transcriptions.createdAt, now - IDEMPOTENCY_WINDOW_MS),
      ),
    )
    .run();
  const inserted = await db
    .insert(transcriptions)
    .values(row)
    .onConflictDoNothing()
    .returning({ id: transcriptions.id });
  if (inserted.length) return null;
  const [existing] = await db
    .select()
    .from(transcriptions)
    .where(and(eq(transcriptions.tenantId, tenantId), eq(transcriptions.idempotencyKey, key)))
    .limit(1);
  if (!existing) {
    throw new StorageError(
      "conflict",
      "idempotency_conflict",
      "The Idempotency-Key is being used by a concurrent request; retry.",
    );
  }
  if (existing.requestFingerprint !== fingerprint) {
    throw new StorageError(
      "conflict",
      "idempotency_key_reused",
      "This Idempotency-Key was used with a different request in the last 24 hours.",
    );
  }
  return existing;
}
