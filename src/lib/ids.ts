/** Time-ordered identifiers (ULID body, Crockford base32) with a type prefix, e.g. `tr_01JD…`. */

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

let lastMs = -1;
let lastRandom: number[] = [];

/** A 26-character ULID; monotonic within one isolate even when several are made in the same millisecond. */
export function ulid(nowMs = Date.now()): string {
  let random: number[];
  if (nowMs === lastMs) {
    random = [...lastRandom];
    // increment the 80-bit random part so ids made in one millisecond still sort in creation order
    for (let i = random.length - 1; i >= 0; i--) {
      if (random[i]! < 31) {
        random[i]!++;
        break;
      }
      random[i] = 0;
    }
  } else {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    random = Array.from(bytes, (b) => b & 31);
  }
  lastMs = nowMs;
  lastRandom = random;
  return encodeTime(nowMs) + random.map((n) => CROCKFORD[n]).join("");
}

/** The ULID's 10-character time part: 48 bits of milliseconds, most significant first. */
function encodeTime(nowMs: number): string {
  let time = "";
  let ms = nowMs;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[ms % 32]! + time;
    ms = Math.floor(ms / 32);
  }
  return time;
}

/**
 * The smallest id of `kind` made at or after `ms`: ids sort by creation time, so a date range is an id range and a
 * listing by date walks the (tenant, id) index instead of scanning.
 */
export function firstIdAt(kind: keyof typeof ID_PREFIX, ms: number): string {
  const clamped = Math.min(Math.max(Math.floor(ms), 0), 2 ** 48 - 1);
  return ID_PREFIX[kind] + encodeTime(clamped) + "0".repeat(16);
}

export const ID_PREFIX = { transcription: "tr_", tenant: "tn_", apiKey: "key_", upload: "up_" } as const;

/** Kinds whose rows live in a job shard: their ids may carry the shard code after the ULID (src/domain/placement.ts). */
const SHARDED_KINDS = new Set<keyof typeof ID_PREFIX>(["transcription", "upload"]);

/** A new id; `shardCode` (jobs and uploads only) is appended so the id names the shard that holds it. */
export function newId(kind: keyof typeof ID_PREFIX, shardCode?: string): string {
  if (shardCode !== undefined && (!SHARDED_KINDS.has(kind) || !SHARD_SUFFIX.test(shardCode))) {
    throw new Error(`A ${kind} id cannot carry the shard code ${JSON.stringify(shardCode)}.`);
  }
  return ID_PREFIX[kind] + ulid() + (shardCode ?? "");
}

/** A shard code: three characters, a lowercase letter first, so it never reads as part of the uppercase ULID. */
export const SHARD_SUFFIX = /^[a-z][a-z0-9]{2}$/;
const ID_PATTERN = /^(tr|tn|key|up)_[0-9A-HJKMNP-TV-Z]{26}$/;
const SHARDED_ID_PATTERN = /^(tr|up)_[0-9A-HJKMNP-TV-Z]{26}(?:[a-z][a-z0-9]{2})?$/;

/** Cheap shape check so malformed ids never reach a query (whether a shard suffix is configured is placement's call). */
export function isWellFormedId(id: string, kind: keyof typeof ID_PREFIX): boolean {
  return id.startsWith(ID_PREFIX[kind]) && (SHARDED_KINDS.has(kind) ? SHARDED_ID_PATTERN : ID_PATTERN).test(id);
}
