/**
 * Filtered, newest-first pages of a tenant's jobs. Ids are time ordered, so a date range is an id range on the
 * (tenant_id, id) index; status and subject have their own indexes. Filters no index serves (provider, metadata)
 * are applied inside a bounded window of at most LIST_SCAN_WINDOW index rows, so a page costs the same at a million
 * jobs as at a thousand: a sparse match returns a short page with a cursor to keep scanning.
 */
import { and, count, desc, eq, gte, inArray, lt, min, type SQL, sql } from "drizzle-orm";

import { firstIdAt } from "../lib/ids.ts";
import type { Db } from "./db.ts";
import { type JobStatus, type TranscriptionRow, transcriptions } from "./schema.ts";

/** Index rows one filtered page may walk before it answers with what it found so far. */
export const LIST_SCAN_WINDOW = 2_000;

export interface JobListFilter {
  status?: JobStatus;
  /** epoch ms, inclusive */
  createdFrom?: number;
  /** epoch ms, exclusive */
  createdUntil?: number;
  provider?: string;
  subjectId?: string;
  /** a metadata key, with the value it must have (any value when absent) */
  metadata?: { key: string; value?: string };
}

export interface JobPage {
  rows: TranscriptionRow[];
  /** the id to continue below, or null at the end */
  nextBeforeId: string | null;
}

/** The filter's conditions on the job row, each served by an index (id range, status, subject). */
export function indexedConditions(tenantId: string, filter: JobListFilter, beforeId?: string): SQL[] {
  const conditions: SQL[] = [eq(transcriptions.tenantId, tenantId)];
  if (filter.status) conditions.push(eq(transcriptions.status, filter.status));
  if (filter.subjectId) conditions.push(eq(transcriptions.subjectId, filter.subjectId));
  if (filter.createdFrom !== undefined) {
    conditions.push(gte(transcriptions.id, firstIdAt("transcription", filter.createdFrom)));
  }
  let upper = beforeId;
  if (filter.createdUntil !== undefined) {
    const bound = firstIdAt("transcription", filter.createdUntil);
    if (!upper || bound < upper) upper = bound;
  }
  if (upper) conditions.push(lt(transcriptions.id, upper));
  return conditions;
}

/** The filter's conditions no index serves. */
export function residualConditions(filter: JobListFilter): SQL[] {
  const conditions: SQL[] = [];
  if (filter.provider) conditions.push(eq(transcriptions.provider, filter.provider));
  if (filter.metadata) {
    const { key, value } = filter.metadata;
    // json_each, not a JSON path: a key needs no quoting rules
    conditions.push(
      value === undefined
        ? sql`EXISTS (SELECT 1 FROM json_each(${transcriptions.metadata}) WHERE json_each.key = ${key})`
        : sql`EXISTS (SELECT 1 FROM json_each(${transcriptions.metadata}) WHERE json_each.key = ${key} AND json_each.value = ${value})`,
    );
  }
  return conditions;
}

/** All conditions, for callers that already bound their scan another way (the search index). */
export function jobFilterConditions(tenantId: string, filter: JobListFilter, beforeId?: string): SQL[] {
  return [...indexedConditions(tenantId, filter, beforeId), ...residualConditions(filter)];
}

/** One page of at most `limit` jobs, newest first, below `beforeId`. */
export async function listJobsPage(
  db: Db,
  tenantId: string,
  filter: JobListFilter,
  page: { limit: number; beforeId?: string },
): Promise<JobPage> {
  const indexed = indexedConditions(tenantId, filter, page.beforeId);
  const residual = residualConditions(filter);
  if (!residual.length) {
    const rows = await db
      .select()
      .from(transcriptions)
      .where(and(...indexed))
      .orderBy(desc(transcriptions.id))
      .limit(page.limit + 1);
    return pageOf(rows, page.limit);
  }
  const window = db
    .select({ id: transcriptions.id })
    .from(transcriptions)
    .where(and(...indexed))
    .orderBy(desc(transcriptions.id))
    .limit(LIST_SCAN_WINDOW)
    .as("scan_window");
  const rows = await db
    .select()
    .from(transcriptions)
    .where(
      and(
        eq(transcriptions.tenantId, tenantId),
        inArray(transcriptions.id, db.select({ id: window.id }).from(window)),
        ...residual,
      ),
    )
    .orderBy(desc(transcriptions.id))
    .limit(page.limit + 1);
  if (rows.length > page.limit) return pageOf(rows, page.limit);
  // fewer matches than asked: either the scan reached the end, or the window filled and the rest lies below it
  const [scanned] = await db.select({ rows: count(), lowest: min(window.id) }).from(window);
  const windowFull = (scanned?.rows ?? 0) >= LIST_SCAN_WINDOW;
  return { rows, nextBeforeId: windowFull ? (scanned?.lowest ?? null) : null };
}

function pageOf(rows: TranscriptionRow[], limit: number): JobPage {
  const page = rows.slice(0, limit);
  return { rows: page, nextBeforeId: rows.length > limit ? page[page.length - 1]!.id : null };
}
