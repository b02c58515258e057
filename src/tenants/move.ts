/**
 * Moving a tenant to another shard or region (issue 15 §1/§2): copy, verify, switch, delete, with the tenant
 * read-only from the first step to the switch. The operator's command is `POST /v1/admin/tenants/{tenant}/move`
 * (src/api/admin/tenant-move.ts); docs/operations.md has the runbook.
 *
 * 1. read-only: `tenants.read_only_since` in the directory; writes of the tenant are refused (503 tenant_read_only)
 *    once every isolate's key cache has seen it, so the move waits out API_KEY_CACHE_SECONDS before copying.
 * 2. refuse (409 tenant_busy) while the source shard has queued/processing jobs, unfinished tus uploads or pending
 *    webhook events: consumers and pool callbacks find those by the shard their id names.
 * 3. copy every row of the tenant (src/storage/tenant-move.repo.ts) and, when the region changes, every object
 *    (src/storage/tenant-objects.ts). The target is cleared of the tenant first, so a re-run starts clean.
 * 4. verify row counts per table, and object count and bytes.
 * 5. switch the directory: region and shard = new, the old code appended to `former_shards`, writable again.
 * 6. wait out the key cache once more (a stale cache still reads the old shard), then delete the old copy.
 *
 * A failure before the switch undoes the copy (best effort; a leftover copy is cleared by the next attempt) and
 * clears read-only: the tenant stays where it was. Re-running a finished move finishes its deletion.
 */
import { forgetKeys } from "../auth/key-cache.ts";
import { apiKeyCacheMs, tenantMoveMaxJobs } from "../config.ts";
import { findShard, legacyShard, type Shard } from "../domain/placement.ts";
import {
  appendFormerShard,
  copyMismatches,
  type MoveFootprint,
  type MoveRequest,
  moveTarget,
  parseFormerShards,
} from "../domain/tenant-move.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/problem.ts";
import { ulid } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import { appendAuditEntry } from "../storage/audit.repo.ts";
import type { Db } from "../storage/db.ts";
import { directoryDb, placementOf, regionBucket, shardDb, tenantShard } from "../storage/shards.ts";
import {
  clearTenantRows,
  copyTenantTable,
  countTenantRows,
  MOVED_TABLE_NAMES,
  tenantActivity,
} from "../storage/tenant-move.repo.ts";
import { copyTenantObjects, deleteTenantObjects, tenantObjectTotals } from "../storage/tenant-objects.ts";
import {
  countTenantsPerShard,
  getTenant,
  mirrorTenant,
  setTenantReadOnly,
  switchTenantPlacement,
  type TenantRow,
} from "../storage/tenants.repo.ts";

export interface MoveResult {
  tenant: TenantRow;
  /** false when the tenant already was in the target shard (a re-run: only leftovers were deleted) */
  moved: boolean;
  from: { region: string; shard: string };
  to: { region: string; shard: string };
  copied: MoveFootprint;
  /** leftover rows and objects deleted from former shards and buckets */
  deleted: { rows: number; objects: number };
}

/** Waits (the Worker's own timer) so that every isolate's cached view of the tenant has expired. */
export type Waiter = (ms: number) => Promise<void>;
const sleep: Waiter = (ms) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

/** Runs the move; 404 unknown tenant, 422 unknown shard/region or too large, 409 tenant_busy or copy mismatch. */
export async function moveTenant(
  env: Env,
  tenantId: string,
  request: MoveRequest,
  wait: Waiter = sleep,
): Promise<MoveResult> {
  const directory = directoryDb(env);
  const placement = placementOf(env);
  const row = await getTenant(directory, tenantId);
  if (!row) throw new ApiError(404, "not_found", "No tenant with that id.");
  const current = tenantShard(env, row);
  const legacy = legacyShard(placement);
  const counts = request.region !== undefined ? await countTenantsPerShard(directory, request.region, legacy) : null;
  const target = moveTarget(placement, request, counts ?? new Map());
  if (!target.ok) {
    const field = target.code === "unknown_shard" ? "shard" : "region";
    if (target.code === "region_full") {
      throw new ApiError(503, "region_full", target.detail, undefined, { "retry-after": "3600" });
    }
    throw new ApiError(422, target.code, target.detail, [{ field, message: target.detail.replace(/^\w+: /, "") }]);
  }
  // a region move to the region the tenant is in names its current shard, not another one
  const to = request.region !== undefined && request.region === current.region ? current : target.shard;
  const from = { region: current.region, shard: current.code };
  if (to.code === current.code) {
    const deleted = await deleteLeftovers(env, row, current);
    const settled = row.readOnlySince !== null ? ((await setTenantReadOnly(directory, tenantId, null)) ?? row) : row;
    forgetKeys({ tenantId });
    return { tenant: settled, moved: false, from, to: from, copied: { rows: {} }, deleted };
  }

  // 1. read-only, seen by every isolate
  const since = row.readOnlySince ?? Date.now();
  if (row.readOnlySince === null) await setTenantReadOnly(directory, tenantId, since);
  forgetKeys({ tenantId });
  log("tenant_move_started", { tenant_id: tenantId, from: current.code, to: to.code });
  await wait(since + apiKeyCacheMs(env) - Date.now());

  const source = shardDb(env, current);
  const destination = shardDb(env, to);
  const regionChanges = to.region !== current.region;
  let copied: MoveFootprint;
  try {
    // 2. nothing in flight that finds the tenant's jobs by their shard
    const activity = await tenantActivity(source, tenantId, Date.now());
    if (activity.active_jobs || activity.unfinished_uploads || activity.pending_webhooks) {
      throw new ApiError(
        409,
        "tenant_busy",
        `The tenant has ${activity.active_jobs} queued or processing jobs, ${activity.unfinished_uploads} unfinished uploads and ${activity.pending_webhooks} pending webhook events; move it once they are done.`,
      );
    }
    const sourceRows = await countTenantRows(source, tenantId);
    if (sourceRows.transcriptions > tenantMoveMaxJobs(env)) {
      throw new ApiError(
        422,
        "tenant_too_large",
        `The tenant has ${sourceRows.transcriptions} jobs; one move copies at most ${tenantMoveMaxJobs(env)} (TENANT_MOVE_MAX_JOBS).`,
      );
    }
    // 3. copy into a clean target
    await clearCopy(env, destination, to, tenantId, regionChanges);
    if (to.binding !== placement.directory) await mirrorTenant(destination, row);
    for (const table of MOVED_TABLE_NAMES) await copyTenantTable(source, destination, table, tenantId);
    const sourceBucket = regionBucket(env, regionOf(env, current));
    const targetBucket = regionBucket(env, regionOf(env, to));
    if (regionChanges) await copyTenantObjects(sourceBucket, targetBucket, tenantId);
    // 4. verify
    copied = { rows: await countTenantRows(destination, tenantId) };
    const expected: MoveFootprint = { rows: sourceRows };
    if (regionChanges) {
      expected.objects = await tenantObjectTotals(sourceBucket, tenantId);
      copied.objects = await tenantObjectTotals(targetBucket, tenantId);
    }
    const mismatches = copyMismatches(expected, copied);
    if (mismatches.length) {
      throw new ApiError(
        409,
        "move_verification_failed",
        `The copy does not match its source (${mismatches.join("; ")}); the tenant stays in ${current.code}. Retry the move.`,
      );
    }
  } catch (error) {
    // the tenant stays where it was: undo the copy (best effort) and make it writable again
    await clearCopy(env, destination, to, tenantId, regionChanges).catch((undo: unknown) =>
      log("tenant_move_undo_failed", { tenant_id: tenantId, to: to.code, error: (undo as Error).name }),
    );
    await setTenantReadOnly(directory, tenantId, null);
    forgetKeys({ tenantId });
    log("tenant_move_abandoned", { tenant_id: tenantId, from: current.code, to: to.code });
    throw error;
  }

  // 5. switch
  const switched = await switchTenantPlacement(directory, tenantId, {
    region: to.region,
    shard: to.code,
    formerShards: appendFormerShard(row.formerShards, current.code),
  });
  if (!switched) throw new ApiError(404, "not_found", "The tenant was erased during the move.");
  forgetKeys({ tenantId });
  if (to.binding !== placement.directory) await mirrorTenant(destination, switched);
  // beside the operator's other actions (the console writes them to the directory too)
  const now = Date.now();
  await appendAuditEntry(directory, {
    id: `audit_${ulid(now)}`,
    tenantId,
    action: "operator.tenant_moved",
    receipt: { from, to: { region: to.region, shard: to.code }, copied },
    createdAt: now,
  });
  log("tenant_move_switched", { tenant_id: tenantId, from: current.code, to: to.code });

  // 6. delete the old copy once no isolate can still be reading it
  await wait(apiKeyCacheMs(env));
  const deleted = await deleteLeftovers(env, switched, to);
  return { tenant: switched, moved: true, from, to: { region: to.region, shard: to.code }, copied, deleted };
}

function regionOf(env: Env, shard: Shard) {
  const region = placementOf(env).regions.find((r) => r.name === shard.region);
  if (!region) throw new Error(`shard ${shard.code} names no configured region`);
  return region;
}

/** Removes the tenant's rows (and, across regions, objects) from a shard it does not live in. */
async function clearCopy(env: Env, db: Db, shard: Shard, tenantId: string, objects: boolean): Promise<void> {
  await clearTenantRows(db, tenantId, { keepTenantRow: shard.binding === placementOf(env).directory });
  if (objects) await deleteTenantObjects(regionBucket(env, regionOf(env, shard)), tenantId);
}

/**
 * Deletes what the tenant left in its former shards and, where their region is not its own, their buckets: the last
 * step of a move, and what a re-run of a finished move does. Returns how many rows and objects went.
 */
async function deleteLeftovers(
  env: Env,
  tenant: TenantRow,
  current: Shard,
): Promise<{ rows: number; objects: number }> {
  const placement = placementOf(env);
  let rows = 0;
  let objects = 0;
  for (const code of parseFormerShards(tenant.formerShards)) {
    const former = findShard(placement, code);
    if (!former || former.code === current.code || former.binding === current.binding) continue;
    const removed = await clearTenantRows(shardDb(env, former), tenant.id, {
      keepTenantRow: former.binding === placement.directory,
    });
    rows += Object.values(removed).reduce((a, b) => a + b, 0);
    if (former.region !== current.region) {
      objects += await deleteTenantObjects(regionBucket(env, regionOf(env, former)), tenant.id);
    }
  }
  return { rows, objects };
}
