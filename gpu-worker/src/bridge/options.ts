/**
 * Whether the pool can honour a dispatch's options (pure): the model it names must be the one this pool serves, a
 * translate task needs a multilingual model, and speaker labels need the diarization models (multichannel needs nothing
 * more: every pool splits channels with ffmpeg, queue/process-job.ts). The bridge refuses at submit (400 with the
 * code); the job processor checks again for dispatches accepted while the model was still loading.
 */
import type { Dispatch } from "@vtt/pool-contract";

import type { PoolSettings } from "../config.ts";
import type { EngineDescription } from "../engines/engine.ts";

/** A refusal's stable code (docs/pool-contract.md §1) and a message for the edge. */
export interface OptionsRefusal {
  code: "model_unavailable" | "translation_unsupported" | "diarization_unavailable" | "multichannel_unsupported";
  detail: string;
}

/**
 * The names a dispatch may use for this pool's model: `WHISPER_MODEL` as configured (`base.en`, `synthetic:mini`,
 * a path) and the loaded model's name (`ggml-base.en`); for the OpenAI-compatible engine, its `OPENAI_MODEL`.
 */
export function servedModelNames(
  settings: Pick<PoolSettings, "engine" | "whisperModel" | "openaiModel">,
  engine: EngineDescription | null,
): string[] {
  const configured = settings.engine === "openai-compatible" ? settings.openaiModel : settings.whisperModel.trim();
  return [...new Set([configured, ...(engine ? [engine.model] : [])])];
}

/**
 * Null when the pool can run the dispatch; `engine` null = still loading (translation is then checked later).
 * `diarization`: whether this pool has the diarization stage (src/diarization/; at submit: configured, in the
 * processor: loaded).
 */
export function refuseOptions(
  dispatch: Pick<Dispatch, "model" | "task"> & Partial<Pick<Dispatch, "speakers">>,
  names: readonly string[],
  engine: EngineDescription | null,
  diarization = false,
): OptionsRefusal | null {
  // without the diarization models a speaker-labels job is refused at once, never transcribed without labels
  if (dispatch.speakers?.labels && !diarization) {
    return {
      code: "diarization_unavailable",
      detail: "This pool has no speaker-diarization models installed; it cannot label speakers.",
    };
  }
  if (dispatch.model !== null && !names.includes(dispatch.model)) {
    return {
      code: "model_unavailable",
      detail: `This pool serves ${names.join(" / ")}, not ${dispatch.model}.`,
    };
  }
  if (dispatch.task === "translate" && engine && !engine.translates) {
    return {
      code: "translation_unsupported",
      detail: `The pool's model ${engine.model} is English-only and cannot translate.`,
    };
  }
  return null;
}
