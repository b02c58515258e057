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

export function newId(kind: keyof typeof ID_PREFIX): string {
  return ID_PREFIX[kind] + ulid();
}

const ID_PATTERN = /^(tr|tn|key|up)_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Cheap shape check so malformed ids never reach a query. */
export function isWellFormedId(id: string, kind: keyof typeof ID_PREFIX): boolean {
  return id.startsWith(ID_PREFIX[kind]) && ID_PATTERN.test(id);
}
