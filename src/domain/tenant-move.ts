/**
 * The decisions of moving a tenant to another shard or region (issue 15 §1): where to, and whether a copy matches its
 * source. Pure; the steps themselves are in src/tenants/move.ts.
 */
import { chooseShard, findRegion, findShard, type Placement, type Shard } from "./placement.ts";

/** What the operator asked for: a shard by code, or a region (its accepting shard with the fewest tenants). */
export type MoveRequest = { shard: string; region?: undefined } | { region: string; shard?: undefined };

export type MoveTarget =
  { ok: true; shard: Shard } | { ok: false; code: "unknown_shard" | "unknown_region" | "region_full"; detail: string };

/** The shard a move goes to. The tenant's current shard is a valid answer (the move is then already done). */
export function moveTarget(
  placement: Placement,
  request: MoveRequest,
  tenantsPerShard: ReadonlyMap<string, number>,
): MoveTarget {
  if (request.shard !== undefined) {
    const shard = findShard(placement, request.shard);
    if (!shard) {
      const known = placement.shards.map((s) => s.code).join(", ");
      return { ok: false, code: "unknown_shard", detail: `shard: one of ${known}` };
    }
    return { ok: true, shard };
  }
  const region = findRegion(placement, request.region);
  if (!region) {
    const known = placement.regions.map((r) => r.name).join(", ");
    return { ok: false, code: "unknown_region", detail: `region: one of ${known}` };
  }
  const shard = chooseShard(region, tenantsPerShard);
  if (!shard) return { ok: false, code: "region_full", detail: `No shard of region ${region.name} accepts tenants.` };
  return { ok: true, shard };
}

/** The tenant's footprint in one place: rows per table, and objects when the region changes. */
export interface MoveFootprint {
  rows: Record<string, number>;
  objects?: { objects: number; bytes: number };
}

/** Every difference between a source and its copy (empty: the copy is complete), as `what: source → copy`. */
export function copyMismatches(source: MoveFootprint, copy: MoveFootprint): string[] {
  const mismatches: string[] = [];
  for (const [table, n] of Object.entries(source.rows)) {
    const copied = copy.rows[table] ?? 0;
    if (copied !== n) mismatches.push(`${table}: ${n} → ${copied}`);
  }
  if (source.objects) {
    const { objects, bytes } = copy.objects ?? { objects: 0, bytes: 0 };
    if (objects !== source.objects.objects) mismatches.push(`objects: ${source.objects.objects} → ${objects}`);
    if (bytes !== source.objects.bytes) mismatches.push(`object bytes: ${source.objects.bytes} → ${bytes}`);
  }
  return mismatches;
}

/** `former_shards` with `code` appended once (JSON array), from the column as stored (null = none yet). */
export function appendFormerShard(formerShards: string | null, code: string): string {
  const former = parseFormerShards(formerShards);
  return JSON.stringify(former.includes(code) ? former : [...former, code]);
}

export function parseFormerShards(formerShards: string | null): string[] {
  if (!formerShards) return [];
  try {
    const parsed: unknown = JSON.parse(formerShards);
    return Array.isArray(parsed) ? parsed.filter((s): s is string => typeof s === "string") : [];
  } catch {
    return [];
  }
}
