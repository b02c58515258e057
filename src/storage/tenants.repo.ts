/** D1 queries for tenants. */
import { eq } from "drizzle-orm";
import type { TenantRetention } from "../jobs/retention-policy.ts";
import type { Db } from "./db.ts";
import { tenants } from "./schema.ts";

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
