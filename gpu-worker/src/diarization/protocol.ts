/** Messages between the pool and its diarization host process (diarizer.ts ↔ host.ts). */

/** Load both models (sent once, first). */
export interface DiarizationLoadRequest {
  kind: "load";
  segmentationModel: string;
  embeddingModel: string;
  threads: number;
  /** sherpa-onnx's `minDurationOn` / `minDurationOff` (seconds). */
  minDurationOn: number;
  minDurationOff: number;
}

/** Diarize the float32 PCM file `file` (16 kHz mono, `sampleCount` samples). */
export interface DiarizeRequest {
  kind: "diarize";
  id: number;
  file: string;
  sampleCount: number;
  /** `speakers.expected`: exactly this many clusters; null: cluster by `threshold`, then hold to `min`/`max`. */
  expected: number | null;
  min: number | null;
  max: number | null;
  threshold: number;
}

export type DiarizationHostRequest = DiarizationLoadRequest | DiarizeRequest;

/** A turn as sherpa-onnx reports it (seconds, cluster index). */
export interface HostTurn {
  start: number;
  end: number;
  speaker: number;
}

export type DiarizationHostReply =
  | { kind: "ready"; sampleRate: number }
  | { kind: "load_failed"; message: string }
  | { kind: "result"; id: number; turns: HostTurn[]; clusters: number; passes: number }
  | { kind: "error"; id: number; message: string };
