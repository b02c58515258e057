/**
 * Stitching a job's window results back into one transcript (pure): window-relative times become job times,
 * clamped to the window so engine quirks (segments past the audio's end) never leak out.
 */
import { isSupportedLanguage } from "@vtt/pool-contract";

import { SAMPLE_RATE } from "../audio/windows.ts";
import type { EngineWindowResult } from "../engines/engine.ts";

/** A segment of the final result, in seconds from the start of the job's audio. */
export interface ResultSegment {
  start: number;
  end: number;
  text: string;
  /** Whisper's signals, under the edge contract's names (docs/pool-contract.md) */
  avg_logprob?: number;
  no_speech_prob?: number;
  /** speaker-label jobs: the diarizer's speaker (src/diarization/assign.ts); multichannel jobs: the channel's (batch/channels.ts) */
  speaker?: string;
}

/** A word of the final result, in seconds. */
export interface ResultWord {
  start: number;
  end: number;
  word: string;
  /** as on the segment */
  speaker?: string;
}

/** The transcript part of a completed callback. */
export interface StitchedTranscript {
  text: string;
  segments: ResultSegment[];
  words?: ResultWord[];
  language: string | null;
}

/** Where a window sits in the job's audio. */
export interface WindowPlacement {
  startSample: number;
  sampleCount: number;
}

/**
 * Joins per-window results in window order. `windows[i]` places `results[i]`.
 * Times are rounded to milliseconds; empty segments (after trimming) are dropped.
 */
export function stitchWindows(
  windows: WindowPlacement[],
  results: EngineWindowResult[],
  requestedLanguage: string | null,
): StitchedTranscript {
  if (windows.length !== results.length) throw new Error("every window needs exactly one result");
  const segments: ResultSegment[] = [];
  const words: ResultWord[] = [];
  let sawWords = false;
  let language: string | null = null;
  results.forEach((result, i) => {
    const window = windows[i]!;
    const offsetMs = (window.startSample / SAMPLE_RATE) * 1000;
    const lengthMs = (window.sampleCount / SAMPLE_RATE) * 1000;
    const place = (startMs: number, endMs: number): { start: number; end: number } => {
      const start = clamp(startMs, 0, lengthMs);
      const end = clamp(Math.max(endMs, startMs), 0, lengthMs);
      return { start: toSeconds(offsetMs + start), end: toSeconds(offsetMs + end) };
    };
    // the contract carries codes from its language list only: a detected language outside it counts as unknown
    if (language === null && isSupportedLanguage(result.language)) language = result.language;
    for (const segment of result.segments) {
      const text = segment.text.trim();
      if (text) {
        segments.push({
          ...place(segment.startMs, segment.endMs),
          text,
          ...(segment.avgLogprob !== undefined ? { avg_logprob: Number(segment.avgLogprob.toFixed(4)) } : {}),
          ...(segment.noSpeechProb !== undefined ? { no_speech_prob: Number(segment.noSpeechProb.toFixed(4)) } : {}),
        });
      }
    }
    if (result.words) {
      sawWords = true;
      for (const word of result.words) {
        const text = word.word.trim();
        if (text) words.push({ ...place(word.startMs, word.endMs), word: text });
      }
    }
  });
  return {
    text: segments.map((s) => s.text).join(" "),
    segments,
    ...(sawWords ? { words } : {}),
    language: requestedLanguage ?? language,
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}

function toSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}
