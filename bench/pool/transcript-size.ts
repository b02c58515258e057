/**
 * How big the one O(length) part of a streamed job is: the transcript, which the pool must keep until the callback.
 * Builds the per-window results a job holds (`stream-job.ts` keeps text and times per window, no samples) for
 * speech at 150 words a minute, one segment per 10 words, with and without word timestamps; then the stitched
 * transcript and the callback body's JSON. Sizes are V8 heap growth after a full collection (retained bytes), not
 * estimates. A script, not a test.
 *
 *   npx tsx bench/pool/transcript-size.ts [--hours 1,3] [--write]
 */
import os from "node:os";
import { parseArgs } from "node:util";

import { exposedGc } from "../../gpu-worker/src/batch/garbage-limit.ts";
import { type StitchedTranscript, stitchWindows, type WindowPlacement } from "../../gpu-worker/src/batch/stitch.ts";
import type { EngineWindowResult } from "../../gpu-worker/src/engines/engine.ts";
// @ts-expect-error -- a plain .mjs helper shared by the benchmark scripts
import { writeSection } from "../../scripts/lib/bench-doc.mjs";

const { values: args } = parseArgs({
  options: {
    hours: { type: "string", default: "1,3" },
    write: { type: "boolean", default: false },
  },
});
const SAMPLE_RATE = 16_000;
const WINDOW_SECONDS = 30;
const WORDS_PER_SECOND = 150 / 60;
const WORDS_PER_SEGMENT = 10;
const VOCABULARY = (
  "the of and to a in that is was he for it with as his on be at by i this had not are but from or have an they " +
  "which one you were her all she there would their we him been has when who will more no if out so said what up " +
  "its about into than them can only other new some could time these two may then do first any my now such like " +
  "our over man me even most made after also did many before must through back years where much your way well " +
  "down should because each just those people how too little state good very make world still own see men work"
).split(" ");

const gc = exposedGc();

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** The results a job of `seconds` holds at its end: one per 30 s window, with or without words. */
function windowResults(seconds: number, withWords: boolean): EngineWindowResult[] {
  const results: EngineWindowResult[] = [];
  let w = 0;
  for (let start = 0; start < seconds; start += WINDOW_SECONDS) {
    const length = Math.min(WINDOW_SECONDS, seconds - start);
    const count = Math.round(length * WORDS_PER_SECOND);
    const words = Array.from({ length: count }, (_, i) => ({
      startMs: (i / WORDS_PER_SECOND) * 1000,
      endMs: ((i + 0.8) / WORDS_PER_SECOND) * 1000,
      word: ` ${VOCABULARY[(w++ * 7919) % VOCABULARY.length]}`,
    }));
    const segments = [];
    for (let i = 0; i < words.length; i += WORDS_PER_SEGMENT) {
      const part = words.slice(i, i + WORDS_PER_SEGMENT);
      segments.push({
        startMs: part[0]!.startMs,
        endMs: part.at(-1)!.endMs,
        text: part.map((x) => x.word).join(""),
        avgLogprob: -0.25 - (i % 7) / 100,
        noSpeechProb: 0.01 + (i % 5) / 1000,
      });
    }
    results.push({ segments, ...(withWords ? { words } : {}), language: "en" });
  }
  return results;
}

interface Row {
  hours: number;
  words: boolean;
  wordCount: number;
  resultsMiB: number;
  stitchedMiB: number;
  jsonMiB: number;
}

const rows: Row[] = [];
for (const hours of args.hours!.split(",").map(Number)) {
  for (const withWords of [false, true]) {
    const seconds = hours * 3600;
    const placements: WindowPlacement[] = [];
    for (let start = 0; start < seconds; start += WINDOW_SECONDS) {
      placements.push({ startSample: start * SAMPLE_RATE, sampleCount: Math.min(WINDOW_SECONDS, seconds - start) });
    }
    const before = heap();
    let held = 0;
    // the window results go out of scope once stitched, as they do in process-job.ts
    const stitched = ((): StitchedTranscript => {
      const results = windowResults(seconds, withWords);
      held = heap();
      return stitchWindows(placements, results, "en");
    })();
    const afterStitch = heap();
    const json = JSON.stringify({ job_id: "tr_x", status: "completed", result: stitched });
    rows.push({
      hours,
      words: withWords,
      wordCount: Math.round(seconds * WORDS_PER_SECOND),
      resultsMiB: (held - before) / 2 ** 20,
      stitchedMiB: (afterStitch - before) / 2 ** 20,
      jsonMiB: Buffer.byteLength(json) / 2 ** 20,
    });
  }
}

const table = [
  "| audio | word timestamps | words | window results held (heap) | stitched transcript (heap) | callback JSON |",
  "|---|---|---|---|---|---|",
  ...rows.map(
    (r) =>
      `| ${r.hours} h | ${r.words ? "yes" : "no"} | ${r.wordCount} | ${r.resultsMiB.toFixed(1)} MiB | ${r.stitchedMiB.toFixed(1)} MiB | ${r.jsonMiB.toFixed(1)} MiB |`,
  ),
].join("\n");
console.log(table);
if (args.write) {
  const heading = "## Whisper pool, long audio: the transcript a job holds (bench/pool/transcript-size.ts)";
  writeSection(
    "docs/benchmarks.md",
    heading,
    [
      heading,
      "",
      `Measured ${new Date().toISOString().slice(0, 16)} UTC (Node ${process.version}, ${os.availableParallelism()} ` +
        "cores): speech at 150 words a minute, a segment per 10 words; heap growth after a full collection.",
      "",
      "```sh",
      `npx tsx bench/pool/transcript-size.ts ${process.argv.slice(2).join(" ")}`.trim(),
      "```",
      "",
      table,
      "",
    ].join("\n"),
  );
}
