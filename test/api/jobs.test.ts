import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { call, createTenant, multipartUpload, rawUpload } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";

let key: string;
let tenantId: string;
let other: { key: string; tenantId: string };

beforeAll(async () => {
  ({ key, tenantId } = await createTenant("reader"));
  other = await createTenant("someone-else");
});

async function submit(fields: Record<string, string> = {}, k = key): Promise<string> {
  const res = await multipartUpload(k, { provider: "whisper-pool", ...fields });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function submitCompleted(): Promise<string> {
  const id = await submit();
  const res = await poolCallback(completedCallback(id));
  expect(res.status).toBe(200);
  return id;
}

describe("GET /v1/transcriptions/{id}", () => {
  it("returns the completed job with text and segments", async () => {
    const id = await submitCompleted();
    const res = await call(`/v1/transcriptions/${id}`, { key });
    expect(res.status).toBe(200);
    const job = (await res.json()) as Record<string, unknown>;
    expect(job).toMatchObject({
      id,
      status: "completed",
      provider: "whisper-pool",
      model: "ggml-tiny.en",
      language: "en",
      duration_seconds: 11,
      text: "And so my fellow Americans, ask not what your country can do for you.",
      error: null,
    });
    expect(job.segments).toHaveLength(2);
    expect(job.completed_at).toEqual(expect.any(String));
  });

  it("is a 404 for another tenant's job and for malformed ids", async () => {
    const id = await submit();
    for (const path of [`/v1/transcriptions/${id}`, `/v1/transcriptions/${id}/transcript`]) {
      const res = await call(path, { key: other.key });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("not_found");
    }
    const del = await call(`/v1/transcriptions/${id}`, { method: "DELETE", key: other.key });
    expect(del.status).toBe(404);
    expect((await call(`/v1/transcriptions/${id}`, { key })).status).toBe(200);
    expect((await call(`/v1/transcriptions/not-an-id`, { key })).status).toBe(404);
    expect((await call(`/v1/transcriptions/tr_'%20or%201=1`, { key })).status).toBe(404);
  });
});

describe("GET /v1/transcriptions", () => {
  it("pages newest first with a cursor that stays stable under inserts", async () => {
    const { key: k } = await createTenant("pager");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await submit({}, k));
    const first = (await (await call("/v1/transcriptions?limit=2", { key: k })).json()) as {
      data: { id: string }[];
      next_cursor: string;
    };
    expect(first.data.map((j) => j.id)).toEqual([ids[4], ids[3]]);
    // a job created between page requests must not shift later pages
    await submit({}, k);
    const second = (await (
      await call(`/v1/transcriptions?limit=2&cursor=${first.next_cursor}`, { key: k })
    ).json()) as { data: { id: string }[]; next_cursor: string };
    expect(second.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const third = (await (
      await call(`/v1/transcriptions?limit=2&cursor=${second.next_cursor}`, { key: k })
    ).json()) as { data: { id: string }[]; next_cursor: string | null };
    expect(third.data.map((j) => j.id)).toEqual([ids[0]]);
    expect(third.next_cursor).toBeNull();
  });

  it("filters by status and never shows another tenant's jobs", async () => {
    const { key: k } = await createTenant("filter");
    const queued = await submit({}, k);
    const id = await submit({}, k);
    await poolCallback(completedCallback(id));
    const completed = (await (await call("/v1/transcriptions?status=completed", { key: k })).json()) as {
      data: { id: string }[];
    };
    expect(completed.data.map((j) => j.id)).toEqual([id]);
    const all = (await (await call("/v1/transcriptions?limit=100", { key: k })).json()) as { data: { id: string }[] };
    expect(all.data.map((j) => j.id).sort()).toEqual([queued, id].sort());
  });

  it("rejects a bad cursor, limit or status with 400", async () => {
    for (const q of ["cursor=garbage", "limit=0", "limit=1000", "status=done"]) {
      const res = await call(`/v1/transcriptions?${q}`, { key });
      expect(res.status, q).toBe(400);
      expect(res.headers.get("content-type")).toContain("problem+json");
    }
  });
});

describe("GET /v1/transcriptions/{id}/transcript", () => {
  it("renders txt, srt, vtt and json", async () => {
    const id = await submitCompleted();
    const txt = await call(`/v1/transcriptions/${id}/transcript?format=txt`, { key });
    expect(txt.headers.get("content-type")).toContain("text/plain");
    expect(await txt.text()).toContain("ask not what your country can do for you.");
    const srt = await (await call(`/v1/transcriptions/${id}/transcript?format=srt`, { key })).text();
    expect(srt).toMatch(
      /^1\n00:00:00,000 --> 00:00:03,500\nAnd so my fellow Americans,\n\n2\n00:00:03,500 --> 00:00:11,000\n/,
    );
    const vttRes = await call(`/v1/transcriptions/${id}/transcript?format=vtt`, { key });
    expect(vttRes.headers.get("content-type")).toContain("text/vtt");
    const vtt = await vttRes.text();
    expect(vtt.startsWith("WEBVTT\n\n")).toBe(true);
    expect(vtt).toContain("00:00:03.500 --> 00:00:11.000");
    const json = (await (await call(`/v1/transcriptions/${id}/transcript?format=json`, { key })).json()) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({ id, language: "en", words: [{ start: 0, end: 0.4, word: "And" }] });
  });

  it("is 409 before completion and 400 for an unknown format", async () => {
    const id = await submit();
    const res = await call(`/v1/transcriptions/${id}/transcript`, { key });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe("transcript_not_ready");
    expect((await call(`/v1/transcriptions/${id}/transcript?format=docx`, { key })).status).toBe(400);
  });
});

describe("GET /v1/transcriptions/{id}/transcript caption controls", () => {
  // word timings inside the fixture's two segments (0–3.5 s: 5 words, 3.5–11 s: 9 words)
  const timed = [
    ..."And so my fellow Americans,".split(" ").map((word, i) => ({ word, start: 0.7 * i, end: 0.7 * i + 0.6 })),
    ..."ask not what your country can do for you."
      .split(" ")
      .map((word, i) => ({ word, start: 3.5 + 0.8 * i, end: 3.5 + 0.8 * i + 0.7 })),
  ];

  it("lays cues out by the limits and the word timings; the default layout is unchanged without them", async () => {
    const id = await submit();
    expect((await poolCallback(completedCallback(id, { words: timed }))).status).toBe(200);
    const plain = await (await call(`/v1/transcriptions/${id}/transcript?format=srt`, { key })).text();
    expect(plain).toBe(
      "1\n00:00:00,000 --> 00:00:03,500\nAnd so my fellow Americans,\n\n" +
        "2\n00:00:03,500 --> 00:00:11,000\nask not what your country can do for you.\n",
    );
    const res = await call(`/v1/transcriptions/${id}/transcript?format=vtt&max_line_chars=16&max_lines=1`, { key });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/vtt");
    expect(await res.text()).toBe(
      "WEBVTT\n\n" +
        "00:00:00.000 --> 00:00:02.700\nAnd so my fellow\n\n" +
        "00:00:02.800 --> 00:00:03.400\nAmericans,\n\n" +
        "00:00:03.500 --> 00:00:05.800\nask not what\n\n" +
        "00:00:05.900 --> 00:00:08.200\nyour country can\n\n" +
        "00:00:08.300 --> 00:00:10.600\ndo for you.\n",
    );
  });

  it("answers 422 with the field's code for a bad caption parameter", async () => {
    const id = await submitCompleted();
    for (const [query, code, field] of [
      ["format=srt&max_line_chars=0", "invalid_max_line_chars", "max_line_chars"],
      ["format=srt&max_line_chars=abc", "invalid_max_line_chars", "max_line_chars"],
      ["format=vtt&max_lines=11", "invalid_max_lines", "max_lines"],
      ["format=vtt&max_cue_seconds=0", "invalid_max_cue_seconds", "max_cue_seconds"],
      ["format=vtt&max_cue_seconds=1e3", "invalid_max_cue_seconds", "max_cue_seconds"],
      ["format=vtt&min_cue_seconds=-1", "invalid_min_cue_seconds", "min_cue_seconds"],
      ["format=vtt&max_cue_seconds=2&min_cue_seconds=3", "invalid_min_cue_seconds", "min_cue_seconds"],
      ["format=txt&max_lines=2", "invalid_max_lines", "max_lines"],
      ["max_line_chars=30", "invalid_max_line_chars", "max_line_chars"],
    ] as const) {
      const res = await call(`/v1/transcriptions/${id}/transcript?${query}`, { key });
      expect(res.status, query).toBe(422);
      expect(res.headers.get("content-type")).toContain("problem+json");
      const body = (await res.json()) as { code: string; errors: { field: string }[] };
      expect(body.code, query).toBe(code);
      expect(body.errors.map((e) => e.field)).toContain(field);
    }
    // an unknown format is still the 400 of every query parameter
    expect((await call(`/v1/transcriptions/${id}/transcript?format=docx&max_lines=2`, { key })).status).toBe(400);
  });
});

describe("keyterms and the detected language's probability", () => {
  it("stores keyterms on the job (JSON array or comma-separated list) and shows them; none by default", async () => {
    const id = await submit({ keyterms: '["Acme"," Jane Doe "]' });
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    expect(job.keyterms).toEqual(["Acme", "Jane Doe"]);
    const listed = await submit({ keyterms: "Acme,SKU-42" });
    const again = (await (await call(`/v1/transcriptions/${listed}`, { key })).json()) as Record<string, unknown>;
    expect(again.keyterms).toEqual(["Acme", "SKU-42"]);
    const plain = (await (await call(`/v1/transcriptions/${await submit()}`, { key })).json()) as Record<
      string,
      unknown
    >;
    expect(plain).toMatchObject({ keyterms: [], language_probability: null });
  });

  it("refuses too many, too long, empty or malformed keyterms with 422 invalid_keyterms", async () => {
    for (const value of [
      JSON.stringify(Array.from({ length: 101 }, (_, i) => `t${i}`)),
      JSON.stringify(["x".repeat(51)]),
      JSON.stringify(Array.from({ length: 25 }, () => "y".repeat(41))),
      "Acme,,Jane",
      "[1,2]",
      "[not json",
      JSON.stringify(["tab\there"]),
    ]) {
      const res = await multipartUpload(key, { provider: "whisper-pool", keyterms: value });
      expect(res.status, value).toBe(422);
      const body = (await res.json()) as { code: string; errors: { field: string }[] };
      expect(body.code, value).toBe("invalid_keyterms");
      expect(body.errors[0]!.field).toBe("keyterms");
    }
  });

  it("reports the pool's detected-language probability on the job and in the transcript JSON", async () => {
    const id = await submit();
    expect((await poolCallback(completedCallback(id, { language: "de", language_probability: 0.87 }))).status).toBe(
      200,
    );
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ language: "de", language_probability: 0.87 });
    const doc = (await (await call(`/v1/transcriptions/${id}/transcript?format=json`, { key })).json()) as Record<
      string,
      unknown
    >;
    expect(doc).toMatchObject({ language: "de", language_probability: 0.87 });
    // a job that named its language gets no probability, whatever the pool says
    const forced = await submit({ language: "de" });
    expect((await poolCallback(completedCallback(forced, { language: "de", language_probability: 0.5 }))).status).toBe(
      200,
    );
    const forcedJob = (await (await call(`/v1/transcriptions/${forced}`, { key })).json()) as Record<string, unknown>;
    expect(forcedJob.language_probability).toBeNull();
  });
});

describe("DELETE /v1/transcriptions/{id}", () => {
  it("removes the record, the transcript and the audio", async () => {
    const id = await submitCompleted();
    const before = await env.BUCKET.list({ prefix: `audio/${tenantId}/${id}` });
    expect(before.objects).toHaveLength(1);
    const res = await call(`/v1/transcriptions/${id}`, { method: "DELETE", key });
    expect(res.status).toBe(204);
    expect((await call(`/v1/transcriptions/${id}`, { key })).status).toBe(404);
    expect((await env.BUCKET.list({ prefix: `audio/${tenantId}/${id}` })).objects).toHaveLength(0);
    expect((await env.BUCKET.list({ prefix: `transcripts/${tenantId}/${id}` })).objects).toHaveLength(0);
    expect((await call(`/v1/transcriptions/${id}`, { method: "DELETE", key })).status).toBe(404);
    // a late pool result for the deleted job is dropped, not resurrected
    const late = await poolCallback(completedCallback(id));
    expect(late.status).toBe(200);
    expect(await env.DB.prepare("select count(*) as n from transcriptions where id = ?").bind(id).first("n")).toBe(0);
  });
});

describe("scopes", () => {
  it("a read-only key cannot upload and a write-only key cannot read", async () => {
    const reader = await createTenant("ro", ["transcriptions:read"]);
    const res = await rawUpload(reader.key, makeWav());
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe("insufficient_scope");
    const writer = await createTenant("wo", ["transcriptions:write"]);
    expect((await call("/v1/transcriptions", { key: writer.key })).status).toBe(403);
  });

  it("tenant keys cannot use admin routes; the admin key cannot use tenant routes", async () => {
    const res = await call("/v1/admin/tenants", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: '{"name":"x"}',
    });
    expect(res.status).toBe(403);
    const adminUpload = await rawUpload(env.ADMIN_API_KEY, makeWav());
    expect(adminUpload.status).toBe(403);
    expect(((await adminUpload.json()) as { code: string }).code).toBe("tenant_required");
  });

  it("a revoked or expired key is rejected", async () => {
    const t = await createTenant("revoke-me");
    expect((await call("/v1/transcriptions", { key: t.key })).status).toBe(200);
    const revoke = await call(`/v1/admin/tenants/${t.tenantId}/keys/${t.keyId}/revoke`, {
      method: "POST",
      key: env.ADMIN_API_KEY,
    });
    expect(revoke.status).toBe(204);
    const res = await call("/v1/transcriptions", { key: t.key });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_api_key");
  });
});
