/**
 * Where data lives (issue 15, docs/scaling.md §5): the configured regions, each with its audio bucket, queues, pool
 * and job shards, and the directory database that holds tenants and keys. Pure: bindings are named here, the storage
 * layer (src/storage/shards.ts) looks them up.
 *
 * A job or upload id carries its shard as a suffix after the 26-character ULID (`tr_01JD…K8Jus1`), so a lookup needs
 * no directory read and pagination by id stays time ordered. Ids without the suffix were issued before shards
 * existed: they belong to the first shard of the first region.
 */
import { z } from "zod";

import { SHARD_SUFFIX } from "../lib/ids.ts";

const SHARD_CODE_LENGTH = 3;
const REGION_NAME_PATTERN = /^[a-z][a-z0-9-]{0,15}$/;
const BINDING_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

const BindingName = z.string().regex(BINDING_NAME_PATTERN, "a binding name such as JOBS_EU_0");

const ShardSchema = z.object({
  code: z.string().regex(SHARD_SUFFIX, "three characters, a lowercase letter first, e.g. us0"),
  /** the D1 binding that holds this shard */
  binding: BindingName,
  /** new tenants may be placed here; a full shard is set false, never removed (its ids stay valid) */
  accepting: z.boolean().default(true),
});

const RegionSchema = z.object({
  bucket: BindingName,
  jobs_queue: BindingName,
  webhooks_queue: BindingName.optional(),
  /** this region's pool; absent = the service-wide POOL_URL */
  pool_url: z.url().optional(),
  /** the queue names this Worker consumes for the region (the first region's default to JOBS_QUEUE etc.) */
  jobs_queue_name: z.string().min(1).max(63).optional(),
  webhooks_queue_name: z.string().min(1).max(63).optional(),
  dead_letter_queue_name: z.string().min(1).max(63).optional(),
  shards: z.array(ShardSchema).min(1),
});

const PlacementSchema = z
  .object({
    /** the D1 binding of the directory (tenants, key hashes, webhook secrets, each tenant's region and shard) */
    directory: BindingName.default("DB"),
    /** in order: the first region is the default for new tenants and the home of ids issued before shards */
    regions: z.record(z.string().regex(REGION_NAME_PATTERN), RegionSchema),
  })
  .superRefine((placement, ctx) => {
    const regions = Object.keys(placement.regions);
    if (!regions.length) ctx.addIssue({ code: "custom", message: "at least one region", path: ["regions"] });
    const seen = new Set<string>();
    for (const [region, { shards }] of Object.entries(placement.regions)) {
      for (const shard of shards) {
        if (seen.has(shard.code)) {
          ctx.addIssue({ code: "custom", message: `shard code ${shard.code} used twice`, path: ["regions", region] });
        }
        seen.add(shard.code);
      }
    }
  });

export type PlacementConfig = z.infer<typeof PlacementSchema>;

export interface Shard {
  code: string;
  region: string;
  binding: string;
  accepting: boolean;
}

export interface Region {
  name: string;
  bucket: string;
  jobsQueue: string;
  webhooksQueue: string | null;
  poolUrl: string | null;
  /** queue names consumed for this region; null = the service-wide settings */
  queueNames: { jobs: string | null; webhooks: string | null; deadLetters: string | null };
  shards: Shard[];
}

export interface Placement {
  directory: string;
  /** in configured order */
  regions: Region[];
  /** every shard, region by region in configured order */
  shards: Shard[];
}

/** A placement that does not parse: the service refuses to guess where data goes (residency), so requests fail closed. */
export class PlacementError extends Error {
  override name = "PlacementError";
}

/**
 * Today's single-database deployment as a placement: one region whose one shard is the directory database itself,
 * with the bindings every deployment already has.
 */
export const SINGLE_DATABASE_PLACEMENT: PlacementConfig = {
  directory: "DB",
  regions: { us: { bucket: "BUCKET", jobs_queue: "JOBS", webhooks_queue: "WEBHOOKS", shards: [shard("us0", "DB")] } },
};

function shard(code: string, binding: string) {
  return { code, binding, accepting: true };
}

/** The `PLACEMENT` setting (JSON), or the single-database placement when it is unset or blank. */
export function parsePlacement(raw: string | undefined): Placement {
  let config: unknown = SINGLE_DATABASE_PLACEMENT;
  if (raw?.trim()) {
    try {
      config = JSON.parse(raw);
    } catch {
      throw new PlacementError("PLACEMENT is not valid JSON.");
    }
  }
  const parsed = PlacementSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PlacementError(`PLACEMENT is invalid at ${issue.path.join(".") || "(root)"}: ${issue.message}.`);
  }
  const regions = Object.entries(parsed.data.regions).map(([name, region]): Region => ({
    name,
    bucket: region.bucket,
    jobsQueue: region.jobs_queue,
    webhooksQueue: region.webhooks_queue ?? null,
    poolUrl: region.pool_url ?? null,
    queueNames: {
      jobs: region.jobs_queue_name ?? null,
      webhooks: region.webhooks_queue_name ?? null,
      deadLetters: region.dead_letter_queue_name ?? null,
    },
    shards: region.shards.map((s) => ({ ...s, region: name })),
  }));
  return { directory: parsed.data.directory, regions, shards: regions.flatMap((r) => r.shards) };
}

/** The named region, the default (first) one for null; null for a name that is not configured. */
export function findRegion(placement: Placement, name: string | null): Region | null {
  if (name === null) return placement.regions[0]!;
  return placement.regions.find((r) => r.name === name) ?? null;
}

export function findShard(placement: Placement, code: string): Shard | null {
  return placement.shards.find((s) => s.code === code) ?? null;
}

/** The shard that ids without a shard suffix belong to. */
export function legacyShard(placement: Placement): Shard {
  return placement.shards[0]!;
}

/**
 * The shard an id names: its suffix, or the legacy shard for an id issued before shards. Null for a suffix that names
 * no configured shard (a forged or foreign id: answered 404 before any query).
 */
export function shardOfId(placement: Placement, id: string): Shard | null {
  const code = shardCodeOf(id);
  return code === null ? legacyShard(placement) : findShard(placement, code);
}

/** The shard suffix of a `prefix_` + ULID id, or null when it has none. */
export function shardCodeOf(id: string): string | null {
  const body = id.slice(id.indexOf("_") + 1);
  if (body.length !== 26 + SHARD_CODE_LENGTH) return null;
  return body.slice(26);
}

/**
 * Where a new tenant's jobs go: the accepting shard of its region with the fewest tenants (ties: configured order).
 * Null when the region has no accepting shard.
 */
export function chooseShard(region: Region, tenantsPerShard: ReadonlyMap<string, number>): Shard | null {
  let best: Shard | null = null;
  for (const candidate of region.shards) {
    if (!candidate.accepting) continue;
    if (best === null || (tenantsPerShard.get(candidate.code) ?? 0) < (tenantsPerShard.get(best.code) ?? 0)) {
      best = candidate;
    }
  }
  return best;
}
