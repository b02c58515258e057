/** What each provider can do with a job's options, and where a job may go (pure, from settings only). */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import type { Env } from "../../src/env.ts";
import {
  checkProviderOptions,
  failoverCandidates,
  isEnglishOnlyPoolModel,
  providerCanTranslate,
  providerModels,
  resolveProvider,
  translatingProvider,
} from "../../src/providers/capabilities.ts";

const withVars = (vars: Partial<Record<keyof Env, string>>) => ({ ...env, ...vars }) as Env;
const transcribe = { task: "transcribe", model: null } as const;
const translate = { task: "translate", model: null } as const;

describe("provider models", () => {
  it("lists each provider's configured model first, then the extra ids from settings", () => {
    const vars = withVars({
      OPENAI_MODEL: "whisper-1",
      OPENAI_MODELS: "gpt-4o-transcribe, whisper-1",
      DEEPGRAM_MODEL: "nova-3",
      DEEPGRAM_MODELS: "nova-2",
      POOL_MODELS: "base.en,large-v3-turbo",
    });
    expect(providerModels(vars, "openai")).toEqual(["whisper-1", "gpt-4o-transcribe"]);
    expect(providerModels(vars, "deepgram")).toEqual(["nova-3", "nova-2"]);
    expect(providerModels(vars, "workers-ai")).toEqual(["@cf/openai/whisper-large-v3-turbo"]);
    expect(providerModels(vars, "whisper-pool")).toEqual(["base.en", "large-v3-turbo"]);
    // without POOL_MODELS the edge knows no name for the pool's model
    expect(providerModels(withVars({ POOL_MODELS: "" }), "whisper-pool")).toEqual([]);
    expect(providerModels(vars, "nobody")).toEqual([]);
  });
});

describe("translation", () => {
  it("OpenAI's Whisper models, Workers AI's turbo and a multilingual pool model translate; Deepgram never", () => {
    const vars = withVars({ POOL_MODELS: "large-v3-turbo,base.en", OPENAI_MODELS: "gpt-4o-transcribe" });
    expect(providerCanTranslate(vars, "openai")).toBe(true);
    expect(providerCanTranslate(vars, "openai", "gpt-4o-transcribe")).toBe(false);
    expect(providerCanTranslate(vars, "deepgram")).toBe(false);
    expect(providerCanTranslate(vars, "workers-ai")).toBe(true);
    expect(providerCanTranslate(withVars({ WORKERS_AI_MODEL: "@cf/acme/custom" }), "workers-ai")).toBe(false);
    expect(providerCanTranslate(vars, "whisper-pool")).toBe(true);
    expect(providerCanTranslate(vars, "whisper-pool", "base.en")).toBe(false);
    expect(providerCanTranslate(withVars({ POOL_MODELS: "" }), "whisper-pool")).toBe(false);
  });

  it("knows English-only Whisper models by name", () => {
    for (const name of ["base.en", "tiny.en", "/models/ggml-small.en.bin", "synthetic:mini", "synthetic:tiny"])
      expect(isEnglishOnlyPoolModel(name), name).toBe(true);
    for (const name of ["base", "large-v3-turbo", "/models/ggml-medium.bin", "synthetic:mini-multilingual"])
      expect(isEnglishOnlyPoolModel(name), name).toBe(false);
  });
});

describe("checking a job's options against a provider", () => {
  it("refuses an unknown model and a translation the provider cannot do, with stable codes", () => {
    const vars = withVars({ POOL_MODELS: "base.en" });
    expect(checkProviderOptions(vars, "deepgram", { task: "transcribe", model: "nova-3" })).toBeNull();
    expect(checkProviderOptions(vars, "deepgram", { task: "transcribe", model: "whisper-1" })).toEqual({
      code: "provider_model_unavailable",
      message: "provider deepgram does not offer model whisper-1",
    });
    expect(checkProviderOptions(vars, "deepgram", translate)).toEqual({
      code: "translation_unsupported",
      message: "provider deepgram cannot translate with model nova-3",
    });
    expect(checkProviderOptions(vars, "whisper-pool", translate)?.code).toBe("translation_unsupported");
  });
});

describe("resolving a new job's provider", () => {
  it("takes the named provider when it can honour the options, else a reason for a 400", () => {
    const vars = withVars({ PROVIDERS: "deepgram,openai" });
    expect(resolveProvider(vars, "deepgram", transcribe)).toEqual({ ok: true, provider: "deepgram" });
    expect(resolveProvider(vars, "deepgram", translate)).toEqual({
      ok: false,
      refusal: { code: "translation_unsupported", message: "provider deepgram cannot translate with model nova-3" },
    });
    expect(resolveProvider(vars, "workers-ai", transcribe)).toEqual({
      ok: false,
      refusal: { code: "provider_not_enabled", message: "provider workers-ai is not enabled" },
    });
  });

  it("without a named provider: the first enabled one that can (translation skips Deepgram)", () => {
    const vars = withVars({ PROVIDERS: "deepgram,openai" });
    expect(resolveProvider(vars, null, transcribe)).toEqual({ ok: true, provider: "deepgram" });
    expect(resolveProvider(vars, null, translate)).toEqual({ ok: true, provider: "openai" });
    expect(resolveProvider(vars, null, { task: "transcribe", model: "whisper-1" })).toEqual({
      ok: true,
      provider: "openai",
    });
    expect(resolveProvider(withVars({ PROVIDERS: "deepgram" }), null, translate)).toEqual({
      ok: false,
      refusal: { code: "translation_unsupported", message: "no enabled provider can translate" },
    });
    expect(resolveProvider(vars, null, { task: "transcribe", model: "large-v9" })).toEqual({
      ok: false,
      refusal: { code: "provider_model_unavailable", message: "no enabled provider offers model large-v9" },
    });
  });
});

describe("the provider of a new native translate job", () => {
  it("the first enabled provider that can honour every option, else the first that can translate, else none", () => {
    const pool = withVars({ PROVIDERS: "deepgram,openai,whisper-pool", POOL_MODELS: "large-v3-turbo" });
    expect(translatingProvider(pool, translate)).toBe("openai");
    // whisper-1 cannot label speakers; a multilingual pool can do both
    expect(translatingProvider(pool, { ...translate, speakerLabels: true })).toBe("whisper-pool");
    // nobody can do both: the first that translates (the job then fails with the speaker code there)
    const noPool = withVars({ PROVIDERS: "deepgram,openai" });
    expect(translatingProvider(noPool, { ...translate, speakerLabels: true })).toBe("openai");
    expect(translatingProvider(withVars({ PROVIDERS: "deepgram,whisper-pool", POOL_MODELS: "" }), translate)).toBe(
      null,
    );
    expect(translatingProvider(withVars({ PROVIDERS: "workers-ai" }), translate)).toBe("workers-ai");
  });
});

describe("failover candidates", () => {
  const vars = withVars({
    PROVIDERS: "whisper-pool,deepgram,openai",
    FAILOVER_CHAIN: "whisper-pool,deepgram,openai",
    POOL_MODELS: "large-v3-turbo",
  });

  it("a transcription fails over along the chain", () => {
    expect(failoverCandidates(vars, "whisper-pool", transcribe)).toEqual(["whisper-pool", "deepgram", "openai"]);
  });

  it("a translation never fails over to a provider that cannot translate", () => {
    expect(failoverCandidates(vars, "whisper-pool", translate)).toEqual(["whisper-pool", "openai"]);
    expect(failoverCandidates(vars, "whisper-pool", { task: "translate", model: null }).includes("deepgram")).toBe(
      false,
    );
  });

  it("a named model only fails over to a provider offering the same model id", () => {
    expect(failoverCandidates(vars, "whisper-pool", { task: "transcribe", model: "large-v3-turbo" })).toEqual([
      "whisper-pool",
    ]);
    const shared = withVars({
      PROVIDERS: "whisper-pool,openai",
      FAILOVER_CHAIN: "whisper-pool,openai",
      POOL_MODELS: "large-v3-turbo",
      OPENAI_MODELS: "large-v3-turbo",
    });
    expect(failoverCandidates(shared, "whisper-pool", { task: "transcribe", model: "large-v3-turbo" })).toEqual([
      "whisper-pool",
      "openai",
    ]);
  });
});
