/**
 * Our options as extra fields on the OpenAI-compatible routes, sent by the real `openai` SDK the way it sends any
 * extra key of the params object: booleans spelled out (`"true"`), arrays as one `name[]` field per entry. They are
 * judged by the native upload's rules, land on the job exactly as on `POST /v1/transcriptions`, and a bad one is
 * OpenAI's 400 naming the field. `provider` and `task` are not ours to take here: the model and the route decide.
 */
import OpenAI, { type APIError } from "openai";
import { beforeAll, describe, expect, it } from "vitest";

import { createTenant, storageCounts } from "../../helpers/api.ts";
import { makeWav } from "../../helpers/audio.ts";
import { jobRow } from "../../helpers/jobs.ts";
import { completeThroughPool, jobIdsOf, newJobOf, openaiClient } from "../../helpers/openai.ts";
import { deliverAudioRedactions } from "../../helpers/queue.ts";

let tenant: { tenantId: string; key: string; keyId: string };
let client: OpenAI;

beforeAll(async () => {
  tenant = await createTenant("openai-extras");
  client = openaiClient(tenant.key);
});

const POOL_MODEL = "whisper-pool/default";
const wavFile = () => new File([makeWav(0.3)], "clip.wav", { type: "audio/wav" });
const PII_TEXT = "Call me on (415) 555-2671, Jane.";

/** Our extra keys, typed loosely as callers of the SDK pass them (the SDK forwards unknown keys as form fields). */
type Params = Parameters<OpenAI["audio"]["transcriptions"]["create"]>[0];
const withExtras = (params: Record<string, unknown>) => params as unknown as Params & { stream?: false };

async function refused(request: () => Promise<unknown>): Promise<APIError> {
  const before = await storageCounts();
  const error = await request().then(
    () => {
      throw new Error("the request was not refused");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  expect(await storageCounts(), "a refused request stores nothing").toEqual(before);
  return error as APIError;
}

describe("our options as extra SDK fields", () => {
  it("redact_pii with policies, substitution and keyterms as arrays: stored on the job, the answer is redacted", async () => {
    const known = await jobIdsOf(tenant.tenantId);
    const pending = client.audio.transcriptions.create(
      withExtras({
        file: wavFile(),
        model: POOL_MODEL,
        redact_pii: true,
        redact_pii_policies: ["phone_number"],
        redact_pii_sub: "entity_name",
        keyterms: ["Acme", "Jane Doe"],
      }),
    );
    pending.catch(() => undefined);
    const id = await newJobOf(tenant.tenantId, known);
    expect(await jobRow(id)).toMatchObject({
      task: "transcribe",
      redact_pii: 1,
      redact_pii_policies: '["phone_number"]',
      redact_pii_sub: "entity_name",
      redact_pii_audio: 0,
      keyterms: '["Acme","Jane Doe"]',
    });
    await completeThroughPool(id, {
      text: PII_TEXT,
      segments: [{ start: 0, end: 2, text: PII_TEXT }],
      words: [],
      duration_seconds: 2,
    });
    expect(await pending).toMatchObject({ text: "Call me on [PHONE_NUMBER], Jane." });
  });

  it("the same options as single fields (a JSON array, a comma list), and redact_pii_audio on a WAV", async () => {
    const known = await jobIdsOf(tenant.tenantId);
    const pending = client.audio.transcriptions.create(
      withExtras({
        file: wavFile(),
        model: POOL_MODEL,
        redact_pii: "true",
        redact_pii_policies: '["email_address","phone_number"]',
        redact_pii_sub: "mask",
        redact_pii_audio: true,
        keyterms: "Acme,Jane Doe",
      }),
    );
    pending.catch(() => undefined);
    const id = await newJobOf(tenant.tenantId, known);
    expect(await jobRow(id)).toMatchObject({
      redact_pii: 1,
      redact_pii_policies: '["email_address","phone_number"]',
      redact_pii_sub: "mask",
      redact_pii_audio: 1,
      keyterms: '["Acme","Jane Doe"]',
    });
    await completeThroughPool(id, { text: "Nothing to hide.", segments: [], words: [], duration_seconds: 0.3 });
    // the callback stored the result and queued the audio redaction; the consumer finishes the job
    expect((await jobRow(id))?.pending_audio_redaction).toEqual(expect.any(String));
    expect((await deliverAudioRedactions([id], tenant.tenantId)).explicitAcks).toEqual([expect.any(String)]);
    expect(await pending).toMatchObject({ text: "Nothing to hide." });
    expect(await jobRow(id)).toMatchObject({ status: "completed", audio_format: "wav" });
  });

  it("translations take them too: a redacted English translation through a pool that translates", async () => {
    const sdk = openaiClient(tenant.key, { env: { PROVIDERS: "deepgram,whisper-pool", POOL_MODELS: "large-v3" } });
    const known = await jobIdsOf(tenant.tenantId);
    const pending = sdk.audio.translations.create(
      withExtras({ file: wavFile(), model: "whisper-1", redact_pii: true, keyterms: ["Acme"] }),
    );
    pending.catch(() => undefined);
    const id = await newJobOf(tenant.tenantId, known);
    expect(await jobRow(id)).toMatchObject({
      task: "translate",
      provider: "whisper-pool",
      redact_pii: 1,
      keyterms: '["Acme"]',
    });
    await completeThroughPool(id, {
      task: "translate",
      text: PII_TEXT,
      segments: [{ start: 0, end: 2, text: PII_TEXT }],
      words: [],
      duration_seconds: 2,
    });
    expect(await pending).toMatchObject({ text: "Call me on [PHONE_NUMBER], Jane." });
    expect(await jobRow(id)).toMatchObject({ status: "completed", language: "en" });
  });

  it("without any of them the job is as before: no redaction, no keyterms", async () => {
    const known = await jobIdsOf(tenant.tenantId);
    const pending = client.audio.transcriptions.create({ file: wavFile(), model: POOL_MODEL });
    pending.catch(() => undefined);
    const id = await newJobOf(tenant.tenantId, known);
    expect(await jobRow(id)).toMatchObject({ redact_pii: 0, redact_pii_policies: null, keyterms: null });
    await completeThroughPool(id, { text: PII_TEXT, segments: [], words: [], duration_seconds: 2 });
    expect(await pending).toMatchObject({ text: PII_TEXT });
  });
});

describe("bad extra fields are OpenAI's 400 naming the field, and store nothing", () => {
  const cases: [name: string, extras: Record<string, unknown>, code: string, param: string][] = [
    ["redact_pii that is not a boolean", { redact_pii: "yes" }, "invalid_redact_pii", "redact_pii"],
    [
      "an unknown entity type",
      { redact_pii: true, redact_pii_policies: ["passport_number"] },
      "invalid_redact_pii_policies",
      "redact_pii_policies",
    ],
    [
      "an unknown substitution",
      { redact_pii: true, redact_pii_sub: "blur" },
      "invalid_redact_pii_sub",
      "redact_pii_sub",
    ],
    [
      "redaction details without redact_pii",
      { redact_pii_policies: ["phone_number"] },
      "invalid_redact_pii_policies",
      "redact_pii_policies",
    ],
    ["redact_pii_audio without redact_pii", { redact_pii_audio: true }, "invalid_redact_pii_audio", "redact_pii_audio"],
    ["an empty keyterm", { keyterms: ["Acme", " "] }, "invalid_keyterms", "keyterms"],
    [
      "more than 100 keyterms in one field",
      { keyterms: JSON.stringify(Array.from({ length: 101 }, (_, i) => `term${i}`)) },
      "invalid_keyterms",
      "keyterms",
    ],
    ["keyterms both ways", { keyterms: "Acme", "keyterms[]": "Jane" }, "duplicate_field", "keyterms"],
    ["task on the transcriptions route", { task: "translate" }, "unknown_field", "task"],
  ];
  for (const [name, extras, code, param] of cases) {
    it(`${name} → 400 ${code}`, async () => {
      const error = await refused(() =>
        client.audio.transcriptions.create(withExtras({ file: wavFile(), model: POOL_MODEL, ...extras })),
      );
      expect(error).toMatchObject({ status: 400, code, param, type: "invalid_request_error" });
    });
  }

  it("task on the translations route is refused too: the route is the task", async () => {
    const error = await refused(() =>
      client.audio.translations.create(
        withExtras({ file: wavFile(), model: "openai/whisper-1", task: "transcribe" }) as never,
      ),
    );
    expect(error).toMatchObject({ status: 400, code: "unknown_field", param: "task" });
  });
});
