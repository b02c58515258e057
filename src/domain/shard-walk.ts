/**
 * Cursors of the operator's batch walks over every job shard (search reindex, encryption rewrap): one call works in
 * one place (a shard, or a region's bucket), and the cursor it returns names where the next call goes on, so calls
 * repeated until the cursor is null cover every place exactly once, in placement order. Pure.
 *
 * A cursor is opaque to callers: `sw1.` + base64url of a small JSON object. `at` is the shard code (or region name)
 * the next call works in, `after` the position inside it (a job id, an R2 listing cursor; null = from its start),
 * `only` keeps the walk inside `at` (a re-run of one shard that failed).
 */
import { decodeBase64Url, encodeBase64Url } from "hono/utils/encode";
import { z } from "zod";

const CURSOR_PREFIX = "sw1.";

/** Longest cursor accepted (an R2 listing cursor inside base64url JSON stays far below). */
export const MAX_SHARD_WALK_CURSOR_LENGTH = 4096;

const WalkPositionSchema = z
  .object({
    at: z.string().min(1).max(64),
    after: z.string().min(1).max(2048).nullable(),
    only: z.boolean(),
  })
  .strict();

export type WalkPosition = z.infer<typeof WalkPositionSchema>;

/** The cursor a call returns for `position`. */
export function encodeWalkCursor(position: WalkPosition): string {
  const body = encodeBase64Url(new TextEncoder().encode(JSON.stringify(position)).buffer);
  return CURSOR_PREFIX + body.replace(/=+$/, "");
}

/** Whether a cursor is of this kind (otherwise it may be an older route's plain cursor). */
export function isWalkCursor(raw: string): boolean {
  return raw.startsWith(CURSOR_PREFIX);
}

/** The position a cursor names, or null for one this code did not write. */
export function decodeWalkCursor(raw: string): WalkPosition | null {
  if (!isWalkCursor(raw) || raw.length > MAX_SHARD_WALK_CURSOR_LENGTH) return null;
  const body = raw.slice(CURSOR_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) return null;
  try {
    const parsed = WalkPositionSchema.safeParse(
      JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(decodeBase64Url(body))),
    );
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Where the walk goes once `at` is done: the next place in `order`, or null at the end (and at once for a walk kept
 * to one place).
 */
export function nextWalkPlace(order: readonly string[], at: string, only: boolean): string | null {
  if (only) return null;
  const index = order.indexOf(at);
  return index >= 0 && index + 1 < order.length ? order[index + 1]! : null;
}

/** The cursor after a call in `at` that ended at `after` (null = `at` is done): the same place, the next, or null. */
export function walkCursorAfter(
  order: readonly string[],
  position: { at: string; only: boolean },
  after: string | null,
): string | null {
  if (after !== null) return encodeWalkCursor({ at: position.at, after, only: position.only });
  const next = nextWalkPlace(order, position.at, position.only);
  return next === null ? null : encodeWalkCursor({ at: next, after: null, only: false });
}

/** Why a walk cannot start where a call asks: the message of its 400. */
export class WalkCursorError extends Error {
  override name = "WalkCursorError";
}

/**
 * Where a call works: the position its cursor names (which must be a place of `order`), an older plain cursor as
 * `legacy` maps it, or the start of `only` (a one-place walk) or of the first place. A cursor and `only` together must
 * agree. Throws {@link WalkCursorError} for anything else.
 */
export function startOfWalk(
  order: readonly string[],
  request: { cursor?: string; only?: string; legacy: (raw: string) => WalkPosition | null },
): WalkPosition {
  const { cursor, only } = request;
  if (only !== undefined && !order.includes(only)) throw new WalkCursorError(`shard: no shard ${only} is configured`);
  if (cursor === undefined) return { at: only ?? order[0]!, after: null, only: only !== undefined };
  const position = isWalkCursor(cursor) ? decodeWalkCursor(cursor) : request.legacy(cursor);
  if (!position || !order.includes(position.at)) throw new WalkCursorError("cursor: not a `next_cursor` of this walk");
  if (only !== undefined && (position.at !== only || !position.only)) {
    throw new WalkCursorError("shard: the cursor belongs to another walk; pass it without `shard`, or `shard` alone");
  }
  return position;
}
