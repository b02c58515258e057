/**
 * `@vtt/client` inside workerd, against the real Worker: the library needs only fetch, streams and Web Crypto, so a
 * Worker can call the API with it and verify the API's webhooks with it.
 */
import { createVttClient, verifyWebhook, VttError } from "@vtt/client";
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { generateWebhookSecret, signWebhook } from "../../src/webhooks/signature.ts";
import { BASE, createTenant } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";

let client: ReturnType<typeof createVttClient>;
beforeAll(async () => {
  const { key } = await createTenant("client-in-workers");
  client = createVttClient({
    baseUrl: BASE,
    apiKey: key,
    fetch: (input, init) => exports.default.fetch(new Request(input, init)),
  });
});

describe("@vtt/client in the Workers runtime", () => {
  it("uploads, reads, waits for, exports, lists and deletes a job", async () => {
    const progress: number[] = [];
    const queued = await client.transcribe(makeWav(0.3), {
      provider: "whisper-pool",
      language: "en",
      metadata: { call: "42" },
      onProgress: (p) => progress.push(p.sentBytes),
    });
    expect(queued).toMatchObject({ object: "transcription", status: "queued", metadata: { call: "42" } });
    expect(progress.at(-1)).toBe(makeWav(0.3).byteLength);
    expect(await client.get(queued.id)).toMatchObject({ id: queued.id, language: "en" });

    // the pool's signed callback finishes the job, as in production
    expect((await poolCallback(completedCallback(queued.id))).status).toBe(200);
    const done = await client.waitFor(queued.id, { timeoutMs: 10_000 });
    expect(done.status).toBe("completed");
    expect(await client.transcript(queued.id, "vtt")).toMatch(/^WEBVTT/);

    const page = await client.list({ limit: 5 });
    expect(page.data.map((job) => job.id)).toContain(queued.id);
    await client.delete(queued.id);
    const gone = await client.get(queued.id).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(VttError);
    expect(gone).toMatchObject({ status: 404, code: "not_found" });
  });

  it("verifies a webhook signed by the Worker's own signer", async () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: "transcription.completed", timestamp: "x", data: { id: "tr_1" } });
    const headers = await signWebhook({
      id: "msg_1",
      timestamp: Math.floor(Date.now() / 1000),
      body,
      secrets: [secret],
    });
    await expect(verifyWebhook(body, headers, secret)).resolves.toMatchObject({ data: { id: "tr_1" } });
    await expect(verifyWebhook(body + " ", headers, secret)).rejects.toMatchObject({ code: "invalid_signature" });
  });
});
