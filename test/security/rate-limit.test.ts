import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { chargeTokens, takeTokens } from "../../src/ratelimit/token-bucket.ts";
import { chunkedStream } from "../helpers/audio.ts";
import { callWith, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";


describe("token bucket", () => {
  it("allows the limit per minute, then asks the caller to wait, and refills over time", () => {
    let state = null;
    for (let i = 0; i < 3; i++) {
      const r = takeTokens(state, 0, 3, 1);
      expect(r.allowed).toBe(true);
      state = r.state;
    }
    const denied = takeTokens(state, 0, 3, 1);
    expect(denied).toMatchObject({ allowed: false, retryAfterSeconds: 20 });
    expect(takeTokens(denied.state, 20_000, 3, 1).allowed).toBe(true);
    // a single cost above the capacity is charged as the whole capacity, never refused forever
    expect(takeTokens(null, 0, 10, 1e9).allowed).toBe(true);
  });
});

describe("after-the-fact charges", () => {
  it("put the bucket in debt (at most one capacity) so the next requests wait until it refills", () => {
    const indebted = chargeTokens(null, 0, 100, 150);
    expect(indebted.tokens).toBe(-50);
    expect(takeTokens(indebted, 0, 100, 1)).toMatchObject({ allowed: false, retryAfterSeconds: 31 });
    expect(takeTokens(indebted, 31_000, 100, 1).allowed).toBe(true);
    expect(chargeTokens(null, 0, 100, 1e12).tokens).toBe(-100);
  });
});

describe("per-key rate limits", () => {
  it("answers 429 rate_limited with Retry-After once a key exceeds its requests per minute; other keys are unaffected", async () => {
    const a = await createTenant("limited");
    const b = await createTenant("unlimited");
    const limits = { RATE_LIMIT_REQUESTS_PER_MINUTE: "3" };
    for (let i = 0; i < 3; i++) expect((await callWith(limits, "/v1/transcriptions", { key: a.key })).status).toBe(200);
    const limited = await callWith(limits, "/v1/transcriptions", { key: a.key });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { code: string }).code).toBe("rate_limited");
    expect((await callWith(limits, "/v1/transcriptions", { key: b.key })).status).toBe(200);
  });

  it("limits uploaded bytes per minute by the declared length", async () => {
    const t = await createTenant("bytes");
    const wav = makeWav(1); // 32 KB
    const limits = { RATE_LIMIT_BYTES_PER_MINUTE: String(wav.byteLength + 1000) };
    const upload = () => callWith(limits, "/v1/transcriptions?provider=whisper-pool", { key: t.key, method: "POST", body: wav, headers: { "content-type": "audio/wav", "content-length": String(wav.byteLength) } });
    expect((await upload()).status).toBe(202);
    const second = await upload();
    expect(second.status).toBe(429);
    expect(((await second.json()) as { code: string }).code).toBe("rate_limited");
  });

  it("charges a chunked upload without Content-Length once its size is known", async () => {
    const t = await createTenant("bytes-chunked");
    const wav = makeWav(1);
    // its size is unknown up front, so the upload that overdraws the minute's bytes still lands; the debt stops the next
    const limits = { RATE_LIMIT_BYTES_PER_MINUTE: String(Math.floor(wav.byteLength / 2)) };
    const chunked = () =>
      callWith(limits, "/v1/transcriptions?provider=whisper-pool", { key: t.key, method: "POST", body: chunkedStream(wav, 4096), headers: { "content-type": "audio/wav" } });
    expect((await chunked()).status).toBe(202);
    const next = await chunked();
    expect(next.status).toBe(429);
    expect(Number(next.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
