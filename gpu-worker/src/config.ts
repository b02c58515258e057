/**
 * Pool settings: every limit is a named, documented setting (docs/pool.md lists them with their env vars).
 * `poolOptionsFromEnv` is the only place that reads environment variables.
 */
import os from "node:os";
import path from "node:path";

import { MAX_MEDIA_SECONDS, parseAllowedHosts, parseKeyRing, type SigningKey } from "@vtt/pool-contract";

import type { LogLevel } from "./log.ts";

/** The listen address unless HOST says otherwise: loopback, so nothing is exposed by accident. */
export const DEFAULT_HOST = "127.0.0.1";
/** A metrics token shorter than this is refused (it guards queue depths and job counts from the network). */
const MIN_METRICS_TOKEN_LENGTH = 16;

/** True for an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Where downloaded and generated models are cached unless MODEL_CACHE_DIR says otherwise. */
export const DEFAULT_MODEL_CACHE_DIR = path.resolve(import.meta.dirname, "../.cache/models");

export type EngineKind = "whispercpp" | "openai-compatible";
export type WhisperBinding = "smart-whisper" | "fugood";

/** Everything a pool needs; {@link resolvePoolSettings} fills the defaults. */
export interface PoolSettings {
  /**
   * HTTP listen address; port 0 picks a free port. Loopback by default: a deployment that must be reached from
   * outside (the Dockerfiles, the K8s manifests) sets `0.0.0.0` explicitly.
   */
  host: string;
  port: number;
  /**
   * Bearer token `GET /metrics` requires. Without one, `/metrics` is served only while the pool listens on a
   * loopback address (anything else answers 403 `metrics_token_required`).
   */
  metricsToken: string | null;
  redisUrl: string;
  /** BullMQ key prefix and queue names (several pools can share one Redis with different prefixes). */
  queuePrefix: string;
  /** Verifies dispatches from the edge (edge's POOL_SIGNING_KEYS). */
  bridgeKeys: SigningKey[];
  /** Signs callbacks to the edge (edge's POOL_CALLBACK_KEYS); the first key signs. */
  callbackKeys: SigningKey[];
  signatureToleranceSeconds: number;

  engine: EngineKind;
  whisperBinding: WhisperBinding;
  /** A file path, a catalog name (`base.en`) or `synthetic:mini` / `synthetic:tiny`. */
  whisperModel: string;
  modelCacheDir: string;
  /** Download a catalog model at startup when it is not cached. */
  modelAutoFetch: boolean;
  /** Threads per decoding state. */
  whisperThreads: number;
  /** Tokens per decode pass (0 = whisper.cpp's own cap). */
  whisperMaxTokens: number;
  /** Temperature fallback step (0 = a single greedy pass). */
  whisperTemperatureInc: number;
  whisperBestOf: number;
  whisperUseGpu: boolean;

  openaiBaseUrl: string;
  openaiApiKey: string;
  openaiModel: string;
  openaiRequestTimeoutMs: number;
  openaiWordTimestamps: boolean;
  /** How long start waits for the engine (server) to become ready. */
  engineStartTimeoutMs: number;

  /** Windows run through the engine together. */
  batchSize: number;
  /** Longest wait after the first window before a partial batch runs. */
  batchWaitMs: number;
  /** Longest window, ≤ 30 s. */
  windowSeconds: number;
  /** Jobs one process holds at once (fetching, decoding, waiting for a batch). */
  jobConcurrency: number;
  /**
   * `stream`: windows go to the scheduler as ffmpeg decodes them, a job holding at most `jobWindowsInFlight`
   * (memory flat in the audio's length). `whole`: the earlier path, the whole decoded file in memory and every
   * window queued at once (kept for comparison, docs/benchmarks.md).
   */
  decodeMode: "stream" | "whole";
  /**
   * Stream mode: windows one job holds at once (queued or running). ≥ `batchSize` lets one long job fill batches
   * with its own windows (intra-job batching); the default, 2 × `batchSize`, also has the next batch decoded while
   * one runs. 1 runs a job's windows one after another, so batches form only across jobs.
   */
  jobWindowsInFlight: number;
  /**
   * Stream mode: a full garbage collection runs once the process's ArrayBuffer memory has grown this many MiB past
   * what the previous collection left (batch/garbage-limit.ts); 0 leaves it to V8, which waits for about 64 MiB.
   */
  gcSlackMib: number;
  /** Largest share of time (percent) those collections may take; past it the garbage waits (V8's own pace at worst). */
  gcMaxSharePercent: number;
  /** Whole-job limit (fetch, decode, inference); the job then fails with `timeout`. */
  jobTimeoutMs: number;
  /** BullMQ attempts for retryable failures, and the first backoff delay (doubling). */
  jobAttempts: number;
  jobBackoffMs: number;
  /** BullMQ lock: a worker that dies mid-job loses its jobs to another after about this long. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;

  maxAudioBytes: number;
  maxAudioSeconds: number;
  audioFetchTimeoutMs: number;
  /**
   * Hosts (`host` or `host:port`, comma separated) the pool may fetch audio from although they are private
   * addresses or use a non-default port: the edge's host when it is not a public https URL.
   */
  audioFetchAllowedHosts: string;
  /**
   * A local setup (`npm start`, tests): audio may come over http from localhost / 127.0.0.1. Defaults to true exactly
   * when the pool itself listens on loopback; a pool reachable from outside fetches only public https URLs.
   */
  audioFetchLocal: boolean;
  ffmpegPath: string;
  /** ffprobe, for the channel count of a multichannel job's audio. */
  ffprobePath: string;
  /** Most channels a multichannel job's audio may have (each is decoded and transcribed on its own). */
  maxAudioChannels: number;
  /** Redactions (`POST /v1/redactions`) run at once; more answer 503 `redaction_busy`. */
  maxConcurrentRedactions: number;
  /** Limit of one redacted copy's upload PUT to the edge. */
  redactionUploadTimeoutMs: number;

  callbackAttempts: number;
  callbackBackoffMs: number;
  callbackBackoffCapMs: number;
  callbackTimeoutMs: number;

  /** SIGTERM: how long the batch in flight may take to finish before the process exits anyway. */
  shutdownTimeoutMs: number;
  logLevel: LogLevel;

  /**
   * The diarization stage (src/diarization/): both models set = speaker-label jobs are accepted; both empty = such
   * jobs fail with `diarization_unavailable`. A `.onnx` path, a catalog name or `synthetic:tones`.
   */
  diarizationSegmentationModel: string;
  diarizationEmbeddingModel: string;
  /** Operator-supplied SHA-256 of a catalog download (required where the catalog has none). */
  diarizationSegmentationSha256: string;
  diarizationEmbeddingSha256: string;
  /** ONNX Runtime threads of each diarization model. */
  diarizationThreads: number;
  /** Clustering's cosine-distance threshold when a job gives no exact speaker count. */
  diarizationThreshold: number;
  /** Longest audio a speaker-label job may have (the host holds 16 kHz float: 230 MB per hour) → `diarization_too_long`. */
  maxDiarizationSeconds: number;
}

/** What `startPool` accepts: the required settings plus any overrides. */
export type PoolOptions = Pick<PoolSettings, "redisUrl" | "bridgeKeys" | "callbackKeys"> & Partial<PoolSettings>;

const MIB = 1024 * 1024;

/** Applies defaults and checks ranges; throws a {@link ConfigError} listing every problem. */
export function resolvePoolSettings(options: PoolOptions): PoolSettings {
  const batchSize = options.batchSize ?? 4;
  const settings: PoolSettings = {
    host: DEFAULT_HOST,
    port: 8788,
    metricsToken: null,
    queuePrefix: "vtt",
    signatureToleranceSeconds: 300,
    engine: "whispercpp",
    whisperBinding: "smart-whisper",
    whisperModel: "synthetic:mini",
    modelCacheDir: DEFAULT_MODEL_CACHE_DIR,
    modelAutoFetch: true,
    // parallel states split the cores between them
    whisperThreads: Math.max(1, Math.floor(os.availableParallelism() / batchSize)),
    whisperMaxTokens: 0,
    whisperTemperatureInc: 0.2,
    whisperBestOf: 5,
    whisperUseGpu: false,
    openaiBaseUrl: "http://127.0.0.1:8000/v1",
    openaiApiKey: "not-needed",
    openaiModel: "openai/whisper-large-v3-turbo",
    openaiRequestTimeoutMs: 300_000,
    openaiWordTimestamps: false,
    engineStartTimeoutMs: 600_000,
    batchSize,
    batchWaitMs: 50,
    windowSeconds: 30,
    jobConcurrency: batchSize * 2,
    decodeMode: "stream",
    jobWindowsInFlight: batchSize * 2,
    gcSlackMib: 16,
    gcMaxSharePercent: 5,
    jobTimeoutMs: 600_000,
    jobAttempts: 3,
    jobBackoffMs: 5_000,
    lockDurationMs: 30_000,
    stalledIntervalMs: 30_000,
    maxStalledCount: 2,
    maxAudioBytes: 500 * MIB,
    maxAudioSeconds: 4 * 3600,
    audioFetchTimeoutMs: 30_000,
    audioFetchAllowedHosts: "",
    ffmpegPath: "ffmpeg",
    ffprobePath: "ffprobe",
    maxAudioChannels: 8,
    maxConcurrentRedactions: 2,
    redactionUploadTimeoutMs: 600_000,
    callbackAttempts: 500,
    callbackBackoffMs: 1_000,
    callbackBackoffCapMs: 300_000,
    callbackTimeoutMs: 10_000,
    shutdownTimeoutMs: 120_000,
    logLevel: "info",
    diarizationSegmentationModel: "",
    diarizationEmbeddingModel: "",
    diarizationSegmentationSha256: "",
    diarizationEmbeddingSha256: "",
    diarizationThreads: 1,
    diarizationThreshold: 0.5,
    maxDiarizationSeconds: 2 * 3600,
    ...withoutUndefined(options),
  } as PoolSettings;
  settings.audioFetchLocal ??= isLoopbackHost(settings.host);
  const problems: string[] = [];
  const int = (name: keyof PoolSettings, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const value = settings[name];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer between ${min} and ${max} (got ${String(value)})`);
    }
  };
  if (!settings.redisUrl) problems.push("redisUrl (REDIS_URL) is required");
  if (settings.bridgeKeys.length === 0) problems.push("bridgeKeys (BRIDGE_KEYS) needs at least one kid:secret");
  if (settings.callbackKeys.length === 0) problems.push("callbackKeys (CALLBACK_KEYS) needs at least one kid:secret");
  if (!["whispercpp", "openai-compatible"].includes(settings.engine))
    problems.push(`engine must be whispercpp or openai-compatible (got ${settings.engine})`);
  if (!["smart-whisper", "fugood"].includes(settings.whisperBinding))
    problems.push(`whisperBinding must be smart-whisper or fugood (got ${settings.whisperBinding})`);
  try {
    parseAllowedHosts(settings.audioFetchAllowedHosts, false);
  } catch (error) {
    problems.push(`audioFetchAllowedHosts (AUDIO_FETCH_ALLOWED_HOSTS): ${(error as Error).message}`);
  }
  if (settings.metricsToken !== null && settings.metricsToken.length < MIN_METRICS_TOKEN_LENGTH) {
    problems.push(`metricsToken (METRICS_TOKEN) must be at least ${MIN_METRICS_TOKEN_LENGTH} characters`);
  }
  int("port", 0, 65535);
  int("batchSize", 1, 64);
  int("batchWaitMs", 0, 60_000);
  int("jobConcurrency", 1, 1024);
  int("jobWindowsInFlight", 1, 1024);
  int("gcSlackMib", 0, 4096);
  int("gcMaxSharePercent", 1, 100);
  if (!["stream", "whole"].includes(settings.decodeMode))
    problems.push(`decodeMode must be stream or whole (got ${String(settings.decodeMode)})`);
  int("whisperThreads", 1, 256);
  int("whisperMaxTokens", 0, 448);
  int("whisperBestOf", 1, 10);
  int("jobTimeoutMs", 100);
  int("jobAttempts", 1, 100);
  int("jobBackoffMs", 0);
  int("lockDurationMs", 500);
  int("stalledIntervalMs", 100);
  int("maxStalledCount", 0, 100);
  int("maxAudioBytes", 1);
  int("maxAudioChannels", 1, 32);
  int("audioFetchTimeoutMs", 100);
  int("maxConcurrentRedactions", 1, 64);
  int("redactionUploadTimeoutMs", 100);
  int("callbackAttempts", 1);
  int("callbackBackoffMs", 0);
  int("callbackBackoffCapMs", 0);
  int("callbackTimeoutMs", 100);
  int("signatureToleranceSeconds", 1);
  if (!(settings.windowSeconds >= 2 && settings.windowSeconds <= 30))
    problems.push("windowSeconds must be between 2 and 30");
  // the contract bounds every time in a callback to MAX_MEDIA_SECONDS: longer audio could never be delivered
  if (!(settings.maxAudioSeconds > 0 && settings.maxAudioSeconds <= MAX_MEDIA_SECONDS)) {
    problems.push(`maxAudioSeconds must be positive and at most ${MAX_MEDIA_SECONDS} (the contract's 7 days)`);
  }
  if (!settings.diarizationSegmentationModel.trim() !== !settings.diarizationEmbeddingModel.trim())
    problems.push("diarizationSegmentationModel and diarizationEmbeddingModel are set together or not at all");
  int("diarizationThreads", 1, 64);
  if (!(settings.diarizationThreshold > 0 && settings.diarizationThreshold < 2))
    problems.push("diarizationThreshold must be between 0 and 2 (a cosine distance)");
  if (!(settings.maxDiarizationSeconds > 0 && settings.maxDiarizationSeconds <= MAX_MEDIA_SECONDS))
    problems.push(`maxDiarizationSeconds must be positive and at most ${MAX_MEDIA_SECONDS}`);
  if (!(settings.whisperTemperatureInc >= 0 && settings.whisperTemperatureInc <= 1))
    problems.push("whisperTemperatureInc must be between 0 and 1");
  if (settings.jobConcurrency < settings.batchSize)
    problems.push("jobConcurrency must be at least batchSize, or batches never fill");
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}

/** Invalid settings, every problem listed. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`invalid pool settings:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Environment variable → setting (docs/pool.md documents each). */
const ENV_SETTINGS: Record<string, [keyof PoolSettings, "string" | "number" | "boolean"]> = {
  HOST: ["host", "string"],
  PORT: ["port", "number"],
  METRICS_TOKEN: ["metricsToken", "string"],
  REDIS_URL: ["redisUrl", "string"],
  QUEUE_PREFIX: ["queuePrefix", "string"],
  SIGNATURE_TOLERANCE_SECONDS: ["signatureToleranceSeconds", "number"],
  ENGINE: ["engine", "string"],
  WHISPER_BINDING: ["whisperBinding", "string"],
  WHISPER_MODEL: ["whisperModel", "string"],
  MODEL_CACHE_DIR: ["modelCacheDir", "string"],
  MODEL_AUTO_FETCH: ["modelAutoFetch", "boolean"],
  WHISPER_THREADS: ["whisperThreads", "number"],
  WHISPER_MAX_TOKENS: ["whisperMaxTokens", "number"],
  WHISPER_TEMPERATURE_INC: ["whisperTemperatureInc", "number"],
  WHISPER_BEST_OF: ["whisperBestOf", "number"],
  WHISPER_USE_GPU: ["whisperUseGpu", "boolean"],
  OPENAI_BASE_URL: ["openaiBaseUrl", "string"],
  OPENAI_API_KEY: ["openaiApiKey", "string"],
  OPENAI_MODEL: ["openaiModel", "string"],
  OPENAI_REQUEST_TIMEOUT_MS: ["openaiRequestTimeoutMs", "number"],
  OPENAI_WORD_TIMESTAMPS: ["openaiWordTimestamps", "boolean"],
  ENGINE_START_TIMEOUT_MS: ["engineStartTimeoutMs", "number"],
  BATCH_SIZE: ["batchSize", "number"],
  BATCH_WAIT_MS: ["batchWaitMs", "number"],
  WINDOW_SECONDS: ["windowSeconds", "number"],
  JOB_CONCURRENCY: ["jobConcurrency", "number"],
  DECODE_MODE: ["decodeMode", "string"],
  JOB_WINDOWS_IN_FLIGHT: ["jobWindowsInFlight", "number"],
  GC_SLACK_MIB: ["gcSlackMib", "number"],
  GC_MAX_SHARE_PERCENT: ["gcMaxSharePercent", "number"],
  JOB_TIMEOUT_MS: ["jobTimeoutMs", "number"],
  JOB_ATTEMPTS: ["jobAttempts", "number"],
  JOB_BACKOFF_MS: ["jobBackoffMs", "number"],
  LOCK_DURATION_MS: ["lockDurationMs", "number"],
  STALLED_INTERVAL_MS: ["stalledIntervalMs", "number"],
  MAX_STALLED_COUNT: ["maxStalledCount", "number"],
  MAX_AUDIO_BYTES: ["maxAudioBytes", "number"],
  MAX_AUDIO_SECONDS: ["maxAudioSeconds", "number"],
  AUDIO_FETCH_TIMEOUT_MS: ["audioFetchTimeoutMs", "number"],
  AUDIO_FETCH_ALLOWED_HOSTS: ["audioFetchAllowedHosts", "string"],
  AUDIO_FETCH_LOCAL: ["audioFetchLocal", "boolean"],
  FFMPEG_PATH: ["ffmpegPath", "string"],
  FFPROBE_PATH: ["ffprobePath", "string"],
  MAX_AUDIO_CHANNELS: ["maxAudioChannels", "number"],
  MAX_CONCURRENT_REDACTIONS: ["maxConcurrentRedactions", "number"],
  REDACTION_UPLOAD_TIMEOUT_MS: ["redactionUploadTimeoutMs", "number"],
  CALLBACK_ATTEMPTS: ["callbackAttempts", "number"],
  CALLBACK_BACKOFF_MS: ["callbackBackoffMs", "number"],
  CALLBACK_BACKOFF_CAP_MS: ["callbackBackoffCapMs", "number"],
  CALLBACK_TIMEOUT_MS: ["callbackTimeoutMs", "number"],
  SHUTDOWN_TIMEOUT_MS: ["shutdownTimeoutMs", "number"],
  LOG_LEVEL: ["logLevel", "string"],
  DIARIZATION_SEGMENTATION_MODEL: ["diarizationSegmentationModel", "string"],
  DIARIZATION_EMBEDDING_MODEL: ["diarizationEmbeddingModel", "string"],
  DIARIZATION_SEGMENTATION_SHA256: ["diarizationSegmentationSha256", "string"],
  DIARIZATION_EMBEDDING_SHA256: ["diarizationEmbeddingSha256", "string"],
  DIARIZATION_THREADS: ["diarizationThreads", "number"],
  DIARIZATION_THRESHOLD: ["diarizationThreshold", "number"],
  MAX_DIARIZATION_SECONDS: ["maxDiarizationSeconds", "number"],
};

/** The environment variables {@link poolOptionsFromEnv} reads (plus BRIDGE_KEYS and CALLBACK_KEYS). */
export const POOL_ENV_VARS = ["BRIDGE_KEYS", "CALLBACK_KEYS", ...Object.keys(ENV_SETTINGS)];

/** True when both diarization models are set: the pool runs the diarization stage. */
export function diarizationConfigured(
  settings: Pick<PoolSettings, "diarizationSegmentationModel" | "diarizationEmbeddingModel">,
): boolean {
  return settings.diarizationSegmentationModel.trim() !== "" && settings.diarizationEmbeddingModel.trim() !== "";
}

/** Reads pool options from environment variables; malformed numbers and booleans are reported, not guessed. */
export function poolOptionsFromEnv(env: NodeJS.ProcessEnv): PoolOptions {
  const problems: string[] = [];
  const options: Partial<PoolSettings> = {};
  for (const [name, [key, type]] of Object.entries(ENV_SETTINGS)) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === "") continue;
    if (type === "string") (options as Record<string, unknown>)[key] = raw;
    else if (type === "number") {
      const value = Number(raw);
      if (Number.isFinite(value)) (options as Record<string, unknown>)[key] = value;
      else problems.push(`${name} must be a number (got "${raw}")`);
    } else if (/^(1|true|yes|on)$/i.test(raw)) (options as Record<string, unknown>)[key] = true;
    else if (/^(0|false|no|off)$/i.test(raw)) (options as Record<string, unknown>)[key] = false;
    else problems.push(`${name} must be true or false (got "${raw}")`);
  }
  const ring = (name: string): SigningKey[] => {
    try {
      return parseKeyRing(env[name]);
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
      return [];
    }
  };
  const bridgeKeys = ring("BRIDGE_KEYS");
  const callbackKeys = ring("CALLBACK_KEYS");
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...options, redisUrl: options.redisUrl ?? "", bridgeKeys, callbackKeys };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
