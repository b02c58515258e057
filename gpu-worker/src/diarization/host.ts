/**
 * The diarization host: a child process of the pool that loads sherpa-onnx's `OfflineSpeakerDiarization` once and
 * diarizes one job's audio at a time. A child process because `process()` is synchronous (it would stall the
 * pool's event loop for the whole inference), because sherpa-onnx exits the process on a model it cannot use
 * (its metadata checks call `exit(-1)`), and so that a job timeout can stop an inference by killing the host.
 * It exits when the pool's IPC channel closes.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

import type { DiarizationHostReply, DiarizationHostRequest, DiarizeRequest, HostTurn } from "./protocol.ts";

interface SherpaDiarization {
  sampleRate: number;
  process(samples: Float32Array): HostTurn[];
  setConfig(config: { clustering: { numClusters: number; threshold: number } }): void;
}

interface SherpaModule {
  OfflineSpeakerDiarization: new (config: object) => SherpaDiarization;
}

let diarization: SherpaDiarization | null = null;

function send(reply: DiarizationHostReply): void {
  process.send?.(reply);
}

process.on("disconnect", () => process.exit(0));

process.on("message", (message: DiarizationHostRequest) => {
  if (message.kind === "load") {
    try {
      // CommonJS with a native addon: loaded here only, so a pool without diarization never loads it
      const sherpa = createRequire(import.meta.url)("sherpa-onnx-node") as SherpaModule;
      diarization = new sherpa.OfflineSpeakerDiarization({
        segmentation: { pyannote: { model: message.segmentationModel }, numThreads: message.threads, debug: 0 },
        embedding: { model: message.embeddingModel, numThreads: message.threads, debug: 0 },
        clustering: { numClusters: -1, threshold: 0.5 },
        minDurationOn: message.minDurationOn,
        minDurationOff: message.minDurationOff,
      });
      send({ kind: "ready", sampleRate: diarization.sampleRate });
    } catch (error) {
      send({ kind: "load_failed", message: (error as Error).message });
    }
    return;
  }
  void diarize(message).then(send, (error: unknown) =>
    send({ kind: "error", id: message.id, message: (error as Error).message }),
  );
});

async function diarize(request: DiarizeRequest): Promise<DiarizationHostReply> {
  if (!diarization) throw new Error("the diarization models are not loaded");
  const bytes = await readFile(request.file);
  if (bytes.length !== request.sampleCount * 4) {
    throw new Error(`the audio file holds ${bytes.length} bytes, expected ${request.sampleCount * 4}`);
  }
  // a Float32Array needs 4-byte alignment: a view when the buffer allows it, else one copy
  const samples =
    bytes.byteOffset % 4 === 0
      ? new Float32Array(bytes.buffer, bytes.byteOffset, request.sampleCount)
      : new Float32Array(Uint8Array.from(bytes).buffer);
  const run = (numClusters: number): HostTurn[] => {
    diarization!.setConfig({ clustering: { numClusters, threshold: request.threshold } });
    return diarization!.process(samples).map((t) => ({ start: t.start, end: t.end, speaker: t.speaker }));
  };
  let turns = run(request.expected ?? -1);
  let passes = 1;
  if (request.expected === null) {
    // fast clustering knows a threshold or an exact count, not a range: outside min/max, run again with the bound
    const clusters = countClusters(turns);
    if (request.max !== null && clusters > request.max) {
      turns = run(request.max);
      passes++;
    } else if (request.min !== null && clusters > 0 && clusters < request.min) {
      turns = run(request.min);
      passes++;
    }
  }
  return { kind: "result", id: request.id, turns, clusters: countClusters(turns), passes };
}

function countClusters(turns: readonly HostTurn[]): number {
  return new Set(turns.map((t) => t.speaker)).size;
}
