import { signAudioUrl, signedHeaders } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { adminKey, call, callWith, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { jobRow } from "../helpers/jobs.ts";
import { completedCallback, POOL_CALLBACK_RING } from "../helpers/pool.ts";

// the test ring is "m2:…,m1:…": before the rotation only m1 existed; after retiring m1 only m2 is left
const [M2, M1] = env.ENCRYPTION_KEYS!.split(",");
const BEFORE_ROTATION = { ENCRYPTION_KEYS: M1 };
const AFTER_RETIREMENT = { ENCRYPTION_KEYS: M2 };

describe("master key rotation", () => {
  it("rewrap moves objects and sealed fields to the newest version, after which the old one can be retired", async () => {
    const { key, tenantId } = await createTenant("rotation", ["admin"]);
    const wav = makeWav(0.3);

    // data written while m1 was the only master key
    const form = new FormData();
    form.append("provider", "whisper-pool");
    form.append("file", new Blob([wav], { type: "audio/wav" }), "a.wav");
    const upload = await callWith(BEFORE_ROTATION, "/v1/transcriptions", { method: "POST", key, body: form });
    expect(upload.status).toBe(202);
    const { id } = (await upload.json()) as { id: string };
    // the pool callback stores the transcript; run it under the old ring too
    const callbackBody = JSON.stringify(completedCallback(id));
    const callback = await callWith(BEFORE_ROTATION, "/internal/pool/callback", {
      method: "POST",
      body: callbackBody,
      headers: { ...(await signedHeaders(POOL_CALLBACK_RING, callbackBody)), "content-type": "application/json" },
    });
    expect(callback.status).toBe(200);
    const review = await callWith(BEFORE_ROTATION, `/v1/transcriptions/${id}/feedback`, {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ rating: "bad", reason: "names wrong", corrected_text: "And so my fellow Americans" }),
    });
    expect(review.status).toBe(201);
    const row = (await jobRow(id))!;
    expect(String(row.text)).toMatch(/^enc1\.m1\./);
    expect((await env.BUCKET.head(`audio/${tenantId}/${id}`))!.customMetadata!.kv).toBe("m1");

    // after the rotation (m2 first), one call moves everything of this small data set
    const rewrap = await call("/v1/admin/encryption/rewrap?limit=500", { method: "POST", key: adminKey() });
    expect(rewrap.status).toBe(200);
    const result = (await rewrap.json()) as {
      objects_rewrapped: number;
      fields_resealed: number;
      next_cursor: string | null;
      stale_fields: number;
    };
    expect(result.objects_rewrapped).toBeGreaterThanOrEqual(2); // audio + transcript document
    expect(result.fields_resealed).toBeGreaterThanOrEqual(3); // inline text, reason, corrected text
    expect(result.stale_fields).toBe(0);
    expect((await env.BUCKET.head(`audio/${tenantId}/${id}`))!.customMetadata!.kv).toBe("m2");
    expect(String((await jobRow(id))!.text)).toMatch(/^enc1\.m2\./);

    // m1 retired: everything still opens
    const job = (await (await callWith(AFTER_RETIREMENT, `/v1/transcriptions/${id}`, { key })).json()) as {
      text: string;
      segments: unknown[];
    };
    expect(job.text).toContain("fellow Americans");
    expect((await callWith(AFTER_RETIREMENT, `/v1/transcriptions/${id}/transcript?format=srt`, { key })).status).toBe(
      200,
    );
    const exp = Math.floor(Date.now() / 1000) + 60;
    const audio = await callWith(
      AFTER_RETIREMENT,
      `/internal/audio/${id}?exp=${exp}&kid=a1&sig=${await signAudioUrl("audio-url-secret", id, exp)}`,
    );
    expect(new Uint8Array(await audio.arrayBuffer())).toEqual(wav);

    // idempotent: nothing left to move
    const again = (await (
      await call("/v1/admin/encryption/rewrap?limit=500", { method: "POST", key: adminKey() })
    ).json()) as typeof result;
    expect(again).toMatchObject({ objects_rewrapped: 0, fields_resealed: 0, stale_fields: 0 });
  });

  it("reseals an audio_url job's URL and headers, so its source still opens once the old version is retired", async () => {
    const { key } = await createTenant("rotation-url");
    const submitted = await callWith(BEFORE_ROTATION, "/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        audio_url: "https://media.example.com/r.wav?sig=t",
        audio_url_headers: { authorization: "Bearer rotate-me" },
      }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const before = (await jobRow(id))!;
    expect(String(before.audio_url_sealed)).toMatch(/^enc1\.m1\./);
    expect(String(before.audio_url_headers_sealed)).toMatch(/^enc1\.m1\./);

    const result = (await (
      await call("/v1/admin/encryption/rewrap?limit=500", { method: "POST", key: adminKey() })
    ).json()) as { fields_resealed: number; stale_fields: number };
    expect(result.fields_resealed).toBeGreaterThanOrEqual(2);
    expect(result.stale_fields).toBe(0);
    const after = (await jobRow(id))!;
    expect(String(after.audio_url_sealed)).toMatch(/^enc1\.m2\./);
    expect(String(after.audio_url_headers_sealed)).toMatch(/^enc1\.m2\./);
    const job = (await (await callWith(AFTER_RETIREMENT, `/v1/transcriptions/${id}`, { key })).json()) as {
      source: unknown;
    };
    expect(job.source).toEqual({ type: "url", host: "media.example.com", fetched_at: null });
  });

  it("is for the operator only", async () => {
    const { key } = await createTenant("rotation-tenant", ["admin"]);
    const res = await call("/v1/admin/encryption/rewrap", { method: "POST", key });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: "operator_required" });
  });
});
