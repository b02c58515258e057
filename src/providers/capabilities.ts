/**
 * What each provider can do with a job's options (pure: reads settings, never a binding). The OpenAI-compatible
 * routes use it to list model ids and to pick a translating provider, the native submit paths to route a
 * `task=translate` job (or refuse it); the consumer uses it to fail a job it cannot honour and to keep failover to
 * providers that can.
 *
 * The rules, per the vendors' documented APIs:
 * - translate: OpenAI (`/v1/audio/translations`, Whisper models only: not the gpt-4o transcribe models), Workers AI's
 *   whisper-large-v3-turbo (`task: "translate"`), and the pool when its model is multilingual. Deepgram never.
 * - model override: any id the provider lists (its configured model first, then the extra ids from settings).
 * - temperature: OpenAI and the pool; Deepgram and Workers AI take none and ignore it (a sampling hint, not a result).
 * - words: every provider; OpenAI and the pool only when asked (they cost time there).
 * - size: each provider takes audio up to its limit ({@link providerMaxAudioBytes}): OpenAI 25 MB (its documented
 *   upload limit; `OPENAI_MAX_AUDIO_BYTES` for a compatible server), Deepgram 2 GB, Workers AI 25 MiB (the binding
 *   takes the whole file base64-encoded in one JSON input, so the adapter must hold it), the pool
 *   `POOL_MAX_AUDIO_BYTES` (its `MAX_AUDIO_BYTES`). A job over a provider's limit never reaches it.
 * - speaker labels (diarization): Deepgram (`diarize=true`), OpenAI's `gpt-4o-transcribe-diarize` (`diarized_json`)
 *   and the pool (a pool without a diarization stage refuses the dispatch: the job fails `diarization_unavailable`).
 *   Workers AI never.
 * - multichannel (each channel one speaker): Deepgram natively (`multichannel=true`) and the pool (ffmpeg splits the
 *   channels, each is transcribed on its own, segments carry `ch0`, `ch1`, …: docs/pool.md "Multichannel jobs").
 *   OpenAI and Workers AI are handed one channel at a time by the edge, which splits PCM WAV only
 *   (src/domain/wav-channels.ts): other containers, or a WAV whose samples it cannot split, are
 *   `multichannel_unsupported` there, and each channel's mono WAV (not the whole file) is what their size limit judges.
 */
import { settings } from "../config.ts";
import type { Env } from "../env.ts";
import { isProviderName, parseProviderList } from "./enabled.ts";
import { parseList, providerCandidates } from "./failover.ts";
import type { ProviderName, TranscriptionTask } from "./types.ts";

export const OPENAI_DEFAULT_MODEL = "whisper-1";
export const DEEPGRAM_DEFAULT_MODEL = "nova-3";
export const WORKERS_AI_DEFAULT_MODEL = "@cf/openai/whisper-large-v3-turbo";
/**
 * The Workers AI Whisper models this adapter can call: they take base64 audio with `task`, `language` and
 * `initial_prompt`. (`@cf/openai/whisper` and `whisper-tiny-en` take a byte array and no options: not offered.)
 */
export const WORKERS_AI_WHISPER_MODELS = [WORKERS_AI_DEFAULT_MODEL] as const;

/**
 * Deepgram's documented limit for pre-recorded audio: 2 GB (taken as 2·10⁹ bytes, the smaller reading).
 */
export const DEEPGRAM_MAX_AUDIO_BYTES = 2_000_000_000;
/**
 * Workers AI's whisper-large-v3-turbo takes `audio` as one base64 string: the whole file, in memory, in one input.
 * Cloudflare documents no byte limit for it; 25 MiB (OpenAI's Whisper limit, ~34 MB of base64) bounds what the
 * adapter holds.
 */
export const WORKERS_AI_MAX_AUDIO_BYTES = 25 * 1024 * 1024;
/** The providers the edge hands a multichannel job one channel at a time (each its own transcription request). */
const EDGE_CHANNEL_SPLIT_PROVIDERS: ReadonlySet<string> = new Set(["openai", "workers-ai"]);
/** The containers the edge can split into channels (PCM WAV, src/domain/wav-channels.ts). */
export const EDGE_CHANNEL_SPLIT_FORMATS: ReadonlySet<string> = new Set(["wav"]);

/**
 * What the edge found when it read a multichannel WAV's header: the size of one channel's mono WAV (each channel the
 * same), or why its samples cannot be split.
 */
export type EdgeChannelSplit = { ok: true; channels: number; channelBytes: number } | { ok: false; reason: string };

/** OpenAI's diarizing model: `diarized_json` gives segments with speakers (no words, no prompt). */
export const OPENAI_DIARIZE_MODEL = "gpt-4o-transcribe-diarize";

/** OpenAI models that answer only `json`/`text` and have no translations route. */
const OPENAI_JSON_ONLY_MODELS = /^gpt-4o/;

/** The job options that decide where a job may run. */
export interface ProviderJobOptions {
  task: TranscriptionTask;
  /** the provider's model id the caller named, or null for its default */
  model: string | null;
  /** the stored audio's size in bytes; null or absent while unknown (an `audio_url` job not yet fetched) */
  bytes?: number | null;
  /** the job asked for speaker labels (diarization) */
  speakerLabels?: boolean;
  /** the job asked for each channel as one speaker */
  multichannel?: boolean;
  /** the stored audio's container (`wav`, `mp3`, …); null, absent or `pending` while unknown (audio by URL) */
  format?: string | null;
  /** a multichannel WAV's split, once its header was read; null or absent before */
  channelSplit?: EdgeChannelSplit | null;
}

/** What is known of a job's stored audio that routes a multichannel job: its container and, for a WAV, its split. */
export type StoredAudioFacts = Pick<ProviderJobOptions, "format" | "channelSplit">;

/** Why a provider cannot honour a job's options; `code` is the stable error code a job failed for it carries. */
export interface OptionsRefusal {
  code:
    | "translation_unsupported"
    | "provider_model_unavailable"
    | "audio_too_large_for_provider"
    | "diarization_unsupported"
    | "multichannel_unsupported";
  message: string;
}

/** Why no provider can take a new job (the routes answer 400 with it). */
export interface ProviderRefusal {
  code: OptionsRefusal["code"] | "provider_not_enabled";
  message: string;
}

const unique = (values: string[]): string[] => [...new Set(values.filter(Boolean))];

/** True for an OpenAI model that answers only `json` (no segments, no word timings, no translations). */
export function isOpenAIJsonOnlyModel(model: string): boolean {
  return OPENAI_JSON_ONLY_MODELS.test(model);
}

/**
 * English-only Whisper models by name: the `.en` checkpoints (`base.en`, `ggml-base.en.bin`) and the synthetic test
 * models other than `synthetic:*-multilingual` (they are built from tiny.en's vocabulary). They cannot translate.
 */
export function isEnglishOnlyPoolModel(model: string): boolean {
  return /\.en(\.bin)?$/i.test(model) || (model.startsWith("synthetic:") && !model.endsWith("-multilingual"));
}

/** Model ids a caller may name for this provider; the first is the one used when none is named. */
export function providerModels(env: Env, name: string): string[] {
  const configured = settings(env);
  switch (name) {
    case "openai":
      return unique([env.OPENAI_MODEL || OPENAI_DEFAULT_MODEL, ...configured.OPENAI_MODELS]);
    case "deepgram":
      return unique([env.DEEPGRAM_MODEL || DEEPGRAM_DEFAULT_MODEL, ...configured.DEEPGRAM_MODELS]);
    case "workers-ai":
      return unique([env.WORKERS_AI_MODEL || WORKERS_AI_DEFAULT_MODEL, ...WORKERS_AI_WHISPER_MODELS]);
    case "whisper-pool":
      // the pool's model is its own setting (WHISPER_MODEL): without POOL_MODELS the edge knows no name for it
      return configured.POOL_MODELS;
    default:
      return [];
  }
}

/** The model a job would run on: the one it names, or the provider's default (null when the edge knows none). */
export function effectiveModel(env: Env, name: string, model: string | null): string | null {
  return model ?? providerModels(env, name)[0] ?? null;
}

/** Whether this provider can translate into English, with the job's model (or its default). */
export function providerCanTranslate(env: Env, name: string, model: string | null = null): boolean {
  const chosen = effectiveModel(env, name, model);
  switch (name) {
    case "openai":
      return chosen !== null && !isOpenAIJsonOnlyModel(chosen);
    case "workers-ai":
      return chosen === WORKERS_AI_DEFAULT_MODEL;
    case "whisper-pool":
      // unknown model (no POOL_MODELS): not assumed to translate; the pool itself also refuses on an English-only model
      return chosen !== null && !isEnglishOnlyPoolModel(chosen);
    default:
      return false;
  }
}

/** The largest audio (bytes) the provider takes; null for a name that is no provider. */
export function providerMaxAudioBytes(env: Env, name: string): number | null {
  switch (name) {
    case "openai":
      return settings(env).OPENAI_MAX_AUDIO_BYTES;
    case "deepgram":
      return DEEPGRAM_MAX_AUDIO_BYTES;
    case "workers-ai":
      return WORKERS_AI_MAX_AUDIO_BYTES;
    case "whisper-pool":
      return settings(env).POOL_MAX_AUDIO_BYTES;
    default:
      return null;
  }
}

/** The refusal for audio over the provider's limit (naming the limit), or null when it fits or the size is unknown. */
export function checkAudioSize(env: Env, name: string, bytes: number | null | undefined): OptionsRefusal | null {
  const limit = providerMaxAudioBytes(env, name);
  if (bytes === null || bytes === undefined || limit === null || bytes <= limit) return null;
  return {
    code: "audio_too_large_for_provider",
    message: `the audio (${bytes} bytes) is over provider ${name}'s limit of ${limit} bytes`,
  };
}

/** Whether this provider can label speakers, with the job's model (or its default). */
export function providerCanDiarize(env: Env, name: string, model: string | null = null): boolean {
  switch (name) {
    case "deepgram":
    case "whisper-pool":
      return true;
    case "openai":
      return effectiveModel(env, name, model) === OPENAI_DIARIZE_MODEL;
    default:
      return false;
  }
}

/** Whether this provider can transcribe each channel on its own (Deepgram natively, the pool with ffmpeg). */
export function providerCanSplitChannels(name: string): boolean {
  return name === "deepgram" || name === "whisper-pool";
}

/** Whether the edge splits a multichannel job's channels for this provider (it cannot split them itself). */
export function providerSplitsChannelsAtEdge(name: string): boolean {
  return !providerCanSplitChannels(name) && EDGE_CHANNEL_SPLIT_PROVIDERS.has(name);
}

const knownFormat = (format: string | null | undefined): format is string => !!format && format !== "pending";

/**
 * Whether the provider can take a multichannel job: natively, or one channel at a time when the edge can split the
 * audio (PCM WAV; an unknown container is judged once it is known). Null when it can.
 */
export function checkChannelSplit(name: string, options: ProviderJobOptions): OptionsRefusal | null {
  if (providerCanSplitChannels(name)) return null;
  const code = "multichannel_unsupported";
  if (!providerSplitsChannelsAtEdge(name))
    return { code, message: `provider ${name} cannot transcribe channels separately` };
  const why = `provider ${name} is handed one channel at a time, and the edge splits channels of PCM WAV only`;
  if (knownFormat(options.format) && !EDGE_CHANNEL_SPLIT_FORMATS.has(options.format))
    return { code, message: `${why}: this audio is ${options.format}` };
  if (options.channelSplit?.ok === false) return { code, message: `${why}: ${options.channelSplit.reason}` };
  return null;
}

/**
 * The bytes this provider would be sent: one channel's mono WAV when the edge splits a multichannel job for it (so
 * a 40 MB stereo WAV is two 20 MB requests, each within OpenAI's 25 MB), otherwise the whole audio.
 */
export function providerAudioBytes(name: string, options: ProviderJobOptions): number | null | undefined {
  const split = options.multichannel && providerSplitsChannelsAtEdge(name) ? options.channelSplit : null;
  return split?.ok ? split.channelBytes : options.bytes;
}

/** Whether the provider passes a temperature on (the others ignore it). */
export function providerTakesTemperature(name: string): boolean {
  return name === "openai" || name === "whisper-pool";
}

/**
 * Whether the provider can honour the job's task and model; null when it can. Enablement is not checked here (a job
 * already created keeps its provider).
 */
export function checkProviderOptions(env: Env, name: string, options: ProviderJobOptions): OptionsRefusal | null {
  if (options.model !== null && !providerModels(env, name).includes(options.model)) {
    return {
      code: "provider_model_unavailable",
      message: `provider ${name} does not offer model ${options.model}`,
    };
  }
  if (options.task === "translate" && !providerCanTranslate(env, name, options.model)) {
    const model = effectiveModel(env, name, options.model);
    return {
      code: "translation_unsupported",
      message: model ? `provider ${name} cannot translate with model ${model}` : `provider ${name} cannot translate`,
    };
  }
  if (options.speakerLabels && !providerCanDiarize(env, name, options.model)) {
    const model = effectiveModel(env, name, options.model);
    return {
      code: "diarization_unsupported",
      message: model
        ? `provider ${name} cannot label speakers with model ${model}`
        : `provider ${name} cannot label speakers`,
    };
  }
  if (options.multichannel) {
    const refusal = checkChannelSplit(name, options);
    if (refusal) return refusal;
  }
  return checkAudioSize(env, name, providerAudioBytes(name, options));
}

/**
 * The provider a new native job goes to when it names none: the first enabled provider that can honour its options,
 * else the first enabled one (the default), where a job it cannot honour fails with its code; null when none is
 * enabled. Without speaker options every provider can, so this is the default provider, as before. A multichannel
 * job whose container is not known yet (audio by URL, a resumable upload) prefers a provider that splits any
 * container itself over one the edge can split for only when it is WAV.
 */
export function preferredProvider(env: Env, options: ProviderJobOptions): ProviderName | null {
  const enabled = parseProviderList(env);
  const capable = enabled.filter((name) => checkProviderOptions(env, name, options) === null);
  const native = options.multichannel && !knownFormat(options.format) ? capable.find(providerCanSplitChannels) : null;
  return native ?? capable[0] ?? enabled[0] ?? null;
}

/**
 * The provider a new native translate job goes to when it names none: the first enabled provider that can honour all
 * its options, else the first enabled one that can translate (where a job whose speaker options it cannot honour then
 * fails with that code, as a transcription would); null when no enabled provider can translate.
 */
export function translatingProvider(env: Env, options: ProviderJobOptions): ProviderName | null {
  const enabled = parseProviderList(env);
  return (
    enabled.find((name) => checkProviderOptions(env, name, options) === null) ??
    enabled.find((name) => providerCanTranslate(env, name, options.model)) ??
    null
  );
}

/** Outcome of {@link resolveProvider}. */
export type ProviderResolution = { ok: true; provider: ProviderName } | { ok: false; refusal: ProviderRefusal };

/**
 * The provider a new job goes to. A named provider must be enabled and able to honour the options (a 400 for the
 * caller otherwise, e.g. "provider deepgram cannot translate"); without one, the first enabled provider in
 * `PROVIDERS` order that can.
 */
export function resolveProvider(env: Env, requested: string | null, options: ProviderJobOptions): ProviderResolution {
  const enabled = parseProviderList(env);
  if (requested !== null) {
    if (!isProviderName(requested) || !enabled.includes(requested)) {
      return { ok: false, refusal: { code: "provider_not_enabled", message: `provider ${requested} is not enabled` } };
    }
    const refusal = checkProviderOptions(env, requested, options);
    return refusal ? { ok: false, refusal } : { ok: true, provider: requested };
  }
  const provider = enabled.find((name) => checkProviderOptions(env, name, options) === null);
  if (provider) return { ok: true, provider };
  if (enabled.length === 0) {
    return { ok: false, refusal: { code: "provider_not_enabled", message: "no provider is enabled" } };
  }
  const modelOffered =
    options.model === null || enabled.some((name) => providerModels(env, name).includes(options.model!));
  if (options.task !== "translate" && modelOffered && (options.speakerLabels || options.multichannel)) {
    return {
      ok: false,
      refusal: options.speakerLabels
        ? { code: "diarization_unsupported", message: "no enabled provider can label speakers" }
        : { code: "multichannel_unsupported", message: "no enabled provider can transcribe channels separately" },
    };
  }
  return {
    ok: false,
    refusal:
      options.model !== null
        ? { code: "provider_model_unavailable", message: `no enabled provider offers model ${options.model}` }
        : { code: "translation_unsupported", message: "no enabled provider can translate" },
  };
}

/**
 * The providers a job may run on, in order: its own (unless the audio is over its size limit), then those after it
 * in `FAILOVER_CHAIN` that are enabled and can honour its options. A translate job never fails over to a provider
 * that cannot translate, a job that names a model only to providers offering that same model id (its model never
 * changes silently), and no job to a provider whose size limit it exceeds. Empty when the audio fits nobody.
 */
export function failoverCandidates(env: Env, jobProvider: string, options: ProviderJobOptions): string[] {
  const [own, ...others] = providerCandidates(jobProvider, parseList(env.FAILOVER_CHAIN), parseProviderList(env));
  const fitting = checkAudioSize(env, own!, providerAudioBytes(own!, options)) === null ? [own!] : [];
  return [...fitting, ...others.filter((name) => checkProviderOptions(env, name, options) === null)];
}
