/**
 * `RateLimit-Policy` / `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10) beside `Retry-After`: on 429s of every
 * limiter, and on the answers of limited keys with what their buckets really hold.
 */
import { describe, expect, it } from "vitest";

import { rateLimitFields } from "../../src/ratelimit/rate-limit-fields.ts";
import { bucketQuota, takeTokens } from "../../src/ratelimit/token-bucket.ts";
import { adminKey, callWith, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";

/** The members of a Structured Field list of `"name";key=int…` items (the only shape these fields take). */
function parseItems(value: string | null): Record<string, Record<string, number | string>> {
  expect(value, "field missing").not.toBeNull();
  const items: Record<string, Record<string, number | string>> = {};
  for (const member of value!.split(/,\s*/)) {
    const match = /^"([a-z-]+)"((?:;[a-z]+=(?:\d+|"[a-z-]+"))+)$/.exec(member);
    expect(match, `not an sf-string item with parameters: ${member}`).not.toBeNull();
    const params: Record<string, number | string> = {};
    for (const param of match![2]!.slice(1).split(";")) {
      const [key, raw] = param.split("=") as [string, string];
      params[key] = raw.startsWith('"') ? raw.slice(1, -1) : Number(raw);
    }
    items[match![1]!] = params;
  }
  return items;
}

const fields = (res: Response) => ({
  policy: parseItems(res.headers.get("ratelimit-policy")),
  limit: parseItems(res.headers.get("ratelimit")),
});

describe("the field syntax", () => {
  it("writes quoted policy names with integer parameters, leaving out the default unit", () => {
    const written = rateLimitFields(
      [
        { name: "requests", quota: 600, windowSeconds: 60 },
        { remaining: 598.7, resetSeconds: 0.2 },
      ],
      [
        { name: "slots", quota: 10, unit: "concurrent-requests" },
        { remaining: -3, resetSeconds: 0 },
      ],
    );
    expect(written).toEqual({
      "ratelimit-policy": '"requests";q=600;w=60, "slots";q=10;qu="concurrent-requests"',
      ratelimit: '"requests";r=598;t=1, "slots";r=0;t=0',
    });
  });

  it("reads a bucket's whole tokens and the seconds until it is full again", () => {
    const after = takeTokens(null, 0, 60, 30).state; // half of a 60-per-minute bucket: 30 s to refill
    expect(bucketQuota(after, 60)).toEqual({ remaining: 30, resetSeconds: 30 });
    expect(bucketQuota({ tokens: -60, updatedAt: 0 }, 60)).toEqual({ remaining: 0, resetSeconds: 120 });
  });
});

describe("a tenant key's answers", () => {
  it("carry the requests policy and what is left of it, counting down", async () => {
    const t = await createTenant("fields");
    const limits = { RATE_LIMIT_REQUESTS_PER_MINUTE: "5" };
    const first = fields(await callWith(limits, "/v1/transcriptions", { key: t.key }));
    expect(first.policy).toEqual({ requests: { q: 5, w: 60 } });
    expect(first.limit.requests!.r).toBe(4);
    expect(first.limit.requests!.t).toBeGreaterThanOrEqual(12); // one token of five per minute: 12 s
    const second = fields(await callWith(limits, "/v1/transcriptions", { key: t.key }));
    expect(second.limit.requests!.r).toBe(3);
  });

  it("a 429 carries Retry-After and the same wait as the policy's reset, with nothing remaining", async () => {
    const t = await createTenant("fields-429");
    const limits = { RATE_LIMIT_REQUESTS_PER_MINUTE: "2" };
    for (let i = 0; i < 2; i++) expect((await callWith(limits, "/v1/transcriptions", { key: t.key })).status).toBe(200);
    const refused = await callWith(limits, "/v1/transcriptions", { key: t.key });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(fields(refused)).toEqual({
      policy: { requests: { q: 2, w: 60 } },
      limit: { requests: { r: 0, t: retryAfter } },
    });
  });

  it("an upload adds its byte and concurrency policies beside the requests policy", async () => {
    const t = await createTenant("fields-upload");
    const wav = makeWav(1);
    const budget = wav.byteLength * 4;
    const limits = { RATE_LIMIT_BYTES_PER_MINUTE: String(budget), MAX_CONCURRENT_UPLOADS_PER_KEY: "3" };
    const res = await callWith(limits, "/v1/transcriptions?provider=whisper-pool", {
      key: t.key,
      method: "POST",
      body: wav,
      headers: { "content-type": "audio/wav", "content-length": String(wav.byteLength) },
    });
    expect(res.status).toBe(202);
    const { policy, limit } = fields(res);
    expect(policy).toEqual({
      requests: { q: 600, w: 60 },
      "upload-bytes": { q: budget, w: 60, qu: "content-bytes" },
      "concurrent-uploads": { q: 3, qu: "concurrent-requests" },
    });
    // as admitted: the declared length reserved, this upload's own slot taken
    expect(limit["upload-bytes"]!.r).toBe(budget - wav.byteLength);
    expect(limit["concurrent-uploads"]).toEqual({ r: 2, t: 0 });
  });

  it("an upload over the byte budget is refused with the upload-bytes policy and its wait", async () => {
    const t = await createTenant("fields-bytes");
    const wav = makeWav(1);
    const limits = { RATE_LIMIT_BYTES_PER_MINUTE: String(wav.byteLength + 100) };
    const upload = () =>
      callWith(limits, "/v1/transcriptions?provider=whisper-pool", {
        key: t.key,
        method: "POST",
        body: wav,
        headers: { "content-type": "audio/wav", "content-length": String(wav.byteLength) },
      });
    expect((await upload()).status).toBe(202);
    const refused = await upload();
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    const { policy, limit } = fields(refused);
    expect(policy["upload-bytes"]).toEqual({ q: wav.byteLength + 100, w: 60, qu: "content-bytes" });
    expect(limit["upload-bytes"]).toEqual({ r: 0, t: retryAfter });
    expect(policy.requests).toBeDefined(); // the request itself was still charged and counted
  });
});

describe("other answers", () => {
  it("the failed-authentication throttle's 429 names its policy and wait", async () => {
    const limits = { AUTH_FAILURES_PER_MINUTE: "1" };
    const headers = { "cf-connecting-ip": "198.51.100.41" };
    const attempt = () => callWith(limits, "/v1/transcriptions", { key: `vtt_live_${"x".repeat(43)}`, headers });
    expect((await attempt()).status).toBe(401);
    const refused = await attempt();
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(fields(refused)).toEqual({
      policy: { "auth-failures": { q: 1, w: 60 } },
      limit: { "auth-failures": { r: 0, t: retryAfter } },
    });
  });

  it("the operator key is not rate limited, so its answers carry no fields", async () => {
    const res = await callWith({}, "/v1/admin/breakers", { key: adminKey() });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-policy")).toBeNull();
    expect(res.headers.get("ratelimit")).toBeNull();
  });
});
