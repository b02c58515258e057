import { signAudioUrl } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { parseMasterKeys, sealBytes } from "../../src/domain/envelope.ts";
import { call, createTenant, multipartUpload } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { jobRow, seedJob } from "../helpers/jobs.ts";
import { deliverJobs } from "../helpers/queue.ts";
import { OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

async function rawObject(key: string): Promise<{ bytes: Uint8Array; meta: Record<string, string> }> {
  const object = await env.BUCKET.get(key);
  return { bytes: new Uint8Array(await object!.arrayBuffer()), meta: object!.customMetadata ?? {} };
}

const latin1 = (bytes: Uint8Array) => new TextDecoder("latin1").decode(bytes);

async function audioUrl(jobId: string) {
  const exp = Math.floor(Date.now() / 1000) + 60;
  return `/internal/audio/${jobId}?exp=${exp}&kid=a1&sig=${await signAudioUrl("audio-url-secret", jobId, exp)}`;
}

describe("encryption at rest", () => {
  it("audio, the transcript document and the inline text are sealed per tenant; the API reads them back", async () => {
    const { tenantId, key } = await createTenant("sealed");
    const wav = makeWav(0.5);
    const upload = await multipartUpload(key, { provider: "openai" }, wav);
    expect(upload.status).toBe(202);
    const { id } = (await upload.json()) as { id: string };

    const audio = await rawObject(`audio/${tenantId}/${id}`);
    expect(audio.meta).toMatchObject({ enc: "a256gcm-stream-1", kv: "m2", ct: "audio/wav" });
    expect(latin1(audio.bytes)).not.toContain("RIFF");
    expect(audio.bytes.byteLength).toBe(wav.byteLength + 16);

    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_VERBOSE_JSON),
    );
    await deliverJobs([id], tenantId);
    // the provider received the plaintext audio, not the sealed bytes
    expect(latin1(outbound.requests[0]!.body)).toContain("RIFF");
    expect(outbound.requests[0]!.body.byteLength).toBeGreaterThan(wav.byteLength);

    const row = (await jobRow(id))!;
    expect(row.status).toBe("completed");
    expect(String(row.text)).toMatch(/^enc1\.m2\./);
    expect(String(row.text)).not.toContain(OPENAI_VERBOSE_JSON.text.slice(0, 12));
    const transcript = await rawObject(String(row.transcript_key));
    expect(transcript.meta).toMatchObject({ enc: "a256gcm-stream-1", ct: "application/json" });
    expect(latin1(transcript.bytes)).not.toContain(OPENAI_VERBOSE_JSON.text.slice(0, 12));

    const job = (await (await call(`/v1/transcriptions/${id}`, { key })).json()) as {
      text: string;
      segments: unknown[];
    };
    expect(job.text).toBe(OPENAI_VERBOSE_JSON.text);
    expect(job.segments).toHaveLength(2);
    const list = (await (await call(`/v1/transcriptions`, { key })).json()) as { data: { id: string; text: string }[] };
    expect(list.data.find((j) => j.id === id)!.text).toBe(OPENAI_VERBOSE_JSON.text);
    const txt = await call(`/v1/transcriptions/${id}/transcript?format=txt`, { key });
    expect(await txt.text()).toContain(OPENAI_VERBOSE_JSON.text.slice(0, 12));
  });

  it("the signed audio URL serves the opened audio with its real type and length", async () => {
    const { tenantId } = await createTenant("sealed-url");
    const wav = makeWav(0.3);
    const id = await seedJob(tenantId, { audio: wav, provider: "whisper-pool" });
    const res = await call(await audioUrl(id));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("audio/wav");
    expect(res.headers.get("content-length")).toBe(String(wav.byteLength));
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(wav);
  });

  it("objects sealed under a retired-but-kept master version and legacy plaintext objects stay readable", async () => {
    const { tenantId } = await createTenant("sealed-old");
    const wav = makeWav(0.2);
    // sealed before the rotation: ring was only m1
    const oldId = await seedJob(tenantId, { audio: null, provider: "whisper-pool" });
    const oldKey = `audio/${tenantId}/${oldId}`;
    const m1Only = parseMasterKeys(env.ENCRYPTION_KEYS).filter((k) => k.version === "m1");
    const sealed = await sealBytes(m1Only, tenantId, oldKey, wav);
    await env.BUCKET.put(oldKey, sealed.sealed, { customMetadata: { ...sealed.header, ct: "audio/wav" } });
    await env.DB.prepare("update transcriptions set audio_bytes = ? where id = ?").bind(wav.byteLength, oldId).run();
    const res = await call(await audioUrl(oldId));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(wav);

    const legacyId = await seedJob(tenantId, { audio: wav, plaintext: true, provider: "whisper-pool" });
    const legacy = await call(await audioUrl(legacyId));
    expect(new Uint8Array(await legacy.arrayBuffer())).toEqual(wav);
  });

  it("another tenant's key cannot open an object (the data key is bound to tenant and object key)", async () => {
    const a = await createTenant("sealed-a");
    const b = await createTenant("sealed-b");
    const idA = await seedJob(a.tenantId, { audio: makeWav(0.2), provider: "whisper-pool" });
    const idB = await seedJob(b.tenantId, { audio: null, provider: "whisper-pool" });
    // an attacker with bucket access copies A's sealed object under B's job: it must not decrypt as B
    const stolen = await env.BUCKET.get(`audio/${a.tenantId}/${idA}`);
    await env.BUCKET.put(`audio/${b.tenantId}/${idB}`, await stolen!.arrayBuffer(), {
      customMetadata: stolen!.customMetadata!,
    });
    await env.DB.prepare("update transcriptions set audio_bytes = 100 where id = ?").bind(idB).run();
    const res = await call(await audioUrl(idB));
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: "stored_data_unreadable" });
  });
});
