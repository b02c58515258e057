import { signAudioUrl, signedHeaders } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { call, createTenant, multipartUpload } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { completedCallback, OLD_POOL_CALLBACK_RING, POOL_CALLBACK_RING, poolCallback } from "../helpers/pool.ts";

let key: string;
beforeAll(async () => {
  ({ key } = await createTenant("internal"));
});

async function submitPoolJob(): Promise<string> {
  const res = await multipartUpload(key, { provider: "whisper-pool" }, makeWav(0.3));
  return ((await res.json()) as { id: string }).id;
}

describe("pool callback", () => {
  it("accepts both keys of the rotating ring and applies a result exactly once", async () => {
    const id = await submitPoolJob();
    const first = await poolCallback(completedCallback(id), OLD_POOL_CALLBACK_RING);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ ok: true, applied: true });
    const dup = await poolCallback(completedCallback(id, { text: "a different late result" }));
    expect(await dup.json()).toEqual({ ok: true, applied: false });
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as { text: string };
    expect(job.text).toContain("ask not");
    expect((await env.BUCKET.list({ prefix: `transcripts/` })).objects.filter((o) => o.key.includes(id))).toHaveLength(
      1,
    );
  });

  it("stores a failure with its code", async () => {
    const id = await submitPoolJob();
    await poolCallback({
      job_id: id,
      status: "failed",
      error: { code: "invalid_audio", message: "ffmpeg could not decode" },
    });
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as Record<string, unknown>;
    expect(job).toMatchObject({
      status: "failed",
      error: { code: "invalid_audio", message: "ffmpeg could not decode" },
    });
  });

  it("rejects forged, stale, unknown-key and unsigned callbacks without changing the job", async () => {
    const id = await submitPoolJob();
    const body = completedCallback(id);
    const forged = await poolCallback(body, [{ id: "p2", secret: "guessed" }]);
    expect(forged.status).toBe(401);
    const stale = await poolCallback(body, undefined, Math.floor(Date.now() / 1000) - 3600);
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { code: string }).code).toBe("stale_signature");
    const unknown = await poolCallback(body, [{ id: "zz", secret: "pool-callback-new" }]);
    expect(unknown.status).toBe(401);
    const unsigned = await call("/internal/pool/callback", { method: "POST", body: JSON.stringify(body) });
    expect(unsigned.status).toBe(401);
    // (the real queue consumer may have picked the job up meanwhile; what matters is that no result was stored)
    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as {
      status: string;
      text: string | null;
    };
    expect(job.status).not.toBe("completed");
    expect(job.text).toBeNull();
  });

  it("answers 400 to a signed but malformed body", async () => {
    const res = await poolCallback({ job_id: 5, status: "weird" });
    expect(res.status).toBe(400);
  });

  it("refuses out-of-range numbers, oversized lists and unknown languages with 400 invalid_callback", async () => {
    const id = await submitPoolJob();
    const segment = { start: 0, end: 1, text: "hello" };
    const refused: Record<string, unknown>[] = [
      // a start of 1e300 seconds once became a nonsense SRT timestamp
      { segments: [{ ...segment, start: 1e300 }] },
      { segments: [{ ...segment, end: -1 }] },
      { segments: [{ ...segment, end: 7 * 86_400 + 1 }] },
      { words: [{ start: 0, end: 1e20, word: "hello" }] },
      { segments: [{ ...segment, no_speech_prob: 2 }] },
      { duration_seconds: 1e12 },
      { language: "xx" },
      { language: "english" },
      { model: "m".repeat(201) },
      { segments: [{ ...segment, text: "a".repeat(10_001) }] },
      { timings: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`t${i}_ms`, 1])) },
    ];
    for (const overrides of refused) {
      const res = await poolCallback(completedCallback(id, overrides));
      expect([JSON.stringify(overrides).slice(0, 80), res.status]).toEqual([
        JSON.stringify(overrides).slice(0, 80),
        400,
      ]);
      expect(((await res.json()) as { code: string }).code).toBe("invalid_callback");
    }
    // JSON numbers beyond double range parse as Infinity: refused too
    const raw = JSON.stringify(completedCallback(id)).replace('"duration_seconds":11', '"duration_seconds":1e400');
    const infinite = await call("/internal/pool/callback", {
      method: "POST",
      body: raw,
      headers: { ...(await signedHeaders(POOL_CALLBACK_RING, raw)), "content-type": "application/json" },
    });
    expect(infinite.status).toBe(400);
    expect(((await infinite.json()) as { code: string }).code).toBe("invalid_callback");
    const job = (await (
      await call(`/v1/transcriptions/${id}`, { headers: { authorization: `Bearer ${key}` } })
    ).json()) as { status: string };
    expect(job.status).not.toBe("completed");
    // the same body within bounds is applied
    expect(await (await poolCallback(completedCallback(id, { language: "de" }))).json()).toEqual({
      ok: true,
      applied: true,
    });
  });
});

describe("signed audio URL", () => {
  it("serves exactly the job's audio until it expires", async () => {
    const wav = makeWav(0.3);
    const res = await multipartUpload(key, { provider: "whisper-pool" }, wav);
    const id = ((await res.json()) as { id: string }).id;
    const exp = Math.floor(Date.now() / 1000) + 600;
    const sig = await signAudioUrl("audio-url-secret", id, exp);
    const ok = await call(`/internal/audio/${id}?exp=${exp}&kid=a1&sig=${sig}`);
    expect(ok.status).toBe(200);
    expect(new Uint8Array(await ok.arrayBuffer())).toEqual(wav);

    const otherId = await submitPoolJob();
    // the same signature does not open another job's audio
    expect((await call(`/internal/audio/${otherId}?exp=${exp}&kid=a1&sig=${sig}`)).status).toBe(403);
    // nor a later expiry
    expect((await call(`/internal/audio/${id}?exp=${exp + 1}&kid=a1&sig=${sig}`)).status).toBe(403);
    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = await signAudioUrl("audio-url-secret", id, past);
    expect((await call(`/internal/audio/${id}?exp=${past}&kid=a1&sig=${expired}`)).status).toBe(403);
    expect((await call(`/internal/audio/${id}?exp=${exp}&kid=zz&sig=${sig}`)).status).toBe(403);
  });

  it("refuses an exp that is not plain integer seconds, or lies beyond the URL lifetime, with 403 invalid_audio_url", async () => {
    const id = await submitPoolJob();
    const now = Math.floor(Date.now() / 1000);
    const exp = now + 600;
    const sig = await signAudioUrl("audio-url-secret", id, exp);
    // other spellings of the same number would carry the same signature
    for (const spelling of [`${exp}.0`, `${exp / 1000}e3`, `+${exp}`, `0x${exp.toString(16)}`, ` ${exp}`]) {
      const res = await call(`/internal/audio/${id}?exp=${encodeURIComponent(spelling)}&kid=a1&sig=${sig}`);
      expect([spelling, res.status]).toEqual([spelling, 403]);
      expect(((await res.json()) as { code: string }).code).toBe("invalid_audio_url");
    }
    // a validly signed URL that lives far longer than AUDIO_URL_TTL_SECONDS (600) was not issued by the edge
    const farExp = now + 10 * 365 * 86_400;
    const far = await call(
      `/internal/audio/${id}?exp=${farExp}&kid=a1&sig=${await signAudioUrl("audio-url-secret", id, farExp)}`,
    );
    expect(far.status).toBe(403);
    expect(((await far.json()) as { code: string }).code).toBe("invalid_audio_url");
    const justBeyond = now + 600 + 120;
    const beyond = await call(
      `/internal/audio/${id}?exp=${justBeyond}&kid=a1&sig=${await signAudioUrl("audio-url-secret", id, justBeyond)}`,
    );
    expect(beyond.status).toBe(403);
    // within the lifetime plus the clock-skew allowance it is served
    expect((await call(`/internal/audio/${id}?exp=${exp}&kid=a1&sig=${sig}`)).status).toBe(200);
  });
});

describe("service routes", () => {
  it("GET /healthz", async () => {
    const res = await call("/healthz");
    expect(res.status).toBe(200);
    expect(res.headers.get("strict-transport-security")).toContain("max-age=");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("GET /openapi.json documents every public route from the zod schemas", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/transcriptions",
        "/v1/transcriptions/{id}",
        "/v1/transcriptions/{id}/transcript",
        "/v1/admin/tenants",
        "/v1/admin/tenants/{tenant}/keys",
      ]),
    );
    expect(Object.keys(doc.paths["/v1/transcriptions"]!)).toEqual(expect.arrayContaining(["get", "post"]));
    expect(doc.components.schemas).toHaveProperty("Transcription");
    expect(doc.components.schemas).toHaveProperty("Problem");
    // audio by URL: the JSON body, its source schema and the job's `source`
    const upload = doc.paths["/v1/transcriptions"]!.post as {
      operationId: string;
      requestBody: { content: Record<string, { schema: unknown }> };
    };
    expect(upload.operationId).toBe("createTranscription");
    expect(Object.keys(upload.requestBody.content)).toEqual(expect.arrayContaining(["application/json"]));
    const schemas = doc.components.schemas as Record<string, { properties?: Record<string, unknown> }>;
    expect(Object.keys(schemas.UrlTranscriptionRequest!.properties!)).toEqual(
      expect.arrayContaining(["audio_url", "audio_url_headers", "language", "metadata"]),
    );
    expect(schemas.Transcription!.properties).toHaveProperty("source");
  });

  it("GET /docs serves the API reference page", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<script src="/docs/init.js">');
    expect(await (await call("/docs/init.js")).text()).toContain("/openapi.json");
  });

  it("unknown routes are problem+json 404s", async () => {
    const res = await call("/nope");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("problem+json");
  });
});
