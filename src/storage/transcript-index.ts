/**
 * The keyed token index of completed transcripts (`transcript_tokens`, docs/security.md "Search index"): written when
 * a job completes, erased with the job, its subject and its tenant, read by `GET /v1/transcriptions?q=`.
 *
 * Tokens are written under the newest master key version. A query computes its tokens under every version of the
 * ring and runs once per version (a transcript's tokens all come from one version), so a master rotation needs no
 * re-indexing while the old version stays in the ring.
 */
import { and, asc, desc, eq, gt, inArray, type SQL, sql } from "drizzle-orm";

import type { MasterKey } from "../domain/envelope.ts";
import { shardOfId } from "../domain/placement.ts";
import {
  MAX_INDEXED_WORDS,
  normaliseWords,
  type SearchTerms,
  tenantSearchKey,
  tokensOf,
} from "../domain/search-tokens.ts";
import { startOfWalk, walkCursorAfter } from "../domain/shard-walk.ts";
import type { Env } from "../env.ts";
import { isWellFormedId } from "../lib/ids.ts";
import { log } from "../lib/log.ts";
import type { Db } from "./db.ts";
import { jobFilterConditions, type JobListFilter, type JobPage } from "./job-listing.ts";
import { inSlices } from "./limits.ts";
import { type TranscriptionRow, transcriptions, transcriptTokens } from "./schema.ts";
import { masterKeys } from "./sealed-objects.ts";
import { readOneShard, type ShardFailure } from "./shard-fanout.ts";
import { placementOf } from "./shards.ts";
import { getTranscript } from "./transcript-store.ts";

/** 4 bound parameters a row: 24 rows a statement stays under D1's 100 */
const ROWS_PER_INSERT = 24;

/** Indexes a completed job's text (replacing any tokens it had); returns how many word positions were written. */
export function indexTranscript(env: Env, db: Db, job: { id: string; tenantId: string }, text: string) {
  return indexTranscripts(env, db, job.tenantId, [{ jobId: job.id, text }]);
}

/** Indexes several jobs (≤ MAX_IDS_PER_QUERY) of one tenant in one D1 batch; returns the word positions written. */
export async function indexTranscripts(
  env: Env,
  db: Db,
  tenantId: string,
  jobs: readonly { jobId: string; text: string }[],
): Promise<number> {
  if (!jobs.length) return 0;
  const key = await tenantSearchKey(masterKeys(env)[0]!.secret, tenantId);
  const wordsOf = jobs.map((job) => normaliseWords(job.text).slice(0, MAX_INDEXED_WORDS));
  const tokens = await tokensOf(key, wordsOf.flat());
  const rows = jobs.flatMap((job, i) =>
    wordsOf[i]!.map((word, position) => ({ tenantId, token: tokens.get(word)!, jobId: job.jobId, position })),
  );
  const clear = db.delete(transcriptTokens).where(
    and(
      eq(transcriptTokens.tenantId, tenantId),
      inArray(
        transcriptTokens.jobId,
        jobs.map((job) => job.jobId),
      ),
    ),
  );
  const inserts = inSlices(rows, ROWS_PER_INSERT).map((slice) =>
    db.insert(transcriptTokens).values(slice).onConflictDoNothing(),
  );
  await db.batch([clear, ...inserts]);
  return rows.length;
}

/** Removes the tokens of some jobs (≤ MAX_IDS_PER_QUERY); returns how many rows went. */
export async function deleteTranscriptTokens(db: Db, tenantId: string, jobIds: string[]): Promise<number> {
  if (!jobIds.length) return 0;
  const result = await db
    .delete(transcriptTokens)
    .where(and(eq(transcriptTokens.tenantId, tenantId), inArray(transcriptTokens.jobId, jobIds)));
  return result.meta.changes ?? 0;
}

export interface TranscriptSearch {
  terms: SearchTerms;
  /** the same filters as a listing, applied to each candidate job row */
  filter?: JobListFilter;
  /** keyset cursor: only jobs with a smaller id */
  beforeId?: string;
  limit: number;
}

/** Newest-first jobs of the tenant whose transcript holds every term (words anywhere, phrases in order). */
export async function searchTenantJobs(
  env: Env,
  db: Db,
  tenantId: string,
  search: TranscriptSearch,
): Promise<TranscriptionRow[]> {
  const ids = new Set<string>();
  for (const master of masterKeys(env)) {
    for (const id of await matchingJobIds(db, master, tenantId, search)) ids.add(id);
  }
  const newest = [...ids].sort().reverse().slice(0, search.limit);
  if (!newest.length) return [];
  return db
    .select()
    .from(transcriptions)
    .where(and(eq(transcriptions.tenantId, tenantId), inArray(transcriptions.id, newest)))
    .orderBy(desc(transcriptions.id));
}

/** A page of search hits in the listing's shape: `limit` jobs and the id to continue below. */
export async function searchJobsPage(env: Env, db: Db, tenantId: string, search: TranscriptSearch): Promise<JobPage> {
  const rows = await searchTenantJobs(env, db, tenantId, { ...search, limit: search.limit + 1 });
  const page = rows.slice(0, search.limit);
  return { rows: page, nextBeforeId: rows.length > search.limit ? page[page.length - 1]!.id : null };
}

/**
 * One version's query. The driver is the term with the longest word (long words are rarer), scanned newest job
 * first through the primary key; every other term is an EXISTS on the same job, and each later word of a phrase an
 * EXISTS at the next position. The job row's EXISTS applies the listing filters and hides tokens of a job deleted
 * mid-write.
 */
async function matchingJobIds(db: Db, master: MasterKey, tenantId: string, search: TranscriptSearch) {
  const key = await tenantSearchKey(master.secret, tenantId);
  const tokens = await tokensOf(key, search.terms.flat());
  const termTokens = search.terms.map((term) => term.map((word) => tokens.get(word)!));
  const longest = (term: string[]) => Math.max(...term.map((word) => word.length));
  const driverIndex = search.terms.reduce(
    (best, term, i) => (longest(term) > longest(search.terms[best]!) ? i : best),
    0,
  );
  const [driver, ...others] = [termTokens[driverIndex]!, ...termTokens.filter((_, i) => i !== driverIndex)];

  const conditions: SQL[] = [sql`t0.tenant_id = ${tenantId}`, sql`t0.token = ${driver[0]!}`];
  if (search.beforeId) conditions.push(sql`t0.job_id < ${search.beforeId}`);
  conditions.push(...followingWords("t0", driver.slice(1), "d"));
  others.forEach((term, i) => {
    const alias = sql.raw(`o${i}`);
    const inner = [
      sql`${alias}.tenant_id = t0.tenant_id`,
      sql`${alias}.token = ${term[0]!}`,
      sql`${alias}.job_id = t0.job_id`,
      ...followingWords(`o${i}`, term.slice(1), `o${i}p`),
    ];
    conditions.push(sql`EXISTS (SELECT 1 FROM transcript_tokens ${alias} WHERE ${sql.join(inner, sql` AND `)})`);
  });
  const jobRow = [sql`${transcriptions.id} = t0.job_id`, ...jobFilterConditions(tenantId, search.filter ?? {})];
  conditions.push(sql`EXISTS (SELECT 1 FROM ${transcriptions} WHERE ${sql.join(jobRow, sql` AND `)})`);
  const rows = await db.all<{ job_id: string }>(sql`
    SELECT DISTINCT t0.job_id AS job_id FROM transcript_tokens t0
    WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY t0.job_id DESC LIMIT ${search.limit}`);
  return rows.map((row) => row.job_id);
}

/** The phrase's later words at the positions right after `anchor`'s. */
function followingWords(anchor: string, words: number[], prefix: string): SQL[] {
  const from = sql.raw(anchor);
  return words.map((token, i) => {
    const alias = sql.raw(`${prefix}${i}`);
    return sql`EXISTS (SELECT 1 FROM transcript_tokens ${alias} WHERE ${alias}.tenant_id = ${from}.tenant_id
      AND ${alias}.token = ${token} AND ${alias}.job_id = ${from}.job_id AND ${alias}.position = ${from}.position + ${i + 1})`;
  });
}

export interface ReindexResult {
  jobs_indexed: number;
  words_indexed: number;
  /** jobs whose transcript could not be read (e.g. sealed under a master version no longer in the ring) */
  jobs_failed: number;
  /** pass back as `cursor`; null once every completed job has been walked */
  next_cursor: string | null;
}

/**
 * One batch of (re-)indexing, in job id order across tenants: completed jobs from before the index existed, or
 * indexed under a master version about to leave the ring. Reads each transcript from R2; a job whose transcript is
 * gone is skipped, one that cannot be opened is counted in `jobs_failed`.
 */
export async function reindexBatch(
  env: Env,
  db: Db,
  options: { cursor?: string; limit: number },
): Promise<ReindexResult> {
  const conditions = [eq(transcriptions.status, "completed")];
  if (options.cursor) conditions.push(gt(transcriptions.id, options.cursor));
  const jobs = await db
    .select({ id: transcriptions.id, tenantId: transcriptions.tenantId, transcriptKey: transcriptions.transcriptKey })
    .from(transcriptions)
    .where(and(...conditions))
    .orderBy(asc(transcriptions.id))
    .limit(options.limit);
  let words = 0;
  let indexed = 0;
  let failed = 0;
  for (const job of jobs) {
    try {
      const doc = job.transcriptKey ? await getTranscript(env, job.tenantId, job.transcriptKey) : null;
      if (!doc) continue;
      words += await indexTranscript(env, db, job, doc.text);
      indexed++;
    } catch (error) {
      // one unreadable transcript must not stop the walk: counted, logged by id, and the batch goes on
      failed++;
      log("search_reindex_failed", { job_id: job.id, error: error instanceof Error ? error.name : "unknown" });
    }
  }
  return {
    jobs_indexed: indexed,
    words_indexed: words,
    jobs_failed: failed,
    next_cursor: jobs.length === options.limit ? jobs[jobs.length - 1]!.id : null,
  };
}

export interface ReindexWalkResult extends ReindexResult {
  /** the shard of this call when it failed (its batch is not done); empty otherwise */
  shards: ShardFailure[];
}

/**
 * One call of the reindex walk over every job shard: one batch in the shard the cursor names (the first shard
 * without one, or `shard` alone), in job id order; the next cursor goes on in that shard, then in the next one, and
 * is null after the last. A shard that fails is reported in `shards` and the walk goes on with the next shard (so a
 * dead shard never stalls it); re-run that shard with `shard` once it is back. An older plain cursor (a job id)
 * goes on after that job in the shard its id names. Throws `WalkCursorError` for a cursor of no walk.
 */
export async function reindexWalk(
  env: Env,
  options: { cursor?: string; shard?: string; limit: number },
): Promise<ReindexWalkResult> {
  const placement = placementOf(env);
  const order = placement.shards.map((s) => s.code);
  const position = startOfWalk(order, {
    cursor: options.cursor,
    only: options.shard,
    legacy: (raw) => {
      const shard = isWellFormedId(raw, "transcription") ? shardOfId(placement, raw) : null;
      return shard ? { at: shard.code, after: raw, only: false } : null;
    },
  });
  const shard = placement.shards.find((s) => s.code === position.at)!;
  const read = await readOneShard(
    env,
    shard,
    (db, _shard, placed) => reindexBatch(placed, db, { cursor: position.after ?? undefined, limit: options.limit }),
    { timeoutMs: null },
  );
  if (read.failed) {
    return {
      jobs_indexed: 0,
      words_indexed: 0,
      jobs_failed: 0,
      next_cursor: walkCursorAfter(order, position, null),
      shards: [read.failed],
    };
  }
  return { ...read.value, next_cursor: walkCursorAfter(order, position, read.value.next_cursor), shards: [] };
}
