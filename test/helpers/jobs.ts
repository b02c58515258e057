/** Seeds jobs straight into D1 + R2 (no queue message), so consumer tests drive the queue handlers themselves. */
import { env } from "cloudflare:workers";

import { newId } from "../../src/lib/ids.ts";
import { putSealed } from "../../src/storage/sealed-objects.ts";
import { makeWav } from "./audio.ts";

export async function seedTenant(name = "seeded"): Promise<string> {
  const id = newId("tenant");
  await env.DB.prepare("insert into tenants (id, name, created_at) values (?, ?, ?)").bind(id, name, Date.now()).run();
  return id;
}

export async function seedJob(
  tenantId: string,
  options: {
    provider?: string;
    audio?: Uint8Array<ArrayBuffer> | null;
    webhookUrl?: string | null;
    status?: string;
    language?: string | null;
    /** write the audio as a pre-encryption (legacy) plaintext object instead of sealing it like an upload does */
    plaintext?: boolean;
    task?: "transcribe" | "translate";
    requestedModel?: string | null;
    temperature?: number | null;
    wordTimestamps?: boolean;
    speakerLabels?: boolean;
    multichannel?: boolean;
    /** the sniffed container stored on the row (default `wav`) */
    audioFormat?: string;
  } = {},
): Promise<string> {
  const id = newId("transcription");
  const audioKey = `audio/${tenantId}/${id}`;
  const audio = options.audio === undefined ? makeWav(0.5) : options.audio;
  if (audio && options.plaintext) await env.BUCKET.put(audioKey, audio);
  else if (audio) await putSealed(env, tenantId, audioKey, audio, `audio/${options.audioFormat ?? "wav"}`);
  const now = Date.now();
  await env.DB.prepare(
    `insert into transcriptions (id, tenant_id, status, provider, requested_language, audio_key, audio_bytes, audio_format,
       webhook_url, metadata, created_at, enqueued_at, updated_at, task, requested_model, temperature, word_timestamps,
       speaker_labels, multichannel)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(
      id,
      tenantId,
      options.status ?? "queued",
      options.provider ?? "openai",
      options.language ?? null,
      audioKey,
      audio?.byteLength ?? 0,
      options.audioFormat ?? "wav",
      options.webhookUrl ?? null,
      now,
      now,
      now,
      options.task ?? "transcribe",
      options.requestedModel ?? null,
      options.temperature ?? null,
      options.wordTimestamps ? 1 : 0,
      options.speakerLabels ? 1 : 0,
      options.multichannel ? 1 : 0,
    )
    .run();
  return id;
}

export async function jobRow(id: string): Promise<Record<string, unknown> | null> {
  return env.DB.prepare("select * from transcriptions where id = ?").bind(id).first();
}
