import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";

import { call, createTenant, storageCounts } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";

let key: string;
let other: string;
beforeAll(async () => {
  ({ key } = await createTenant("idem"));
  ({ key: other } = await createTenant("idem-other"));
});

function upload(k: string, idempotencyKey: string | null, audio = makeWav(0.3), query = "?provider=whisper-pool") {
  const headers: Record<string, string> = { "content-type": "audio/wav" };
  if (idempotencyKey !== null) headers["idempotency-key"] = idempotencyKey;
  return call(`/v1/transcriptions${query}`, { method: "POST", key: k, headers, body: audio });
}

describe("Idempotency-Key", () => {
  it("the same request returns the original job with 200 and stores nothing new", async () => {
    const audio = makeWav(0.4);
    const first = await upload(key, "order-1", audio);
    expect(first.status).toBe(202);
    const job = (await first.json()) as { id: string };
    const before = await storageCounts();
    const again = await upload(key, "order-1", audio);
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(((await again.json()) as { id: string }).id).toBe(job.id);
    expect(await storageCounts()).toEqual(before);
  });

  it("a different request under the same key is a 409", async () => {
    await upload(key, "order-2", makeWav(0.4));
    const before = await storageCounts();
    const changedAudio = await upload(key, "order-2", makeWav(0.5));
    expect(changedAudio.status).toBe(409);
    expect(((await changedAudio.json()) as { code: string }).code).toBe("idempotency_key_reused");
    const changedOptions = await upload(key, "order-2", makeWav(0.4), "?provider=whisper-pool&language=fr");
    expect(changedOptions.status).toBe(409);
    expect(await storageCounts()).toEqual(before);
  });

  it("keys are scoped per tenant and expire after 24 hours", async () => {
    const audio = makeWav(0.4);
    const mine = (await (await upload(key, "shared-key", audio)).json()) as { id: string };
    const theirs = await upload(other, "shared-key", audio);
    expect(theirs.status).toBe(202);
    expect(((await theirs.json()) as { id: string }).id).not.toBe(mine.id);
    // age the original past the window: the key is free again
    await env.DB.prepare("update transcriptions set created_at = created_at - 90000000 where id = ?")
      .bind(mine.id)
      .run();
    const later = await upload(key, "shared-key", audio);
    expect(later.status).toBe(202);
    expect(((await later.json()) as { id: string }).id).not.toBe(mine.id);
  });

  it("rejects a malformed key", async () => {
    const res = await upload(key, "has space");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_idempotency_key");
  });
});
