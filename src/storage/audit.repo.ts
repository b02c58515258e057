/** The audit log: erasure and retention receipts, free of personal data. */
import type { Db } from "./db.ts";
import { auditLog } from "./schema.ts";

export type AuditAction = (typeof auditLog.$inferInsert)["action"];

/** Appends one receipt (already free of personal data) for a tenant. */
export async function appendAuditEntry(
  db: Db,
  entry: { id: string; tenantId: string; action: AuditAction; receipt: unknown; createdAt: number },
): Promise<void> {
  await db
    .insert(auditLog)
    .values({ ...entry, receipt: JSON.stringify(entry.receipt) })
    .run();
}
