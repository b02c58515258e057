/**
 * A redacted job leaves its personal data nowhere: after an upload with `redact_pii` (and one with
 * `redact_pii_audio`, and an MP3 with `redact_pii_audio` whose ID3 tag names the secrets: its WAV copy keeps no tag)
 * runs through the consumer, a provider answer full of PII, the pool callback, and the webhook delivery, every stored byte is scanned for the original values — every D1 row of every table (inline text opened),
 * every R2 object opened, every message sent to a queue, every captured log line and every webhook body.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { JobMessage } from "../../src/env.ts";
import { getSealedBytes } from "../../src/storage/sealed-objects.ts";
import { withOpenedText } from "../../src/storage/transcript-store.ts";
import { createTenant, multipartUpload } from "../helpers/api.ts";
import { pcmWav, silenceSamples } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliver, deliverJobs, deliverWebhooks, QUEUES } from "../helpers/queue.ts";
import { compressedAudio } from "../helpers/redacted-audio.ts";
import { OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

const SECRETS = {
  phone: "(415) 555-2671",
  phoneDigits: "4155552671",
  email: "jane.doe@example.com",
  card: "4111 1111 1111 1111",
  cardDigits: "4111111111111111",
  spokenCard: "four one one one one one one one one one one one one one one one",
  ssn: "123-45-6789",
  iban: "GB82 WEST 1234 5698 7654 32",
  ip: "203.0.113.7",
};
const TEXT = `Call ${SECRETS.phone} or ${SECRETS.email}. Card ${SECRETS.card}, spoken ${SECRETS.spokenCard}. SSN ${SECRETS.ssn}, IBAN ${SECRETS.iban}, IP ${SECRETS.ip}.`;
const WORDS = TEXT.split(" ").map((word, i) => ({ word, start: i * 0.1, end: i * 0.1 + 0.08 }));

afterEach(() => vi.restoreAllMocks());

/** The fixture MP3 with its own ID3v2 tag replaced by one whose title is `title` (ID3v2.3, a Latin-1 TIT2 frame). */
function mp3Titled(title: string): Uint8Array<ArrayBuffer> {
  const mp3 = compressedAudio("mp3");
  const ownTag = 10 + ((mp3[6]! << 21) | (mp3[7]! << 14) | (mp3[8]! << 7) | mp3[9]!);
  const text = new Uint8Array([0, ...[...title].map((c) => c.charCodeAt(0))]);
  const frame = new Uint8Array(10 + text.length);
  frame.set([0x54, 0x49, 0x54, 0x32]); // TIT2
  new DataView(frame.buffer).setUint32(4, text.length);
  frame.set(text, 10);
  const size = frame.length;
  const header = new Uint8Array([
    0x49,
    0x44,
    0x33,
    3,
    0,
    0,
    (size >> 21) & 0x7f,
    (size >> 14) & 0x7f,
    (size >> 7) & 0x7f,
    size & 0x7f,
  ]);
  const out = new Uint8Array(header.length + frame.length + mp3.length - ownTag);
  out.set(header);
  out.set(frame, header.length);
  out.set(mp3.subarray(ownTag), header.length + frame.length);
  return out;
}

/** Every form of every secret that must not be found (digits alone too: a reformatted value is the same value). */
function leaks(haystack: string): string[] {
  const squashed = haystack.replace(/[\s()-]/g, "");
  return Object.entries(SECRETS)
    .filter(([, value]) => haystack.includes(value) || squashed.includes(value.replace(/[\s()-]/g, "")))
    .map(([name]) => name);
}

describe("stored bytes of redacted jobs", { timeout: 60_000 }, () => {
  it("hold none of the original values: D1, R2, queue messages, logs and webhook bodies", async () => {
    const logs: string[] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const)
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void logs.push(args.map(String).join(" ")));
    const sent: unknown[] = [];
    for (const queue of [env.JOBS, env.WEBHOOKS]) {
      const send = queue.send.bind(queue);
      const sendBatch = queue.sendBatch.bind(queue);
      vi.spyOn(queue, "send").mockImplementation(async (body, options) => {
        sent.push(body);
        return send(body, options);
      });
      vi.spyOn(queue, "sendBatch").mockImplementation(async (messages, options) => {
        sent.push(...[...messages].map((m) => m.body));
        return sendBatch(messages, options);
      });
    }
    const { tenantId, key } = await createTenant("pii-scan");
    const hook = "https://hooks.example.com/pii";
    const outbound = interceptFetch()
      .on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
        json({
          ...OPENAI_VERBOSE_JSON,
          // the MP3's length: its decoded copy must be as long as the transcript says
          duration: 3,
          text: TEXT,
          segments: [{ ...OPENAI_VERBOSE_JSON.segments[0]!, text: TEXT }],
          words: WORDS,
        }),
      )
      .on("POST", "https://pool.test/v1/jobs", () => json({ accepted: true }, 202))
      .on("POST", hook, () => new Response(null, { status: 204 }));

    // 1. a managed provider's job
    const managed = (await (
      await multipartUpload(key, { provider: "openai", redact_pii: "true", webhook_url: hook })
    ).json()) as { id: string };
    await deliverJobs([managed.id], tenantId);
    // 2. a pool job with audio redaction
    const wav = pcmWav(silenceSamples({ seconds: 6, sampleRate: 16_000 }), 16_000);
    const pooled = (await (
      await multipartUpload(
        key,
        {
          provider: "whisper-pool",
          redact_pii: "true",
          redact_pii_audio: "true",
          redact_pii_sub: "mask",
          webhook_url: hook,
        },
        wav,
      )
    ).json()) as { id: string };
    await deliverJobs([pooled.id], tenantId);
    const applied = await poolCallback(
      completedCallback(pooled.id, { text: TEXT, segments: [{ start: 0, end: 6, text: TEXT }], words: WORDS }),
    );
    expect(((await applied.json()) as { applied: boolean }).applied).toBe(true);
    // the callback queued the audio redaction (`kind: "audio_redaction"`): the consumer tones the WAV and completes
    const redaction = sent.find((m) => (m as JobMessage).kind === "audio_redaction") as JobMessage;
    expect(redaction).toMatchObject({ job_id: pooled.id });
    await deliver(QUEUES.jobs, [{ body: redaction }]);
    // 3. a managed provider's job on an MP3 whose ID3 title holds the secrets, with audio redaction
    const titled = mp3Titled(`Call ${SECRETS.phone} ${SECRETS.email} ${SECRETS.card}`);
    expect(leaks(new TextDecoder("latin1").decode(titled))).toEqual([
      "phone",
      "phoneDigits",
      "email",
      "card",
      "cardDigits",
    ]);
    const mp3Job = (await (
      await multipartUpload(
        key,
        { provider: "openai", redact_pii: "true", redact_pii_audio: "true" },
        titled,
        "call.mp3",
      )
    ).json()) as { id: string };
    await deliverJobs([mp3Job.id], tenantId);
    const mp3Row = await env.DB.prepare("select status, audio_format from transcriptions where id = ?")
      .bind(mp3Job.id)
      .first();
    expect(mp3Row).toEqual({ status: "completed", audio_format: "wav" });
    const events = await env.DB.prepare("select id from webhook_events where tenant_id = ?")
      .bind(tenantId)
      .all<{ id: string }>();
    expect(events.results).toHaveLength(2);
    await deliverWebhooks(events.results.map((e) => e.id));

    // D1: every row of every table, the sealed inline text opened
    const tables = await env.DB.prepare(
      "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_cf_%' and name not like 'd1_%'",
    ).all<{ name: string }>();
    const dump: string[] = [];
    for (const { name } of tables.results) {
      const rows = await env.DB.prepare(`select * from "${name}"`).all<Record<string, unknown>>();
      for (const row of rows.results) {
        if (name === "transcriptions" && typeof row.text === "string" && row.tenant_id === tenantId) {
          const opened = await withOpenedText(env, { id: String(row.id), tenantId, text: row.text });
          expect(opened.text).not.toBeNull();
          dump.push(opened.text!);
        }
        dump.push(JSON.stringify(row));
      }
    }
    // R2: every object of the tenant, opened
    const objects = await env.BUCKET.list({ prefix: "" });
    const opened: string[] = [];
    for (const object of objects.objects) {
      const tenant = object.key.split("/")[1]!;
      const bytes = await getSealedBytes(env, tenant, object.key);
      opened.push(new TextDecoder("latin1").decode(bytes!));
    }
    // three transcripts, the first job's audio, the two toned copies
    expect(opened.length).toBeGreaterThanOrEqual(6);
    const webhookBodies = outbound.requests
      .filter((r) => r.url.href === hook)
      .map((r) => new TextDecoder().decode(r.body));
    expect(webhookBodies).toHaveLength(2);

    expect(leaks(dump.join("\n"))).toEqual([]);
    expect(leaks(opened.join("\n"))).toEqual([]);
    expect(leaks(JSON.stringify(sent))).toEqual([]);
    expect(sent.length).toBeGreaterThanOrEqual(4);
    expect(leaks(logs.join("\n"))).toEqual([]);
    expect(logs.length).toBeGreaterThan(0);
    expect(leaks(webhookBodies.join("\n"))).toEqual([]);
    // the scan sees what it should: the redacted text is there
    expect(dump.join("\n")).toContain("[PHONE_NUMBER]");
  });
});
