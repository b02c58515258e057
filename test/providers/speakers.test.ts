/**
 * Speaker labels from the vendors, against their documented wire formats with outbound fetch intercepted: Deepgram
 * `diarize` and `multichannel`, OpenAI `gpt-4o-transcribe-diarize` with `diarized_json`; and where routing sends
 * speaker jobs (pure capabilities).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import type { SpeakerOptions } from "../../src/domain/speakers.ts";
import type { Env } from "../../src/env.ts";
import {
  checkProviderOptions,
  failoverCandidates,
  preferredProvider,
  providerAudioBytes,
  providerCanDiarize,
  providerSplitsChannelsAtEdge,
  resolveProvider,
} from "../../src/providers/capabilities.ts";
import { DeepgramTranscriptionService } from "../../src/providers/deepgram.ts";
import { OpenAITranscriptionService } from "../../src/providers/openai.ts";
import { ProviderError, type TranscriptionRequest } from "../../src/providers/types.ts";
import { WhisperPoolService } from "../../src/providers/whisper-pool.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { DEEPGRAM_RESPONSE, transcriptionRequest } from "./fixtures.ts";
import {
  DEEPGRAM_DIARIZED_RESPONSE,
  DEEPGRAM_MULTICHANNEL_RESPONSE,
  OPENAI_DIARIZED_JSON,
} from "./speaker-fixtures.ts";

const WAV = makeWav(0.25);
const LABELS: SpeakerOptions = { labels: true, expected: null, min: null, max: null, multichannel: false };
const CHANNELS: SpeakerOptions = { labels: false, expected: null, min: null, max: null, multichannel: true };
const withVars = (vars: Partial<Record<keyof Env, string>>) => ({ ...env, ...vars }) as Env;

const request = (overrides: Partial<TranscriptionRequest> = {}) => transcriptionRequest(WAV, overrides);

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe("deepgram speakers", () => {
  it("asks for diarize=true and keeps the speakers of utterances and words", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () =>
      json(DEEPGRAM_DIARIZED_RESPONSE),
    );
    const outcome = await new DeepgramTranscriptionService(env).transcribe(request({ speakers: LABELS }));
    const query = outbound.requests[0]!.url.searchParams;
    expect(query.get("diarize")).toBe("true");
    expect(query.has("multichannel")).toBe(false);
    if (outcome.kind !== "completed") throw new Error("not completed");
    expect(outcome.transcript.segments.map((s) => [s.text, s.speaker])).toEqual([
      ["Hello, how can I help?", "1"],
      ["My card was charged twice.", "0"],
    ]);
    expect(outcome.transcript.words!.map((w) => w.speaker)).toEqual(["1", "1", "1", "1", "1", "0", "0", "0", "0", "0"]);
  });

  it("multichannel=true: each channel is its own speaker, utterances and words merged by time", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () =>
      json(DEEPGRAM_MULTICHANNEL_RESPONSE),
    );
    const outcome = await new DeepgramTranscriptionService(env).transcribe(request({ speakers: CHANNELS }));
    const query = outbound.requests[0]!.url.searchParams;
    expect(query.get("multichannel")).toBe("true");
    expect(query.has("diarize")).toBe(false);
    if (outcome.kind !== "completed") throw new Error("not completed");
    expect(outcome.transcript.segments.map((s) => [s.start, s.text, s.speaker])).toEqual([
      [0.1, "Hello, how can I help?", "ch0"],
      [2.0, "My card was charged twice.", "ch1"],
      [4.0, "Sure.", "ch0"],
    ]);
    expect(outcome.transcript.words!.map((w) => [w.word, w.speaker])).toEqual([
      ["Hello,", "ch0"],
      ["help?", "ch0"],
      ["My", "ch1"],
      ["twice.", "ch1"],
      ["Sure.", "ch0"],
    ]);
    expect(outcome.transcript.text).toBe("Hello, how can I help? My card was charged twice. Sure.");
    expect(outcome.transcript.language).toBe("en");
  });

  it("multichannel on mono audio: one channel, one speaker", async () => {
    interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(DEEPGRAM_RESPONSE));
    const outcome = await new DeepgramTranscriptionService(env).transcribe(request({ speakers: CHANNELS }));
    if (outcome.kind !== "completed") throw new Error("not completed");
    expect(new Set(outcome.transcript.segments.map((s) => s.speaker))).toEqual(new Set(["ch0"]));
  });

  it("a diarize answer without speakers fails with diarization_unsupported (never an unlabelled transcript)", async () => {
    const unlabelled = structuredClone(DEEPGRAM_DIARIZED_RESPONSE) as {
      results: { utterances: { speaker?: number }[] };
    };
    for (const u of unlabelled.results.utterances) delete u.speaker;
    interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () => json(unlabelled));
    const error = await rejection(new DeepgramTranscriptionService(env).transcribe(request({ speakers: LABELS })));
    expect({ code: error.code, retryable: error.retryable }).toEqual({
      code: "diarization_unsupported",
      retryable: false,
    });
  });

  it("without speaker options nothing is asked and words carry no speaker, as before", async () => {
    const outbound = interceptFetch().on("POST", "https://api.deepgram.com/v1/listen", () =>
      json(DEEPGRAM_DIARIZED_RESPONSE),
    );
    const outcome = await new DeepgramTranscriptionService(env).transcribe(request());
    const query = outbound.requests[0]!.url.searchParams;
    expect(query.has("diarize") || query.has("multichannel")).toBe(false);
    if (outcome.kind !== "completed") throw new Error("not completed");
    expect(outcome.transcript.words!.some((w) => "speaker" in w)).toBe(false);
  });
});

describe("openai diarized_json", () => {
  const diarizeEnv = () => withVars({ OPENAI_MODELS: "gpt-4o-transcribe-diarize" });

  it("sends gpt-4o-transcribe-diarize with response_format=diarized_json, chunking_strategy=auto and no prompt", async () => {
    const outbound = interceptFetch().on("POST", "https://api.openai.com/v1/audio/transcriptions", () =>
      json(OPENAI_DIARIZED_JSON),
    );
    const outcome = await new OpenAITranscriptionService(diarizeEnv()).transcribe(
      request({ model: "gpt-4o-transcribe-diarize", speakers: LABELS, prompt: "Acme" }),
    );
    const sent = outbound.requests[0]!;
    const form = await new Request("http://x", {
      method: "POST",
      headers: { "content-type": sent.headers.get("content-type")! },
      body: sent.body,
    }).formData();
    expect(form.get("model")).toBe("gpt-4o-transcribe-diarize");
    expect(form.get("response_format")).toBe("diarized_json");
    expect(form.get("chunking_strategy")).toBe("auto");
    expect(form.get("prompt")).toBeNull();
    expect(form.get("language")).toBe("en");
    expect(outcome).toEqual({
      kind: "completed",
      transcript: {
        text: OPENAI_DIARIZED_JSON.text,
        segments: [
          { start: 0.1, end: 1.5, text: "Hello, how can I help?", speaker: "A" },
          { start: 2.0, end: 3.8, text: "My card was charged twice.", speaker: "B" },
          { start: 4.0, end: 4.6, text: "I see.", speaker: "A" },
        ],
        language: "en",
        duration_seconds: 6,
        model: "gpt-4o-transcribe-diarize",
      },
    });
  });

  it("refuses speaker labels on another model and multichannel, without calling OpenAI", async () => {
    const outbound = interceptFetch();
    const service = new OpenAITranscriptionService(diarizeEnv());
    const labels = await rejection(service.transcribe(request({ speakers: LABELS })));
    expect(labels.code).toBe("diarization_unsupported");
    const channels = await rejection(service.transcribe(request({ speakers: CHANNELS })));
    expect(channels.code).toBe("multichannel_unsupported");
    expect(outbound.requests).toHaveLength(0);
  });
});

describe("whisper-pool speakers", () => {
  it("dispatches the speaker options; the pool's diarization_unavailable is a permanent failure", async () => {
    const outbound = interceptFetch().on("POST", "https://pool.test/v1/jobs", () =>
      json({ type: "about:blank", status: 400, code: "diarization_unavailable" }, 400),
    );
    const error = await rejection(
      new WhisperPoolService(env).transcribe(request({ speakers: { ...LABELS, min: 2, max: 4 } })),
    );
    expect({ code: error.code, retryable: error.retryable }).toEqual({
      code: "diarization_unavailable",
      retryable: false,
    });
    const body = JSON.parse(new TextDecoder().decode(outbound.requests[0]!.body)) as Record<string, unknown>;
    expect(body.speakers).toEqual({ labels: true, expected: null, min: 2, max: 4, multichannel: false });
  });

  it("a dispatch without speaker options carries no speakers field (an older pool's schema never sees it)", async () => {
    const outbound = interceptFetch().on("POST", "https://pool.test/v1/jobs", () =>
      json({ job_id: "x", status: "queued", duplicate: false }, 202),
    );
    await new WhisperPoolService(env).transcribe(request());
    expect(JSON.parse(new TextDecoder().decode(outbound.requests[0]!.body))).not.toHaveProperty("speakers");
  });
});

describe("routing speaker jobs", () => {
  const labels = { task: "transcribe", model: null, speakerLabels: true } as const;
  const channels = { task: "transcribe", model: null, multichannel: true } as const;

  it("Deepgram, the pool and OpenAI's diarize model can label speakers; Workers AI and whisper-1 cannot", () => {
    const vars = withVars({ OPENAI_MODELS: "gpt-4o-transcribe-diarize" });
    expect(providerCanDiarize(vars, "deepgram")).toBe(true);
    expect(providerCanDiarize(vars, "whisper-pool")).toBe(true);
    expect(providerCanDiarize(vars, "openai")).toBe(false);
    expect(providerCanDiarize(vars, "openai", "gpt-4o-transcribe-diarize")).toBe(true);
    expect(providerCanDiarize(vars, "workers-ai")).toBe(false);
    expect(checkProviderOptions(vars, "workers-ai", labels)?.code).toBe("diarization_unsupported");
    expect(checkProviderOptions(vars, "openai", { ...channels, format: "mp3" })?.code).toBe("multichannel_unsupported");
    expect(checkProviderOptions(vars, "workers-ai", { ...channels, format: "mp3" })?.code).toBe(
      "multichannel_unsupported",
    );
    expect(checkProviderOptions(vars, "deepgram", channels)).toBeNull();
    // the pool splits channels with ffmpeg (gpu-worker/test/multichannel.test.ts)
    expect(checkProviderOptions(vars, "whisper-pool", channels)).toBeNull();
  });

  it("multichannel: the edge splits PCM WAV for OpenAI and Workers AI; other containers are refused naming them", () => {
    for (const name of ["openai", "workers-ai"]) {
      expect(providerSplitsChannelsAtEdge(name)).toBe(true);
      // unknown container (audio by URL, not yet fetched) is judged once known
      expect(checkProviderOptions(env, name, channels)).toBeNull();
      expect(checkProviderOptions(env, name, { ...channels, format: "pending" })).toBeNull();
      expect(checkProviderOptions(env, name, { ...channels, format: "wav" })).toBeNull();
      for (const format of ["mp3", "flac", "ogg", "webm", "mp4"]) {
        expect(checkProviderOptions(env, name, { ...channels, format })).toEqual({
          code: "multichannel_unsupported",
          message: `provider ${name} is handed one channel at a time, and the edge splits channels of PCM WAV only: this audio is ${format}`,
        });
      }
      const unsplittable = { ok: false, reason: "WAV format 7 with 8-bit samples cannot be split" } as const;
      expect(
        checkProviderOptions(env, name, { ...channels, format: "wav", channelSplit: unsplittable })?.message,
      ).toMatch(/WAV format 7/);
    }
    // Deepgram and the pool split any container themselves
    expect(providerSplitsChannelsAtEdge("deepgram")).toBe(false);
    expect(checkProviderOptions(env, "deepgram", { ...channels, format: "mp3" })).toBeNull();
    expect(providerSplitsChannelsAtEdge("whisper-pool")).toBe(false);
  });

  it("multichannel: a channel, not the whole file, meets the limit of a provider the edge splits for", () => {
    const vars = withVars({ OPENAI_MAX_AUDIO_BYTES: "25000000", FAILOVER_CHAIN: "openai,deepgram" });
    const stereo = {
      ...channels,
      format: "wav",
      bytes: 40_000_044,
      channelSplit: { ok: true, channels: 2, channelBytes: 20_000_044 },
    } as const;
    expect(providerAudioBytes("openai", stereo)).toBe(20_000_044);
    expect(providerAudioBytes("deepgram", stereo)).toBe(40_000_044);
    expect(checkProviderOptions(vars, "openai", stereo)).toBeNull();
    expect(failoverCandidates(vars, "openai", stereo)).toEqual(["openai", "deepgram"]);
    // the same bytes as one channel: over OpenAI's limit, to Deepgram
    const mono = { ...stereo, channelSplit: { ok: true, channels: 1, channelBytes: 40_000_044 } } as const;
    expect(checkProviderOptions(vars, "openai", mono)?.code).toBe("audio_too_large_for_provider");
    expect(failoverCandidates(vars, "openai", mono)).toEqual(["deepgram"]);
    // a job without multichannel is judged on the whole file, as before
    expect(providerAudioBytes("openai", { ...stereo, multichannel: false })).toBe(40_000_044);
  });

  it("a job naming no provider goes to the first capable one; without one, to the default (where it fails)", () => {
    expect(preferredProvider(withVars({ PROVIDERS: "openai,deepgram,whisper-pool" }), labels)).toBe("deepgram");
    expect(preferredProvider(withVars({ PROVIDERS: "openai,whisper-pool,deepgram" }), channels)).toBe("whisper-pool");
    expect(preferredProvider(withVars({ PROVIDERS: "openai,deepgram,whisper-pool" }), channels)).toBe("deepgram");
    expect(preferredProvider(withVars({ PROVIDERS: "openai,whisper-pool" }), channels)).toBe("whisper-pool");
    expect(preferredProvider(withVars({ PROVIDERS: "openai,workers-ai" }), channels)).toBe("openai");
    // multichannel with the container known: PROVIDERS order among those that can (the edge splits WAV for OpenAI)
    const both = withVars({ PROVIDERS: "openai,deepgram" });
    expect(preferredProvider(both, { ...channels, format: "wav" })).toBe("openai");
    expect(preferredProvider(both, { ...channels, format: "mp3" })).toBe("deepgram");
    // not yet known (audio by URL): a provider that splits any container first
    expect(preferredProvider(both, channels)).toBe("deepgram");
    expect(preferredProvider(withVars({ PROVIDERS: "openai,whisper-pool" }), { ...channels, format: "mp3" })).toBe(
      "whisper-pool",
    );
    expect(preferredProvider(withVars({ PROVIDERS: "openai,workers-ai" }), labels)).toBe("openai");
    // no speaker options: the default provider, as before
    expect(preferredProvider(withVars({ PROVIDERS: "openai,deepgram" }), { task: "transcribe", model: null })).toBe(
      "openai",
    );
  });

  it("failover keeps a speaker job on providers that can label speakers", () => {
    const vars = withVars({
      PROVIDERS: "deepgram,openai,whisper-pool",
      FAILOVER_CHAIN: "deepgram,openai,whisper-pool",
    });
    expect(failoverCandidates(vars, "deepgram", labels)).toEqual(["deepgram", "whisper-pool"]);
    // multichannel: OpenAI takes one channel at a time when the edge can split the audio (PCM WAV, or not yet known)
    expect(failoverCandidates(vars, "deepgram", { ...channels, format: "wav" })).toEqual([
      "deepgram",
      "openai",
      "whisper-pool",
    ]);
    expect(failoverCandidates(vars, "deepgram", { ...channels, format: "mp3" })).toEqual(["deepgram", "whisper-pool"]);
  });

  it("the OpenAI-compatible route's refusal names diarization when no enabled provider can", () => {
    const vars = withVars({ PROVIDERS: "openai,workers-ai" });
    expect(resolveProvider(vars, null, labels)).toEqual({
      ok: false,
      refusal: { code: "diarization_unsupported", message: "no enabled provider can label speakers" },
    });
  });
});
