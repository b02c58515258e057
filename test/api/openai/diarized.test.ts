/**
 * `response_format=diarized_json` on the OpenAI-compatible route, driven by the real `openai` SDK: the job asks for
 * speaker labels (here on the pool, finished by a signed pool callback while the request is held) and is answered as
 * OpenAI's TranscriptionDiarized; a result without speakers fails the job instead of passing unlabelled.
 */
import type OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";

import { createTenant } from "../../helpers/api.ts";
import { makeWav } from "../../helpers/audio.ts";
import { jobRow } from "../../helpers/jobs.ts";
import { completeThroughPool, jobIdsOf, newJobOf, openaiClient } from "../../helpers/openai.ts";

let tenant: { tenantId: string; key: string; keyId: string };
let client: OpenAI;

beforeAll(async () => {
  tenant = await createTenant("openai-diarized");
  client = openaiClient(tenant.key);
});

const wavFile = () => new File([makeWav(0.5)], "call.wav", { type: "audio/wav" });
const TEXT = "Hello, how can I help? My card was charged twice.";

async function held<T>(request: () => Promise<T>, result: Record<string, unknown>): Promise<{ answer: T; id: string }> {
  const known = await jobIdsOf(tenant.tenantId);
  const pending = request();
  pending.catch(() => undefined);
  const id = await newJobOf(tenant.tenantId, known);
  await completeThroughPool(id, { text: TEXT, duration_seconds: 4, ...result });
  return { answer: await pending, id };
}

describe("diarized_json", () => {
  it("labels A, B in order of first appearance and answers OpenAI's TranscriptionDiarized", async () => {
    const { answer, id } = await held(
      () =>
        client.audio.transcriptions.create({
          file: wavFile(),
          model: "whisper-pool/default",
          response_format: "diarized_json",
        }),
      {
        segments: [
          { start: 0.1, end: 1.5, text: "Hello, how can I help?", speaker: "spk_3" },
          { start: 2.0, end: 3.8, text: "My card was charged twice.", speaker: "spk_1" },
        ],
      },
    );
    expect(answer).toEqual({
      task: "transcribe",
      duration: 4,
      text: TEXT,
      segments: [
        {
          type: "transcript.text.segment",
          id: "seg_0",
          start: 0.1,
          end: 1.5,
          text: "Hello, how can I help?",
          speaker: "A",
        },
        {
          type: "transcript.text.segment",
          id: "seg_1",
          start: 2.0,
          end: 3.8,
          text: "My card was charged twice.",
          speaker: "B",
        },
      ],
      usage: { type: "duration", seconds: 4 },
    });
    expect(await jobRow(id)).toMatchObject({ speaker_labels: 1, provider: "whisper-pool", status: "completed" });
  });

  it("the gpt-4o-transcribe-diarize id routes to a provider that can label speakers", async () => {
    const known = await jobIdsOf(tenant.tenantId);
    const pending = client.audio.transcriptions.create({
      file: wavFile(),
      model: "gpt-4o-transcribe-diarize",
      response_format: "diarized_json",
    });
    pending.catch(() => undefined);
    const id = await newJobOf(tenant.tenantId, known);
    // PROVIDERS in tests: openai (whisper-1 only), deepgram, whisper-pool: deepgram is the first that can
    expect(await jobRow(id)).toMatchObject({ provider: "deepgram", speaker_labels: 1 });
  });

  it("a pool result without speakers fails the job with diarization_unsupported (a 400 for the SDK)", async () => {
    const known = await jobIdsOf(tenant.tenantId);
    const pending = client.audio.transcriptions
      .create({ file: wavFile(), model: "whisper-pool/default", response_format: "diarized_json" })
      .catch((e: unknown) => e);
    const id = await newJobOf(tenant.tenantId, known);
    await completeThroughPool(id, { text: TEXT, segments: [{ start: 0, end: 3.8, text: TEXT }], duration_seconds: 4 });
    expect(await pending).toMatchObject({ status: 400, code: "diarization_unsupported" });
    expect(await jobRow(id)).toMatchObject({ status: "failed", error_code: "diarization_unsupported" });
  });
});
