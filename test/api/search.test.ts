/** Search inside transcripts (`GET /v1/transcriptions?q=`) on the keyed token index; no plaintext is indexed. */
import { signedHeaders } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import {
  normaliseWords,
  parseSearchQuery,
  SearchQueryError,
  tenantSearchKey,
  wordToken,
} from "../../src/domain/search-tokens.ts";
import { adminKey, call, callWith, createTenant, multipartUpload } from "../helpers/api.ts";
import { completedCallback, POOL_CALLBACK_RING, poolCallback } from "../helpers/pool.ts";

interface JobList {
  data: { id: string; status: string }[];
  next_cursor: string | null;
}

let key: string;
let tenantId: string;
let other: { key: string; tenantId: string };

beforeAll(async () => {
  ({ key, tenantId } = await createTenant("search"));
  other = await createTenant("search-other");
});

async function submit(k = key, fields: Record<string, string> = {}): Promise<string> {
  const res = await multipartUpload(k, { provider: "whisper-pool", ...fields });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function completeWith(id: string, text: string): Promise<void> {
  const res = await poolCallback(completedCallback(id, { text, segments: [{ start: 0, end: 2, text }] }));
  expect(res.status).toBe(200);
}

async function transcribed(text: string, k = key, fields: Record<string, string> = {}): Promise<string> {
  const id = await submit(k, fields);
  await completeWith(id, text);
  return id;
}

async function search(q: string, k = key, extra = ""): Promise<JobList> {
  const res = await call(`/v1/transcriptions?q=${encodeURIComponent(q)}${extra}`, { key: k });
  expect(res.status).toBe(200);
  return (await res.json()) as JobList;
}

const ids = (list: JobList) => list.data.map((job) => job.id);

async function tokenRows(jobId: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from transcript_tokens where job_id = ?")
    .bind(jobId)
    .first<{ n: number }>();
  return row!.n;
}

describe("normalising and parsing", () => {
  it("folds case, accents, apostrophes and punctuation the same way for text and queries", () => {
    expect(normaliseWords("Café, DON'T stop — naïve 42!")).toEqual(["cafe", "dont", "stop", "naive", "42"]);
    expect(parseSearchQuery('refund "Account number" refund')).toEqual([["refund"], ["account", "number"]]);
    expect(parseSearchQuery('"unclosed phrase')).toEqual([["unclosed", "phrase"]]);
    expect(() => parseSearchQuery(" ,. ")).toThrow(SearchQueryError);
    expect(() => parseSearchQuery("a b c d e f g h i")).toThrow(SearchQueryError);
    expect(() => parseSearchQuery("x".repeat(501))).toThrow(SearchQueryError);
  });

  it("gives each tenant its own tokens, 52-bit integers", async () => {
    const a = await tenantSearchKey("m".repeat(40), "tn_a");
    const b = await tenantSearchKey("m".repeat(40), "tn_b");
    const token = await wordToken(a, "refund");
    expect(Number.isSafeInteger(token)).toBe(true);
    expect(token).toBeLessThan(2 ** 52);
    expect(await wordToken(a, "refund")).toBe(token);
    expect(await wordToken(b, "refund")).not.toBe(token);
    expect(await wordToken(a, "refunds")).not.toBe(token);
  });
});

describe("GET /v1/transcriptions?q=", () => {
  let refund: string;
  let account: string;
  let both: string;

  beforeAll(async () => {
    refund = await transcribed("I would like a refund for my order, please.");
    account = await transcribed("Please read me your account number slowly.");
    both = await transcribed("The refund goes to the account. Number one, the account number is wrong.");
  });

  it("finds every job holding all the words, newest first", async () => {
    expect(ids(await search("refund"))).toEqual([both, refund]);
    expect(ids(await search("REFUND, please!"))).toEqual([refund]);
    expect(ids(await search("account number"))).toEqual([both, account]);
    expect(ids(await search("refund account"))).toEqual([both]);
    expect(ids(await search("nothing-like-this"))).toEqual([]);
  });

  it("matches a quoted phrase only in order and side by side", async () => {
    expect(ids(await search('"account number"'))).toEqual([both, account]);
    expect(ids(await search('"number account"'))).toEqual([]);
    expect(ids(await search('"refund for my order"'))).toEqual([refund]);
    expect(ids(await search('"refund my"'))).toEqual([]);
    expect(ids(await search('slowly "your account number"'))).toEqual([account]);
  });

  it("pages with the cursor and combines with the status filter", async () => {
    const first = await search("account", key, "&limit=1");
    expect(ids(first)).toHaveLength(1);
    expect(first.next_cursor).not.toBeNull();
    const rest = await search("account", key, `&limit=5&cursor=${first.next_cursor}`);
    expect([...ids(first), ...ids(rest)]).toEqual([both, account]);
    expect(ids(await search("refund", key, "&status=completed"))).toEqual([both, refund]);
    expect(ids(await search("refund", key, "&status=failed"))).toEqual([]);
  });

  it("combines with the listing filters: subject, metadata, provider and dates", async () => {
    const tagged = await transcribed("a ledger entry", key, {
      subject_id: "ledger-subject",
      metadata: JSON.stringify({ desk: "north" }),
    });
    const untagged = await transcribed("another ledger entry");
    expect(ids(await search("ledger", key))).toEqual([untagged, tagged]);
    expect(ids(await search("ledger", key, "&subject_id=ledger-subject"))).toEqual([tagged]);
    expect(ids(await search("ledger", key, "&metadata_key=desk&metadata_value=north"))).toEqual([tagged]);
    expect(ids(await search("ledger", key, "&metadata_key=desk&metadata_value=south"))).toEqual([]);
    expect(ids(await search("ledger", key, "&provider=whisper-pool"))).toEqual([untagged, tagged]);
    expect(ids(await search("ledger", key, "&provider=deepgram"))).toEqual([]);
    expect(ids(await search("ledger", key, "&created_before=2020-01-01"))).toEqual([]);
    expect(ids(await search("ledger", key, "&created_after=2020-01-01"))).toEqual([untagged, tagged]);
  });

  it("never finds another tenant's transcripts", async () => {
    await transcribed("refund refund refund", other.key);
    const theirs = await search("refund", other.key);
    expect(theirs.data).toHaveLength(1);
    expect(ids(theirs)).not.toContain(refund);
    expect(ids(await search("refund"))).toEqual([both, refund]);
  });

  it("refuses a query without words or with too many terms", async () => {
    for (const q of ["   ", "!!!", "a b c d e f g h i"]) {
      const res = await call(`/v1/transcriptions?q=${encodeURIComponent(q)}`, { key });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { code: string };
      expect(body.code).toBe("invalid_query");
    }
    const long = await call(`/v1/transcriptions?q=${"x".repeat(501)}`, { key });
    expect(long.status).toBe(400);
  });

  it("stores tokens only: no word of the transcript is in the index", async () => {
    const columns = await env.DB.prepare("select name, type from pragma_table_info('transcript_tokens')").all<{
      name: string;
      type: string;
    }>();
    expect(columns.results.map((c) => `${c.name}:${c.type.toLowerCase()}`).sort()).toEqual([
      "job_id:text",
      "position:integer",
      "tenant_id:text",
      "token:integer",
    ]);
    expect(await tokenRows(refund)).toBe(normaliseWords("I would like a refund for my order, please.").length);
  });
});

describe("the index is erased with its job, subject and tenant", () => {
  it("goes with a deleted job", async () => {
    const id = await transcribed("erase me with my job");
    expect(await tokenRows(id)).toBe(5);
    expect((await call(`/v1/transcriptions/${id}`, { method: "DELETE", key })).status).toBe(204);
    expect(await tokenRows(id)).toBe(0);
    expect(ids(await search('"erase me with my job"'))).toEqual([]);
  });

  it("goes with an erased subject, and the receipt counts it", async () => {
    const id = await transcribed("subject words here", key, { subject_id: "person-search-1" });
    const res = await call("/v1/subjects/erase", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ subject_id: "person-search-1" }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { erased: Record<string, number> }).erased.search_tokens).toBe(3);
    expect(await tokenRows(id)).toBe(0);
  });

  it("goes with an erased tenant", async () => {
    const doomed = await createTenant("search-doomed");
    await transcribed("tenant words", doomed.key);
    const res = await call(`/v1/admin/tenants/${doomed.tenantId}`, { method: "DELETE", key: adminKey() });
    expect(res.status).toBe(200);
    const left = await env.DB.prepare("select count(*) as n from transcript_tokens where tenant_id = ?")
      .bind(doomed.tenantId)
      .first<{ n: number }>();
    expect(left!.n).toBe(0);
  });
});

describe("after a master key rotation", () => {
  it("finds transcripts indexed under the old version and under the new one", async () => {
    const old = await transcribed("rotation before the change");
    const rotated = { ENCRYPTION_KEYS: `m3:test-master-key-three-0123456789abcdef,${env.ENCRYPTION_KEYS}` };
    const upload = new FormData();
    upload.append("provider", "whisper-pool");
    upload.append(
      "file",
      new Blob([new Uint8Array(await (await multipartBody()).arrayBuffer())], { type: "audio/wav" }),
    );
    const created = await callWith(rotated, "/v1/transcriptions", { method: "POST", key, body: upload });
    expect(created.status).toBe(202);
    const fresh = ((await created.json()) as { id: string }).id;
    const body = JSON.stringify(completedCallback(fresh, { text: "rotation after the change" }));
    const callback = await callWith(rotated, "/internal/pool/callback", {
      method: "POST",
      body,
      headers: { ...(await signedHeaders(POOL_CALLBACK_RING, body)), "content-type": "application/json" },
    });
    expect(callback.status).toBe(200);
    const res = await callWith(rotated, `/v1/transcriptions?q=rotation`, { key });
    expect(ids((await res.json()) as JobList)).toEqual([fresh, old]);
    // without the new version in the ring, only what it indexed under the old one is found
    expect(ids(await search("rotation"))).toEqual([old]);
    expect(tenantId).toMatch(/^tn_/);
  });
});

async function multipartBody(): Promise<Blob> {
  const { makeWav } = await import("../helpers/audio.ts");
  return new Blob([makeWav()]);
}

describe("POST /v1/admin/search/reindex", () => {
  async function reindexAll(overrides: Record<string, string> = {}): Promise<number> {
    let cursor: string | null = null;
    let jobs = 0;
    do {
      const query: string = cursor ? `?limit=200&cursor=${cursor}` : "?limit=200";
      const res = await callWith(overrides, `/v1/admin/search/reindex${query}`, { method: "POST", key: adminKey() });
      expect(res.status).toBe(200);
      const batch = (await res.json()) as { jobs_indexed: number; next_cursor: string | null };
      jobs += batch.jobs_indexed;
      cursor = batch.next_cursor;
    } while (cursor);
    return jobs;
  }

  it("indexes completed jobs the index does not cover, from their stored transcripts", async () => {
    const id = await transcribed("backfilled words from before the index");
    await env.DB.prepare("delete from transcript_tokens where job_id = ?").bind(id).run();
    expect(ids(await search('"backfilled words"'))).toEqual([]);
    expect(await reindexAll()).toBeGreaterThan(0);
    expect(ids(await search('"backfilled words"'))).toEqual([id]);
    expect(await tokenRows(id)).toBe(6);
  });

  it("re-writes the tokens under the newest master version after a rotation", async () => {
    const id = await transcribed("rotated reindex check");
    const newest = "test-master-key-four-0123456789abcdefgh";
    await reindexAll({ ENCRYPTION_KEYS: `m4:${newest},${env.ENCRYPTION_KEYS}` });
    const expected = await wordToken(await tenantSearchKey(newest, tenantId), "rotated");
    const row = await env.DB.prepare("select token from transcript_tokens where job_id = ? and position = 0")
      .bind(id)
      .first<{ token: number }>();
    expect(row!.token).toBe(expected);
  });

  it("is for the operator only and refuses a bad cursor", async () => {
    expect((await call("/v1/admin/search/reindex", { method: "POST", key })).status).toBe(403);
    const bad = await call("/v1/admin/search/reindex?cursor=nope", { method: "POST", key: adminKey() });
    expect(bad.status).toBe(400);
  });
});
