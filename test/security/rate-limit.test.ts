import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import { UPLOAD_SLOT_LEASE_MS } from "../../src/ratelimit/rate-limiter.ts";
import { refundTokens, reserveTokens, takeTokens } from "../../src/ratelimit/token-bucket.ts";
import { callWith, createTenant } from "../helpers/api.ts";
import { chunkedStream } from "../helpers/audio.ts";
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

describe("reservations (uploads)", () => {
  it("charge the whole cost, so the bucket goes into debt and the next requests wait until it refills", () => {
    const indebted = reserveTokens(null, 0, 100, 150);
    expect(indebted).toMatchObject({ allowed: true, state: { tokens: -50 } });
    expect(reserveTokens(indebted.state, 0, 100, 1)).toMatchObject({ allowed: false, retryAfterSeconds: 31 });
    expect(reserveTokens(indebted.state, 31_000, 100, 1).allowed).toBe(true);
    // nothing is capped at the capacity: a cost of 1e12 is a debt of 1e12 - 100
    expect(reserveTokens(null, 0, 100, 1e12).state.tokens).toBe(100 - 1e12);
  });

  it("admit a cost above the capacity only on a full bucket", () => {
    const half = reserveTokens(null, 0, 100, 50).state;
    expect(reserveTokens(half, 0, 100, 600)).toMatchObject({ allowed: false, retryAfterSeconds: 30 });
    expect(reserveTokens(half, 30_000, 100, 600)).toMatchObject({ allowed: true, state: { tokens: -500 } });
  });

  it("refund what was not used, never above the capacity; a negative refund charges the overrun", () => {
    const reserved = reserveTokens(null, 0, 100, 1000).state;
    expect(refundTokens(reserved, 0, 100, 1000 - 30).tokens).toBe(70);
    expect(refundTokens(reserved, 0, 100, 1e9).tokens).toBe(100);
    expect(refundTokens({ tokens: 10, updatedAt: 0 }, 0, 100, -25).tokens).toBe(-15);
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
    const upload = () =>
      callWith(limits, "/v1/transcriptions?provider=whisper-pool", {
        key: t.key,
        method: "POST",
        body: wav,
        headers: { "content-type": "audio/wav", "content-length": String(wav.byteLength) },
      });
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
      callWith(limits, "/v1/transcriptions?provider=whisper-pool", {
        key: t.key,
        method: "POST",
        body: chunkedStream(wav, 4096),
        headers: { "content-type": "audio/wav" },
      });
    expect((await chunked()).status).toBe(202);
    const next = await chunked();
    expect(next.status).toBe(429);
    expect(Number(next.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("upload budget: reserved before the body is read, settled after", () => {
  const wav = makeWav(1); // 32 KB
  const chunkedUpload = (
    limits: Partial<Env>,
    key: string,
    body: ReadableStream<Uint8Array> = chunkedStream(wav, 4096),
  ) =>
    callWith(limits, "/v1/transcriptions?provider=whisper-pool", {
      key,
      method: "POST",
      body,
      headers: { "content-type": "audio/wav" },
    });
  const declaredUpload = (limits: Partial<Env>, key: string, audio: Uint8Array<ArrayBuffer> = wav) =>
    callWith(limits, "/v1/transcriptions?provider=whisper-pool", {
      key,
      method: "POST",
      body: audio,
      headers: { "content-type": "audio/wav", "content-length": String(audio.byteLength) },
    });
  const limiterOf = (keyId: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(keyId));
  const uploadSlots = (keyId: string) =>
    runInDurableObject(limiterOf(keyId), (_limiter, state) => state.storage.get<Record<string, number>>("uploads"));
  const bytesBucket = (keyId: string) =>
    runInDurableObject(env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(keyId)), (_limiter, state) =>
      state.storage.get<{ tokens: number }>("bytes"),
    );

  it("parallel chunked uploads cannot spend more than the budget: the unknown length reserves the per-upload maximum", async () => {
    const t = await createTenant("parallel-chunked");
    // room for three of the five uploads if they were charged only after being stored
    const budget = wav.byteLength * 3 + 1000;
    const limits = { RATE_LIMIT_BYTES_PER_MINUTE: String(budget) };
    const results = await Promise.all(Array.from({ length: 5 }, () => chunkedUpload(limits, t.key)));
    const accepted = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 429);
    expect(accepted.length * wav.byteLength).toBeLessThanOrEqual(budget);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length + refused.length).toBe(5);
    for (const r of refused) {
      expect(((await r.json()) as { code: string }).code).toBe("rate_limited");
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    // what the accepted uploads did not read was refunded: the bucket holds the budget less the bytes uploaded
    // (give or take the refill while the requests ran)
    const bucket = await bytesBucket(t.keyId);
    expect(bucket!.tokens).toBeGreaterThan(budget - accepted.length * wav.byteLength - 1);
    expect(bucket!.tokens).toBeLessThanOrEqual(budget - accepted.length * wav.byteLength + budget / 10);
    expect((await declaredUpload(limits, t.key)).status).toBe(202);
  });

  it("a declared upload larger than the whole budget is charged in full: the key is in debt for its size", async () => {
    const t = await createTenant("oversize-declared");
    const budget = Math.floor(wav.byteLength / 2);
    const limits = { RATE_LIMIT_BYTES_PER_MINUTE: String(budget) };
    expect((await declaredUpload(limits, t.key)).status).toBe(202);
    const bucket = await bytesBucket(t.keyId);
    // charged the whole upload, not capped at one budget (allowing for the refill while the request ran)
    expect(bucket!.tokens).toBeLessThan(budget - wav.byteLength + budget / 10);
    const next = await declaredUpload(limits, t.key);
    expect(next.status).toBe(429);
    expect(((await next.json()) as { code: string }).code).toBe("rate_limited");
    // the debt is repaid first: a full bucket is more than one minute away
    expect(Number(next.headers.get("retry-after"))).toBeGreaterThan(60);
  });

  it("caps the uploads a key has in flight at MAX_CONCURRENT_UPLOADS_PER_KEY; other keys are unaffected", async () => {
    const t = await createTenant("concurrent");
    const other = await createTenant("concurrent-other");
    const limits = { MAX_CONCURRENT_UPLOADS_PER_KEY: "2" };
    const held = [heldBody(wav), heldBody(wav)];
    const running = held.map((h) => chunkedUpload(limits, t.key, h.stream));
    // both hold a slot once the Durable Object has admitted them
    await until(async () => Object.keys((await uploadSlots(t.keyId)) ?? {}).length === 2);
    const third = await chunkedUpload(limits, t.key);
    expect(third.status).toBe(429);
    expect(((await third.json()) as { code: string }).code).toBe("too_many_concurrent_uploads");
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await chunkedUpload(limits, other.key)).status).toBe(202);
    for (const h of held) h.release();
    expect((await Promise.all(running)).map((r) => r.status)).toEqual([202, 202]);
    // finished uploads free their slots
    expect((await chunkedUpload(limits, t.key)).status).toBe(202);
  });

  it("frees the slot of an upload that failed, whatever the failure", async () => {
    const t = await createTenant("slot-errors");
    const limits = { MAX_CONCURRENT_UPLOADS_PER_KEY: "1", MAX_UPLOAD_BYTES: "65536" };
    const failures: [string, () => Promise<Response>, number][] = [
      [
        "not audio",
        () => chunkedUpload(limits, t.key, chunkedStream(new TextEncoder().encode("not audio ".repeat(100)))),
        415,
      ],
      ["too large", () => chunkedUpload(limits, t.key, chunkedStream(makeWav(4), 16 * 1024)), 413],
      [
        "bad option",
        () =>
          callWith(limits, "/v1/transcriptions?language=xx", {
            key: t.key,
            method: "POST",
            body: wav,
            headers: { "content-type": "audio/wav" },
          }),
        422,
      ],
      ["interrupted", () => chunkedUpload(limits, t.key, brokenStream(wav)), 400],
    ];
    for (const [name, send, status] of failures) {
      expect((await send()).status, name).toBe(status);
      expect((await chunkedUpload(limits, t.key)).status, `after ${name}`).toBe(202);
    }
  });

  it("a slot is a lease: one left by a request that died frees itself when the lease ends", async () => {
    const t = await createTenant("slot-lease");
    const limits = { MAX_CONCURRENT_UPLOADS_PER_KEY: "1" };
    const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(t.keyId));
    // a request that reserved a slot and was killed before it could end the upload
    await runInDurableObject(limiter, (_l, state) =>
      state.storage.put("uploads", { crashed: Date.now() + UPLOAD_SLOT_LEASE_MS }),
    );
    expect(((await (await chunkedUpload(limits, t.key)).json()) as { code: string }).code).toBe(
      "too_many_concurrent_uploads",
    );
    await runInDurableObject(limiter, (_l, state) => state.storage.put("uploads", { crashed: Date.now() - 1 }));
    expect((await chunkedUpload(limits, t.key)).status).toBe(202);
  });
});

/** Polls `check` until it holds (or fails the test after `timeoutMs`). */
async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A body that sends nothing until released. */
function heldBody(bytes: Uint8Array) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let sent = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await released;
      if (sent) return controller.close();
      sent = true;
      controller.enqueue(bytes.slice());
    },
  });
  return { stream, release };
}

/** Sends half of `bytes`, then fails as a disconnecting client's body does. */
function brokenStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) return controller.error(new Error("client disconnected"));
      sent = true;
      controller.enqueue(bytes.slice(0, bytes.byteLength / 2));
    },
  });
}
