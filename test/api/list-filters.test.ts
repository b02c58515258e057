/**
 * GET /v1/transcriptions filters: date range (an id range), provider, subject, metadata key/value, combined with
 * status and search, and paging that walks a bounded window when no index serves the filter.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { ulid } from "../../src/lib/ids.ts";
import { LIST_SCAN_WINDOW } from "../../src/storage/job-listing.ts";
import { call, createTenant } from "../helpers/api.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2026-11-01T00:00:00Z");

interface SeedRow {
  at: number;
  provider?: string;
  status?: string;
  subject?: string | null;
  metadata?: Record<string, string>;
}

/** Inserts job rows with ids made at `at`, as if uploaded then. */
async function seedRows(tenantId: string, rows: SeedRow[]): Promise<string[]> {
  const ids = rows.map((row) => `tr_${ulid(row.at)}`);
  const statements = rows.map((row, i) =>
    env.DB.prepare(
      `insert into transcriptions (id, tenant_id, status, provider, audio_bytes, audio_format, metadata, subject_id,
         created_at, updated_at) values (?, ?, ?, ?, 1, 'wav', ?, ?, ?, ?)`,
    ).bind(
      ids[i],
      tenantId,
      row.status ?? "completed",
      row.provider ?? "openai",
      JSON.stringify(row.metadata ?? {}),
      row.subject ?? null,
      row.at,
      row.at,
    ),
  );
  for (let i = 0; i < statements.length; i += 500) await env.DB.batch(statements.slice(i, i + 500));
  return ids;
}

async function list(key: string, query: string): Promise<{ ids: string[]; next: string | null; status: number }> {
  const res = await call(`/v1/transcriptions?${query}`, { key });
  if (res.status !== 200) return { ids: [], next: null, status: res.status };
  const body = (await res.json()) as { data: { id: string }[]; next_cursor: string | null };
  return { ids: body.data.map((job) => job.id), next: body.next_cursor, status: 200 };
}

/** Follows next_cursor to the end; returns every id seen and how many requests it took. */
async function listAll(key: string, query: string): Promise<{ ids: string[]; requests: number; sizes: number[] }> {
  const ids: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  let requests = 0;
  do {
    const page = await list(key, `${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(page.status).toBe(200);
    ids.push(...page.ids);
    sizes.push(page.ids.length);
    cursor = page.next;
    requests++;
  } while (cursor && requests < 50);
  return { ids, requests, sizes };
}

describe("GET /v1/transcriptions filters", () => {
  it("filters by creation date (inclusive from, exclusive before), provider, subject and metadata", async () => {
    const { tenantId, key } = await createTenant("filters");
    const [oct31, nov1, nov2, nov3] = await seedRows(tenantId, [
      { at: T0 - 1, provider: "deepgram", metadata: { team: "sales" } },
      { at: T0, provider: "openai", subject: "user-1", metadata: { team: "support", region: "eu" } },
      { at: T0 + DAY + 5, provider: "deepgram", subject: "user-1", metadata: { team: "sales" } },
      { at: T0 + 2 * DAY, provider: "whisper-pool", status: "failed" },
    ]);
    const other = await createTenant("filters-other");
    await seedRows(other.tenantId, [{ at: T0 + 10, provider: "openai", metadata: { team: "support" } }]);

    expect((await list(key, "created_after=2026-11-01")).ids).toEqual([nov3, nov2, nov1]);
    expect((await list(key, "created_before=2026-11-01")).ids).toEqual([oct31]);
    expect((await list(key, "created_after=2026-11-01T00:00:00Z&created_before=2026-11-02T00:00:00.006Z")).ids).toEqual(
      [nov2, nov1],
    );
    expect((await list(key, "provider=deepgram")).ids).toEqual([nov2, oct31]);
    expect((await list(key, "subject_id=user-1")).ids).toEqual([nov2, nov1]);
    expect((await list(key, "metadata_key=team&metadata_value=sales")).ids).toEqual([nov2, oct31]);
    expect((await list(key, "metadata_key=region")).ids).toEqual([nov1]);
    expect((await list(key, "metadata_key=team&metadata_value=support")).ids).toEqual([nov1]);
    expect((await list(key, "status=failed&created_after=2026-11-02")).ids).toEqual([nov3]);
    expect((await list(key, "provider=deepgram&metadata_key=team&metadata_value=sales&subject_id=user-1")).ids).toEqual(
      [nov2],
    );
    // the other tenant's matching row never shows
    expect((await list(other.key, "metadata_key=team&metadata_value=sales")).ids).toEqual([]);
  });

  it("pages through a sparse filter in bounded windows without losing or repeating a job", async () => {
    const { tenantId, key } = await createTenant("sparse");
    const total = LIST_SCAN_WINDOW * 2 + 300;
    const rows: SeedRow[] = Array.from({ length: total }, (_, i) => ({
      at: T0 + i * 1000,
      provider: i % 700 === 0 ? "deepgram" : "openai",
    }));
    const ids = await seedRows(tenantId, rows);
    const expected = ids.filter((_, i) => i % 700 === 0).reverse();
    const walked = await listAll(key, "provider=deepgram&limit=5");
    expect(walked.ids).toEqual(expected);
    // a window holds at most 3 matches, so each request answers short with a cursor rather than scan on
    expect(walked.sizes.slice(0, -1).every((size) => size <= 3)).toBe(true);
    expect(walked.requests).toBe(Math.ceil(total / LIST_SCAN_WINDOW));
    // a filter an index serves pages normally
    const all = await listAll(key, "limit=100&created_after=2026-11-01");
    expect(all.ids.length).toBe(total);
    expect(new Set(all.ids).size).toBe(total);
  }, 120_000);

  it("refuses malformed filters with a stable code", async () => {
    const { key } = await createTenant("bad-filters");
    for (const query of [
      "created_after=yesterday",
      "created_before=2026-13-45",
      "provider=nope",
      "metadata_key=bad%20key",
      "metadata_value=x",
      "subject_id=%3Cscript%3E",
    ]) {
      const res = await call(`/v1/transcriptions?${query}`, { key });
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { code: string };
      expect(body.code, query).toBe("invalid_parameters");
    }
  });
});
