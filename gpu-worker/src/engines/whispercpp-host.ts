/**
 * The whisper.cpp engine host: a child process that loads one model and runs a batch's windows in parallel
 * decoding states that share it. Started by `WhisperCppEngine` over an IPC channel.
 *
 * Why a separate process: whisper.cpp offers no way to interrupt a running decode, so a per-job timeout can only
 * really free the slot by killing the process; a native crash (a bad model file) takes down only the host; and the
 * pool's event loop never shares a process with the inference threads.
 */
import { createRequire } from "node:module";

import { type EngineSegment, type EngineWindowResult, meanLogprob, wordsFromTokens } from "./engine.ts";

/** The first message: what to load and how to decode. */
export interface HostLoadRequest {
  kind: "load";
  binding: "smart-whisper" | "fugood";
  modelPath: string;
  useGpu: boolean;
  /** Windows decoded at once (parallel states). */
  parallel: number;
  /** Threads per decoding state. */
  threads: number;
  /** Tokens per decode pass; 0 = whisper.cpp's own cap. */
  maxTokens: number;
  /** Temperature fallback step; 0 disables fallback (one greedy pass). */
  temperatureInc: number;
  bestOf: number;
}

/** One window to transcribe. */
export interface HostRunRequest {
  kind: "run";
  id: number;
  samples: Float32Array;
  durationMs: number;
  language: string | null;
  prompt: string | null;
  /** whisper.cpp's `translate` (into English; a no-op on English-only models, which the pool refuses earlier) */
  translate: boolean;
  /** initial temperature; null = 0 (greedy), the fallback steps from there */
  temperature: number | null;
  /** token timestamps, grouped into words */
  wordTimestamps: boolean;
}

export type HostRequest = HostLoadRequest | HostRunRequest;

export type HostReply =
  | { kind: "ready"; loadMs: number }
  | { kind: "load_failed"; message: string }
  | { kind: "result"; id: number; result: EngineWindowResult }
  | { kind: "error"; id: number; message: string };

/** The binding-specific part: one call per window, safe to call `parallel` times at once. */
interface LoadedModel {
  transcribe(request: HostRunRequest): Promise<EngineWindowResult>;
}

const send = (reply: HostReply): void => {
  process.send?.(reply);
};

let model: LoadedModel | null = null;

// the pool owns this process: when the pool goes away (even by SIGKILL), so does the host
process.on("disconnect", () => process.exit(0));

process.on("message", (message: HostRequest) => {
  if (message.kind === "load") {
    const started = performance.now();
    load(message).then(
      (loaded) => {
        model = loaded;
        send({ kind: "ready", loadMs: Math.round(performance.now() - started) });
      },
      (error: Error) => send({ kind: "load_failed", message: error.message }),
    );
    return;
  }
  if (!model) return send({ kind: "error", id: message.id, message: "the model is not loaded" });
  model.transcribe(message).then(
    (result) => send({ kind: "result", id: message.id, result }),
    (error: Error) => send({ kind: "error", id: message.id, message: error.message }),
  );
});

async function load(request: HostLoadRequest): Promise<LoadedModel> {
  return request.binding === "fugood" ? loadFugood(request) : loadSmartWhisper(request);
}

interface SmartWhisperSegment {
  from: number;
  to: number;
  text: string;
  lang?: string;
  /** with format "detail": every token with its probability (and its times in ms with token_timestamps) */
  tokens?: { text?: string; p: number; from?: number; to?: number }[];
}

interface SmartWhisperModule {
  WhisperModel: { load(file: string, gpu?: boolean): Promise<{ handle: unknown }> };
  binding: {
    transcribe(
      handle: unknown,
      pcm: Float32Array,
      params: Record<string, unknown>,
      finish: (results: SmartWhisperSegment[] | Error) => void,
      progress: (result: SmartWhisperSegment) => void,
    ): void;
  };
}

/**
 * smart-whisper: one `whisper_context` (the weights), and every `transcribe` call creates its own `whisper_state`
 * on a libuv worker thread, so calls made at once decode in parallel over the one loaded model.
 */
async function loadSmartWhisper(request: HostLoadRequest): Promise<LoadedModel> {
  const smartWhisper = createRequire(import.meta.url)("smart-whisper") as SmartWhisperModule;
  const loaded = await smartWhisper.WhisperModel.load(request.modelPath, request.useGpu);
  return {
    transcribe: (run) =>
      new Promise((resolve, reject) => {
        const params: Record<string, unknown> = {
          strategy: 0, // greedy: the binding defaults to beam search
          n_threads: request.threads,
          language: run.language ?? "auto",
          translate: run.translate,
          temperature: run.temperature ?? 0,
          temperature_inc: request.temperatureInc,
          best_of: request.bestOf,
          max_tokens: request.maxTokens,
          // never transcribe the right-padding: a padded window decodes exactly like the bare one
          duration_ms: run.durationMs,
          format: "detail",
        };
        if (run.prompt) params.initial_prompt = run.prompt;
        if (run.wordTimestamps) params.token_timestamps = true;
        smartWhisper.binding.transcribe(
          loaded.handle,
          run.samples,
          params,
          (results) => {
            // the binding reports a native failure by passing an Error to the same callback
            if (!Array.isArray(results)) return reject(results instanceof Error ? results : new Error(String(results)));
            const words = run.wordTimestamps
              ? wordsFromTokens(
                  results.flatMap((s) =>
                    (s.tokens ?? []).map((t) => ({
                      text: t.text ?? "",
                      startMs: t.from ?? s.from,
                      endMs: t.to ?? s.to,
                    })),
                  ),
                )
              : undefined;
            resolve({
              ...(words ? { words } : {}),
              segments: results.map((s): EngineSegment => {
                const avgLogprob = meanLogprob((s.tokens ?? []).map((t) => t.p));
                return {
                  startMs: s.from,
                  endMs: s.to,
                  text: s.text,
                  ...(avgLogprob !== undefined ? { avgLogprob } : {}),
                };
              }),
              language: results.find((s) => s.lang)?.lang ?? run.language,
            });
          },
          () => undefined,
        );
      }),
  };
}

interface FugoodContext {
  transcribeData(
    data: ArrayBuffer,
    options: Record<string, unknown>,
  ): {
    stop: () => void;
    promise: Promise<{ segments: { text: string; t0: number; t1: number }[]; language?: string }>;
  };
}

/**
 * @fugood/whisper.node (prebuilt, CUDA package for GPU nodes): each context serialises its calls behind a mutex,
 * so parallel decoding needs one context per slot; calls are queued in JavaScript so a completion never waits on
 * another call's mutex (which would block this process's event loop).
 */
async function loadFugood(request: HostLoadRequest): Promise<LoadedModel> {
  const specifier = process.env.FUGOOD_WHISPER_MODULE ?? "@fugood/whisper.node";
  type InitWhisper = (options: object, variant?: string) => Promise<FugoodContext>;
  let module: { initWhisper?: InitWhisper; default?: { initWhisper?: InitWhisper } };
  try {
    module = (await import(specifier)) as typeof module;
  } catch (error) {
    throw new Error(
      `WHISPER_BINDING=fugood needs the optional package ${specifier} (see docs/pool.md): ${(error as Error).message}`,
      { cause: error },
    );
  }
  const initWhisper = module.initWhisper ?? module.default?.initWhisper;
  if (!initWhisper) throw new Error(`${specifier} does not export initWhisper`);
  // the platform package to load: -cuda on GPU nodes unless FUGOOD_WHISPER_VARIANT says otherwise (e.g. vulkan)
  const variant = process.env.FUGOOD_WHISPER_VARIANT ?? (request.useGpu ? "cuda" : "default");
  const idle: FugoodContext[] = [];
  for (let i = 0; i < request.parallel; i++)
    idle.push(await initWhisper({ filePath: request.modelPath, useGpu: request.useGpu }, variant));
  const waiting: ((context: FugoodContext) => void)[] = [];
  const acquire = (): Promise<FugoodContext> => {
    const context = idle.pop();
    return context ? Promise.resolve(context) : new Promise((resolve) => waiting.push(resolve));
  };
  const release = (context: FugoodContext): void => {
    const next = waiting.shift();
    if (next) next(context);
    else idle.push(context);
  };
  return {
    async transcribe(run) {
      const context = await acquire();
      try {
        // this binding takes 16-bit PCM only
        const pcm16 = new Int16Array(run.samples.length);
        for (let i = 0; i < run.samples.length; i++) {
          const s = Math.max(-1, Math.min(1, run.samples[i]!));
          pcm16[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
        }
        const options: Record<string, unknown> = {
          language: run.language ?? "auto",
          maxThreads: request.threads,
          translate: run.translate,
          temperature: run.temperature ?? 0,
          temperatureInc: request.temperatureInc,
          bestOf: request.bestOf,
          duration: run.durationMs,
        };
        if (run.prompt) options.prompt = run.prompt;
        const { promise } = context.transcribeData(pcm16.buffer, options);
        const result = await promise;
        return {
          segments: result.segments.map((s) => ({ startMs: s.t0, endMs: s.t1, text: s.text })),
          language: result.language ?? run.language,
        };
      } finally {
        release(context);
      }
    },
  };
}
